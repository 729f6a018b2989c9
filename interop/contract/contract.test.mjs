// Loads the contract in @grpc/proto-loader (protobufjs) the three ways a
// Node caller would, and completes a checkout with @grpc/grpc-js on each:
// from the .proto files as shipped, and from the descriptor sets of a
// current protoc and of Debian's protoc (built by run.sh).
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run through run.sh from .ci/clients.sh`);
  }
  return v;
}

const options = { longs: String, enums: String, defaults: true, oneofs: true };
const loaders = {
  "proto files": () =>
    protoLoader.loadSync(
      ["paymentcompletion/v1/payment_completion.proto", "google/rpc/status.proto", "google/rpc/error_details.proto"],
      { ...options, includeDirs: [env("PROTO_DIR")] },
    ),
  "current protoc descriptor set": () =>
    protoLoader.loadFileDescriptorSetFromBuffer(readFileSync(env("CURRENT_PROTOSET")), options),
  "Debian protoc descriptor set": () =>
    protoLoader.loadFileDescriptorSetFromBuffer(readFileSync(env("DEBIAN_PROTOSET")), options),
};

const errorRoot = new protobuf.Root();
errorRoot.resolvePath = (_origin, target) => `${env("PROTO_DIR")}/${target}`;
errorRoot.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"]);
const errorTypes = {
  Status: errorRoot.lookupType("google.rpc.Status"),
  ErrorInfo: errorRoot.lookupType("google.rpc.ErrorInfo"),
};

function session(scenario) {
  return execFileSync(env("DEMOCHECKOUT"), ["-scenario", scenario], { encoding: "utf8" }).trim();
}

for (const [name, load] of Object.entries(loaders)) {
  test(`${name}: complete a checkout and read an error's ErrorInfo`, async () => {
    const defs = load();
    const pkg = grpc.loadPackageDefinition(defs);
    const Service = pkg.paymentcompletion.v1.PaymentCompletionService;
    const client = new Service(env("PAYMENTCOMPLETION_ADDR"), grpc.credentials.createInsecure());
    // Field names follow the loader: camelCase from .proto files,
    // snake_case from descriptor sets.
    const camel = name === "proto files";
    const req = (sessionId, amount) =>
      camel
        ? { checkoutSessionId: sessionId, orderId: `pl-${randomUUID()}`, chargeAmount: { amount, currencyCode: "USD" } }
        : { checkout_session_id: sessionId, order_id: `pl-${randomUUID()}`, charge_amount: { amount, currency_code: "USD" } };
    const call = (r) =>
      new Promise((resolve, reject) =>
        client.completeCheckout(r, { deadline: Date.now() + 30_000 }, (err, resp) => (err ? reject(err) : resolve(resp))),
      );
    try {
      const resp = await call(req(session("Authorized"), "14.00"));
      assert.equal(resp.payment.outcome, "OUTCOME_COMPLETED");

      const err = await call(req(session("Authorized"), "15.00")).then(
        () => assert.fail("a mismatched amount succeeded"),
        (e) => e,
      );
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      // google.rpc.Status from the grpc-status-details-bin trailer, decoded
      // with protobufjs from the google/rpc files the repository ships.
      const [bin] = err.metadata.get("grpc-status-details-bin");
      assert.ok(Buffer.isBuffer(bin));
      const st = errorTypes.Status.decode(bin);
      // protobufjs bundles google.protobuf.Any with its proto field names.
      const info = st.details.find((d) => (d.type_url ?? d.typeUrl) === "type.googleapis.com/google.rpc.ErrorInfo");
      assert.ok(info, "no ErrorInfo detail");
      const errorInfo = errorTypes.ErrorInfo.decode(info.value);
      assert.equal(errorInfo.reason, "AMOUNT_MISMATCH");
      assert.equal(errorInfo.domain, "paymentcompletion");
    } finally {
      client.close();
    }
  });
}

