// Tests of the service config interceptor against a small hand-written
// fake of the service (connect-node's server adapter over HTTP/2): which
// calls are retried, how long it waits, which deadline it sends.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import {
  PaymentCompletionService,
  createPaymentCompletionClient,
  connectionProblem,
  errorReason,
  ErrorReason,
  retryDelayMs,
} from "@paymentcompletion/client";

interface Attempt {
  at: number;
  timeout: string | null;
  authorization: string | null;
}

// Each test uses its own order ID; the fake fails the first `failures`
// attempts of each ID with `code`, attaching a RetryInfo of 300 ms.
const script = new Map<string, { failures: number; code: Code; attempts: Attempt[] }>();

function attempt(key: string, header: Headers): void {
  const s = script.get(key);
  assert.ok(s, `unscripted key ${key}`);
  s.attempts.push({ at: Date.now(), timeout: header.get("grpc-timeout"), authorization: header.get("authorization") });
  if (s.attempts.length <= s.failures) {
    throw new ConnectError("try again", s.code, undefined, [
      { desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: { seconds: 0n, nanos: 300_000_000 } }) },
    ]);
  }
}

let server: http2.Http2Server;
let baseUrl: string;
const sessions = new Set<http2.ServerHttp2Session>();

before(async () => {
  server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(PaymentCompletionService, {
          completeCheckout(req, ctx) {
            attempt(req.orderId, ctx.requestHeader);
            return {};
          },
          async getPayment(req, ctx) {
            if (req.key.value === "hang") {
              // Answers only once the caller has gone.
              await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
              return {};
            }
            attempt(req.key.value ?? "", ctx.requestHeader);
            return {};
          },
        }),
    }),
  );
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  // The clients keep their HTTP/2 connections open; end them so that
  // close (and the test process) can finish.
  for (const s of sessions) {
    s.destroy();
  }
  server.close();
});

function scripted(key: string, failures: number, code: Code) {
  const s = { failures, code, attempts: [] as Attempt[] };
  script.set(key, s);
  return s;
}

test("UNAVAILABLE is retried, no sooner than RetryInfo says", async () => {
  const s = scripted("retried", 2, Code.Unavailable);
  const client = createPaymentCompletionClient({ baseUrl });
  await client.getPayment({ key: { case: "orderId", value: "retried" } });
  assert.equal(s.attempts.length, 3);
  for (let i = 1; i < s.attempts.length; i++) {
    assert.ok(s.attempts[i].at - s.attempts[i - 1].at >= 290, `attempt ${i} came after ${s.attempts[i].at - s.attempts[i - 1].at} ms`);
  }
});

test("other codes are not retried", async () => {
  const s = scripted("precondition", 1, Code.FailedPrecondition);
  const client = createPaymentCompletionClient({ baseUrl });
  await assert.rejects(client.getPayment({ key: { case: "orderId", value: "precondition" } }), (err: unknown) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.FailedPrecondition);
    assert.equal(errorReason(err), ErrorReason.UNSPECIFIED);
    return true;
  });
  assert.equal(s.attempts.length, 1);
});

test("attempts stop at the policy's maximum, and the last error is the caller's", async () => {
  const s = scripted("exhausted", 10, Code.Unavailable);
  const client = createPaymentCompletionClient({ baseUrl });
  await assert.rejects(client.getPayment({ key: { case: "orderId", value: "exhausted" } }), (err: unknown) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.Unavailable);
    assert.equal(retryDelayMs(err), 300);
    return true;
  });
  assert.equal(s.attempts.length, 5);
});

test("per-method timeouts from the service config, unless the call sets one", async () => {
  const client = createPaymentCompletionClient({ baseUrl });
  const complete = scripted("complete", 0, Code.Unavailable);
  await client.completeCheckout({ orderId: "complete" });
  assert.equal(complete.attempts[0].timeout, "30000m");
  const read = scripted("read", 0, Code.Unavailable);
  await client.getPayment({ key: { case: "orderId", value: "read" } });
  assert.equal(read.attempts[0].timeout, "5000m");
  const own = scripted("own", 0, Code.Unavailable);
  await client.getPayment({ key: { case: "orderId", value: "own" } }, { timeoutMs: 1234 });
  assert.match(own.attempts[0].timeout ?? "", /^12\d\dm$/);
});

test("the bearer token goes with every call", async () => {
  const s = scripted("token", 1, Code.Unavailable);
  const client = createPaymentCompletionClient({ baseUrl, token: "tok" });
  await client.getPayment({ key: { case: "orderId", value: "token" } });
  assert.deepEqual(
    s.attempts.map((a) => a.authorization),
    ["Bearer tok", "Bearer tok"],
  );
});

test("a call the caller cancels over cleartext is CANCELED, not a connection problem", async () => {
  const client = createPaymentCompletionClient({ baseUrl });
  const ctl = new AbortController();
  const call = client.getPayment({ key: { case: "orderId", value: "hang" } }, { signal: ctl.signal });
  setTimeout(() => ctl.abort(), 50);
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.Canceled);
    assert.equal(connectionProblem(err), undefined);
    return true;
  });
});
