// Package simtest serves the Amazon Pay simulator to tests over a real
// socket, with a merchant key registered, so that a test gets signed
// clients for it in one call.
package simtest

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// KeyID is the merchant's public key ID at the simulator; the SANDBOX-
// prefix selects the environment-specific paths.
const KeyID = "SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B"

// Key is one RSA-2048 key shared by every test of a test binary: the tests
// do not depend on the key, and generating one is slow.
var Key = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// Options tune Start.
type Options struct {
	// Simulator configures the simulator.
	Simulator simulator.Options
	// Wrap, if set, wraps the simulator's handler (to count or observe
	// requests).
	Wrap func(http.Handler) http.Handler
}

// Simulator is a simulator served over HTTP on a loopback port, stopped
// when the test ends.
type Simulator struct {
	*simulator.Simulator
	// URL is the base URL clients use as their endpoint.
	URL string
}

// Start serves a new simulator with Key registered as KeyID.
func Start(t testing.TB, o Options) *Simulator {
	t.Helper()
	sim, err := simulator.New(o.Simulator)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.RegisterPublicKey(KeyID, &Key().PublicKey, ""); err != nil {
		t.Fatal(err)
	}
	var h http.Handler = sim
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	return &Simulator{Simulator: sim, URL: srv.URL}
}

// Client returns a signed client for s with the given retries and attempt
// timeout (zero values: the client's defaults).
func (s *Simulator) Client(t testing.TB, retry amazonpay.RetryPolicy, attemptTimeout time.Duration) *amazonpay.Client {
	t.Helper()
	c, err := amazonpay.New(amazonpay.Config{
		PublicKeyID:    KeyID,
		PrivateKey:     Key(),
		Region:         "na",
		Endpoint:       s.URL,
		Retry:          retry,
		AttemptTimeout: attemptTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}
