// Interop check: drives the Amazon Pay API v2 simulator with Amazon's
// official Node.js SDK. If the simulator verified signatures, parsed bodies
// or shaped answers differently from Amazon, these calls would fail.
//
// SIMULATOR_URL must name a running simulator (https://host:port); run.sh
// starts one. The SDK talks to it through its overrideServiceUrl setting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { WebStoreClient } = require('@amazonpay/amazon-pay-api-sdk-nodejs');

const baseURL = process.env.SIMULATOR_URL;
if (!baseURL) {
  throw new Error('SIMULATOR_URL is not set');
}
const serviceHost = new URL(baseURL).host;

function newKeyPair() {
  return crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
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

async function registerKey(publicKeyId, publicKeyPem) {
  const res = await control('POST', 'publicKeys', { publicKeyId, publicKeyPem });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

function idempotencyKey() {
  return crypto.randomUUID().replace(/-/g, '');
}

function client(publicKeyId, privateKey, algorithm) {
  return new WebStoreClient({
    publicKeyId,
    privateKey,
    region: 'us',
    sandbox: true,
    algorithm,
    overrideServiceUrl: serviceHost,
  });
}

const createPayload = {
  webCheckoutDetails: {
    checkoutReviewReturnUrl: 'https://shop.example/review',
  },
  storeId: 'amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId',
  scopes: ['name', 'email', 'phoneNumber', 'billingAddress'],
  merchantMetadata: { merchantReferenceId: 'order-4711', merchantStoreName: 'Example Shop' },
};

const algorithms = ['AMZN-PAY-RSASSA-PSS', 'AMZN-PAY-RSASSA-PSS-V2'];
// An environment-specific key id makes the SDK use /v2/...; a legacy one
// /sandbox/v2/... — both must work.
const keyStyles = [
  { name: 'environment key', id: (n) => `SANDBOX-NODEINTEROP${n}` },
  { name: 'legacy key', id: (n) => `NODEINTEROPLEGACY${n}` },
];

let keyCounter = 0;

for (const algorithm of algorithms) {
  for (const style of keyStyles) {
    test(`checkout flow with ${algorithm} and a ${style.name}`, async () => {
      const { publicKey, privateKey } = newKeyPair();
      const keyId = style.id(keyCounter++);
      await registerKey(keyId, publicKey);
      const sdk = client(keyId, privateKey, algorithm);

      const created = await sdk.createCheckoutSession(createPayload, {
        'x-amz-pay-idempotency-key': idempotencyKey(),
      });
      assert.equal(created.status, 201);
      const id = created.data.checkoutSessionId;
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(created.data.statusDetails.state, 'Open');
      assert.ok(created.headers['x-amz-pay-request-id']);

      const updated = await sdk.updateCheckoutSession(id, {
        webCheckoutDetails: { checkoutResultReturnUrl: 'https://shop.example/result' },
        paymentDetails: {
          paymentIntent: 'Authorize',
          canHandlePendingAuthorization: false,
          chargeAmount: { amount: '49.99', currencyCode: 'USD' },
        },
      });
      assert.equal(updated.status, 200);
      assert.deepEqual(updated.data.constraints.map((c) => c.constraintId), ['BuyerNotAssociated']);
      assert.ok(updated.data.webCheckoutDetails.amazonPayRedirectUrl.includes(id));

      const buyer = await control('POST', `checkoutSessions/${id}/buyer`, { scenario: 'Authorized' });
      assert.equal(buyer.status, 200, JSON.stringify(buyer.body));

      const fetched = await sdk.getCheckoutSession(id);
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.data.constraints, []);
      assert.ok(fetched.data.buyer.buyerId);

      const completed = await sdk.completeCheckoutSession(id, {
        chargeAmount: { amount: '49.99', currencyCode: 'USD' },
      });
      assert.equal(completed.status, 200);
      assert.equal(completed.data.statusDetails.state, 'Completed');
      const { chargeId, chargePermissionId } = completed.data;
      assert.match(chargePermissionId, /^S01-\d{7}-\d{7}$/);
      assert.match(chargeId, new RegExp(`^${chargePermissionId}-C\\d{6}$`));

      const charge = await sdk.getCharge(chargeId);
      assert.equal(charge.status, 200);
      assert.equal(charge.data.statusDetails.state, 'Authorized');
      assert.deepEqual(charge.data.chargeAmount, { amount: '49.99', currencyCode: 'USD' });

      const permission = await sdk.getChargePermission(chargePermissionId);
      assert.equal(permission.status, 200);
      assert.equal(permission.data.statusDetails.state, 'Chargeable');

      const captured = await sdk.captureCharge(chargeId, {
        captureAmount: { amount: '49.99', currencyCode: 'USD' },
        softDescriptor: 'Example Shop',
      }, { 'x-amz-pay-idempotency-key': idempotencyKey() });
      assert.equal(captured.status, 200);
      assert.equal(captured.data.statusDetails.state, 'Captured');

      const calls = await control('GET', `checkoutSessions/${id}/calls`);
      assert.deepEqual(calls.body, {
        CreateCheckoutSession: 1,
        UpdateCheckoutSession: 1,
        GetCheckoutSession: 1,
        CompleteCheckoutSession: 1,
        GetCharge: 1,
        GetChargePermission: 1,
        CaptureCharge: 1,
      });
    });
  }
}

test('cancel charge with a JSON body on DELETE', async () => {
  const { publicKey, privateKey } = newKeyPair();
  const keyId = `SANDBOX-NODEINTEROPCANCEL`;
  await registerKey(keyId, publicKey);
  const sdk = client(keyId, privateKey, 'AMZN-PAY-RSASSA-PSS-V2');
  const created = await sdk.createCheckoutSession({
    ...createPayload,
    webCheckoutDetails: {
      checkoutReviewReturnUrl: 'https://shop.example/review',
      checkoutResultReturnUrl: 'https://shop.example/result',
    },
    paymentDetails: { paymentIntent: 'Authorize', chargeAmount: { amount: '10.00', currencyCode: 'USD' } },
  }, { 'x-amz-pay-idempotency-key': idempotencyKey() });
  const id = created.data.checkoutSessionId;
  assert.equal((await control('POST', `checkoutSessions/${id}/buyer`, { scenario: 'Authorized' })).status, 200);
  const completed = await sdk.completeCheckoutSession(id, { chargeAmount: { amount: '10.00', currencyCode: 'USD' } });
  const canceled = await sdk.cancelCharge(completed.data.chargeId, { cancellationReason: 'Out of stock' });
  assert.equal(canceled.status, 200);
  assert.equal(canceled.data.statusDetails.state, 'Canceled');
  assert.equal(canceled.data.statusDetails.reasonCode, 'MerchantCanceled');
});

test('errors reach the SDK as Amazon shapes them', async () => {
  const { publicKey, privateKey } = newKeyPair();
  const keyId = `SANDBOX-NODEINTEROPERRORS`;
  await registerKey(keyId, publicKey);
  const sdk = client(keyId, privateKey, 'AMZN-PAY-RSASSA-PSS');
  await assert.rejects(sdk.getCheckoutSession(crypto.randomUUID()), (err) => {
    assert.equal(err.response.status, 404);
    assert.equal(err.response.data.reasonCode, 'ResourceNotFound');
    return true;
  });
});

for (const algorithm of algorithms) {
  test(`a signature from another private key is rejected (${algorithm})`, async () => {
    const registered = newKeyPair();
    const other = newKeyPair();
    const keyId = `SANDBOX-NODEINTEROPFORGED${algorithm.length}`;
    await registerKey(keyId, registered.publicKey);
    const forger = client(keyId, other.privateKey, algorithm);
    await assert.rejects(forger.createCheckoutSession(createPayload, {
      'x-amz-pay-idempotency-key': idempotencyKey(),
    }), (err) => {
      assert.equal(err.response.status, 403);
      assert.equal(err.response.data.reasonCode, 'InvalidRequestSignature');
      return true;
    });
    // The genuine key still works, so the rejection was the signature.
    const genuine = client(keyId, registered.privateKey, algorithm);
    const ok = await genuine.createCheckoutSession(createPayload, {
      'x-amz-pay-idempotency-key': idempotencyKey(),
    });
    assert.equal(ok.status, 201);
  });
}

test('a pending authorization answers 202 and settles later', async () => {
  const { publicKey, privateKey } = newKeyPair();
  const keyId = `SANDBOX-NODEINTEROPPENDING`;
  await registerKey(keyId, publicKey);
  const sdk = client(keyId, privateKey, 'AMZN-PAY-RSASSA-PSS-V2');
  const created = await sdk.createCheckoutSession({
    ...createPayload,
    webCheckoutDetails: {
      checkoutReviewReturnUrl: 'https://shop.example/review',
      checkoutResultReturnUrl: 'https://shop.example/result',
    },
    paymentDetails: {
      paymentIntent: 'AuthorizeWithCapture',
      canHandlePendingAuthorization: true,
      chargeAmount: { amount: 25, currencyCode: 'USD' },
    },
  }, { 'x-amz-pay-idempotency-key': idempotencyKey() });
  const id = created.data.checkoutSessionId;
  assert.deepEqual(created.data.paymentDetails.chargeAmount, { amount: '25.00', currencyCode: 'USD' });
  const buyer = await control('POST', `checkoutSessions/${id}/buyer`, { scenario: 'PendingThenAuthorized' });
  assert.equal(buyer.status, 200);
  const completed = await sdk.completeCheckoutSession(id, { chargeAmount: { amount: '25.00', currencyCode: 'USD' } });
  assert.equal(completed.status, 202);
  const chargeId = completed.data.chargeId;
  assert.equal((await sdk.getCharge(chargeId)).data.statusDetails.state, 'AuthorizationInitiated');
  // run.sh starts the simulator with a short pending delay; poll as a
  // merchant would.
  const deadline = Date.now() + 30_000;
  let state;
  do {
    await new Promise((r) => setTimeout(r, 250));
    state = (await sdk.getCharge(chargeId)).data.statusDetails.state;
  } while (state === 'AuthorizationInitiated' && Date.now() < deadline);
  assert.equal(state, 'Captured');
});
