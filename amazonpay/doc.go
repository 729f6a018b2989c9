// Package amazonpay is a client for the Amazon Pay API v2 (Checkout v2):
// Checkout Sessions, Charges and Charge Permissions.
//
// # Signing
//
// Every request is signed as Amazon documents it: a canonical request
// (method, path, canonical query, the signed headers accept, content-type,
// x-amz-pay-date, x-amz-pay-host, x-amz-pay-idempotency-key when present and
// x-amz-pay-region, and the SHA-256 of the exact body bytes sent), a string
// to sign (algorithm name and the hex SHA-256 of the canonical request), and
// an RSASSA-PSS signature with SHA-256 and MGF1-SHA-256 whose salt is 32
// bytes for AlgorithmV2 (the default) or 20 bytes for AlgorithmV1. The body
// is marshalled once and each attempt is signed afresh, with a new date.
// The pieces (CanonicalRequest, StringToSign, Signer) are exported so they
// can be tested against independent implementations.
//
// Key IDs starting with LIVE or SANDBOX select their environment and use
// paths under /v2; legacy key IDs use /live/v2 or /sandbox/v2 (Config.Sandbox).
//
// # Retries and outcomes
//
// A call is retried, with exponential backoff and full jitter, within
// RetryPolicy's attempt and time budget, when Amazon answers 408, 425, 429,
// 500, 502, 503 or 504, and when no response arrived (connection refused or
// reset, attempt timeout, response cut off). A POST without a response is
// retried only with an idempotency key (every POST this package sends has
// one by default: random for CreateCheckoutSession, derived with
// IdempotencyKey for CompleteCheckoutSession and CaptureCharge) or when it
// cannot have been sent (the connection was never made).
//
// Results:
//   - a request found invalid before sending (empty ID, malformed amount,
//     bad idempotency key or header): an error matching ErrInvalidRequest;
//     nothing was sent;
//   - a 2xx response: the decoded object and CallInfo (status, request ID,
//     attempts, latency);
//   - any other response: *Error with Amazon's reasonCode and message;
//   - no response: *TransportError, whose MayHaveBeenApplied is false only
//     if no attempt can have reached Amazon. When it is true the outcome is
//     unknown and must be found out, e.g. with GetCheckoutSession;
//   - the caller's context ended: the call returns at once, also during a
//     backoff, with an error matching context.Canceled or
//     context.DeadlineExceeded under errors.Is; it is a *TransportError
//     with MayHaveBeenApplied set if some attempt may have been sent.
//
// # Money and time
//
// Amounts are decimal strings (Price.Amount), never floats; bare JSON
// numbers in responses are kept as their exact text. Timestamps (Time)
// use Amazon's ISO 8601 basic format and also accept RFC 3339.
//
// # Logging and personal data
//
// The client logs attempts at Debug and retries at Warn when Config.Logger
// is set, without headers or bodies. Buyer, Address and the objects holding
// them print and log in a redacted form (slog.LogValuer, fmt.Formatter):
// IDs, states and amounts show, names, e-mail addresses, phone numbers and
// postal addresses do not.
package amazonpay
