// Interop check: drives the Amazon Pay API v2 simulator with Amazon's
// official Node.js SDK. If the simulator verified signatures, parsed bodies
// or shaped answers differently from Amazon, these calls would fail.
//
// SIMULATOR_URL must name a running simulator (https://host:port); run.sh
// starts one. The SDK talks to it through its overrideServiceUrl setting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { WebStoreClient } = require('@amazonpay/amazon-pay-api-sdk-nodejs');
// AWS's own validator for inbound SNS HTTP messages: it fetches the
// SigningCertURL over HTTPS (trusting the simulator's CA through
// NODE_EXTRA_CA_CERTS) and checks the signature over SNS's canonical string.
const MessageValidator = require('sns-validator');

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

// The keys of Amazon's answers, in Amazon's order. The SDK's own integration
// test (tst/webStoreClientTest.js) compares Object.keys of a live Checkout
// Session with exactly this list; for Charge and Charge Permission it
// requires these keys, which real sandbox answers carry in this order.
const checkoutSessionKeys = [
  'checkoutSessionId', 'webCheckoutDetails', 'productType', 'paymentDetails', 'chargePermissionType',
  'orderType', 'recurringMetadata', 'paymentMethodOnFileMetadata', 'merchantDetails', 'merchantMetadata',
  'supplementaryData', 'buyer', 'billingAddress', 'paymentPreferences', 'statusDetails', 'shippingAddress',
  'platformId', 'chargePermissionId', 'chargeId', 'constraints', 'creationTimestamp', 'expirationTimestamp',
  'storeId', 'providerMetadata', 'releaseEnvironment', 'checkoutButtonText', 'deliverySpecifications', 'tokens',
];
const chargeKeys = [
  'chargeId', 'chargeAmount', 'chargePermissionId', 'captureAmount', 'refundedAmount', 'softDescriptor',
  'providerMetadata', 'convertedAmount', 'conversionRate', 'channel', 'chargeInitiator', 'statusDetails',
  'creationTimestamp', 'expirationTimestamp', 'releaseEnvironment', 'merchantMetadata', 'platformId',
  'webCheckoutDetails',
];
const chargePermissionKeys = [
  'chargePermissionId', 'chargePermissionReferenceId', 'platformId', 'buyer', 'shippingAddress',
  'billingAddress', 'paymentPreferences', 'statusDetails', 'creationTimestamp', 'expirationTimestamp',
  'merchantMetadata', 'releaseEnvironment', 'limits', 'chargePermissionType', 'recurringMetadata',
  'presentmentCurrency',
];

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
      assert.deepStrictEqual(Object.keys(created.data), checkoutSessionKeys);
      // A fresh session waits for its buyer only, and offers no page to
      // send the buyer to yet.
      assert.deepEqual(created.data.constraints.map((c) => c.constraintId), ['BuyerNotAssociated']);
      assert.equal(created.data.webCheckoutDetails.amazonPayRedirectUrl, null);
      assert.deepEqual(created.data.paymentPreferences, [null]);

      // The buyer signs in on Amazon first; the shop then reads the
      // address and buyer to price shipping and tax.
      const signedIn = await control('POST', `checkoutSessions/${id}/signIn`, { scenario: 'Authorized' });
      assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
      const reviewed = await sdk.getCheckoutSession(id);
      assert.deepStrictEqual(Object.keys(reviewed.data), checkoutSessionKeys);
      assert.ok(reviewed.data.buyer.buyerId);
      assert.equal(reviewed.data.shippingAddress.countryCode, 'US');
      assert.deepEqual(reviewed.data.constraints.map((c) => c.constraintId),
        ['ChargeAmountNotSet', 'CheckoutResultReturnUrlNotSet', 'PaymentIntentNotSet']);
      assert.equal(reviewed.data.webCheckoutDetails.amazonPayRedirectUrl, null);

      const updated = await sdk.updateCheckoutSession(id, {
        webCheckoutDetails: { checkoutResultReturnUrl: 'https://shop.example/result' },
        paymentDetails: {
          paymentIntent: 'Authorize',
          canHandlePendingAuthorization: false,
          chargeAmount: { amount: '49.99', currencyCode: 'USD' },
        },
      });
      assert.equal(updated.status, 200);
      assert.deepStrictEqual(Object.keys(updated.data), checkoutSessionKeys);
      assert.deepEqual(updated.data.constraints, []);
      assert.ok(updated.data.webCheckoutDetails.amazonPayRedirectUrl.includes(id));

      // The buyer pays on amazonPayRedirectUrl.
      const paid = await control('POST', `checkoutSessions/${id}/pay`, {});
      assert.equal(paid.status, 200, JSON.stringify(paid.body));

      const fetched = await sdk.getCheckoutSession(id);
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.data.constraints, []);
      assert.ok(fetched.data.buyer.buyerId);

      const completed = await sdk.completeCheckoutSession(id, {
        chargeAmount: { amount: '49.99', currencyCode: 'USD' },
      });
      assert.equal(completed.status, 200);
      assert.deepStrictEqual(Object.keys(completed.data), checkoutSessionKeys);
      assert.equal(completed.data.statusDetails.state, 'Completed');
      const { chargeId, chargePermissionId } = completed.data;
      assert.match(chargePermissionId, /^S01-\d{7}-\d{7}$/);
      assert.match(chargeId, new RegExp(`^${chargePermissionId}-C\\d{6}$`));

      const charge = await sdk.getCharge(chargeId);
      assert.equal(charge.status, 200);
      assert.equal(charge.data.statusDetails.state, 'Authorized');
      assert.deepEqual(charge.data.chargeAmount, { amount: '49.99', currencyCode: 'USD' });
      assert.deepStrictEqual(Object.keys(charge.data), chargeKeys);

      const permission = await sdk.getChargePermission(chargePermissionId);
      assert.equal(permission.status, 200);
      assert.equal(permission.data.statusDetails.state, 'Chargeable');
      assert.deepStrictEqual(Object.keys(permission.data), chargePermissionKeys);

      const captured = await sdk.captureCharge(chargeId, {
        captureAmount: { amount: '49.99', currencyCode: 'USD' },
        softDescriptor: 'Example Shop',
      }, { 'x-amz-pay-idempotency-key': idempotencyKey() });
      assert.equal(captured.status, 200);
      assert.equal(captured.data.statusDetails.state, 'Captured');
      assert.deepStrictEqual(Object.keys(captured.data), chargeKeys);

      const calls = await control('GET', `checkoutSessions/${id}/calls`);
      assert.deepEqual(calls.body, {
        CreateCheckoutSession: 1,
        UpdateCheckoutSession: 1,
        GetCheckoutSession: 2,
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

test('a currency outside the ledger is refused, except in the EU', async () => {
  const { publicKey, privateKey } = newKeyPair();
  const keyId = 'SANDBOX-NODEINTEROPLEDGER';
  await registerKey(keyId, publicKey);
  const payload = (currencyCode) => ({
    ...createPayload,
    paymentDetails: { paymentIntent: 'Authorize', chargeAmount: { amount: '10.00', currencyCode } },
  });
  const us = client(keyId, privateKey, 'AMZN-PAY-RSASSA-PSS-V2');
  await assert.rejects(us.createCheckoutSession(payload('EUR'), { 'x-amz-pay-idempotency-key': idempotencyKey() }), (err) => {
    assert.equal(err.response.status, 400);
    assert.equal(err.response.data.reasonCode, 'CurrencyMismatch');
    return true;
  });
  const eu = new WebStoreClient({
    publicKeyId: keyId, privateKey, region: 'eu', sandbox: true, algorithm: 'AMZN-PAY-RSASSA-PSS-V2', overrideServiceUrl: serviceHost,
  });
  const created = await eu.createCheckoutSession(payload('USD'), { 'x-amz-pay-idempotency-key': idempotencyKey() });
  assert.equal(created.status, 201);
});

test('an unrecognised field is refused in Amazon\'s words', async () => {
  const { publicKey, privateKey } = newKeyPair();
  const keyId = 'SANDBOX-NODEINTEROPFIELD';
  await registerKey(keyId, publicKey);
  const sdk = client(keyId, privateKey, 'AMZN-PAY-RSASSA-PSS');
  await assert.rejects(sdk.createCheckoutSession({ ...createPayload, checkoutColour: 'gold' }, {
    'x-amz-pay-idempotency-key': idempotencyKey(),
  }), (err) => {
    assert.equal(err.response.status, 400);
    assert.equal(err.response.data.reasonCode, 'UnrecognizedField');
    assert.equal(err.response.data.message, "The field 'checkoutColour' is invalid for this API.");
    return true;
  });
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

// An IPN receiver as a storefront runs one: it records what SNS posts.
async function startReceiver() {
  const messages = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      messages.push({ headers: req.headers, body });
      res.writeHead(200).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/ipn`,
    messages,
    // waitUntil waits until pred holds for the "ObjectType ObjectId" list
    // of the messages received.
    async waitUntil(pred) {
      const deadline = Date.now() + 30_000;
      const seen = () => messages.map((m) => {
        const ipn = JSON.parse(JSON.parse(m.body).Message);
        return `${ipn.ObjectType} ${ipn.ObjectId}`;
      });
      while (!pred(seen())) {
        if (Date.now() > deadline) throw new Error(`notifications so far: ${seen()}`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 1000); });
      }
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

function validate(validator, body) {
  return new Promise((resolve, reject) => {
    validator.validate(body, (err, message) => (err ? reject(err) : resolve(message)));
  });
}

for (const signatureVersion of ['1', '2']) {
  test(`a full order's notifications verify with AWS's SNS message validator (SignatureVersion ${signatureVersion})`, async () => {
    const { publicKey, privateKey } = newKeyPair();
    const merchantId = `NODEIPNMERCHANT${signatureVersion}`;
    const keyId = `SANDBOX-NODEINTEROPIPN${signatureVersion}`;
    const res = await control('POST', 'publicKeys', { publicKeyId: keyId, publicKeyPem: publicKey, merchantId });
    assert.equal(res.status, 201);
    const receiver = await startReceiver();
    try {
      const ep = await control('POST', 'notificationEndpoints', { url: receiver.url, merchantId, signatureVersion });
      assert.equal(ep.status, 201, JSON.stringify(ep.body));
      const sdk = client(keyId, privateKey, 'AMZN-PAY-RSASSA-PSS-V2');
      const key = () => ({ 'x-amz-pay-idempotency-key': idempotencyKey() });
      const usd = (amount) => ({ amount, currencyCode: 'USD' });

      // Create; the buyer signs in; the shop updates; the buyer pays;
      // complete. The order is 50.00, the first shipment 30.00.
      const created = await sdk.createCheckoutSession(createPayload, key());
      const id = created.data.checkoutSessionId;
      assert.equal((await control('POST', `checkoutSessions/${id}/signIn`, { scenario: 'Authorized' })).status, 200);
      await sdk.updateCheckoutSession(id, {
        webCheckoutDetails: { checkoutResultReturnUrl: 'https://shop.example/result' },
        paymentDetails: { paymentIntent: 'Authorize', chargeAmount: usd('30.00'), totalOrderAmount: usd('50.00') },
      });
      assert.equal((await control('POST', `checkoutSessions/${id}/pay`, {})).status, 200);
      const completed = await sdk.completeCheckoutSession(id, { chargeAmount: usd('30.00'), totalOrderAmount: usd('50.00') });
      const { chargeId, chargePermissionId } = completed.data;
      // Update and read the permission, capture, a second shipment, a
      // refund, close.
      await sdk.updateChargePermission(chargePermissionId, { merchantMetadata: { merchantReferenceId: 'order-ipn' } });
      assert.equal((await sdk.getChargePermission(chargePermissionId)).data.merchantMetadata.merchantReferenceId, 'order-ipn');
      await sdk.captureCharge(chargeId, { captureAmount: usd('30.00') }, key());
      const second = await sdk.createCharge({ chargePermissionId, chargeAmount: usd('15.00'), captureNow: true, canHandlePendingAuthorization: false }, key());
      const refund = await sdk.createRefund({ chargeId, refundAmount: usd('10.00') }, key());
      const refundId = refund.data.refundId;
      await receiver.waitUntil((seen) => seen.includes(`REFUND ${refundId}`));
      await sdk.closeChargePermission(chargePermissionId, { closureReason: 'done', cancelPendingCharges: false });
      await receiver.waitUntil((seen) => seen.includes(`CHARGE_PERMISSION ${chargePermissionId}`));

      const validator = new MessageValidator(/^127\.0\.0\.1:\d+$/);
      const seen = [];
      for (const { headers, body } of receiver.messages) {
        assert.equal(headers['x-amz-sns-message-type'], 'Notification');
        const envelope = await validate(validator, body);
        assert.equal(envelope.SignatureVersion, signatureVersion);
        const ipn = JSON.parse(envelope.Message);
        assert.deepEqual(Object.keys(ipn), ['MerchantID', 'ObjectType', 'ObjectId', 'ChargePermissionId',
          'NotificationType', 'NotificationId', 'NotificationVersion']);
        assert.equal(ipn.MerchantID, merchantId);
        assert.equal(ipn.ChargePermissionId, chargePermissionId);
        assert.equal(ipn.NotificationType, 'STATE_CHANGE');
        assert.equal(ipn.NotificationVersion, 'V2');
        seen.push(`${ipn.ObjectType} ${ipn.ObjectId}`);
      }
      // The IPN carries no state: a storefront reads the object.
      assert.equal((await sdk.getRefund(refundId)).data.statusDetails.state, 'Refunded');
      for (const want of [`CHARGE ${chargeId}`, `CHARGE ${second.data.chargeId}`, `REFUND ${refundId}`,
        `CHARGE_PERMISSION ${chargePermissionId}`]) {
        assert.ok(seen.includes(want), `no notification for ${want}: ${seen}`);
      }
      // Authorized and Captured for each charge.
      assert.equal(seen.filter((s) => s === `CHARGE ${chargeId}`).length, 2, `${seen}`);

      // A tampered message is rejected by the same validator.
      const forged = JSON.parse(receiver.messages[0].body);
      forged.Message = forged.Message.replace(chargePermissionId, `${chargePermissionId}X`);
      await assert.rejects(validate(validator, forged), /signature is invalid/);
    } finally {
      await receiver.close();
    }
  });
}
