package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/internal/amazongate"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeopen"
	"github.com/paymentcompletion/paymentcompletion/internal/tracker"
)

// Config is every setting of the server. Each field is set by a flag and by
// an environment variable (see settings); a flag given on the command line
// wins over the environment, which wins over the default.
type Config struct {
	// ListenAddr is the host:port the gRPC server listens on.
	ListenAddr string
	// DataDir holds the service's files (the default SQLite database, the
	// embedded simulator's state). Created at start if missing.
	DataDir string
	// DatabaseURL names the store: sqlite:PATH, postgres://... or a libpq
	// key=value string (PostgreSQL). When not set, it is
	// sqlite:<DataDir>/paymentcompletion.db.
	DatabaseURL string
	// LogLevel is the minimum level of the JSON log lines.
	LogLevel slog.Level
	// AuthTokenFile holds the bearer token callers must present; "" turns
	// authentication off.
	AuthTokenFile string
	// AuthCallersFile names the callers and the methods each may call (see
	// internal/callers); "" together with AuthTokenFile "" turns
	// authentication off. Reloaded when it changes.
	AuthCallersFile string
	// TLSCertFile and TLSKeyFile, when set, serve TLS on ListenAddr; they
	// are read again when they change. TLSClientCAFile additionally
	// requires client certificates signed by one of its CAs (mTLS).
	TLSCertFile, TLSKeyFile, TLSClientCAFile string
	// AllowPlaintext permits serving without TLS on an address other than
	// loopback (behind a mesh or a private network's own encryption).
	AllowPlaintext bool
	// DefaultCallTimeout is the deadline of unary calls that carry none.
	DefaultCallTimeout time.Duration
	// ShutdownGrace bounds graceful shutdown.
	ShutdownGrace time.Duration
	// ShutdownDrainDelay is how long, after SIGTERM, readiness says
	// NOT_SERVING while the listener still accepts and serves calls, so
	// load balancers stop routing here before anything is refused.
	ShutdownDrainDelay time.Duration
	// EmbeddedSimulator is "auto", "true" or "false": whether the
	// embedded simulator may stand in for missing Amazon Pay credentials
	// (see UseSimulator and checkSimulator).
	EmbeddedSimulator string
	// MigrateAtStart applies pending schema migrations at start; false
	// refuses to start on a schema that is behind ("server migrate up").
	MigrateAtStart bool
	// DebugAddr is where an HTTP listener serves the Go runtime's profiles
	// (/debug/pprof/); "" (the default) serves none. Profiles reveal no
	// request data, but the listener has no authentication: keep it on
	// loopback.
	DebugAddr string
	// MaxStreamsPerConnection caps the open streams (WatchPayment, health
	// Watch) of one client connection; MaxWatches the WatchPayment streams
	// of the server. More are refused with RESOURCE_EXHAUSTED.
	MaxStreamsPerConnection int
	MaxWatches              int
	// MerchantReference sets each completed order's ID as its charge
	// permission's merchantReferenceId in the background.
	MerchantReference bool
	// AutoCapture captures each Authorized charge in full once its
	// checkout completed.
	AutoCapture bool
	// HealthCheckInterval is how often the store is pinged (each ping may
	// take as long) for the health status: NOT_SERVING while it fails.
	HealthCheckInterval time.Duration

	// MetricsAddr is where an HTTP listener serves Prometheus metrics at
	// /metrics; "" (the default) serves none.
	MetricsAddr string

	// AmazonPay configures the Amazon Pay client. Without a public key ID
	// and private key the service runs against its embedded simulator.
	AmazonPay amazonpay.Settings

	// SimulatorAddr is where the embedded Amazon Pay simulator listens when
	// no Amazon Pay credentials are configured.
	SimulatorAddr string
	// SimulatorPendingDelay is how long the simulator keeps a pending
	// authorization before deciding it.
	SimulatorPendingDelay time.Duration
	// SimulatorClock is "real" or "manual": a manual clock stands still
	// until POST /simulator/clock on the simulator advances it.
	SimulatorClock string
	// SimulatorThrottle is "none", "sandbox" or "live": the request quotas
	// the simulator enforces.
	SimulatorThrottle string

	// TrackerFirstPoll is the delay before the first Get Charge poll of a
	// pending authorization.
	TrackerFirstPoll time.Duration
	// TrackerMaxInterval caps the growing interval between polls.
	TrackerMaxInterval time.Duration
	// TrackerGetChargeRate is deprecated and ignored (a warning is
	// logged when set): the process's Get Charge limit
	// (AmazonPayRateLimits) paces the tracker's calls. It is still
	// accepted so that deployments setting it keep starting.
	TrackerGetChargeRate float64

	// AmazonPayRateLimits are per-operation limits of Amazon Pay calls
	// that replace the defaults (Amazon's live quotas divided by
	// AmazonPayRateReplicas), as AMAZON_PAY_RATE_LIMITS writes them
	// (parseRateLimits; checked when set): a zero rate lifts an
	// operation's limit, "off" every limit. See AmazonPayRates.
	AmazonPayRateLimits string
	// AmazonPayRateReplicas is the number of replicas sharing the merchant
	// account's quotas: each takes its share of the defaults.
	AmazonPayRateReplicas int
	// AmazonPayRateMaxWait is the longest a call a buyer waits on waits for
	// its operation's limit before it is refused, unsent.
	AmazonPayRateMaxWait time.Duration

	// ReconcileFirstDelay is the delay before the first reconciliation of a
	// completion whose answer was lost.
	ReconcileFirstDelay time.Duration

	// CompletionInflightLease is how long a completion may stay in flight
	// before the reconciler treats its process as dead and takes over.
	CompletionInflightLease time.Duration
	// CompletionUpstreamTimeout is the time budget of one completion's
	// Amazon Pay calls (the client's retries and the read-back of a lost
	// answer included); the in-flight lease must be longer.
	CompletionUpstreamTimeout time.Duration
	// TrackerLease is how long a replica keeps a claimed pending payment
	// before another replica may poll it.
	TrackerLease time.Duration

	// MaxCompletionsInFlight bounds the CompleteCheckout calls served at
	// once; beyond it calls are refused at once (UNAVAILABLE, OVERLOADED).
	MaxCompletionsInFlight int
	// AmazonPayMaxCalls bounds the Amazon Pay calls of the process in
	// flight at once (every caller: completions, reconciler, tracker,
	// live reads); AmazonPayMaxQueued bounds the calls waiting for a
	// place. A call beyond both is refused at once, unsent.
	AmazonPayMaxCalls  int
	AmazonPayMaxQueued int

	// ReplicaID names this process in leases; replicas sharing a database
	// must have distinct IDs.
	ReplicaID string

	// IPNAddr is where the Amazon Pay notification (IPN) listener serves
	// ipn.Path: "" serves none, except with the embedded simulator
	// (DefaultEmbeddedIPNAddr); "off" serves none at all. See IPNListenAddr.
	IPNAddr string
	// IPNTLSCertFile and IPNTLSKeyFile, when set, serve TLS on IPNAddr.
	IPNTLSCertFile, IPNTLSKeyFile string
	// IPNMerchantID is this deployment's Amazon Pay merchant ID; a
	// notification for another is refused. Required with IPNAddr and
	// credentials; the embedded simulator's merchant otherwise.
	IPNMerchantID string
	// IPNCertHosts are hosts, besides sns.<region>.amazonaws.com, allowed
	// for SigningCertURL and SubscribeURL (comma-separated).
	IPNCertHosts string
	// IPNCAFile is a PEM bundle the signing certificates must chain to
	// instead of the system roots.
	IPNCAFile string
	// IPNTopicArns, when set, are the only SNS topics accepted
	// (comma-separated).
	IPNTopicArns string
	// IPNMaxAge is the oldest a notification may be.
	IPNMaxAge time.Duration
	// IPNRate is the notifications per second one source address may post
	// (burst: twice as many).
	IPNRate float64
}

