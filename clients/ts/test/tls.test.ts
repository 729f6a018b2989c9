// Tests of TLS, mTLS, the bearer token and the decoding of connection
// problems against the real server binary, started three times by
// .ci/clients.sh: in cleartext (PAYMENTCOMPLETION_ADDR), with TLS and
// callers known by their token (PAYMENTCOMPLETION_TLS_ADDR), and with mTLS
// (PAYMENTCOMPLETION_MTLS_ADDR). The CA and the client certificate are in
// PAYMENTCOMPLETION_CA_FILE, _CERT_FILE and _KEY_FILE; OTHER_* are those of
// another CA.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Code,
  ConnectError,
  ErrorReason,
  Outcome,
  connectionProblem,
  connectionSetting,
  createPaymentCompletionClient,
  errorReason,
  jsonStringify,
  type ClientOptions,
  type ConnectionProblem,
} from "@paymentcompletion/client";

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") {
    throw new Error(`${name} is not set: run through .ci/clients.sh`);
  }
  return v;
}

function session(democheckout: string, scenario: string): string {
  return execFileSync(env(democheckout), ["-scenario", scenario], { encoding: "utf8" }).trim();
}

const ca = { caFile: env("PAYMENTCOMPLETION_CA_FILE") };
const cert = { certFile: env("PAYMENTCOMPLETION_CERT_FILE"), keyFile: env("PAYMENTCOMPLETION_KEY_FILE") };

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ConnectError, `not a ConnectError: ${err}`);
    return err;
  }
  assert.fail("the call succeeded");
}

const servers: { name: string; opts: ClientOptions; democheckout: string }[] = [
  {
    name: "TLS with a bearer token",
    opts: { baseUrl: `https://${env("PAYMENTCOMPLETION_TLS_ADDR")}`, tls: ca, token: env("PAYMENTCOMPLETION_TOKEN") },
    democheckout: "DEMOCHECKOUT_TLS",
  },
  {
    name: "mTLS",
    opts: { baseUrl: `https://${env("PAYMENTCOMPLETION_MTLS_ADDR")}`, tls: { ...ca, ...cert } },
    democheckout: "DEMOCHECKOUT_MTLS",
  },
];

for (const s of servers) {
  test(`${s.name}: a checkout completes, reads back, and a mismatch has its reason`, async () => {
    const client = createPaymentCompletionClient(s.opts);
    const orderId = `ts-tls-${randomUUID()}`;
    const { payment } = await client.completeCheckout({
      checkoutSessionId: session(s.democheckout, "Authorized"),
      orderId,
      chargeAmount: { amount: "14.00", currencyCode: "USD" },
    });
    assert.equal(payment?.outcome, Outcome.COMPLETED);
    const again = await client.getPayment({ key: { case: "orderId", value: orderId } });
    assert.equal(again.payment?.chargeId, payment?.chargeId);
    // Messages hold BigInts (a timestamp's seconds): jsonStringify writes
    // their proto3 JSON.
    assert.throws(() => JSON.stringify(again.payment), TypeError);
    const json = JSON.parse(jsonStringify({ payment: again.payment }));
    assert.equal(json.payment.orderId, orderId);
    assert.equal(json.payment.outcome, "OUTCOME_COMPLETED");
    assert.match(json.payment.createTime, /^\d{4}-\d\d-\d\dT/);

    const err = await rejection(
      client.completeCheckout({
        checkoutSessionId: session(s.democheckout, "Authorized"),
        orderId: `ts-tls-${randomUUID()}`,
        chargeAmount: { amount: "15.00", currencyCode: "USD" },
      }),
    );
    assert.equal(errorReason(err), ErrorReason.AMOUNT_MISMATCH);
    assert.equal(connectionProblem(err), undefined);
  });
}

test("TLS without the token: UNAUTHENTICATED from the server, not a connection problem", async () => {
  const client = createPaymentCompletionClient({ baseUrl: `https://${env("PAYMENTCOMPLETION_TLS_ADDR")}`, tls: ca });
  const err = await rejection(client.getPayment({ key: { case: "orderId", value: "x" } }));
  assert.equal(err.code, Code.Unauthenticated);
  assert.equal(connectionProblem(err), undefined);
});

