package callers_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/callers"
)

var known = []string{"CompleteCheckout", "GetPayment", "WatchPayment", "GetCharge"}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestParseAndLookup(t *testing.T) {
	t.Parallel()
	set, err := callers.Parse([]byte(`{"callers": [
		{"name": "storefront", "token_sha256": "`+hash("tok")+`", "methods": ["CompleteCheckout", "GetPayment", "WatchPayment"]},
		{"name": "support", "client_cert_subject": "CN=support-tool,O=Example", "methods": ["*"]},
		{"name": "ops", "client_cert_san": "spiffe://example/ops", "methods": ["GetCharge"]}
	]}`), known)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := set.ByToken("tok")
	if !ok || c.Name != "storefront" || !c.Allowed("GetPayment") || c.Allowed("GetCharge") {
		t.Errorf("ByToken(tok) = %+v, %v", c, ok)
	}
	if _, ok := set.ByToken("to"); ok {
		t.Error("a prefix of the token matched")
	}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "support-tool", Organization: []string{"Example"}}}
	if c, ok := set.ByCertificate(cert); !ok || c.Name != "support" || !c.Allowed("GetCharge") {
		t.Errorf("ByCertificate(subject) = %+v, %v", c, ok)
	}
	u, _ := url.Parse("spiffe://example/ops")
	if c, ok := set.ByCertificate(&x509.Certificate{Subject: pkix.Name{CommonName: "x"}, URIs: []*url.URL{u}}); !ok || c.Name != "ops" {
		t.Errorf("ByCertificate(URI SAN) = %+v, %v", c, ok)
	}
	if _, ok := set.ByCertificate(&x509.Certificate{Subject: pkix.Name{CommonName: "support-tool"}}); ok {
		t.Error("a subject differing in O matched")
	}
	if got := set.CertificateCallers(); !slices.Equal(got, []string{"support", "ops"}) {
		t.Errorf("CertificateCallers() = %q, want support and ops", got)
	}
	if got := callers.TokenCaller("storefront", "tok").CertificateCallers(); got != nil {
		t.Errorf("token callers only: CertificateCallers() = %q, want none", got)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"not_json", `callers:`, "invalid character"},
		{"unknown_field", `{"callers": [{"name": "a", "token": "x", "methods": ["*"]}]}`, "unknown field"},
		{"empty", `{"callers": []}`, "no callers"},
		{"no_name", `{"callers": [{"token_sha256": "` + hash("a") + `", "methods": ["*"]}]}`, "name is required"},
		{"same_name", `{"callers": [{"name": "a", "token_sha256": "` + hash("a") + `", "methods": ["*"]}, {"name": "a", "client_cert_subject": "CN=a", "methods": ["*"]}]}`, "used twice"},
		{"same_token", `{"callers": [{"name": "a", "token_sha256": "` + hash("a") + `", "methods": ["*"]}, {"name": "b", "token_sha256": "` + strings.ToUpper(hash("a")) + `", "methods": ["*"]}]}`, `also "a"'s`},
		{"short_hash", `{"callers": [{"name": "a", "token_sha256": "abcd", "methods": ["*"]}]}`, "64 hex digits"},
		{"empty_token_hash", `{"callers": [{"name": "shop", "token_sha256": "` + hash("") + `", "methods": ["*"]}]}`, `callers[0] ("shop"): token_sha256 is the hash of an empty token`},
		{"empty_token_hash_with_cert", `{"callers": [{"name": "a", "client_cert_subject": "CN=a", "methods": ["*"]}, {"name": "b", "token_sha256": "` + strings.ToUpper(hash("")) + `", "client_cert_subject": "CN=b", "methods": ["*"]}]}`, `callers[1] ("b"): token_sha256 is the hash of an empty token`},
		{"no_identity", `{"callers": [{"name": "a", "methods": ["*"]}]}`, "needs token_sha256"},
		{"no_methods", `{"callers": [{"name": "a", "client_cert_subject": "CN=a"}]}`, "methods is required"},
		{"unknown_method", `{"callers": [{"name": "a", "client_cert_subject": "CN=a", "methods": ["CompleteCheckuot"]}]}`, `unknown method "CompleteCheckuot"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := callers.Parse([]byte(tt.body), known); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestEmptyTokenNeverMatches covers sets not read from a file (the single
// AUTH_TOKEN_FILE caller): an empty token is nobody's, even where a caller's
// hash is that of the empty string.
func TestEmptyTokenNeverMatches(t *testing.T) {
	t.Parallel()
	set := callers.Union(callers.TokenCaller("empty", ""), callers.TokenCaller("real", "tok"))
	if c, ok := set.ByToken(""); ok {
		t.Errorf("ByToken(\"\") = %q, want no caller", c.Name)
	}
	if c, ok := set.ByToken("tok"); !ok || c.Name != "real" {
		t.Errorf("ByToken(tok) = %v, %v; want real", c, ok)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"callers": [{"name": "a", "token_sha256": "` + hash("a") + `", "methods": ["*"]}]}`))
	f.Add([]byte(`{"callers": [{"name": "s", "client_cert_subject": "CN=s", "methods": ["GetPayment"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := callers.Parse(data, known)
		if err != nil {
			return
		}
		// Every caller parsed is recognisable and has some permission.
		if set.Len() == 0 {
			t.Fatal("a set without callers parsed")
		}
	})
}

// TestWatchReloads runs the reload loop against a file changed under it.
func TestWatchReloads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "callers.json")
	write := func(name string) {
		t.Helper()
		body := `{"callers": [{"name": "` + name + `", "token_sha256": "` + hash(name) + `", "methods": ["*"]}]}`
		if err := os.WriteFile(path+".tmp", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	f, err := callers.Open(path, known, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Watch(ctx, 5*time.Millisecond) }()
	write("second")
	for {
		if _, ok := f.Current().ByToken("second"); ok {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatal("the changed file was never loaded")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if _, ok := f.Current().ByToken("first"); ok {
		t.Error("the removed caller is still known")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch = %v", err)
	}
}
