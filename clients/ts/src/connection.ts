import { readFileSync } from "node:fs";
import type { SecureClientSessionOptions } from "node:http2";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";

/**
 * TLS settings of ClientOptions. PEM contents (ca, cert, key) or files
 * (caFile, certFile, keyFile), read once when the client is created; each
 * content option wins over its file option.
 */
export interface TlsOptions {
  /** PEM CA certificates the server's certificate must chain to; Node's bundled roots when unset. */
  ca?: string | Buffer;
  /** File of `ca`. */
  caFile?: string;
  /** PEM client certificate (chain), for a server with TLS_CLIENT_CA_FILE (mTLS); needs `key`. */
  cert?: string | Buffer;
  /** File of `cert`. */
  certFile?: string;
  /** PEM private key of `cert`. */
  key?: string | Buffer;
  /** File of `key`. */
  keyFile?: string;
  /** The name the server's certificate must carry, when it is not the host of baseUrl. */
  serverName?: string;
}

/**
 * Why a connection to the service could not be set up. Each names a
 * setting to change: retrying the same call with the same settings cannot
 * succeed.
 *
 * - SERVER_EXPECTS_TLS: the server closed a cleartext connection without an
 *   answer, as a server with TLS_CERT_FILE does; use an https:// baseUrl.
 * - SERVER_NOT_TLS: TLS to a server that serves cleartext; use http://, or
 *   set TLS_CERT_FILE and TLS_KEY_FILE on the server.
 * - SERVER_CERTIFICATE_UNTRUSTED: the server's certificate does not chain to
 *   a trusted CA (or has expired); set tls.caFile to the CA that signed it.
 * - SERVER_NAME_MISMATCH: the certificate does not name the host of
 *   baseUrl; call the name it carries, or set tls.serverName.
 * - CLIENT_CERTIFICATE_REQUIRED: the server asks for a client certificate
 *   (TLS_CLIENT_CA_FILE) and none was sent; set tls.certFile and tls.keyFile.
 * - CLIENT_CERTIFICATE_REJECTED: the server refused the client certificate
 *   (not signed by a CA of its TLS_CLIENT_CA_FILE, expired, or not for
 *   client authentication); use one it accepts.
 */
export type ConnectionProblem =
  | "SERVER_EXPECTS_TLS"
  | "SERVER_NOT_TLS"
  | "SERVER_CERTIFICATE_UNTRUSTED"
  | "SERVER_NAME_MISMATCH"
  | "CLIENT_CERTIFICATE_REQUIRED"
  | "CLIENT_CERTIFICATE_REJECTED";

const settings: Record<ConnectionProblem, string> = {
  SERVER_EXPECTS_TLS: "baseUrl: the server serves TLS, use https://",
  SERVER_NOT_TLS: "baseUrl: the server serves cleartext, use http:// (or set TLS_CERT_FILE and TLS_KEY_FILE on the server)",
  SERVER_CERTIFICATE_UNTRUSTED: "tls.caFile (or tls.ca): the CA that signed the server's certificate",
  SERVER_NAME_MISMATCH: "baseUrl's host, or tls.serverName: a name the server's certificate carries",
  CLIENT_CERTIFICATE_REQUIRED: "tls.certFile and tls.keyFile: the server requires a client certificate",
  CLIENT_CERTIFICATE_REJECTED:
    "tls.certFile and tls.keyFile: a client certificate signed by a CA of the server's TLS_CLIENT_CA_FILE, valid, for client authentication",
};

/** The google.rpc.ErrorInfo domain of the errors this client makes itself. */
export const CLIENT_ERROR_DOMAIN = "paymentcompletion.client";

/**
 * The error a call fails with when the connection could not be set up as
 * configured: code FAILED_PRECONDITION, a google.rpc.ErrorInfo of domain
 * CLIENT_ERROR_DOMAIN whose reason is the ConnectionProblem and whose
 * metadata "setting" names what to change (also in the message), and the
 * transport's own error as its cause.
 */
export function connectionSetupError(problem: ConnectionProblem, cause: ConnectError): ConnectError {
  const detail = cause.rawMessage.split("\n")[0];
  const info = create(ErrorInfoSchema, {
    domain: CLIENT_ERROR_DOMAIN,
    reason: problem,
    metadata: { setting: settings[problem] },
  });
  return new ConnectError(
    `${problem}: set ${settings[problem]} (${detail})`,
    Code.FailedPrecondition,
    undefined,
    [{ desc: ErrorInfoSchema, value: info }],
    cause,
  );
}