// DefaultEmbeddedIPNAddr is the notification listener's address when the
// embedded simulator runs and IPN_ADDR is not set: a loopback port chosen
// at start, since the server registers it with the simulator itself.
const DefaultEmbeddedIPNAddr = "127.0.0.1:0"

// IPNListenAddr is the address the notification listener binds; ""
// serves none.
func (c Config) IPNListenAddr() string {
	switch {
	case c.IPNAddr == "off":
		return ""
	case c.IPNAddr == "" && c.UseSimulator():
		return DefaultEmbeddedIPNAddr
	}
	return c.IPNAddr
}

// list splits a comma-separated setting.
func list(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// AmazonPayRates are the rate limits of the process's Amazon Pay calls.
func (c Config) AmazonPayRates() amazongate.Rates {
	limits, off, _ := parseRateLimits(c.AmazonPayRateLimits) // checked when set
	return amazongate.Rates{Limits: limits, Replicas: c.AmazonPayRateReplicas, MaxWait: c.AmazonPayRateMaxWait, Off: off}
}

// durationText shows a default duration as docs/configuration.md and -help write it:
// "2m", not "2m0s".
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UseSimulator reports whether the service talks to its embedded Amazon Pay
// simulator because no credentials are configured (Validate refuses that
// where it is not allowed: checkSimulator).
func (c Config) UseSimulator() bool {
	return c.AmazonPay.PublicKeyID == "" && c.AmazonPay.PrivateKeyFile == "" && c.EmbeddedSimulator != "false"
}

// productionSigns names the settings that say this is no developer's
// laptop: an address others can reach, PostgreSQL, TLS, a callers file.
// Each one is an environment where a silent stand-in for Amazon Pay would
// confirm orders nobody paid for.
func (c Config) productionSigns() []string {
	var signs []string
	if checkHostPort(c.ListenAddr) == nil && !loopback(c.ListenAddr) {
		signs = append(signs, fmt.Sprintf("LISTEN_ADDR %q is not loopback", c.ListenAddr))
	}
	if kind, _, err := storeopen.Parse(c.DatabaseURL); err == nil && kind == storeopen.Postgres {
		signs = append(signs, "DATABASE_URL is PostgreSQL")
	}
	if c.TLSCertFile != "" {
		signs = append(signs, "TLS_CERT_FILE is set")
	}
	if c.AuthCallersFile != "" {
		signs = append(signs, "AUTH_CALLERS_FILE is set")
	}
	return signs
}

// checkSimulator refuses the embedded simulator where it must not run:
// EMBEDDED_SIMULATOR=false always, and by default ("auto") wherever a
// production sign is present. The error names the missing credentials
// settings.
func (c Config) checkSimulator() error {
	noCreds := c.AmazonPay.PublicKeyID == "" && c.AmazonPay.PrivateKeyFile == ""
	missing := fmt.Sprintf("%s (-amazon-pay-public-key-id) and %s (-amazon-pay-private-key-file)", amazonpay.EnvPublicKeyID, amazonpay.EnvPrivateKeyFile)
	switch {
	case !noCreds && c.EmbeddedSimulator == "true":
		return fmt.Errorf("EMBEDDED_SIMULATOR (-embedded-simulator): true, but Amazon Pay credentials are set (%s): unset EMBEDDED_SIMULATOR or the credentials", amazonpay.EnvPublicKeyID)
	case !noCreds:
		return nil
	case c.EmbeddedSimulator == "false":
		return fmt.Errorf("%s: no Amazon Pay credentials, and EMBEDDED_SIMULATOR=false refuses the embedded simulator: set both", missing)
	case c.EmbeddedSimulator == "true":
		return nil
	}
	if signs := c.productionSigns(); len(signs) > 0 {
		return fmt.Errorf("%s: no Amazon Pay credentials, and this looks like production (%s): set both, or EMBEDDED_SIMULATOR=true (-embedded-simulator) to run the embedded simulator anyway, where no payment is real", missing, strings.Join(signs, ", "))
	}
	return nil
}

// Mode is the Amazon Pay environment the service runs against:
// "simulator" (embedded), "sandbox" or "live". A LIVE-/SANDBOX- key ID
// chooses its environment itself, as Amazon does; a legacy key ID follows
// AMAZON_PAY_SANDBOX.
func (c Config) Mode() string {
	id := strings.ToUpper(c.AmazonPay.PublicKeyID)
	switch {
	case c.UseSimulator():
		return ModeSimulator
	case strings.HasPrefix(id, "SANDBOX"):
		return ModeSandbox
	case amazonpay.IsEnvironmentSpecificKeyID(id):
		return ModeLive
	case c.AmazonPay.Sandbox:
		return ModeSandbox
	}
	return ModeLive
}

// The values of Mode, as logged, in metrics and in /readyz.
const (
	ModeSimulator = "simulator"
	ModeSandbox   = "sandbox"
	ModeLive      = "live"
)

// setting describes one configuration value: its flag, its environment
// twin, and how to parse it into the Config.
type setting struct {
	flag, env string
	// arg names the value in -help.
	arg   string
	usage string
	// def is the default as shown in -help.
	def string
	// set parses a value into the Config.
	set func(c *Config, v string) error
}

// settings lists every setting in the order -help shows them.
func settings() []setting {
	return []setting{
		{"listen-addr", "LISTEN_ADDR", "host:port", "address the gRPC server listens on", "127.0.0.1:50051",
			str(func(c *Config) *string { return &c.ListenAddr })},
		{"data-dir", "DATA_DIR", "dir", "directory for the service's files (created if missing; one server at a time)", "./data",
			str(func(c *Config) *string { return &c.DataDir })},
		{"database-url", "DATABASE_URL", "url", "store: sqlite:PATH, postgres://user@host:port/db or a PostgreSQL key=value string (host=... dbname=...)", "sqlite:<data-dir>/paymentcompletion.db",
			str(func(c *Config) *string { return &c.DatabaseURL })},
		{"log-level", "LOG_LEVEL", "level", "minimum log level: debug, info, warn or error", "info",
			func(c *Config, v string) error {
				l, err := parseLogLevel(v)
				c.LogLevel = l
				return err
			}},
		{"auth-token-file", "AUTH_TOKEN_FILE", "file", "file holding the bearer token callers must send; empty disables auth", "",
			str(func(c *Config) *string { return &c.AuthTokenFile })},
		{"auth-callers-file", "AUTH_CALLERS_FILE", "file", "JSON file of named callers (token_sha256 or client_cert_subject/client_cert_san) and the methods each may call; reloaded on change", "",
			str(func(c *Config) *string { return &c.AuthCallersFile })},
		{"tls-cert-file", "TLS_CERT_FILE", "file", "PEM certificate chain served on the gRPC listener (with TLS_KEY_FILE); reloaded on change", "",
			str(func(c *Config) *string { return &c.TLSCertFile })},
		{"tls-key-file", "TLS_KEY_FILE", "file", "PEM private key of TLS_CERT_FILE", "",
			str(func(c *Config) *string { return &c.TLSKeyFile })},
		{"tls-client-ca-file", "TLS_CLIENT_CA_FILE", "file", "PEM CAs whose client certificates are required (mTLS); needs TLS_CERT_FILE", "",
			str(func(c *Config) *string { return &c.TLSClientCAFile })},
		{"allow-plaintext", "ALLOW_PLAINTEXT", "bool", "serve without TLS on a non-loopback LISTEN_ADDR", "false",
			boolean(func(c *Config) *bool { return &c.AllowPlaintext })},
		{"default-call-timeout", "DEFAULT_CALL_TIMEOUT", "duration", "deadline of unary calls that carry none", "30s",
			dur(func(c *Config) *time.Duration { return &c.DefaultCallTimeout })},
		{"shutdown-grace", "SHUTDOWN_GRACE", "duration", "time in-flight calls get to finish at shutdown", "15s",
			dur(func(c *Config) *time.Duration { return &c.ShutdownGrace })},
		{"shutdown-drain-delay", "SHUTDOWN_DRAIN_DELAY", "duration", "after SIGTERM, how long readiness is NOT_SERVING while calls are still accepted, before the grace starts", "<5s; 0s on a loopback listen-addr>",
			dur(func(c *Config) *time.Duration { return &c.ShutdownDrainDelay })},
		{"embedded-simulator", "EMBEDDED_SIMULATOR", "auto|true|false", "run the embedded Amazon Pay simulator without credentials: auto only where nothing says production (loopback, SQLite, no TLS, no callers file); true anyway; false never", "auto",
			func(c *Config, v string) error {
				switch strings.ToLower(v) {
				case "auto", "true", "false":
					c.EmbeddedSimulator = strings.ToLower(v)
					return nil
				}
				return errors.New("want auto, true or false")
			}},
		{"migrate-at-start", "MIGRATE_AT_START", "bool", "apply pending database migrations at start; false refuses to start on a schema that is behind (run: server migrate up)", "true",
			boolean(func(c *Config) *bool { return &c.MigrateAtStart })},
		{"debug-addr", "DEBUG_ADDR", "host:port", "address of an HTTP listener serving runtime profiles at /debug/pprof/ (no auth: keep it on loopback); empty serves none", "",
			str(func(c *Config) *string { return &c.DebugAddr })},
		{"health-check-interval", "HEALTH_CHECK_INTERVAL", "duration", "how often the store is pinged (each ping may take as long); health is NOT_SERVING while it fails", "5s",
			dur(func(c *Config) *time.Duration { return &c.HealthCheckInterval })},
		{"max-streams-per-connection", "MAX_STREAMS_PER_CONNECTION", "n", "open streams (WatchPayment, health Watch) one connection may have; more are refused with RESOURCE_EXHAUSTED (TOO_MANY_STREAMS_ON_CONNECTION)", "100",
			positiveInt(func(c *Config) *int { return &c.MaxStreamsPerConnection })},
		{"merchant-reference", "MERCHANT_REFERENCE", "bool", "after a completion, set the order ID as the charge permission's merchantReferenceId at Amazon Pay (in the background, retried)", "true",
			boolean(func(c *Config) *bool { return &c.MerchantReference })},
		{"auto-capture", "AUTO_CAPTURE", "bool", "capture each charge in full as soon as it is Authorized (for shops that ship at once)", "false",
			boolean(func(c *Config) *bool { return &c.AutoCapture })},
		{"max-watches", "MAX_WATCHES", "n", "WatchPayment streams the server serves at once; more are refused with RESOURCE_EXHAUSTED (TOO_MANY_WATCHES)", "10000",
			positiveInt(func(c *Config) *int { return &c.MaxWatches })},
		{"metrics-addr", "METRICS_ADDR", "host:port", "address of an HTTP listener serving Prometheus metrics at /metrics (no auth); empty serves none", "",
			str(func(c *Config) *string { return &c.MetricsAddr })},
		{"amazon-pay-public-key-id", amazonpay.EnvPublicKeyID, "id", "Amazon Pay public key ID; empty (with no key file) runs the embedded simulator", "",
			str(func(c *Config) *string { return &c.AmazonPay.PublicKeyID })},
		{"amazon-pay-private-key-file", amazonpay.EnvPrivateKeyFile, "file", "PEM file of the Amazon Pay private key", "",
			str(func(c *Config) *string { return &c.AmazonPay.PrivateKeyFile })},
		{"amazon-pay-region", amazonpay.EnvRegion, "region", "Amazon Pay region: na, eu or jp (aliases us, de, uk)", "na",
			str(func(c *Config) *string { return &c.AmazonPay.Region })},
		{"amazon-pay-sandbox", amazonpay.EnvSandbox, "bool", "use the sandbox environment (legacy key IDs only; LIVE-/SANDBOX- IDs choose themselves)", "false",
			func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("want true or false")
				}
				c.AmazonPay.Sandbox = b
				return nil
			}},
		{"amazon-pay-endpoint", amazonpay.EnvEndpoint, "url", "override of the regional Amazon Pay base URL (simulator, egress proxy)", "",
			str(func(c *Config) *string { return &c.AmazonPay.Endpoint })},
		{"amazon-pay-ca-file", amazonpay.EnvCAFile, "file", "PEM CA bundle trusted for Amazon Pay instead of the system roots", "",
			str(func(c *Config) *string { return &c.AmazonPay.CAFile })},
		{"amazon-pay-algorithm", amazonpay.EnvAlgorithm, "name", "request signing algorithm: AMZN-PAY-RSASSA-PSS-V2 or AMZN-PAY-RSASSA-PSS", string(amazonpay.AlgorithmV2),
			str(func(c *Config) *string { return &c.AmazonPay.Algorithm })},
		{"simulator-addr", "SIMULATOR_ADDR", "host:port", "address of the embedded Amazon Pay simulator (used without credentials)", "127.0.0.1:8443",
			str(func(c *Config) *string { return &c.SimulatorAddr })},
		{"simulator-pending-delay", "SIMULATOR_PENDING_DELAY", "duration", "how long the simulator keeps an authorization pending", "30s",
			dur(func(c *Config) *time.Duration { return &c.SimulatorPendingDelay })},
		{"simulator-clock", "SIMULATOR_CLOCK", "real|manual", "clock of the embedded simulator: manual stands still until POST /simulator/clock {\"advance\":\"25h\"} moves it", "real",
			str(func(c *Config) *string { return &c.SimulatorClock })},
		{"simulator-throttle", "SIMULATOR_THROTTLE", "none|sandbox|live", "request quotas the embedded simulator enforces per operation (Amazon's published sandbox or live quotas)", "none",
			str(func(c *Config) *string { return &c.SimulatorThrottle })},
		{"tracker-first-poll", "TRACKER_FIRST_POLL", "duration", "delay before the first poll of a pending authorization", durationText(tracker.DefaultFirstPoll),
			dur(func(c *Config) *time.Duration { return &c.TrackerFirstPoll })},
		{"tracker-max-interval", "TRACKER_MAX_INTERVAL", "duration", "longest interval between polls of a pending authorization", durationText(tracker.DefaultMaxInterval),
			dur(func(c *Config) *time.Duration { return &c.TrackerMaxInterval })},
		{"tracker-get-charge-rate", "TRACKER_GET_CHARGE_RATE", "per-second", "deprecated and ignored (a warning is logged when set): the tracker's Get Charge calls are paced by AMAZON_PAY_RATE_LIMITS' Get Charge limit", "0",
			func(c *Config, v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return errors.New("want a number")
				}
				c.TrackerGetChargeRate = f
				return nil
			}},
		{"reconcile-first-delay", "RECONCILE_FIRST_DELAY", "duration", "delay before the first reconciliation of an unanswered completion", durationText(completion.DefaultReconcileFirstDelay),
			dur(func(c *Config) *time.Duration { return &c.ReconcileFirstDelay })},
		{"completion-inflight-lease", "COMPLETION_INFLIGHT_LEASE", "duration", "time a completion may stay in flight before the reconciler takes it over (a crashed replica); longer than COMPLETION_UPSTREAM_TIMEOUT", durationText(completion.DefaultInflightLease),
			dur(func(c *Config) *time.Duration { return &c.CompletionInflightLease })},
		{"completion-upstream-timeout", "COMPLETION_UPSTREAM_TIMEOUT", "duration", "time budget of one completion's (or reconciliation's) Amazon Pay work: the wait for a place among the calls, the calls with their retries, and the read-back; the wait for the CPU to sign the request comes before it (bounded by the caller's deadline)", durationText(completion.DefaultUpstreamTimeout),
			dur(func(c *Config) *time.Duration { return &c.CompletionUpstreamTimeout })},
		{"tracker-lease", "TRACKER_LEASE", "duration", "time a replica holds a claimed pending payment before others may poll it", durationText(tracker.DefaultLease),
			dur(func(c *Config) *time.Duration { return &c.TrackerLease })},
		{"max-completions-in-flight", "MAX_COMPLETIONS_IN_FLIGHT", "n", "CompleteCheckout calls served at once; more are refused at once with UNAVAILABLE (OVERLOADED) and RetryInfo", "10000",
			positiveInt(func(c *Config) *int { return &c.MaxCompletionsInFlight })},
		{"amazon-pay-max-calls", "AMAZON_PAY_MAX_CALLS", "n", "Amazon Pay calls in flight at once, for every caller in the process", "512",
			positiveInt(func(c *Config) *int { return &c.AmazonPayMaxCalls })},
		{"amazon-pay-max-queued", "AMAZON_PAY_MAX_QUEUED", "n", "Amazon Pay calls waiting for a place; more are refused at once, unsent (OVERLOADED)", "10000",
			func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return errors.New("want a whole number, 0 or more")
				}
				c.AmazonPayMaxQueued = n
				return nil
			}},
		{"amazon-pay-rate-limits", "AMAZON_PAY_RATE_LIMITS", "list", "per-operation limits of Amazon Pay calls replacing the defaults (Amazon's live quotas divided by AMAZON_PAY_RATE_REPLICAS), Operation=rate[/burst] comma-separated, e.g. CompleteCheckoutSession=2/10; rate 0 lifts one, off lifts all", "",
			func(c *Config, v string) error {
				_, _, err := parseRateLimits(v)
				c.AmazonPayRateLimits = v
				return err
			}},
		{"amazon-pay-rate-replicas", "AMAZON_PAY_RATE_REPLICAS", "n", "replicas sharing the merchant account's Amazon Pay quotas: each replica's default limits are the quotas divided by it", "1",
			positiveInt(func(c *Config) *int { return &c.AmazonPayRateReplicas })},
		{"amazon-pay-rate-max-wait", "AMAZON_PAY_RATE_MAX_WAIT", "duration", "longest a call a buyer waits on waits for its operation's rate limit; beyond it the call is refused, unsent (UNAVAILABLE AMAZON_PAY_UNAVAILABLE with RetryInfo)", durationText(amazongate.DefaultMaxWait),
			dur(func(c *Config) *time.Duration { return &c.AmazonPayRateMaxWait })},
		{"replica-id", "REPLICA_ID", "id", "name of this replica in leases; unique among replicas sharing a database", "<hostname>-<pid>",
			str(func(c *Config) *string { return &c.ReplicaID })},
		{"ipn-addr", "IPN_ADDR", "host:port", "address of the Amazon Pay notification (IPN) listener, path /amazonpay/ipn; empty serves none, except with the embedded simulator (a loopback port chosen at start, which the server registers there); off serves none", "",
			str(func(c *Config) *string { return &c.IPNAddr })},
		{"ipn-tls-cert-file", "IPN_TLS_CERT_FILE", "file", "PEM certificate (chain) of the notification listener; with IPN_TLS_KEY_FILE it serves https, as Amazon Pay requires", "",
			str(func(c *Config) *string { return &c.IPNTLSCertFile })},
		{"ipn-tls-key-file", "IPN_TLS_KEY_FILE", "file", "PEM private key of IPN_TLS_CERT_FILE", "",
			str(func(c *Config) *string { return &c.IPNTLSKeyFile })},
		{"ipn-merchant-id", "IPN_MERCHANT_ID", "id", "this deployment's Amazon Pay merchant ID; notifications for another are refused (required with IPN_ADDR and credentials; the embedded simulator's merchant otherwise)", "",
			str(func(c *Config) *string { return &c.IPNMerchantID })},
		{"ipn-cert-hosts", "IPN_CERT_HOSTS", "list", "hosts (host[:port], comma-separated) allowed for a notification's SigningCertURL and SubscribeURL besides sns.<region>.amazonaws.com", "",
			str(func(c *Config) *string { return &c.IPNCertHosts })},
		{"ipn-ca-file", "IPN_CA_FILE", "file", "PEM CA bundle a notification's signing certificate must chain to, instead of the system roots", "",
			str(func(c *Config) *string { return &c.IPNCAFile })},
		{"ipn-topic-arns", "IPN_TOPIC_ARNS", "list", "SNS topic ARNs accepted (comma-separated); empty accepts any", "",
			str(func(c *Config) *string { return &c.IPNTopicArns })},
		{"ipn-max-age", "IPN_MAX_AGE", "duration", "oldest a notification may be (older ones, replays, are refused)", durationText(ipn.DefaultMaxAge),
			dur(func(c *Config) *time.Duration { return &c.IPNMaxAge })},
		{"ipn-rate", "IPN_RATE", "per-second", "notifications per second one source address may post (burst twice as many); more are refused with 429", "50",
			func(c *Config, v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || !(f > 0) || math.IsInf(f, 0) {
					return errors.New("want a positive number")
				}
				c.IPNRate = f
				return nil
			}},
	}
}

