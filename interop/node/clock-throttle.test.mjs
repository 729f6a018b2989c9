// Interop check of the simulator's time control and throttling through
// Amazon's official Node.js SDK: a simulator started with a manual clock
// and sandbox quotas (run.sh starts one and sets SIMULATOR_MANUAL_URL).
// The SDK signs with real time throughout; only the simulator's clock moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { WebStoreClient } = require('@amazonpay/amazon-pay-api-sdk-nodejs');

const baseURL = process.env.SIMULATOR_MANUAL_URL;
if (!baseURL) {
  throw new Error('SIMULATOR_MANUAL_URL is not set');
}

async function control(method, path, body) {
  const res = await fetch(`${baseURL}/simulator/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function advance(duration) {
  const res = await control('POST', 'clock', { advance: duration });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.now;
}

let merchants = 0;

// newMerchant registers a fresh key in its own merchant account, so each
// test has its own throttling buckets.
async function newMerchant() {
  const n = merchants++;
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const publicKeyId = `SANDBOX-NODECLOCK${n}`;
  const reg = await control('POST', 'publicKeys', { publicKeyId, publicKeyPem: publicKey, merchantId: `A2NODECLOCK${n}` });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  return new WebStoreClient({
    publicKeyId,
    privateKey,
    region: 'us',
    sandbox: true,
    algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
    overrideServiceUrl: new URL(baseURL).host,
  });
}

function idempotencyKey() {
  return crypto.randomUUID().replace(/-/g, '');
}

function sessionPayload(paymentDetails) {
  return {
    webCheckoutDetails: {
      checkoutReviewReturnUrl: 'https://shop.example/review',
      checkoutResultReturnUrl: 'https://shop.example/result',
    },
    storeId: 'amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId',
    paymentDetails,
  };
}

// Amazon answers a throttled call 429 TooManyRequests; the SDK (2.3.4)
// does not retry it and hands it to the caller.
function throttled(err) {
  assert.equal(err.response.status, 429);
  assert.equal(err.response.data.reasonCode, 'TooManyRequests');
  assert.equal(err.response.headers['retry-after'], undefined);
  assert.ok(err.response.headers['x-amz-pay-request-id']);
  return true;
}

test('the simulator runs on a manual clock with sandbox quotas', async () => {
  const health = await control('GET', 'healthz');
  assert.deepEqual(health.body, { status: 'ok', clock: 'manual', throttle: 'sandbox' });
  const before = await control('GET', 'clock');
  assert.equal(before.body.manual, true);
  // Standing still: a second later it still reads the same time.
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await control('GET', 'clock')).body.now, before.body.now);
});

test('advancing the clock 25h expires an open Checkout Session', async () => {
  const sdk = await newMerchant();
  const created = await sdk.createCheckoutSession(sessionPayload({
    paymentIntent: 'Authorize',
    chargeAmount: { amount: '10.00', currencyCode: 'USD' },
  }), { 'x-amz-pay-idempotency-key': idempotencyKey() });
  assert.equal(created.status, 201);
  const id = created.data.checkoutSessionId;
  const expires = created.data.expirationTimestamp;
  const now = await advance('25h');
  assert.ok(now > expires, `${now} should be past ${expires}`);
  const read = await sdk.getCheckoutSession(id);
  assert.equal(read.data.statusDetails.state, 'Canceled');
  assert.equal(read.data.statusDetails.reasonCode, 'Expired');
});

test('a pending authorization settles when the clock passes its delay; the session is deleted after 30 days', async () => {
  const sdk = await newMerchant();
  const created = await sdk.createCheckoutSession(sessionPayload({
    paymentIntent: 'AuthorizeWithCapture',
    canHandlePendingAuthorization: true,
    chargeAmount: { amount: '25.00', currencyCode: 'USD' },
  }), { 'x-amz-pay-idempotency-key': idempotencyKey() });
  const id = created.data.checkoutSessionId;
  const buyer = await control('POST', `checkoutSessions/${id}/buyer`, { scenario: 'PendingThenAuthorized' });
  assert.equal(buyer.status, 200, JSON.stringify(buyer.body));
  const completed = await sdk.completeCheckoutSession(id, { chargeAmount: { amount: '25.00', currencyCode: 'USD' } });
  assert.equal(completed.status, 202);
  const { chargeId } = completed.data;
  assert.equal((await sdk.getCharge(chargeId)).data.statusDetails.state, 'AuthorizationInitiated');
  // run.sh gives this simulator a 30s pending delay: nothing happens in
  // real time, everything at once when the clock passes it.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await sdk.getCharge(chargeId)).data.statusDetails.state, 'AuthorizationInitiated');
  await advance('30s');
  assert.equal((await sdk.getCharge(chargeId)).data.statusDetails.state, 'Captured');

  await advance('720h');
  await assert.rejects(sdk.getCheckoutSession(id), (err) => {
    assert.equal(err.response.status, 404);
    assert.equal(err.response.data.reasonCode, 'ResourceNotFound');
    return true;
  });
  // The charge outlives the session.
  assert.equal((await sdk.getCharge(chargeId)).status, 200);
});

test('calls past the sandbox quota answer 429 TooManyRequests until the bucket refills', async () => {
  const sdk = await newMerchant();
  const created = await sdk.createCheckoutSession(sessionPayload({
    paymentIntent: 'Authorize',
    chargeAmount: { amount: '10.00', currencyCode: 'USD' },
  }), { 'x-amz-pay-idempotency-key': idempotencyKey() });
  const id = created.data.checkoutSessionId;
  // Get Checkout Session: burst 10, restore 1 per second.
  for (let i = 0; i < 10; i++) {
    assert.equal((await sdk.getCheckoutSession(id)).status, 200);
  }
  await assert.rejects(sdk.getCheckoutSession(id), throttled);
  await advance('1s');
  assert.equal((await sdk.getCheckoutSession(id)).status, 200);
  await assert.rejects(sdk.getCheckoutSession(id), throttled);

  // Complete Checkout Session: burst 2, its own bucket.
  for (let i = 0; i < 3; i++) {
    const s = await sdk.createCheckoutSession(sessionPayload({
      paymentIntent: 'Authorize',
      chargeAmount: { amount: '10.00', currencyCode: 'USD' },
    }), { 'x-amz-pay-idempotency-key': idempotencyKey() });
    const sid = s.data.checkoutSessionId;
    assert.equal((await control('POST', `checkoutSessions/${sid}/buyer`, { scenario: 'Authorized' })).status, 200);
    const complete = sdk.completeCheckoutSession(sid, { chargeAmount: { amount: '10.00', currencyCode: 'USD' } });
    if (i < 2) {
      assert.equal((await complete).status, 200);
    } else {
      await assert.rejects(complete, throttled);
    }
  }

  // Throttled calls never reached the operation: not counted.
  const calls = await control('GET', `checkoutSessions/${id}/calls`);
  assert.deepEqual(calls.body, { CreateCheckoutSession: 1, GetCheckoutSession: 11 });
});

test('operations on a session\'s charge and charge permission count for the session', async () => {
  const sdk = await newMerchant();
  const created = await sdk.createCheckoutSession(sessionPayload({
    paymentIntent: 'Authorize',
    chargeAmount: { amount: '10.00', currencyCode: 'USD' },
  }), { 'x-amz-pay-idempotency-key': idempotencyKey() });
  const id = created.data.checkoutSessionId;
  assert.equal((await control('POST', `checkoutSessions/${id}/buyer`, { scenario: 'Authorized' })).status, 200);
  const completed = await sdk.completeCheckoutSession(id, { chargeAmount: { amount: '10.00', currencyCode: 'USD' } });
  const { chargeId, chargePermissionId } = completed.data;
  await sdk.getCharge(chargeId);
  await sdk.getChargePermission(chargePermissionId);
  await sdk.cancelCharge(chargeId, { cancellationReason: 'Out of stock' });
  await assert.rejects(sdk.captureCharge(chargeId, { captureAmount: { amount: '10.00', currencyCode: 'USD' } },
    { 'x-amz-pay-idempotency-key': idempotencyKey() }), (err) => err.response.status === 422);
  const calls = await control('GET', `checkoutSessions/${id}/calls`);
  assert.deepEqual(calls.body, {
    CreateCheckoutSession: 1,
    CompleteCheckoutSession: 1,
    GetCharge: 1,
    GetChargePermission: 1,
    CancelCharge: 1,
    CaptureCharge: 1,
  });
});

test('operations after checkout count for the session, and a refund settles when the clock passes its delay', async () => {
  const sdk = await newMerchant();
  const created = await sdk.createCheckoutSession(sessionPayload({
    paymentIntent: 'Confirm',
    chargeAmount: { amount: '30.00', currencyCode: 'USD' },
  }), { 'x-amz-pay-idempotency-key': idempotencyKey() });
  const id = created.data.checkoutSessionId;
  assert.equal((await control('POST', `checkoutSessions/${id}/buyer`, { scenario: 'Authorized' })).status, 200);
  const completed = await sdk.completeCheckoutSession(id, { chargeAmount: { amount: '30.00', currencyCode: 'USD' } });
  const { chargePermissionId } = completed.data;

  const charge = await sdk.createCharge({
    chargePermissionId,
    chargeAmount: { amount: '10.00', currencyCode: 'USD' },
    captureNow: true,
  }, { 'x-amz-pay-idempotency-key': idempotencyKey() });
  assert.equal(charge.status, 201);
  assert.equal(charge.data.statusDetails.state, 'Captured');
  const refund = await sdk.createRefund({
    chargeId: charge.data.chargeId,
    refundAmount: { amount: '5.00', currencyCode: 'USD' },
  }, { 'x-amz-pay-idempotency-key': idempotencyKey() });
  assert.equal(refund.status, 201);
  assert.equal(refund.data.statusDetails.state, 'RefundInitiated');
  await advance('30s');
  assert.equal((await sdk.getRefund(refund.data.refundId)).data.statusDetails.state, 'Refunded');
  const updated = await sdk.updateChargePermission(chargePermissionId, { merchantMetadata: { merchantReferenceId: 'order-4712' } });
  assert.equal(updated.status, 200);
  const closed = await sdk.closeChargePermission(chargePermissionId, { closureReason: 'Order complete' });
  assert.equal(closed.status, 200);

  const calls = await control('GET', `checkoutSessions/${id}/calls`);
  assert.deepEqual(calls.body, {
    CreateCheckoutSession: 1,
    CompleteCheckoutSession: 1,
    CreateCharge: 1,
    CreateRefund: 1,
    GetRefund: 1,
    UpdateChargePermission: 1,
    CloseChargePermission: 1,
  });
});
