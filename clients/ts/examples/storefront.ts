// Completes an Amazon Pay checkout through the paymentcompletion service,
// over TLS when PAYMENTCOMPLETION_CA_FILE is set (with a client certificate
// when PAYMENTCOMPLETION_CERT_FILE and PAYMENTCOMPLETION_KEY_FILE are, and a
// bearer token when PAYMENTCOMPLETION_TOKEN is), and prints what the
// storefront should do.
//
//   node storefront.js SESSION_ID ORDER_ID 14.00 USD
import {
  ErrorReason,
  Outcome,
  connectionProblem,
  connectionSetting,
  createPaymentCompletionClient,
  errorReason,
} from "@paymentcompletion/client";

const [sessionId, orderId, amount, currencyCode] = process.argv.slice(2);
const env = (name: string) => process.env[name] || undefined; // empty is unset
const addr = env("PAYMENTCOMPLETION_ADDR") ?? "127.0.0.1:50051";
const client = createPaymentCompletionClient({
  baseUrl: env("PAYMENTCOMPLETION_CA_FILE") ? `https://${addr}` : `http://${addr}`,
  tls: env("PAYMENTCOMPLETION_CA_FILE")
    ? {
        caFile: env("PAYMENTCOMPLETION_CA_FILE"), // the CA that signed the server's certificate
        certFile: env("PAYMENTCOMPLETION_CERT_FILE"), // mTLS: this storefront's certificate and key
        keyFile: env("PAYMENTCOMPLETION_KEY_FILE"),
      }
    : undefined,
  token: env("PAYMENTCOMPLETION_TOKEN"), // sent as "authorization: Bearer ..." with every call
}); // applies the service config: retries and timeouts

try {
  const { payment } = await client.completeCheckout({
    checkoutSessionId: sessionId, // amazonCheckoutSessionId from the return URL
    orderId,
    chargeAmount: { amount, currencyCode },
  });
  switch (payment?.outcome) {
    case Outcome.COMPLETED:
      console.log(`COMPLETED: show the order confirmation, charge ${payment.chargeId}`);
      break;
    case Outcome.PENDING:
    case Outcome.UNKNOWN:
      console.log('PENDING: show "payment being confirmed"; follow it with watchPayment');
      break;
    case Outcome.DECLINED:
      console.log(`DECLINED: ask for another payment method, ${payment.reasonCode}`);
      break;
    case Outcome.CANCELED:
      console.log(`CANCELED: show the cart again, ${payment.reasonCode}`);
      break;
  }
} catch (err) {
  const reason = errorReason(err); // from the error's google.rpc.ErrorInfo
  switch (reason) {
    case ErrorReason.AMOUNT_MISMATCH:
    case ErrorReason.CURRENCY_MISMATCH:
      console.log(`${ErrorReason[reason]}: charge the amount set on the checkout session`);
      break;
    case ErrorReason.CHECKOUT_SESSION_NOT_READY:
      console.log(`${ErrorReason[reason]}: send the buyer back to Amazon Pay`);
      break;
    case ErrorReason.AMAZON_PAY_UNAVAILABLE:
    case ErrorReason.STORE_UNAVAILABLE:
    case ErrorReason.SHUTTING_DOWN:
      console.log(`${ErrorReason[reason]}: retry the same call later`);
      break;
    default:
      if (connectionProblem(err) !== undefined) {
        // TLS set up wrong on this side: retrying cannot help.
        console.log(`${connectionProblem(err)}: fix ${connectionSetting(err)}`);
      } else {
        console.log(`${ErrorReason[reason]}: ${err}`);
      }
  }
  process.exitCode = 1;
}