// parseRateLimits reads AMAZON_PAY_RATE_LIMITS: "off", or a comma-separated
// list of Operation=rate[/burst] for operations of Amazon's quota table.
// The burst defaults to the rate rounded up.
func parseRateLimits(v string) (map[string]amazongate.Limit, bool, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, false, nil
	}
	if v == "off" {
		return nil, true, nil
	}
	limits := map[string]amazongate.Limit{}
	for item := range strings.SplitSeq(v, ",") {
		op, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if _, known := amazongate.LiveQuotas[op]; !ok || !known {
			return nil, false, fmt.Errorf("want Operation=rate[/burst] for operations such as CompleteCheckoutSession or GetCharge, got %q", item)
		}
		rateText, burstText, hasBurst := strings.Cut(val, "/")
		r, err := strconv.ParseFloat(rateText, 64)
		if err != nil || !(r >= 0) || math.IsInf(r, 0) {
			return nil, false, fmt.Errorf("%s: want a rate of 0 or more per second, got %q", op, rateText)
		}
		l := amazongate.Limit{Rate: r, Burst: int(math.Ceil(r))}
		if hasBurst {
			if l.Burst, err = strconv.Atoi(burstText); err != nil || l.Burst < 1 {
				return nil, false, fmt.Errorf("%s: want a burst of 1 or more, got %q", op, burstText)
			}
		}
		limits[op] = l
	}
	return limits, false, nil
}

