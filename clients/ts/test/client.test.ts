// Tests of the client against the real server binary, started by
// .ci/clients.sh: PAYMENTCOMPLETION_ADDR is its address, DEMOCHECKOUT
// prepares checkout sessions at its embedded simulator.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Code,
  ConnectError,
  ErrorReason,
  Outcome,
  createPaymentCompletionClient,
  errorInfo,
  errorReason,
  fieldViolations,
  type Payment,
} from "@paymentcompletion/client";

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") {
    throw new Error(`${name} is not set: run through .ci/clients.sh`);
  }
  return v;
}

const client = createPaymentCompletionClient({ baseUrl: `http://${env("PAYMENTCOMPLETION_ADDR")}` });

/** A checkout session the buyer "paid" with the given simulator scenario. */
function session(scenario: string, ...args: string[]): string {
  return execFileSync(env("DEMOCHECKOUT"), ["-scenario", scenario, ...args], { encoding: "utf8" }).trim();
}

function order(): string {
  return `ts-${randomUUID()}`;
}

async function complete(sessionId: string, orderId: string, amount = "14.00"): Promise<Payment> {
  const resp = await client.completeCheckout({
    checkoutSessionId: sessionId,
    orderId,
    chargeAmount: { amount, currencyCode: "USD" },
  });
  assert.ok(resp.payment);
  return resp.payment;
}

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ConnectError, `not a ConnectError: ${err}`);
    return err;
  }
  assert.fail("the call succeeded");
}

test("completed: the payment has a charge and reads back by order", async () => {
  const id = order();
  const p = await complete(session("Authorized"), id);
  assert.equal(p.outcome, Outcome.COMPLETED);
  assert.match(p.chargeId, /^[A-Z]\d{2}-\d{7}-\d{7}-C\d{6}$/);
  const again = await client.getPayment({ key: { case: "orderId", value: id } });
  assert.equal(again.payment?.checkoutSessionId, p.checkoutSessionId);
  assert.equal(again.payment?.outcome, Outcome.COMPLETED);
});

test("completed twice: the retry returns the stored payment", async () => {
  const s = session("Authorized");
  const id = order();
  const first = await complete(s, id);
  const second = await complete(s, id);
  assert.equal(second.chargeId, first.chargeId);
});

test("declined and canceled are answers, not errors", async () => {
  const declined = await complete(session("Declined"), order());
  assert.equal(declined.outcome, Outcome.DECLINED);
  assert.notEqual(declined.reasonCode, "");
  const canceled = await complete(session("BuyerCanceled"), order());
  assert.equal(canceled.outcome, Outcome.CANCELED);
  assert.equal(canceled.reasonCode, "BuyerCanceled");
});

test("pending: WatchPayment follows the payment until it settles", async () => {
  const s = session("PendingThenAuthorized", "-pending");
  const p = await complete(s, order());
  assert.equal(p.outcome, Outcome.PENDING);
  const seen: Outcome[] = [];
  for await (const update of client.watchPayment({ checkoutSessionId: s }, { timeoutMs: 30_000 })) {
    seen.push(update.payment?.outcome ?? Outcome.UNSPECIFIED);
  }
  assert.equal(seen[0], Outcome.PENDING);
  assert.equal(seen.at(-1), Outcome.COMPLETED);
});

test("invalid request: INVALID_REQUEST with the refused fields", async () => {
  const err = await rejection(
    client.completeCheckout({
      checkoutSessionId: "not-a-uuid",
      orderId: order(),
      chargeAmount: { amount: "14.0", currencyCode: "USD" },
    }),
  );
  assert.equal(err.code, Code.InvalidArgument);
  assert.equal(errorReason(err), ErrorReason.INVALID_REQUEST);
  const fields = fieldViolations(err).map((v) => v.field);
  assert.ok(fields.includes("checkout_session_id"), `fields: ${fields}`);
  assert.ok(fields.some((f) => f.startsWith("charge_amount")), `fields: ${fields}`);
  for (const v of fieldViolations(err)) {
    assert.notEqual(v.description, "");
  }
});

test("errors with reasons a storefront branches on", async () => {
  const cases: { name: string; call: () => Promise<unknown>; code: Code; reason: ErrorReason }[] = [
    {
      name: "amount mismatch",
      call: () => complete(session("Authorized"), order(), "15.00"),
      code: Code.FailedPrecondition,
      reason: ErrorReason.AMOUNT_MISMATCH,
    },
    {
      name: "buyer not back from Amazon yet",
      call: () => complete(session("none"), order()),
      code: Code.FailedPrecondition,
      reason: ErrorReason.CHECKOUT_SESSION_NOT_READY,
    },
    {
      name: "unknown session",
      call: () => complete(randomUUID(), order()),
      code: Code.NotFound,
      reason: ErrorReason.CHECKOUT_SESSION_NOT_FOUND,
    },
    {
      name: "no payment for the order",
      call: () => client.getPayment({ key: { case: "orderId", value: order() } }),
      code: Code.NotFound,
      reason: ErrorReason.PAYMENT_NOT_FOUND,
    },
  ];
  for (const c of cases) {
    const err = await rejection(c.call());
    assert.equal(err.code, c.code, c.name);
    assert.equal(errorReason(err), c.reason, `${c.name}: ${errorInfo(err)?.reason}`);
    assert.deepEqual(fieldViolations(err), [], c.name);
  }
});

test("a session bound to another order names the recorded order", async () => {
  const s = session("Authorized");
  const first = order();
  await complete(s, first);
  const err = await rejection(complete(s, order()));
  assert.equal(errorReason(err), ErrorReason.SESSION_BOUND_TO_OTHER_REQUEST);
  assert.equal(errorInfo(err)?.metadata["order_id"], first);
});
