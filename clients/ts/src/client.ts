import { readFileSync } from "node:fs";
import {
  Code,
  ConnectError,
  createClient,
  type Client,
  type Interceptor,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PaymentCompletionService } from "../gen/paymentcompletion/v1/payment_completion_pb.js";
import { connectionErrorInterceptor, secureSessionOptions, type TlsOptions } from "./connection.js";
import { retryDelayMs } from "./errors.js";

/** The gRPC service config (the subset this client applies). */
export interface ServiceConfig {
  methodConfig: MethodConfig[];
}

interface MethodConfig {
  name: { service: string; method?: string }[];
  timeout?: string;
  retryPolicy?: {
    maxAttempts: number;
    initialBackoff: string;
    maxBackoff: string;
    backoffMultiplier: number;
    retryableStatusCodes: string[];
  };
}

/**
 * The default service config of the service (gen/serviceconfig/
 * service_config.json in the repository, shipped with this package).
 */
export function loadServiceConfig(): ServiceConfig {
  const url = new URL("../../service_config.json", import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")) as ServiceConfig;
}

/** Options of createPaymentCompletionClient. */
export interface ClientOptions {
  /**
   * "https://pay.internal:50051" for a server with TLS_CERT_FILE,
   * "http://127.0.0.1:50051" for a cleartext one (gRPC over HTTP/2 either way).
   */
  baseUrl: string;
  /**
   * The bearer token (a caller of the server's AUTH_TOKEN_FILE or
   * AUTH_CALLERS_FILE), sent with every call.
   */
  token?: string;
  /** TLS settings: the CA to trust, a client certificate (mTLS). Needs an https:// baseUrl. */
  tls?: TlsOptions;
  /** Defaults to the service's own service config. */
  serviceConfig?: ServiceConfig;
}

/** A typed client of PaymentCompletionService. */
export type PaymentCompletionClient = Client<typeof PaymentCompletionService>;

/**
 * A client of the service over gRPC (HTTP/2) that applies the service
 * config: per-method timeouts (unless the call sets timeoutMs) and retries
 * of UNAVAILABLE with backoff, waiting at least the error's RetryInfo delay.
 * A connection that cannot be set up as configured (TLS to a cleartext
 * server or the reverse, an untrusted server certificate, a missing or
 * refused client certificate) fails the call with FAILED_PRECONDITION naming
 * the setting to change (connectionProblem(err), connectionSetting(err)). Throws at once when the options do not fit
 * together or a TLS file cannot be read.
 */
export function createPaymentCompletionClient(opts: ClientOptions): PaymentCompletionClient {
  let url: URL | undefined;
  try {
    url = new URL(opts.baseUrl);
  } catch {
    // reported below
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new Error(`baseUrl ${JSON.stringify(opts.baseUrl)}: use https:// (TLS) or http:// (cleartext)`);
  }
  const cleartext = url.protocol === "http:";
  if (cleartext && opts.tls !== undefined) {
    throw new Error(`baseUrl ${JSON.stringify(opts.baseUrl)} is cleartext but tls is set: use https://`);
  }
  const nodeOptions = opts.tls === undefined ? undefined : secureSessionOptions(opts.tls);
  const interceptors: Interceptor[] = [serviceConfigInterceptor(opts.serviceConfig ?? loadServiceConfig())];
  if (opts.token !== undefined) {
    const token = opts.token;
    interceptors.push((next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    });
  }
  interceptors.push(connectionErrorInterceptor(cleartext, nodeOptions?.cert !== undefined));
  const transport = createGrpcTransport({ baseUrl: opts.baseUrl, interceptors, nodeOptions });
  return createClient(PaymentCompletionService, transport);
}

function seconds(d: string | undefined): number | undefined {
  if (d === undefined) {
    return undefined;
  }
  const m = /^(\d+(?:\.\d+)?)s$/.exec(d);
  if (m === null) {
    throw new Error(`service config: bad duration ${JSON.stringify(d)}`);
  }
  return Number(m[1]);
}

function findMethod(config: ServiceConfig, service: string, method: string): MethodConfig | undefined {
  const exact = config.methodConfig.find((c) => c.name.some((n) => n.service === service && n.method === method));
  return exact ?? config.methodConfig.find((c) => c.name.some((n) => n.service === service && n.method === undefined));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * An interceptor applying a gRPC service config to unary calls, as gRPC's
 * own clients do: the method's timeout when the call sets none, and its
 * retry policy (exponential backoff with full jitter; never sooner than the
 * RetryInfo delay of the error). Streams are passed through: re-open
 * WatchPayment yourself when it ends UNAVAILABLE.
 */
export function serviceConfigInterceptor(config: ServiceConfig): Interceptor {
  return (next) => async (req) => {
    if (req.stream) {
      return next(req);
    }
    const mc = findMethod(config, req.service.typeName, req.method.name);
    let deadline: number | undefined;
    const timeout = seconds(mc?.timeout);
    if (timeout !== undefined && !req.header.has("grpc-timeout")) {
      const ms = Math.round(timeout * 1000);
      deadline = Date.now() + ms;
      req.header.set("grpc-timeout", `${ms}m`);
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(new ConnectError("deadline exceeded", Code.DeadlineExceeded)), ms);
      timer.unref();
      req = { ...req, signal: AbortSignal.any([req.signal, ctl.signal]) };
    }
    const policy = mc?.retryPolicy;
    const retryable = new Set(policy?.retryableStatusCodes ?? []);
    const maxAttempts = Math.min(policy?.maxAttempts ?? 1, 5);
    let backoff = (seconds(policy?.initialBackoff) ?? 0) * 1000;
    const maxBackoff = (seconds(policy?.maxBackoff) ?? 0) * 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (err) {
        const ce = ConnectError.from(err);
        const name = Code[ce.code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
        if (attempt >= maxAttempts || !retryable.has(name) || req.signal.aborted) {
          throw err;
        }
        const delay = Math.max(Math.random() * backoff, retryDelayMs(ce) ?? 0);
        if (deadline !== undefined && Date.now() + delay >= deadline) {
          throw err;
        }
        await sleep(delay, req.signal);
        backoff = Math.min(backoff * (policy?.backoffMultiplier ?? 1), maxBackoff);
      }
    }
  };
}
