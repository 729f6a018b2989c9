// TypeScript client of the paymentcompletion service: the generated
// messages and service (gen/, protoc-gen-es), a Connect client over gRPC
// (HTTP/2) that applies the default service config, and helpers to read the
// error details the service attaches.
export * from "../gen/paymentcompletion/v1/payment_completion_pb.js";
export {
  createPaymentCompletionClient,
  serviceConfigInterceptor,
  loadServiceConfig,
  type ClientOptions,
  type PaymentCompletionClient,
  type ServiceConfig,
} from "./client.js";
export {
  errorInfo,
  errorReason,
  fieldViolations,
  retryDelayMs,
  ERROR_DOMAIN,
  type FieldViolation,
} from "./errors.js";
export { Code, ConnectError } from "@connectrpc/connect";