test("connection problems name the setting to fix and are not retried", async () => {
  const other = { certFile: env("OTHER_CERT_FILE"), keyFile: env("OTHER_KEY_FILE") };
  const tlsAddr = env("PAYMENTCOMPLETION_TLS_ADDR");
  const mtlsAddr = env("PAYMENTCOMPLETION_MTLS_ADDR");
  const cases: { name: string; opts: ClientOptions; problem: ConnectionProblem; setting: RegExp }[] = [
    { name: "cleartext to a TLS server", opts: { baseUrl: `http://${tlsAddr}` }, problem: "SERVER_EXPECTS_TLS", setting: /https:\/\// },
    {
      name: "TLS to a cleartext server",
      opts: { baseUrl: `https://${env("PAYMENTCOMPLETION_ADDR")}`, tls: ca },
      problem: "SERVER_NOT_TLS",
      setting: /http:\/\//,
    },
    { name: "server CA not trusted", opts: { baseUrl: `https://${tlsAddr}` }, problem: "SERVER_CERTIFICATE_UNTRUSTED", setting: /tls\.caFile/ },
    {
      name: "another CA trusted",
      opts: { baseUrl: `https://${tlsAddr}`, tls: { caFile: env("OTHER_CA_FILE") } },
      problem: "SERVER_CERTIFICATE_UNTRUSTED",
      setting: /tls\.caFile/,
    },
    {
      name: "a name the certificate does not carry",
      opts: { baseUrl: `https://${tlsAddr}`, tls: { ...ca, serverName: "pay.example" } },
      problem: "SERVER_NAME_MISMATCH",
      setting: /tls\.serverName/,
    },
    {
      name: "mTLS without a client certificate",
      opts: { baseUrl: `https://${mtlsAddr}`, tls: ca },
      problem: "CLIENT_CERTIFICATE_REQUIRED",
      setting: /tls\.certFile/,
    },
    {
      name: "mTLS with a certificate of another CA",
      opts: { baseUrl: `https://${mtlsAddr}`, tls: { ...ca, ...other } },
      problem: "CLIENT_CERTIFICATE_REJECTED",
      setting: /TLS_CLIENT_CA_FILE/,
    },
  ];
  for (const c of cases) {
    const client = createPaymentCompletionClient(c.opts);
    for (const call of [
      () => client.getPayment({ key: { case: "orderId", value: "x" } }),
      async () => {
        for await (const _ of client.watchPayment({ checkoutSessionId: randomUUID() })) {
          // a connection problem ends the stream before any message
        }
      },
    ]) {
      const started = Date.now();
      const err = await rejection(call());
      assert.equal(connectionProblem(err), c.problem, `${c.name}: ${err.message}`);
      assert.equal(err.code, Code.FailedPrecondition, c.name);
      assert.match(connectionSetting(err) ?? "", c.setting, c.name);
      assert.match(err.message, c.setting, c.name);
      assert.equal(errorReason(err), ErrorReason.UNSPECIFIED, c.name);
      // The service config retries UNAVAILABLE from 200 ms on; these fail at once.
      assert.ok(Date.now() - started < 2000, `${c.name}: took ${Date.now() - started} ms`);
    }
  }
});

test("options that do not fit together fail when the client is made", () => {
  assert.throws(
    () => createPaymentCompletionClient({ baseUrl: "http://127.0.0.1:1", tls: ca }),
    /cleartext but tls is set: use https:\/\//,
  );
  assert.throws(
    () => createPaymentCompletionClient({ baseUrl: "https://127.0.0.1:1", tls: { ...ca, certFile: cert.certFile } }),
    /tls\.certFile \(tls\.cert\) and tls\.keyFile \(tls\.key\) go together/,
  );
  assert.throws(
    () => createPaymentCompletionClient({ baseUrl: "https://127.0.0.1:1", tls: { caFile: "/nonexistent/ca.pem" } }),
    /tls\.caFile: ENOENT/,
  );
  assert.throws(() => createPaymentCompletionClient({ baseUrl: "127.0.0.1:50051" }), /use https:\/\/ \(TLS\) or http:\/\//);
});
