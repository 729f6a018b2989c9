// Package simulator is an in-process stand-in for the Amazon Pay API v2
// (Checkout v2). It serves Amazon's paths under /v2/, /sandbox/v2/ and
// /live/v2/, verifies request signatures exactly as Amazon specifies
// (AMZN-PAY-RSASSA-PSS and -V2), keeps Checkout Sessions, Charges and Charge
// Permissions with Amazon's state machines, honours idempotency keys, and
// adds a control API under /simulator/ for tests: registering public keys,
// playing the buyer, counting calls and injecting faults.
//
// It is deliberately independent of the project's Amazon Pay client: it has
// its own JSON model and its own signature verification, so one
// misreading of the API cannot hide in both.
//
// Use it as an http.Handler (httptest.NewServer(sim)) with a FakeClock in
// tests, or serve it over HTTPS with Serve; cmd/amazonpay-simulator runs it
// stand-alone. docs/simulator.md records the behaviours the public
// documentation leaves open and how they were decided.
package simulator
