package amazonpay

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	a := newTestClient(t, testConfig("http://127.0.0.1:1"))
	// Another process holding the same key, perhaps read from a
	// differently encoded file.
	b := newTestClient(t, testConfig("http://127.0.0.1:2"))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("http://127.0.0.1:1")
	cfg.PrivateKey = other
	c := newTestClient(t, cfg)

	k := a.DeriveKey("page tokens")
	if len(k) != 32 {
		t.Fatalf("len = %d, want 32", len(k))
	}
	if !bytes.Equal(k, b.DeriveKey("page tokens")) {
		t.Error("two clients of one private key derived different keys")
	}
	if bytes.Equal(k, a.DeriveKey("other")) {
		t.Error("two purposes share a key")
	}
	if bytes.Equal(k, c.DeriveKey("page tokens")) {
		t.Error("two private keys derived the same key")
	}
}