/**
 * The ConnectionProblem of a call's error when the connection could not be
 * set up as configured, else undefined. The setting to change is in the
 * message, and in connectionSetting(err).
 */
export function connectionProblem(err: unknown): ConnectionProblem | undefined {
  const reason = clientErrorInfo(err)?.reason;
  return reason !== undefined && Object.hasOwn(settings, reason) ? (reason as ConnectionProblem) : undefined;
}

/** The client setting to change for a connection problem, else undefined. */
export function connectionSetting(err: unknown): string | undefined {
  return connectionProblem(err) === undefined ? undefined : clientErrorInfo(err)?.metadata["setting"];
}

function clientErrorInfo(err: unknown) {
  if (!(err instanceof ConnectError)) {
    return undefined;
  }
  return err.findDetails(ErrorInfoSchema).find((i) => i.domain === CLIENT_ERROR_DOMAIN);
}

// Node's and OpenSSL's error codes, by problem.
const untrusted = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_REJECTED",
]);
const rejected = new Set([
  "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
  "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
  "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
  "ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR",
]);

function nodeCodes(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  for (let e = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      codes.push(code);
    }
  }
  return codes;
}

/**
 * The connection problem behind a transport error, if it is one.
 * `cleartext` says whether the client spoke cleartext, `sentCert` whether
 * it offered a client certificate.
 */
export function classifyConnectionError(
  err: ConnectError,
  cleartext: boolean,
  sentCert: boolean,
  callerAborted: boolean,
): ConnectionProblem | undefined {
  const codes = nodeCodes(err.cause);
  if (codes.some((c) => untrusted.has(c))) {
    return "SERVER_CERTIFICATE_UNTRUSTED";
  }
  if (codes.includes("ERR_TLS_CERT_ALTNAME_INVALID")) {
    return "SERVER_NAME_MISMATCH";
  }
  if (codes.includes("ERR_SSL_WRONG_VERSION_NUMBER") || codes.includes("ERR_SSL_PACKET_LENGTH_TOO_LONG")) {
    return "SERVER_NOT_TLS";
  }
  if (codes.includes("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED")) {
    return "CLIENT_CERTIFICATE_REQUIRED";
  }
  if (codes.includes("ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE") && !sentCert) {
    // TLS 1.2 servers answer a missing client certificate this way.
    return "CLIENT_CERTIFICATE_REQUIRED";
  }
  if (codes.some((c) => rejected.has(c))) {
    return "CLIENT_CERTIFICATE_REJECTED";
  }
  // A TLS listener closes a cleartext HTTP/2 connection at once; Node then
  // reports the call's stream as canceled, without a gRPC status, though
  // the caller canceled nothing.
  if (cleartext && !callerAborted && err.code === Code.Canceled && !err.metadata.has("grpc-status")) {
    return "SERVER_EXPECTS_TLS";
  }
  return undefined;
}

/** The transport options of the TLS settings (read from their files). */
export function secureSessionOptions(tls: TlsOptions): SecureClientSessionOptions {
  const read = (content: string | Buffer | undefined, file: string | undefined, name: string) => {
    if (content !== undefined || file === undefined) {
      return content;
    }
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`tls.${name}File: ${(err as Error).message}`, { cause: err });
    }
  };
  const ca = read(tls.ca, tls.caFile, "ca");
  const cert = read(tls.cert, tls.certFile, "cert");
  const key = read(tls.key, tls.keyFile, "key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error("tls.certFile (tls.cert) and tls.keyFile (tls.key) go together: set both or neither");
  }
  return { ca, cert, key, servername: tls.serverName };
}

/**
 * An interceptor that turns transport errors of a connection that could not
 * be set up into connectionSetupErrors.
 */
export function connectionErrorInterceptor(cleartext: boolean, sentCert: boolean): Interceptor {
  const decode = (err: unknown, signal: AbortSignal): unknown => {
    if (!(err instanceof ConnectError) || connectionProblem(err) !== undefined) {
      return err;
    }
    const problem = classifyConnectionError(err, cleartext, sentCert, signal.aborted);
    return problem === undefined ? err : connectionSetupError(problem, err);
  };
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) {
        return res;
      }
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (err) {
            throw decode(err, req.signal);
          }
        })(),
      };
    } catch (err) {
      throw decode(err, req.signal);
    }
  };
}
