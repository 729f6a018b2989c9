package amazonpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Algorithm is a request-signing algorithm name as it appears in the string
// to sign and in the Authorization header.
type Algorithm string

// Signing algorithms. Both are RSASSA-PSS with SHA-256 and MGF1-SHA-256; they
// differ only in the salt length. Amazon is moving merchants to V2.
const (
	// AlgorithmV2 uses a 32-byte salt. It is the default.
	AlgorithmV2 Algorithm = "AMZN-PAY-RSASSA-PSS-V2"
	// AlgorithmV1 uses a 20-byte salt (the official SDKs' historical default).
	AlgorithmV1 Algorithm = "AMZN-PAY-RSASSA-PSS"
)

// saltLength returns the PSS salt length of a, or 0 if a is unknown.
func (a Algorithm) saltLength() int {
	switch a {
	case AlgorithmV2:
		return 32
	case AlgorithmV1:
		return 20
	default:
		return 0
	}
}

// Config configures a Client. PublicKeyID, PrivateKey and Region are
// required; every other field has a working default.
type Config struct {
	// PublicKeyID is the public key ID from Seller Central. IDs starting with
	// LIVE or SANDBOX (any case) select their environment themselves; others
	// are legacy IDs and need Sandbox.
	PublicKeyID string
	// PrivateKey signs every request.
	PrivateKey *rsa.PrivateKey
	// Region is "na", "eu" or "jp", or one of the aliases "us" (na), "de" and
	// "uk" (eu); case-insensitive.
	Region string
	// Sandbox selects /sandbox/v2 instead of /live/v2 for legacy key IDs. It
	// is ignored for LIVE-/SANDBOX- key IDs, as Amazon ignores it.
	Sandbox bool
	// Endpoint overrides the regional base URL (http:// or https://, with an
	// optional path prefix), e.g. for a simulator or an egress proxy. The
	// x-amz-pay-host header is its host[:port].
	Endpoint string
	// RootCAs replaces the system roots of the default HTTP client (private
	// TLS: simulators, intercepting proxies). Ignored when HTTPClient is set.
	RootCAs *x509.CertPool
	// Algorithm is the signing algorithm; the zero value means AlgorithmV2.
	Algorithm Algorithm
	// HTTPClient sends the requests. The default has a connection pool sized
	// for hundreds of concurrent calls to one host, TLS 1.2+, HTTP/2 where
	// the server offers it, and does not follow redirects.
	HTTPClient *http.Client
	// Retry bounds retries; the zero value means the defaults.
	Retry RetryPolicy
	// AttemptTimeout bounds each attempt, response body included; default 10s.
	AttemptTimeout time.Duration
	// Now returns the signing time; default time.Now. Only x-amz-pay-date
	// uses it: elapsed time is always measured on the monotonic clock.
	Now func() time.Time
	// Logger receives attempt records at Debug and retries at Warn. Nothing
	// logged contains the Authorization header, the key or buyer data.
	// Default: nothing is logged.
	Logger *slog.Logger
	// Observer, when set, is told of every call: metrics and traces hook in
	// here without the client depending on a metrics or tracing library.
	Observer CallObserver
}

// RetryPolicy bounds the retries of one call. Zero fields take the defaults.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts including the first;
	// default 4. 1 disables retries.
	MaxAttempts int
	// InitialBackoff is the upper bound of the first backoff; it doubles per
	// retry up to MaxBackoff (full jitter: the actual wait is uniform in
	// [0, bound)). Default 200ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the backoff bound; default 5s.
	MaxBackoff time.Duration
	// MaxElapsed is the budget of the whole call including retries; no
	// attempt or backoff is started past it and attempts are shortened to
	// fit. Default 30s.
	MaxElapsed time.Duration
}

// Defaults applied by New.
const (
	defaultMaxAttempts    = 4
	defaultInitialBackoff = 200 * time.Millisecond
	defaultMaxBackoff     = 5 * time.Second
	defaultMaxElapsed     = 30 * time.Second
	defaultAttemptTimeout = 10 * time.Second
)

