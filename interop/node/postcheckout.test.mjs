// Interop check of the operations after checkout: Create Charge, refunds,
// Update and Close Charge Permission, Finalize Checkout Session and Get
// Buyer, driven through Amazon's official Node.js SDK as a storefront would.
//
// SIMULATOR_URL must name a running simulator (https://host:port) whose
// pending delay is short (run.sh starts one with 2s).
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

async function control(method, path, body) {
  const res = await fetch(`${baseURL}/simulator/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

let keyCounter = 0;

// newClient registers a fresh key and returns an SDK client for it.
async function newClient(algorithm = 'AMZN-PAY-RSASSA-PSS-V2') {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const publicKeyId = `SANDBOX-NODEPOSTCHECKOUT${keyCounter++}`;
  const res = await control('POST', 'publicKeys', { publicKeyId, publicKeyPem: publicKey });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return new WebStoreClient({
    publicKeyId,
    privateKey,
    region: 'us',
    sandbox: true,
    algorithm,
    overrideServiceUrl: new URL(baseURL).host,
  });
}

const key = () => ({ 'x-amz-pay-idempotency-key': crypto.randomUUID().replace(/-/g, '') });
const usd = (amount) => ({ amount, currencyCode: 'USD' });

// The keys of a Charge, in Amazon's order (the SDK's integration test).
const chargeKeys = [
  'chargeId', 'chargeAmount', 'chargePermissionId', 'captureAmount', 'refundedAmount', 'softDescriptor',
  'providerMetadata', 'convertedAmount', 'conversionRate', 'channel', 'chargeInitiator', 'statusDetails',
  'creationTimestamp', 'expirationTimestamp', 'releaseEnvironment', 'merchantMetadata', 'platformId',
  'webCheckoutDetails',
];
const refundKeys = ['refundId', 'chargeId', 'creationTimestamp', 'refundAmount', 'statusDetails', 'softDescriptor', 'releaseEnvironment'];

// rejects asserts that promise fails with HTTP status and reasonCode.
async function rejects(promise, status, reasonCode) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.response?.status, status, JSON.stringify(err.response?.data));
    assert.equal(err.response.data.reasonCode, reasonCode);
    return true;
  });
}

// until polls read until it returns something other than pending (the
// simulator settles after its pending delay) and returns that.
async function until(read, pending) {
  const deadline = Date.now() + 30_000;
  let state;
  do {
    await new Promise((r) => setTimeout(r, 200));
    state = await read();
  } while (state === pending && Date.now() < deadline);
  return state;
}

// checkout runs create, sign-in, update, pay and complete and returns the
// completed session.
async function checkout(sdk, paymentDetails, scenario = 'Authorized') {
  const created = await sdk.createCheckoutSession({
    webCheckoutDetails: { checkoutReviewReturnUrl: 'https://shop.example/review' },
    storeId: 'amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId',
    ...(paymentDetails.allowOvercharge ? { paymentDetails: { allowOvercharge: true } } : {}),
  }, key());
  assert.equal(created.status, 201);
  const id = created.data.checkoutSessionId;
  const signedIn = await control('POST', `checkoutSessions/${id}/signIn`, { scenario });
  assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
  const { allowOvercharge, ...details } = paymentDetails;
  const updated = await sdk.updateCheckoutSession(id, {
    webCheckoutDetails: { checkoutResultReturnUrl: 'https://shop.example/result' },
    paymentDetails: details,
  });
  assert.equal(updated.status, 200);
  const paid = await control('POST', `checkoutSessions/${id}/pay`, {});
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  const complete = { chargeAmount: details.chargeAmount };
  if (details.totalOrderAmount) {
    complete.totalOrderAmount = details.totalOrderAmount;
  }
  const completed = await sdk.completeCheckoutSession(id, complete);
  assert.equal(completed.status, 200);
  return completed.data;
}

test('a full order: checkout, charge permission bookkeeping, split shipment, refund, close', async () => {
  const sdk = await newClient();
  // The order is 50.00; the first shipment (30.00) is authorized at checkout.
  const session = await checkout(sdk, {
    paymentIntent: 'Authorize',
    canHandlePendingAuthorization: false,
    chargeAmount: usd('30.00'),
    totalOrderAmount: usd('50.00'),
  });
  const { checkoutSessionId, chargeId, chargePermissionId } = session;

  // The shop records its order number on the permission after placing it.
  const updated = await sdk.updateChargePermission(chargePermissionId, {
    merchantMetadata: { merchantReferenceId: 'order-5001', merchantStoreName: 'Example Shop' },
  });
  assert.equal(updated.status, 200);
  assert.equal(updated.data.merchantMetadata.merchantReferenceId, 'order-5001');
  const permission = await sdk.getChargePermission(chargePermissionId);
  assert.equal(permission.data.merchantMetadata.merchantReferenceId, 'order-5001');
  assert.equal(permission.data.statusDetails.state, 'Chargeable');
  assert.deepEqual(permission.data.limits.amountLimit, usd('50.00'));
  assert.deepEqual(permission.data.limits.amountBalance, usd('20.00'));

  // First shipment.
  const captured = await sdk.captureCharge(chargeId, { captureAmount: usd('30.00'), softDescriptor: 'EXAMPLE SHOP' }, key());
  assert.equal(captured.data.statusDetails.state, 'Captured');
  assert.equal((await sdk.getChargePermission(chargePermissionId)).data.statusDetails.state, 'Chargeable');

  // Second shipment: a new charge on the permission, captured at once.
  const second = await sdk.createCharge({
    chargePermissionId,
    chargeAmount: usd('15.00'),
    captureNow: true,
    softDescriptor: 'EXAMPLE SHOP',
    canHandlePendingAuthorization: false,
  }, key());
  assert.equal(second.status, 201);
  assert.deepStrictEqual(Object.keys(second.data), chargeKeys);
  assert.equal(second.data.statusDetails.state, 'Captured');
  assert.match(second.data.chargeId, new RegExp(`^${chargePermissionId}-C\\d{6}$`));
  await rejects(sdk.createCharge({ chargePermissionId, chargeAmount: usd('5.01'), captureNow: true }, key()), 400, 'TransactionAmountExceeded');

  // A partial refund of the first shipment.
  const refund = await sdk.createRefund({ chargeId, refundAmount: usd('10.00'), softDescriptor: 'EXAMPLE REFUND' }, key());
  assert.equal(refund.status, 201);
  assert.deepStrictEqual(Object.keys(refund.data), refundKeys);
  assert.equal(refund.data.statusDetails.state, 'RefundInitiated');
  const refundId = refund.data.refundId;
  assert.match(refundId, new RegExp(`^${chargePermissionId}-R\\d{6}$`));
  const refunded = await until(async () => (await sdk.getRefund(refundId)).data.statusDetails.state, 'RefundInitiated');
  assert.equal(refunded, 'Refunded');
  assert.deepEqual((await sdk.getCharge(chargeId)).data.refundedAmount, usd('10.00'));

  // The rest of the order is not shipped: close the permission.
  const closed = await sdk.closeChargePermission(chargePermissionId, { closureReason: 'Rest of the order canceled', cancelPendingCharges: true });
  assert.equal(closed.status, 200);
  assert.equal(closed.data.statusDetails.state, 'Closed');
  assert.equal(closed.data.statusDetails.reasons[0].reasonCode, 'MerchantClosed');
  await rejects(sdk.createCharge({ chargePermissionId, chargeAmount: usd('1.00') }, key()), 422, 'InvalidChargePermissionStatus');

  const calls = await control('GET', `checkoutSessions/${checkoutSessionId}/calls`);
  assert.equal(calls.status, 200);
  for (const [op, n] of Object.entries({
    UpdateChargePermission: 1, GetChargePermission: 2, CaptureCharge: 1, CreateCharge: 3,
    CreateRefund: 1, CloseChargePermission: 1, GetCharge: 1,
  })) {
    assert.equal(calls.body[op], n, `${op}: ${JSON.stringify(calls.body)}`);
  }
  assert.ok(calls.body.GetRefund >= 1);
});

test('Create Charge on a Confirm permission: pending instruments, simulation codes, idempotency', async () => {
  const sdk = await newClient('AMZN-PAY-RSASSA-PSS');
  const confirmed = await checkout(sdk, { paymentIntent: 'Confirm', chargeAmount: usd('20.00') }, 'PendingThenAuthorized');
  const chargePermissionId = confirmed.chargePermissionId;
  assert.equal(confirmed.chargeId, null);
  // The idempotency key is required.
  await rejects(sdk.createCharge({ chargePermissionId, chargeAmount: usd('5.00') }), 400, 'MissingHeader');
  // The buyer's instrument authorizes asynchronously: without
  // canHandlePendingAuthorization the authorization times out.
  await rejects(sdk.createCharge({ chargePermissionId, chargeAmount: usd('5.00'), canHandlePendingAuthorization: false }, key()), 422, 'TransactionTimedOut');
  const headers = key();
  const pending = await sdk.createCharge({ chargePermissionId, chargeAmount: usd('5.00'), canHandlePendingAuthorization: true }, headers);
  assert.equal(pending.status, 201);
  assert.equal(pending.data.statusDetails.state, 'AuthorizationInitiated');
  const replay = await sdk.createCharge({ chargePermissionId, chargeAmount: usd('5.00'), canHandlePendingAuthorization: true }, headers);
  assert.equal(replay.data.chargeId, pending.data.chargeId);
  const permission = await sdk.getChargePermission(chargePermissionId);
  assert.equal(permission.data.statusDetails.state, 'NonChargeable');
  assert.equal(permission.data.statusDetails.reasons[0].reasonCode, 'ChargeInProgress');
  const settled = await until(async () => (await sdk.getCharge(pending.data.chargeId)).data.statusDetails.state, 'AuthorizationInitiated');
  assert.equal(settled, 'Authorized');

  // A soft decline leaves the permission chargeable for a retry; codes of
  // other operations are refused.
  await rejects(sdk.createCharge({ chargePermissionId, chargeAmount: usd('5.00'), canHandlePendingAuthorization: true },
    { ...key(), 'x-amz-pay-simulation-code': 'BuyerCanceled' }), 400, 'InvalidSandboxSimulationSpecified');
  const soft = await sdk.createCharge({ chargePermissionId, chargeAmount: usd('5.00'), canHandlePendingAuthorization: true },
    { ...key(), 'x-amz-pay-simulation-code': 'SoftDeclined' });
  assert.equal(soft.data.statusDetails.state, 'AuthorizationInitiated');
  assert.equal(await until(async () => (await sdk.getCharge(soft.data.chargeId)).data.statusDetails.state, 'AuthorizationInitiated'), 'Declined');
  assert.equal((await sdk.getChargePermission(chargePermissionId)).data.statusDetails.state, 'Chargeable');
});

test('asynchronous capture with the CaptureInitiated and AmazonRejected codes', async () => {
  const sdk = await newClient();
  for (const [code, final, permissionState] of [['CaptureInitiated', 'Captured', 'Closed'], ['AmazonRejected', 'Declined', 'Closed']]) {
    const { chargeId, chargePermissionId } = await checkout(sdk, { paymentIntent: 'Authorize', chargeAmount: usd('12.00') });
    const captured = await sdk.captureCharge(chargeId, { captureAmount: usd('12.00') }, { ...key(), 'x-amz-pay-simulation-code': code });
    assert.equal(captured.status, 200);
    assert.equal(captured.data.statusDetails.state, 'CaptureInitiated');
    const state = await until(async () => (await sdk.getCharge(chargeId)).data.statusDetails.state, 'CaptureInitiated');
    assert.equal(state, final, code);
    assert.equal((await sdk.getChargePermission(chargePermissionId)).data.statusDetails.state, permissionState, code);
  }
  const { chargeId } = await checkout(sdk, { paymentIntent: 'Authorize', chargeAmount: usd('12.00') });
  await rejects(sdk.captureCharge(chargeId, { captureAmount: usd('12.00') }, { ...key(), 'x-amz-pay-simulation-code': 'HardDeclined' }), 400, 'InvalidSandboxSimulationSpecified');
});

test('refund limits, a declined refund, and refusals', async () => {
  const sdk = await newClient();
  const { chargeId } = await checkout(sdk, { paymentIntent: 'AuthorizeWithCapture', chargeAmount: usd('100.00') });
  await rejects(sdk.createRefund({ chargeId, refundAmount: usd('1.00') }), 400, 'MissingHeader');
  // Up to the captured amount plus 15% or 75 USD, whichever is less.
  await rejects(sdk.createRefund({ chargeId, refundAmount: usd('115.01') }, key()), 400, 'TransactionAmountExceeded');
  const declined = await sdk.createRefund({ chargeId, refundAmount: usd('115.00') }, key());
  assert.equal(declined.status, 201);
  // Amazon documents no simulation code for refunds: the control API
  // decides the outcome instead.
  await rejects(sdk.createRefund({ chargeId, refundAmount: usd('1.00') }, { ...key(), 'x-amz-pay-simulation-code': 'Declined' }), 400, 'InvalidSandboxSimulationSpecified');
  const outcome = await control('POST', `refunds/${declined.data.refundId}/outcome`, { state: 'Declined', reasonCode: 'ProcessingFailure' });
  assert.equal(outcome.status, 200, JSON.stringify(outcome.body));
  const state = await until(async () => (await sdk.getRefund(declined.data.refundId)).data.statusDetails.state, 'RefundInitiated');
  assert.equal(state, 'Declined');
  const refund = await sdk.getRefund(declined.data.refundId);
  assert.equal(refund.data.statusDetails.reasonCode, 'ProcessingFailure');
  assert.deepEqual((await sdk.getCharge(chargeId)).data.refundedAmount, usd('0.00'));
  await rejects(sdk.getRefund(`${declined.data.refundId.slice(0, -6)}000000`), 404, 'ResourceNotFound');

  const authorized = await checkout(sdk, { paymentIntent: 'Authorize', chargeAmount: usd('5.00') });
  await rejects(sdk.createRefund({ chargeId: authorized.chargeId, refundAmount: usd('1.00') }, key()), 422, 'InvalidChargeStatus');
});

test('allowOvercharge raises the limit and is refused on Update', async () => {
  const sdk = await newClient();
  const created = await sdk.createCheckoutSession({
    webCheckoutDetails: { checkoutReviewReturnUrl: 'https://shop.example/review' },
    storeId: 'amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId',
  }, key());
  await rejects(sdk.updateCheckoutSession(created.data.checkoutSessionId, { paymentDetails: { allowOvercharge: true } }), 400, 'UnrecognizedField');
  const { chargePermissionId } = await checkout(sdk, { allowOvercharge: true, paymentIntent: 'Confirm', chargeAmount: usd('10.00') });
  const permission = await sdk.getChargePermission(chargePermissionId);
  assert.deepEqual(permission.data.limits.amountLimit, usd('500.00'));
  const charge = await sdk.createCharge({ chargePermissionId, chargeAmount: usd('500.00'), captureNow: true }, key());
  assert.equal(charge.data.statusDetails.state, 'Captured');
});

test('Finalize Checkout Session and Get Buyer', async () => {
  const sdk = await newClient();
  const created = await sdk.createCheckoutSession({
    webCheckoutDetails: { checkoutReviewReturnUrl: 'https://shop.example/review', checkoutResultReturnUrl: 'https://shop.example/result' },
    storeId: 'amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId',
    paymentDetails: { paymentIntent: 'Authorize', chargeAmount: usd('10.00') },
  }, key());
  const id = created.data.checkoutSessionId;
  assert.equal((await control('POST', `checkoutSessions/${id}/signIn`, { scenario: 'Authorized' })).status, 200);
  assert.equal((await control('POST', `checkoutSessions/${id}/pay`, {})).status, 200);
  const session = await sdk.getCheckoutSession(id);

  const token = await control('POST', 'buyerTokens', { checkoutSessionId: id });
  assert.equal(token.status, 201, JSON.stringify(token.body));
  const buyer = await sdk.getBuyer(token.body.buyerToken);
  assert.equal(buyer.status, 200);
  assert.ok(buyer.data.buyerId.startsWith('amzn1.account.'));
  assert.equal(buyer.data.buyerId, session.data.buyer.buyerId);
  await rejects(sdk.getBuyer('no-such-token'), 404, 'ResourceNotFound');

  const payload = {
    shippingAddress: session.data.shippingAddress,
    billingAddress: null,
    chargeAmount: usd('10.00'),
    paymentIntent: 'AuthorizeWithCapture',
    canHandlePendingAuthorization: false,
  };
  await rejects(sdk.finalizeCheckoutSession(id, { ...payload, shippingAddress: { ...payload.shippingAddress, city: 'Elsewhere' } }), 400, 'InvalidParameterValue');
  await rejects(sdk.finalizeCheckoutSession(id, { ...payload, chargeAmount: usd('10.01') }), 409, 'AmountMismatch');
  const finalized = await sdk.finalizeCheckoutSession(id, payload);
  assert.equal(finalized.status, 200);
  assert.equal(finalized.data.statusDetails.state, 'Completed');
  // The SDK's own Finalize test expects exactly these keys, in this order.
  assert.deepStrictEqual(Object.keys(finalized.data), [
    'checkoutSessionId', 'webCheckoutDetails', 'productType', 'paymentDetails', 'cartDetails', 'chargePermissionType',
    'orderType', 'recurringMetadata', 'paymentMethodOnFileMetadata', 'merchantDetails', 'merchantMetadata',
    'supplementaryData', 'buyer', 'billingAddress', 'paymentPreferences', 'statusDetails', 'shippingAddress',
    'platformId', 'chargePermissionId', 'chargeId', 'constraints', 'creationTimestamp', 'expirationTimestamp',
    'storeId', 'providerMetadata', 'releaseEnvironment', 'checkoutButtonText', 'deliverySpecifications', 'tokens',
  ]);
  assert.equal((await sdk.getCharge(finalized.data.chargeId)).data.statusDetails.state, 'Captured');
});

test('Complete simulation codes, the charge count, currencies, closing twice', async () => {
  const sdk = await newClient();
  for (const code of ['BuyerCanceled', 'Declined', 'AmazonCanceled']) {
    const created = await sdk.createCheckoutSession({
      webCheckoutDetails: { checkoutReviewReturnUrl: 'https://shop.example/review', checkoutResultReturnUrl: 'https://shop.example/result' },
      storeId: 'amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId',
      paymentDetails: { paymentIntent: 'Authorize', chargeAmount: usd('3.00') },
    }, key());
    const id = created.data.checkoutSessionId;
    assert.equal((await control('POST', `checkoutSessions/${id}/buyer`, { scenario: 'Authorized' })).status, 200);
    await rejects(sdk.completeCheckoutSession(id, { chargeAmount: usd('3.00') }, { 'x-amz-pay-simulation-code': code }), 422, 'CheckoutSessionCanceled');
    const session = await sdk.getCheckoutSession(id);
    assert.equal(session.data.statusDetails.state, 'Canceled');
    assert.equal(session.data.statusDetails.reasonCode, code);
  }

  const { chargePermissionId } = await checkout(sdk, { paymentIntent: 'Confirm', chargeAmount: usd('1.00') });
  await rejects(sdk.createCharge({ chargePermissionId, chargeAmount: { amount: '0.01', currencyCode: 'EUR' } }, key()), 400, 'CurrencyMismatch');
  const chargeId = (await sdk.createCharge({ chargePermissionId, chargeAmount: usd('0.01') }, key())).data.chargeId;
  for (let i = 1; i < 25; i++) {
    const c = await sdk.createCharge({ chargePermissionId, chargeAmount: usd('0.01') }, key());
    assert.equal(c.status, 201);
  }
  await rejects(sdk.createCharge({ chargePermissionId, chargeAmount: usd('0.01') }, key()), 422, 'TransactionCountExceeded');

  const closed = await sdk.closeChargePermission(chargePermissionId, { closureReason: 'Order canceled', cancelPendingCharges: true });
  assert.equal(closed.data.statusDetails.state, 'Closed');
  const canceled = await sdk.getCharge(chargeId);
  assert.equal(canceled.data.statusDetails.state, 'Canceled');
  assert.equal(canceled.data.statusDetails.reasonCode, 'ChargePermissionCanceled');
  await rejects(sdk.closeChargePermission(chargePermissionId, { closureReason: 'again' }), 422, 'InvalidChargePermissionStatus');
});

test('with a manual clock: a capture 8 days after authorization and a refund settle when the clock moves', async () => {
  const manualURL = process.env.SIMULATOR_MANUAL_URL;
  assert.ok(manualURL, 'SIMULATOR_MANUAL_URL is not set');
  const manual = async (method, path, body) => {
    const res = await fetch(`${manualURL}/simulator/${path}`, {
      method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  // Its own merchant account, so its throttling buckets are its own.
  const reg = await manual('POST', 'publicKeys', { publicKeyId: 'SANDBOX-NODEPOSTMANUAL', publicKeyPem: publicKey, merchantId: 'A2NODEPOSTMANUAL' });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const sdk = new WebStoreClient({
    publicKeyId: 'SANDBOX-NODEPOSTMANUAL', privateKey, region: 'us', sandbox: true,
    algorithm: 'AMZN-PAY-RSASSA-PSS-V2', overrideServiceUrl: new URL(manualURL).host,
  });
  const advance = async (d) => assert.equal((await manual('POST', 'clock', { advance: d })).status, 200);

  const created = await sdk.createCheckoutSession({
    webCheckoutDetails: { checkoutReviewReturnUrl: 'https://shop.example/review', checkoutResultReturnUrl: 'https://shop.example/result' },
    storeId: 'amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId',
    paymentDetails: { paymentIntent: 'Authorize', chargeAmount: usd('40.00') },
  }, key());
  const id = created.data.checkoutSessionId;
  assert.equal((await manual('POST', `checkoutSessions/${id}/buyer`, { scenario: 'Authorized' })).status, 200);
  const { chargeId } = (await sdk.completeCheckoutSession(id, { chargeAmount: usd('40.00') })).data;
  await advance('192h');
  const captured = await sdk.captureCharge(chargeId, { captureAmount: usd('40.00') }, key());
  assert.equal(captured.data.statusDetails.state, 'CaptureInitiated');
  // Real time passes, the simulator's does not: still pending.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await sdk.getCharge(chargeId)).data.statusDetails.state, 'CaptureInitiated');
  await advance('30s');
  assert.equal((await sdk.getCharge(chargeId)).data.statusDetails.state, 'Captured');

  const refund = await sdk.createRefund({ chargeId, refundAmount: usd('40.00') }, key());
  assert.equal(refund.data.statusDetails.state, 'RefundInitiated');
  await advance('30s');
  assert.equal((await sdk.getRefund(refund.data.refundId)).data.statusDetails.state, 'Refunded');
});
