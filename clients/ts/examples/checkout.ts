// Completes an Amazon Pay checkout through the paymentcompletion service and
// prints what the storefront should do.
//
//   node dist/examples/checkout.js SESSION_ID ORDER_ID 14.00 USD
import { ErrorReason, Outcome, createPaymentCompletionClient, errorReason } from "@paymentcompletion/client";

const [sessionId, orderId, amount, currencyCode] = process.argv.slice(2);
const client = createPaymentCompletionClient({
  baseUrl: `http://${process.env.PAYMENTCOMPLETION_ADDR ?? "127.0.0.1:50051"}`,
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
      console.log(`${ErrorReason[reason]}: ${err}`);
  }
  process.exitCode = 1;
}
