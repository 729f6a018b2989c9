// TypeScript client of the paymentcompletion service: the generated
// messages and service (gen/, protoc-gen-es), a Connect client over gRPC
// (HTTP/2, cleartext or TLS, with a client certificate or a bearer token)
// that applies the default service config, helpers to read the error details
// the service attaches and to name what to fix when a connection cannot be
// set up, and JSON output of messages.
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
export {
  CLIENT_ERROR_DOMAIN,
  connectionProblem,
  connectionSetting,
  type ConnectionProblem,
  type TlsOptions,
} from "./connection.js";
export { jsonStringify, messageToJson } from "./json.js";
export { Code, ConnectError } from "@connectrpc/connect";
