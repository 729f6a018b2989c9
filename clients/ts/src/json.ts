import { createRegistry, toJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";
import { file_paymentcompletion_v1_payment_completion } from "../gen/paymentcompletion/v1/payment_completion_pb.js";

const registry = createRegistry(
  file_paymentcompletion_v1_payment_completion,
  file_google_rpc_status,
  file_google_rpc_error_details,
);

function isMessage(v: unknown): v is Message {
  return typeof v === "object" && v !== null && typeof (v as { $typeName?: unknown }).$typeName === "string";
}

/**
 * A message of the contract (or of google.rpc) as its proto3 JSON: int64
 * as strings, enums by name, timestamps as RFC 3339. JSON.stringify cannot
 * take messages as they are: their int64 fields are BigInts.
 */
export function messageToJson(message: Message): JsonValue {
  const schema = registry.getMessage(message.$typeName);
  if (schema === undefined) {
    throw new Error(`messageToJson: ${message.$typeName} is not a message of this client`);
  }
  return toJson(schema, message, { registry });
}

/**
 * JSON.stringify for values that hold messages (a message, an array of
 * them, an object with some among other values): messages become their
 * proto3 JSON (messageToJson), other BigInts decimal strings.
 */
export function jsonStringify(value: unknown, space?: string | number): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (isMessage(v) && registry.getMessage(v.$typeName) !== undefined) {
        return messageToJson(v);
      }
      return typeof v === "bigint" ? v.toString() : v;
    },
    space,
  );
}