func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 || p.InitialBackoff < 0 || p.MaxBackoff < 0 || p.MaxElapsed < 0 {
		return p, errors.New("retry policy fields must not be negative")
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = defaultMaxAttempts
	}
	if p.InitialBackoff == 0 {
		p.InitialBackoff = defaultInitialBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = defaultMaxBackoff
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = defaultMaxElapsed
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = p.InitialBackoff
	}
	return p, nil
}

// regionHosts maps the region codes sent in x-amz-pay-region to their hosts.
var regionHosts = map[string]string{
	"na": "pay-api.amazon.com",
	"eu": "pay-api.amazon.eu",
	"jp": "pay-api.amazon.jp",
}

// regionAliases maps every accepted region name to its region code; UK
// merchants use the EU endpoint, as in the official SDKs.
var regionAliases = map[string]string{
	"na": "na", "us": "na",
	"eu": "eu", "de": "eu", "uk": "eu",
	"jp": "jp",
}

const regionChoices = "na, eu, jp, us, de, uk"

// ResolveRegion returns the region code ("na", "eu" or "jp") for a region
// name or alias, case-insensitively.
func ResolveRegion(region string) (string, error) {
	code, ok := regionAliases[strings.ToLower(strings.TrimSpace(region))]
	if !ok {
		if region == "" {
			return "", fmt.Errorf("region is required (want %s)", regionChoices)
		}
		return "", fmt.Errorf("unknown region %q (want %s)", region, regionChoices)
	}
	return code, nil
}

// IsEnvironmentSpecificKeyID reports whether a public key ID carries its
// environment (prefix LIVE or SANDBOX, any case), in which case request paths
// have no /live or /sandbox segment. The SDKs test the prefix without the
// hyphen, and so does this.
func IsEnvironmentSpecificKeyID(publicKeyID string) bool {
	id := strings.ToUpper(publicKeyID)
	return strings.HasPrefix(id, "LIVE") || strings.HasPrefix(id, "SANDBOX")
}

// parseAlgorithm accepts the full algorithm names and the short forms v1/v2.
func parseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", string(AlgorithmV2), "V2":
		return AlgorithmV2, nil
	case string(AlgorithmV1), "V1":
		return AlgorithmV1, nil
	default:
		return "", fmt.Errorf("unknown algorithm %q (want %s, %s, v2 or v1)", s, AlgorithmV2, AlgorithmV1)
	}
}

// ValidateEndpoint checks an endpoint override as New does: an http(s) URL
// with a host and an optional path, and plain http only to a loopback host
// (a simulator on this machine), since requests carry signatures and buyer
// data.
func ValidateEndpoint(endpoint string) error {
	_, err := parseEndpoint(endpoint)
	return err
}

// parseEndpoint validates an endpoint override and returns its base URL
// without a trailing slash.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid URL %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q: no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("invalid URL %q: want scheme://host[:port][/path] only", s)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%q is plain HTTP to a host that is not loopback: signed requests and buyer data would travel unencrypted; use https (plain http is only for a simulator on this machine)", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// loopbackHost reports whether host is this machine without asking DNS:
// "localhost" or a loopback IP address (127.0.0.0/8, ::1).
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParsePrivateKey parses a PEM-encoded RSA private key in PKCS#1 ("RSA
// PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") form, as downloaded from Seller
// Central. Keys of other types are rejected.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	key, err := parsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("amazonpay: private key: %w", err)
	}
	return key, nil
}

// parsePrivateKey returns errors without a prefix so that ConfigFromSettings
// can prefix them with the setting name.
func parsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	var block *pem.Block
	rest := pemBytes
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			break
		}
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1 key: %w", err)
		}
		return key, nil
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, errNotRSA
		}
		return rsaKey, nil
	case "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		if block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("encrypted keys are not supported")
		}
		return nil, errNotRSA
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
}

var errNotRSA = errors.New("key is not RSA")

// Settings is the service's configuration surface for the Amazon Pay client;
// each field is documented with the environment variable that sets it.
type Settings struct {
	PublicKeyID    string // AMAZON_PAY_PUBLIC_KEY_ID
	PrivateKeyFile string // AMAZON_PAY_PRIVATE_KEY_FILE
	Region         string // AMAZON_PAY_REGION
	Sandbox        bool   // AMAZON_PAY_SANDBOX
	Endpoint       string // AMAZON_PAY_ENDPOINT
	CAFile         string // AMAZON_PAY_CA_FILE
	Algorithm      string // AMAZON_PAY_ALGORITHM ("AMZN-PAY-RSASSA-PSS-V2" default, "AMZN-PAY-RSASSA-PSS", "v2", "v1")
}

