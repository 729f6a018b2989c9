// Package serviceconfig holds the default gRPC service config of the
// paymentcompletion service: the retry policy and per-method timeouts its
// clients should use (docs/clients.md, "Retries and timeouts"). The Go CLI dials with
// it; the TypeScript and Python clients ship a copy of the same file.
//
//	grpc.NewClient(addr, grpc.WithDefaultServiceConfig(serviceconfig.JSON), …)
//
// The unary methods retry UNAVAILABLE up to 5 attempts with exponential
// backoff (0.2 s doubling to 5 s, jittered by gRPC): the service answers
// UNAVAILABLE only when nothing was recorded or the call is idempotent, and
// CompleteCheckout is idempotent on its checkout session (captures and
// cancellations on their charge). Timeouts: CompleteCheckout, CaptureCharge
// and CancelCharge 30 s (they may wait on Amazon Pay), GetPayment 5 s (a
// database read), GetCharge, GetChargePermission and every other method 10 s
// (the service-wide entry). WatchPayment has neither: it lasts until the payment settles, and
// the caller re-opens it when it ends UNAVAILABLE (it resends the current
// state).
package serviceconfig

import _ "embed"

// JSON is the service config, as grpc.WithDefaultServiceConfig takes it.
//
//go:embed service_config.json
var JSON string
