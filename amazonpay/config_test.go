package amazonpay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolveRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"na", "na", false}, {"NA", "na", false}, {"us", "na", false}, {"Us", "na", false},
		{"eu", "eu", false}, {"de", "eu", false}, {"UK", "eu", false}, {" eu ", "eu", false},
		{"jp", "jp", false}, {"JP", "jp", false},
		{"", "", true}, {"fe", "", true}, {"gb", "", true}, {"xx", "", true},
	}
	for _, tt := range tests {
		got, err := ResolveRegion(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ResolveRegion(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keyID    string
		region   string
		sandbox  bool
		endpoint string
		want     string
		wantHost string
	}{
		{"env_sandbox_key_na", "SANDBOX-ABC", "na", false, "", "https://pay-api.amazon.com/v2", "pay-api.amazon.com"},
		{"env_key_ignores_sandbox_flag", "LIVE-ABC", "eu", true, "", "https://pay-api.amazon.eu/v2", "pay-api.amazon.eu"},
		{"env_key_lower_case", "sandbox-abc", "jp", false, "", "https://pay-api.amazon.jp/v2", "pay-api.amazon.jp"},
		{"env_key_without_hyphen", "LIVEABC", "us", false, "", "https://pay-api.amazon.com/v2", "pay-api.amazon.com"},
		{"legacy_sandbox", "AFVX7ULW", "uk", true, "", "https://pay-api.amazon.eu/sandbox/v2", "pay-api.amazon.eu"},
		{"legacy_live", "AFVX7ULW", "de", false, "", "https://pay-api.amazon.eu/live/v2", "pay-api.amazon.eu"},
		{"key_containing_live_later", "ABCLIVE", "na", true, "", "https://pay-api.amazon.com/sandbox/v2", "pay-api.amazon.com"},
		{"endpoint_override", "SANDBOX-ABC", "na", false, "https://sim.internal:8443", "https://sim.internal:8443/v2", "sim.internal:8443"},
		{"endpoint_with_prefix", "AFVX7ULW", "na", true, "http://127.0.0.1:9000/amazon/", "http://127.0.0.1:9000/amazon/sandbox/v2", "127.0.0.1:9000"},
		{"plain_http_localhost", "LIVE-ABC", "na", false, "http://localhost:9000", "http://localhost:9000/v2", "localhost:9000"},
		{"plain_http_ipv6_loopback", "SANDBOX-ABC", "na", false, "http://[::1]:9000", "http://[::1]:9000/v2", "[::1]:9000"},
		{"plain_http_loopback_range", "SANDBOX-ABC", "na", false, "http://127.0.0.2:9000", "http://127.0.0.2:9000/v2", "127.0.0.2:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(Config{PublicKeyID: tt.keyID, PrivateKey: testKey(), Region: tt.region, Sandbox: tt.sandbox, Endpoint: tt.endpoint})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL() = %q, want %q", got, tt.want)
			}
			if c.host != tt.wantHost {
				t.Errorf("x-amz-pay-host = %q, want %q", c.host, tt.wantHost)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	ok := Config{PublicKeyID: "SANDBOX-ABC", PrivateKey: testKey(), Region: "na"}
	tests := []struct {
		name   string
		modify func(*Config)
	}{
		{"no_key_id", func(c *Config) { c.PublicKeyID = "" }},
		{"no_key", func(c *Config) { c.PrivateKey = nil }},
		{"bad_region", func(c *Config) { c.Region = "mars" }},
		{"bad_algorithm", func(c *Config) { c.Algorithm = "HMAC" }},
		{"bad_endpoint_scheme", func(c *Config) { c.Endpoint = "ftp://x" }},
		{"endpoint_no_host", func(c *Config) { c.Endpoint = "https://" }},
		{"endpoint_with_query", func(c *Config) { c.Endpoint = "https://x/?a=b" }},
		// Signed requests and buyer data must not cross a network in clear.
		{"plain_http_remote_host", func(c *Config) { c.Endpoint = "http://pay-api.amazon.com" }},
		{"plain_http_private_address", func(c *Config) { c.Endpoint = "http://10.0.0.5:8080" }},
		{"plain_http_localhost_lookalike", func(c *Config) { c.Endpoint = "http://localhost.example.com" }},
		{"negative_retry", func(c *Config) { c.Retry.MaxAttempts = -1 }},
		{"negative_timeout", func(c *Config) { c.AttemptTimeout = -time.Second }},
	}
	for _, tt := range tests {
		cfg := ok
		tt.modify(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tt.name, cfg)
		}
	}
	if _, err := New(ok); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

// writeFile writes content to a file in dir and returns its path.
func writeFile(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func keyFiles(t *testing.T) (pkcs1, pkcs8, ecKey, ecPKCS8, cert string) {
	t.Helper()
	dir := t.TempDir()
	pkcs1 = writeFile(t, dir, "pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey())}))
	der, err := x509.MarshalPKCS8PrivateKey(testKey())
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 = writeFile(t, dir, "pkcs8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ecKey = writeFile(t, dir, "ec.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))
	ec8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ecPKCS8 = writeFile(t, dir, "ec8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ec8}))
	tmpl := &x509.Certificate{SerialNumber: bigOne(), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	if err != nil {
		t.Fatal(err)
	}
	cert = writeFile(t, dir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))
	return
}

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	pkcs1, pkcs8, ecKey, ecPKCS8, cert := keyFiles(t)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"pkcs1", read(pkcs1), ""},
		{"pkcs8", read(pkcs8), ""},
		{"pkcs8_after_other_block", append(read(cert), read(pkcs8)...), ""},
		{"ec", read(ecKey), "key is not RSA"},
		{"ec_pkcs8", read(ecPKCS8), "key is not RSA"},
		{"certificate_only", read(cert), "no PEM private key found"},
		{"garbage", []byte("not a key"), "no PEM private key found"},
		{"empty", nil, "no PEM private key found"},
		{"corrupt_pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "parse PKCS#1 key"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted keys are not supported"},
	}
	for _, tt := range tests {
		key, err := ParsePrivateKey(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || !key.Equal(testKey())):
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestConfigFromSettings(t *testing.T) {
	t.Parallel()
	pkcs1, pkcs8, ecKey, _, cert := keyFiles(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	good := Settings{PublicKeyID: "SANDBOX-ABC", PrivateKeyFile: pkcs8, Region: "de", Endpoint: "https://sim.internal:8443/", CAFile: cert, Algorithm: "v1"}

	cfg, err := ConfigFromSettings(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu" || cfg.Algorithm != AlgorithmV1 || cfg.RootCAs == nil || !cfg.PrivateKey.Equal(testKey()) || cfg.Endpoint != "https://sim.internal:8443" {
		t.Errorf("config = %+v", cfg)
	}
	if _, err := New(cfg); err != nil {
		t.Errorf("New(ConfigFromSettings(...)): %v", err)
	}

	tests := []struct {
		name   string
		modify func(*Settings)
		want   string // the whole first error line
	}{
		{"missing_key_file", func(s *Settings) { s.PrivateKeyFile = missing }, "AMAZON_PAY_PRIVATE_KEY_FILE: open " + missing + ": no such file or directory"},
		{"no_key_file", func(s *Settings) { s.PrivateKeyFile = "" }, "AMAZON_PAY_PRIVATE_KEY_FILE: required"},
		{"ec_key", func(s *Settings) { s.PrivateKeyFile = ecKey }, "AMAZON_PAY_PRIVATE_KEY_FILE: key is not RSA"},
		{"cert_as_key", func(s *Settings) { s.PrivateKeyFile = cert }, "AMAZON_PAY_PRIVATE_KEY_FILE: no PEM private key found"},
		{"unknown_region", func(s *Settings) { s.Region = "xx" }, `AMAZON_PAY_REGION: unknown region "xx" (want na, eu, jp, us, de, uk)`},
		{"no_region", func(s *Settings) { s.Region = "" }, `AMAZON_PAY_REGION: region is required (want na, eu, jp, us, de, uk)`},
		{"bad_algorithm", func(s *Settings) { s.Algorithm = "v3" }, `AMAZON_PAY_ALGORITHM: unknown algorithm "v3" (want AMZN-PAY-RSASSA-PSS-V2, AMZN-PAY-RSASSA-PSS, v2 or v1)`},
		{"bad_endpoint_scheme", func(s *Settings) { s.Endpoint = "pay-api.amazon.com" }, `AMAZON_PAY_ENDPOINT: invalid URL "pay-api.amazon.com": scheme must be http or https`},
		{"bad_endpoint_url", func(s *Settings) { s.Endpoint = "http://[::1" }, `AMAZON_PAY_ENDPOINT: invalid URL: parse "http://[::1": missing ']' in host`},
		{"plain_http_remote", func(s *Settings) { s.Endpoint = "http://egress.internal:3128" }, `AMAZON_PAY_ENDPOINT: "http://egress.internal:3128" is plain HTTP to a host that is not loopback: signed requests and buyer data would travel unencrypted; use https (plain http is only for a simulator on this machine)`},
		{"missing_ca", func(s *Settings) { s.CAFile = missing }, "AMAZON_PAY_CA_FILE: open " + missing + ": no such file or directory"},
		{"ca_without_certs", func(s *Settings) { s.CAFile = pkcs1 }, "AMAZON_PAY_CA_FILE: no PEM certificates found"},
		{"no_key_id", func(s *Settings) { s.PublicKeyID = "" }, "AMAZON_PAY_PUBLIC_KEY_ID: required"},
		{"key_id_with_space", func(s *Settings) { s.PublicKeyID = "SANDBOX ABC" }, "AMAZON_PAY_PUBLIC_KEY_ID: must be printable ASCII without spaces, commas or '='"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := good
			tt.modify(&s)
			_, err := ConfigFromSettings(s)
			if err == nil {
				t.Fatal("no error")
			}
			if first, _, _ := strings.Cut(err.Error(), "\n"); first != tt.want {
				t.Errorf("error = %q\nwant    %q", first, tt.want)
			}
		})
	}

	// Every problem is reported, each line naming its setting.
	_, err = ConfigFromSettings(Settings{Region: "xx", Algorithm: "?"})
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Errorf("want 4 error lines, got %q", lines)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "AMAZON_PAY_") {
			t.Errorf("line %q does not start with the setting name", l)
		}
	}
	// File errors stay inspectable.
	s := good
	s.PrivateKeyFile = missing
	if _, err := ConfigFromSettings(s); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap os.ErrNotExist", err)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		EnvPublicKeyID: "SANDBOX-ABC", EnvPrivateKeyFile: "/k.pem", EnvRegion: "eu", EnvSandbox: "true",
		EnvEndpoint: "https://x", EnvCAFile: "/ca.pem", EnvAlgorithm: "v1",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	s, err := SettingsFromEnv(lookup)
	want := Settings{PublicKeyID: "SANDBOX-ABC", PrivateKeyFile: "/k.pem", Region: "eu", Sandbox: true, Endpoint: "https://x", CAFile: "/ca.pem", Algorithm: "v1"}
	if err != nil || s != want {
		t.Errorf("got %+v, %v", s, err)
	}
	env[EnvSandbox] = "maybe"
	if _, err := SettingsFromEnv(lookup); err == nil || !strings.HasPrefix(err.Error(), "AMAZON_PAY_SANDBOX: ") {
		t.Errorf("bad boolean: %v", err)
	}
}

func bigOne() *big.Int { return big.NewInt(1) }