// Setting names, as read by SettingsFromEnv and quoted in errors.
const (
	EnvPublicKeyID    = "AMAZON_PAY_PUBLIC_KEY_ID"
	EnvPrivateKeyFile = "AMAZON_PAY_PRIVATE_KEY_FILE"
	EnvRegion         = "AMAZON_PAY_REGION"
	EnvSandbox        = "AMAZON_PAY_SANDBOX"
	EnvEndpoint       = "AMAZON_PAY_ENDPOINT"
	EnvCAFile         = "AMAZON_PAY_CA_FILE"
	EnvAlgorithm      = "AMAZON_PAY_ALGORITHM"
)

// SettingsFromEnv reads Settings through lookup (normally os.LookupEnv).
// Only AMAZON_PAY_SANDBOX can fail to parse here; everything else is
// validated by ConfigFromSettings.
func SettingsFromEnv(lookup func(string) (string, bool)) (Settings, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	s := Settings{
		PublicKeyID:    get(EnvPublicKeyID),
		PrivateKeyFile: get(EnvPrivateKeyFile),
		Region:         get(EnvRegion),
		Endpoint:       get(EnvEndpoint),
		CAFile:         get(EnvCAFile),
		Algorithm:      get(EnvAlgorithm),
	}
	if v := get(EnvSandbox); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("%s: invalid boolean %q", EnvSandbox, v)
		}
		s.Sandbox = b
	}
	return s, nil
}

// ConfigFromSettings validates s and loads the key and CA files into a
// Config (other Config fields keep their defaults). Every problem is
// reported; each line of the error starts with the setting's name, e.g.
// "AMAZON_PAY_REGION: unknown region \"xx\" (want na, eu, jp, us, de, uk)".
func ConfigFromSettings(s Settings) (Config, error) {
	cfg := Config{PublicKeyID: s.PublicKeyID, Sandbox: s.Sandbox}
	var errs []error
	fail := func(setting string, err error) {
		errs = append(errs, fmt.Errorf("%s: %w", setting, err))
	}

	if err := validatePublicKeyID(s.PublicKeyID); err != nil {
		fail(EnvPublicKeyID, err)
	}

	if s.PrivateKeyFile == "" {
		fail(EnvPrivateKeyFile, errors.New("required"))
	} else if pemBytes, err := os.ReadFile(s.PrivateKeyFile); err != nil {
		fail(EnvPrivateKeyFile, err)
	} else if key, err := parsePrivateKey(pemBytes); err != nil {
		fail(EnvPrivateKeyFile, err)
	} else {
		cfg.PrivateKey = key
	}

	if code, err := ResolveRegion(s.Region); err != nil {
		fail(EnvRegion, err)
	} else {
		cfg.Region = code
	}

	if s.Endpoint != "" {
		if u, err := parseEndpoint(s.Endpoint); err != nil {
			fail(EnvEndpoint, err)
		} else {
			cfg.Endpoint = u.String()
		}
	}

	if s.CAFile != "" {
		if pemBytes, err := os.ReadFile(s.CAFile); err != nil {
			fail(EnvCAFile, err)
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				fail(EnvCAFile, errors.New("no PEM certificates found"))
			} else {
				cfg.RootCAs = pool
			}
		}
	}

	if alg, err := parseAlgorithm(s.Algorithm); err != nil {
		fail(EnvAlgorithm, err)
	} else {
		cfg.Algorithm = alg
	}

	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// validatePublicKeyID rejects IDs that would break the Authorization header.
func validatePublicKeyID(id string) error {
	if id == "" {
		return errors.New("required")
	}
	for _, r := range id {
		if r <= ' ' || r == ',' || r == '=' || r >= 0x7f {
			return errors.New("must be printable ASCII without spaces, commas or '='")
		}
	}
	return nil
}