func positiveInt(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errors.New("want a whole number, 1 or more")
		}
		*field(c) = n
		return nil
	}
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*field(c) = v
		return nil
	}
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*field(c) = b
		return nil
	}
}

func dur(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("want a duration such as 500ms, 30s or 5m")
		}
		*field(c) = d
		return nil
	}
}

func parseLogLevel(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New("want debug, info, warn or error")
}

// settingValue adapts a setting to flag.Value so the flag package parses the
// command line; the value lands in the Config only after the environment
// was applied, keeping flags ahead of environment variables.
type settingValue struct {
	s   setting
	val *string
}

func (v settingValue) String() string {
	if v.val == nil {
		return ""
	}
	return *v.val
}

func (v settingValue) Set(s string) error {
	*v.val = s
	return nil
}

// IsBoolFlag lets a boolean setting be given as a bare -flag.
func (v settingValue) IsBoolFlag() bool { return v.s.arg == "bool" }

// errVersion is parseConfig's answer to -version.
var errVersion = errors.New("version asked for")

// parseConfig builds the Config from the command line and the environment
// (read through lookupEnv) and validates it. An empty environment variable
// counts as unset. It returns flag.ErrHelp after printing -help to out,
// and errVersion for -version.
func parseConfig(args []string, lookupEnv func(string) (string, bool), out io.Writer) (Config, error) {
	c, err := parseSettings(args, lookupEnv, out)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// parseSettings is parseConfig without Validate, for the subcommands,
// which need only some of the settings.
func parseSettings(args []string, lookupEnv func(string) (string, bool), out io.Writer) (Config, error) {
	all := settings()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { printUsage(out, all) }
	values := make([]string, len(all))
	for i, s := range all {
		fs.Var(settingValue{s: s, val: &values[i]}, s.flag, s.usage)
	}
	showVersion := fs.Bool("version", false, "print the version, commit and Go version, and exit")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if *showVersion {
		return Config{}, errVersion
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (settings are flags: see -help)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var (
		c    Config
		errs []error
		// drainSet: SHUTDOWN_DRAIN_DELAY was given (its default depends
		// on LISTEN_ADDR).
		drainSet bool
	)
	for i, s := range all {
		v, source := s.def, ""
		if given[s.flag] {
			v, source = values[i], "-"+s.flag
		} else if ev, ok := lookupEnv(s.env); ok && ev != "" {
			v, source = ev, s.env
		}
		switch {
		case source == "" && strings.Contains(s.def, "<"):
			// Computed defaults (database URL, replica ID) are filled in
			// below.
			continue
		case source == "":
			source = "default of " + s.env
		}
		if s.env == "SHUTDOWN_DRAIN_DELAY" {
			drainSet = true
		}
		if err := s.set(&c, strings.TrimSpace(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value %q: %w", source, v, err))
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.ToSlash(filepath.Join(c.DataDir, "paymentcompletion.db"))
	}
	if c.ReplicaID == "" {
		c.ReplicaID = defaultReplicaID()
	}
	if !drainSet {
		c.ShutdownDrainDelay = defaultDrainDelay(c.ListenAddr)
	}
	return c, nil
}

// defaultDrainDelay is SHUTDOWN_DRAIN_DELAY's default: long enough for
// a load balancer or Kubernetes to take the endpoint out of rotation on
// an address others reach; none on loopback, where no balancer routes
// and a developer's Ctrl-C should stop at once.
func defaultDrainDelay(listenAddr string) time.Duration {
	if loopback(listenAddr) {
		return 0
	}
	return 5 * time.Second
}

func defaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// printUsage writes -help: every setting with its flag, environment
// variable and default.
func printUsage(w io.Writer, all []setting) {
	fmt.Fprint(w, `Usage: server [flags]

Runs the paymentcompletion gRPC service. Every setting is a flag and an
environment variable; a flag on the command line wins over the environment,
which wins over the default. Empty environment variables count as unset.
Without Amazon Pay credentials the service runs its embedded simulator,
only where nothing says production (see -embedded-simulator).
-version prints the version, commit and Go version. "server migrate
up|status" applies or lists the database migrations; "server healthcheck
[readiness|liveness]" exits 0 when the server beside it is SERVING. Tracing follows the
standard OTEL_* variables (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_*).

`)
	for _, s := range all {
		def := s.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  -%s %s  (env %s; default %s)\n        %s\n", s.flag, s.arg, s.env, def, s.usage)
	}
}

// Validate checks the settings that need no file or network access and
// reports every problem, each naming its environment variable and flag.
func (c Config) Validate() error {
	var errs []error
	fail := func(env, flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (-%s): %s", env, flagName, fmt.Sprintf(format, args...)))
	}
	if err := checkHostPort(c.ListenAddr); err != nil {
		fail("LISTEN_ADDR", "listen-addr", "%v", err)
	}
	switch {
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		fail("TLS_CERT_FILE", "tls-cert-file", "TLS_CERT_FILE and TLS_KEY_FILE (-tls-key-file) go together: set both or neither")
	case c.TLSClientCAFile != "" && c.TLSCertFile == "":
		fail("TLS_CLIENT_CA_FILE", "tls-client-ca-file", "requires TLS_CERT_FILE and TLS_KEY_FILE (client certificates are only asked for over TLS)")
	case c.TLSCertFile == "" && !c.AllowPlaintext && checkHostPort(c.ListenAddr) == nil && !loopback(c.ListenAddr):
		fail("LISTEN_ADDR", "listen-addr", "%q is not a loopback address: serve TLS (TLS_CERT_FILE, TLS_KEY_FILE) or set ALLOW_PLAINTEXT=true (-allow-plaintext) if the network encrypts traffic itself", c.ListenAddr)
	}
	if c.DataDir == "" {
		fail("DATA_DIR", "data-dir", "must not be empty")
	}
	if _, _, err := storeopen.Parse(c.DatabaseURL); err != nil {
		fail("DATABASE_URL", "database-url", "%v", strings.TrimPrefix(err.Error(), "storeopen: "))
	}
	if c.DefaultCallTimeout <= 0 {
		fail("DEFAULT_CALL_TIMEOUT", "default-call-timeout", "must be positive, got %v", c.DefaultCallTimeout)
	}
	if c.ShutdownGrace <= 0 {
		fail("SHUTDOWN_GRACE", "shutdown-grace", "must be positive, got %v", c.ShutdownGrace)
	}
	if c.ShutdownDrainDelay < 0 {
		fail("SHUTDOWN_DRAIN_DELAY", "shutdown-drain-delay", "must not be negative, got %v", c.ShutdownDrainDelay)
	}
	if c.HealthCheckInterval <= 0 {
		fail("HEALTH_CHECK_INTERVAL", "health-check-interval", "must be positive, got %v", c.HealthCheckInterval)
	}
	if c.DebugAddr != "" {
		if err := checkHostPort(c.DebugAddr); err != nil {
			fail("DEBUG_ADDR", "debug-addr", "%v", err)
		}
	}
	if addr := c.IPNListenAddr(); addr != "" {
		switch err := checkHostPort(addr); {
		case err != nil:
			fail("IPN_ADDR", "ipn-addr", "%v", err)
		case c.IPNTLSCertFile == "" && !c.AllowPlaintext && !loopback(addr):
			fail("IPN_ADDR", "ipn-addr", "%q is not a loopback address: serve TLS (IPN_TLS_CERT_FILE, IPN_TLS_KEY_FILE) or set ALLOW_PLAINTEXT=true (-allow-plaintext) behind a proxy that terminates TLS", addr)
		}
		if c.IPNMerchantID == "" && !c.UseSimulator() {
			fail("IPN_MERCHANT_ID", "ipn-merchant-id", "required with IPN_ADDR: the merchant ID notifications must name (Seller Central: Integration > Integration Central)")
		}
	}
	if (c.IPNTLSCertFile == "") != (c.IPNTLSKeyFile == "") {
		fail("IPN_TLS_CERT_FILE", "ipn-tls-cert-file", "IPN_TLS_CERT_FILE and IPN_TLS_KEY_FILE (-ipn-tls-key-file) go together: set both or neither")
	}
	if c.IPNMaxAge <= 0 {
		fail("IPN_MAX_AGE", "ipn-max-age", "must be positive, got %v", c.IPNMaxAge)
	}
	if c.MetricsAddr != "" {
		if err := checkHostPort(c.MetricsAddr); err != nil {
			fail("METRICS_ADDR", "metrics-addr", "%v", err)
		}
	}

	ap := c.AmazonPay
	switch {
	case ap.PublicKeyID != "" && ap.PrivateKeyFile == "":
		fail(amazonpay.EnvPrivateKeyFile, "amazon-pay-private-key-file", "required with %s (or set neither to use the embedded simulator)", amazonpay.EnvPublicKeyID)
	case ap.PublicKeyID == "" && ap.PrivateKeyFile != "":
		fail(amazonpay.EnvPublicKeyID, "amazon-pay-public-key-id", "required with %s (or set neither to use the embedded simulator)", amazonpay.EnvPrivateKeyFile)
	}
	if err := c.checkSimulator(); err != nil {
		errs = append(errs, err)
	}
	if _, err := amazonpay.ResolveRegion(ap.Region); err != nil {
		fail(amazonpay.EnvRegion, "amazon-pay-region", "%v", err)
	}
	if ap.Endpoint != "" {
		if err := amazonpay.ValidateEndpoint(ap.Endpoint); err != nil {
			fail(amazonpay.EnvEndpoint, "amazon-pay-endpoint", "%v", err)
		}
	}
	switch strings.ToUpper(ap.Algorithm) {
	case string(amazonpay.AlgorithmV2), string(amazonpay.AlgorithmV1), "V2", "V1":
	default:
		fail(amazonpay.EnvAlgorithm, "amazon-pay-algorithm", "want %s or %s, got %q", amazonpay.AlgorithmV2, amazonpay.AlgorithmV1, ap.Algorithm)
	}

	if err := checkHostPort(c.SimulatorAddr); err != nil {
		fail("SIMULATOR_ADDR", "simulator-addr", "%v", err)
	}
	if c.SimulatorPendingDelay < 0 {
		fail("SIMULATOR_PENDING_DELAY", "simulator-pending-delay", "must not be negative, got %v", c.SimulatorPendingDelay)
	}
	if c.SimulatorClock != "real" && c.SimulatorClock != "manual" {
		fail("SIMULATOR_CLOCK", "simulator-clock", "want real or manual, got %q", c.SimulatorClock)
	}
	switch c.SimulatorThrottle {
	case simulator.ThrottleNone, simulator.ThrottleSandbox, simulator.ThrottleLive:
	default:
		fail("SIMULATOR_THROTTLE", "simulator-throttle", "want none, sandbox or live, got %q", c.SimulatorThrottle)
	}
	if c.TrackerFirstPoll <= 0 {
		fail("TRACKER_FIRST_POLL", "tracker-first-poll", "must be positive, got %v", c.TrackerFirstPoll)
	}
	if c.TrackerMaxInterval < c.TrackerFirstPoll {
		fail("TRACKER_MAX_INTERVAL", "tracker-max-interval", "must be at least TRACKER_FIRST_POLL (%v), got %v", c.TrackerFirstPoll, c.TrackerMaxInterval)
	}
	if !(c.TrackerGetChargeRate >= 0) || math.IsInf(c.TrackerGetChargeRate, 0) {
		fail("TRACKER_GET_CHARGE_RATE", "tracker-get-charge-rate", "must be a positive number of requests per second, or 0, got %v", c.TrackerGetChargeRate)
	}
	if c.AmazonPayRateMaxWait <= 0 {
		fail("AMAZON_PAY_RATE_MAX_WAIT", "amazon-pay-rate-max-wait", "must be positive, got %v", c.AmazonPayRateMaxWait)
	}
	if c.CompletionUpstreamTimeout <= 0 {
		fail("COMPLETION_UPSTREAM_TIMEOUT", "completion-upstream-timeout", "must be positive, got %v", c.CompletionUpstreamTimeout)
	} else if c.CompletionInflightLease <= c.CompletionUpstreamTimeout {
		// A shorter lease expires while a live completion still waits for
		// Amazon Pay if its renewal fails, and the reconciler would then
		// send a second Complete beside it.
		fail("COMPLETION_INFLIGHT_LEASE", "completion-inflight-lease", "must be longer than COMPLETION_UPSTREAM_TIMEOUT (%v), the Amazon Pay call budget of one completion; got %v", c.CompletionUpstreamTimeout, c.CompletionInflightLease)
	}
	if c.ReconcileFirstDelay < 0 {
		fail("RECONCILE_FIRST_DELAY", "reconcile-first-delay", "must not be negative, got %v", c.ReconcileFirstDelay)
	}
	if c.ReplicaID == "" || len(c.ReplicaID) > 128 || strings.ContainsFunc(c.ReplicaID, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		fail("REPLICA_ID", "replica-id", "want 1 to 128 printable ASCII characters without spaces, got %q", c.ReplicaID)
	}
	return errors.Join(errs...)
}

// loopback reports whether addr's host only accepts connections from this
// machine: localhost or a loopback IP. An empty host listens everywhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHostPort accepts host:port with an optional host and a numeric port.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port %q in %q", port, addr)
	}
	return nil
}

// logAttrs are the settings logged at start: every setting, under its
// flag's name with underscores, durations as Go duration strings ("15s").
// Nothing secret: the database URL's passwords are redacted, and of the
// token file only whether one is set is logged.
func (c Config) logAttrs() []any {
	return []any{
		"listen_addr", c.ListenAddr,
		"data_dir", c.DataDir,
		"database_url", storeopen.Redact(c.DatabaseURL),
		"log_level", c.LogLevel.String(),
		"auth", c.AuthTokenFile != "",
		"auth_callers_file", c.AuthCallersFile,
		"tls_cert_file", c.TLSCertFile,
		"tls_key_file", c.TLSKeyFile,
		"tls_client_ca_file", c.TLSClientCAFile,
		"allow_plaintext", c.AllowPlaintext,
		"default_call_timeout", c.DefaultCallTimeout.String(),
		"shutdown_grace", c.ShutdownGrace.String(),
		"shutdown_drain_delay", c.ShutdownDrainDelay.String(),
		"migrate_at_start", c.MigrateAtStart,
		"debug_addr", c.DebugAddr,
		"health_check_interval", c.HealthCheckInterval.String(),
		"max_streams_per_connection", c.MaxStreamsPerConnection,
		"max_watches", c.MaxWatches,
		"merchant_reference", c.MerchantReference,
		"auto_capture", c.AutoCapture,
		"metrics_addr", c.MetricsAddr,
		"amazon_pay_mode", c.Mode(),
		"embedded_simulator", c.EmbeddedSimulator,
		"amazon_pay_public_key_id", c.AmazonPay.PublicKeyID,
		"amazon_pay_private_key_file", c.AmazonPay.PrivateKeyFile,
		"amazon_pay_region", c.AmazonPay.Region,
		"amazon_pay_sandbox", c.AmazonPay.Sandbox,
		"amazon_pay_endpoint", c.AmazonPay.Endpoint,
		"amazon_pay_ca_file", c.AmazonPay.CAFile,
		"amazon_pay_algorithm", c.AmazonPay.Algorithm,
		"simulator_addr", c.SimulatorAddr,
		"simulator_pending_delay", c.SimulatorPendingDelay.String(),
		"simulator_clock", c.SimulatorClock,
		"simulator_throttle", c.SimulatorThrottle,
		"tracker_first_poll", c.TrackerFirstPoll.String(),
		"tracker_max_interval", c.TrackerMaxInterval.String(),
		"tracker_get_charge_rate", c.TrackerGetChargeRate,
		"reconcile_first_delay", c.ReconcileFirstDelay.String(),
		"completion_inflight_lease", c.CompletionInflightLease.String(),
		"tracker_lease", c.TrackerLease.String(),
		"completion_upstream_timeout", c.CompletionUpstreamTimeout.String(),
		"max_completions_in_flight", c.MaxCompletionsInFlight,
		"amazon_pay_max_calls", c.AmazonPayMaxCalls,
		"amazon_pay_max_queued", c.AmazonPayMaxQueued,
		"amazon_pay_rate_limits", c.AmazonPayRateLimits,
		"amazon_pay_rate_replicas", c.AmazonPayRateReplicas,
		"amazon_pay_rate_max_wait", c.AmazonPayRateMaxWait.String(),
		"replica_id", c.ReplicaID,
		"ipn_addr", c.IPNListenAddr(),
		"ipn_tls_cert_file", c.IPNTLSCertFile,
		"ipn_tls_key_file", c.IPNTLSKeyFile,
		"ipn_merchant_id", c.IPNMerchantID,
		"ipn_cert_hosts", c.IPNCertHosts,
		"ipn_ca_file", c.IPNCAFile,
		"ipn_topic_arns", c.IPNTopicArns,
		"ipn_max_age", c.IPNMaxAge.String(),
		"ipn_rate", c.IPNRate,
	}
}
