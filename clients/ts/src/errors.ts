import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
  type ErrorInfo,
} from "../gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "../gen/paymentcompletion/v1/payment_completion_pb.js";

/** The google.rpc.ErrorInfo domain of every error the service returns. */
export const ERROR_DOMAIN = "paymentcompletion";

/** One field the service refused, from the error's google.rpc.BadRequest. */
export interface FieldViolation {
  /** The field path, for example "charge_amount.amount". */
  field: string;
  /** Why the value was refused, in English. */
  description: string;
}

function asConnectError(err: unknown): ConnectError | undefined {
  return err instanceof ConnectError ? err : undefined;
}

/** The error's google.rpc.ErrorInfo from this service, if it carries one. */
export function errorInfo(err: unknown): ErrorInfo | undefined {
  return asConnectError(err)
    ?.findDetails(ErrorInfoSchema)
    .find((i) => i.domain === ERROR_DOMAIN);
}

/**
 * The error's reason as an ErrorReason value (the ErrorInfo reason string
 * is the value's name, "AMOUNT_MISMATCH" for ErrorReason.AMOUNT_MISMATCH).
 * ErrorReason.UNSPECIFIED when the error carries no ErrorInfo of this
 * service or a reason this client does not know yet (a newer server):
 * branch on the gRPC code then.
 */
export function errorReason(err: unknown): ErrorReason {
  const reason = errorInfo(err)?.reason;
  if (reason === undefined || !(reason in ErrorReason)) {
    return ErrorReason.UNSPECIFIED;
  }
  const value = ErrorReason[reason as keyof typeof ErrorReason];
  return typeof value === "number" ? value : ErrorReason.UNSPECIFIED;
}

/** The fields an INVALID_ARGUMENT error refused (empty for other errors). */
export function fieldViolations(err: unknown): FieldViolation[] {
  const ce = asConnectError(err);
  if (ce === undefined || ce.code !== Code.InvalidArgument) {
    return [];
  }
  return ce
    .findDetails(BadRequestSchema)
    .flatMap((br) => br.fieldViolations)
    .map((v) => ({ field: v.field, description: v.description }));
}

/**
 * How long to wait before retrying, in milliseconds, from the error's
 * google.rpc.RetryInfo (every UNAVAILABLE error of the service has one).
 */
export function retryDelayMs(err: unknown): number | undefined {
  const d = asConnectError(err)?.findDetails(RetryInfoSchema)[0]?.retryDelay;
  if (d === undefined) {
    return undefined;
  }
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}
