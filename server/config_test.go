package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/amazongate"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c Config)
		// wantErr lists substrings the error must contain; empty: no error.
		wantErr []string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c Config) {
				want := Config{
					ListenAddr:            "127.0.0.1:50051",
					DataDir:               "./data",
					DatabaseURL:           "sqlite:data/paymentcompletion.db",
					LogLevel:              slog.LevelInfo,
					DefaultCallTimeout:    30 * time.Second,
					ShutdownGrace:         15 * time.Second,
					EmbeddedSimulator:     "auto",
					MigrateAtStart:        true,
					SimulatorAddr:         "127.0.0.1:8443",
					SimulatorPendingDelay: 30 * time.Second,
					SimulatorClock:        "real",
					SimulatorThrottle:     "none",
					TrackerFirstPoll:      30 * time.Second,
					TrackerMaxInterval:    30 * time.Minute,
					TrackerGetChargeRate:  0,
					ReconcileFirstDelay:   2 * time.Second,
					ReplicaID:             c.ReplicaID,
					IPNMaxAge:             time.Hour,
					IPNRate:               50,

					CompletionInflightLease:   2 * time.Minute,
					CompletionUpstreamTimeout: 45 * time.Second,
					TrackerLease:              2 * time.Minute,
					MaxCompletionsInFlight:    10000,
					HealthCheckInterval:       5 * time.Second,
					MaxStreamsPerConnection:   100,
					MaxWatches:                10000,
					MerchantReference:         true,
					AmazonPayMaxCalls:         512,
					AmazonPayMaxQueued:        10000,
					AmazonPayRateReplicas:     1,
					AmazonPayRateMaxWait:      5 * time.Second,
				}
				want.AmazonPay.Region = "na"
				want.AmazonPay.Algorithm = "AMZN-PAY-RSASSA-PSS-V2"
				if c != want {
					t.Errorf("got  %+v\nwant %+v", c, want)
				}
				if !strings.Contains(c.ReplicaID, "-") {
					t.Errorf("ReplicaID = %q, want hostname-pid", c.ReplicaID)
				}
				if !c.UseSimulator() {
					t.Error("defaults should use the embedded simulator")
				}
			},
		},
		{
			name: "env_overrides_default",
			env: map[string]string{
				"LISTEN_ADDR": "0.0.0.0:9000", "ALLOW_PLAINTEXT": "true", "LOG_LEVEL": "DEBUG", "TRACKER_GET_CHARGE_RATE": "0.5",
				"AMAZON_PAY_SANDBOX": "true", "REPLICA_ID": "r1", "SHUTDOWN_GRACE": "1m", "EMBEDDED_SIMULATOR": "true",
			},
			check: func(t *testing.T, c Config) {
				if c.ListenAddr != "0.0.0.0:9000" || c.LogLevel != slog.LevelDebug || c.TrackerGetChargeRate != 0.5 ||
					!c.AmazonPay.Sandbox || c.ReplicaID != "r1" || c.ShutdownGrace != time.Minute ||
					c.ShutdownDrainDelay != 5*time.Second || c.Mode() != ModeSimulator {
					t.Errorf("env not applied: %+v", c)
				}
			},
		},
		{
			name: "flag_beats_env",
			args: []string{"-listen-addr", "127.0.0.1:7000", "-amazon-pay-sandbox=false"},
			env:  map[string]string{"LISTEN_ADDR": "127.0.0.1:8000", "AMAZON_PAY_SANDBOX": "true"},
			check: func(t *testing.T, c Config) {
				if c.ListenAddr != "127.0.0.1:7000" || c.AmazonPay.Sandbox {
					t.Errorf("flag did not win: %+v", c)
				}
			},
		},
		{
			name: "empty_env_is_unset",
			env:  map[string]string{"LISTEN_ADDR": "", "DEFAULT_CALL_TIMEOUT": ""},
			check: func(t *testing.T, c Config) {
				if c.ListenAddr != "127.0.0.1:50051" || c.DefaultCallTimeout != 30*time.Second {
					t.Errorf("empty env changed settings: %+v", c)
				}
			},
		},
		{
			name: "data_dir_moves_default_database",
			env:  map[string]string{"DATA_DIR": "/var/lib/pc"},
			check: func(t *testing.T, c Config) {
				if c.DatabaseURL != "sqlite:/var/lib/pc/paymentcompletion.db" {
					t.Errorf("DatabaseURL = %q", c.DatabaseURL)
				}
			},
		},
		{
			name: "explicit_database_url_kept",
			args: []string{"-database-url", "postgres://root@127.0.0.1:5432/test", "-embedded-simulator=true"},
			check: func(t *testing.T, c Config) {
				if c.DatabaseURL != "postgres://root@127.0.0.1:5432/test" {
					t.Errorf("DatabaseURL = %q", c.DatabaseURL)
				}
			},
		},
		{
			name: "bare_bool_flag",
			args: []string{"-amazon-pay-sandbox"},
			check: func(t *testing.T, c Config) {
				if !c.AmazonPay.Sandbox {
					t.Error("-amazon-pay-sandbox did not set Sandbox")
				}
			},
		},
		{
			name: "plaintext_allowed_on_loopback_and_with_tls",
			env:  map[string]string{"LISTEN_ADDR": "[::1]:9000"},
			check: func(t *testing.T, c Config) {
				for _, tt := range []struct {
					c  Config
					ok bool
				}{
					{Config{ListenAddr: "localhost:1"}, true},
					{Config{ListenAddr: "127.0.0.2:1"}, true},
					{Config{ListenAddr: "[::1]:1"}, true},
					{Config{ListenAddr: ":1"}, false},
					{Config{ListenAddr: "0.0.0.0:1"}, false},
					{Config{ListenAddr: "0.0.0.0:1", AllowPlaintext: true}, true},
					{Config{ListenAddr: "0.0.0.0:1", TLSCertFile: "c", TLSKeyFile: "k"}, true},
				} {
					c2 := c
					c2.EmbeddedSimulator = "true"
					c2.ListenAddr, c2.AllowPlaintext, c2.TLSCertFile, c2.TLSKeyFile = tt.c.ListenAddr, tt.c.AllowPlaintext, tt.c.TLSCertFile, tt.c.TLSKeyFile
					if err := c2.Validate(); (err == nil) != tt.ok {
						t.Errorf("%+v: Validate = %v, want ok %v", tt.c, err, tt.ok)
					}
				}
			},
		},
		{
			name: "credentials_select_amazon_pay",
			env:  map[string]string{"AMAZON_PAY_PUBLIC_KEY_ID": "SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B", "AMAZON_PAY_PRIVATE_KEY_FILE": "/keys/ap.pem", "AMAZON_PAY_REGION": "eu", "AMAZON_PAY_ALGORITHM": "v1"},
			check: func(t *testing.T, c Config) {
				if c.UseSimulator() {
					t.Error("credentials given but UseSimulator is true")
				}
			},
		},
		{name: "bad_duration_flag", args: []string{"-shutdown-grace", "soon"}, wantErr: []string{"-shutdown-grace", `"soon"`, "duration"}},
		{name: "bad_duration_env", env: map[string]string{"TRACKER_FIRST_POLL": "10"}, wantErr: []string{"TRACKER_FIRST_POLL", `"10"`}},
		{name: "limits", env: map[string]string{"MAX_COMPLETIONS_IN_FLIGHT": "2500", "AMAZON_PAY_MAX_CALLS": "64", "AMAZON_PAY_MAX_QUEUED": "0"},
			check: func(t *testing.T, c Config) {
				if c.MaxCompletionsInFlight != 2500 || c.AmazonPayMaxCalls != 64 || c.AmazonPayMaxQueued != 0 {
					t.Errorf("limits = %d, %d, %d", c.MaxCompletionsInFlight, c.AmazonPayMaxCalls, c.AmazonPayMaxQueued)
				}
			}},
		{name: "rate_limits", env: map[string]string{"AMAZON_PAY_RATE_LIMITS": "CompleteCheckoutSession=2/10, GetCharge=1.5,GetChargePermission=0", "AMAZON_PAY_RATE_REPLICAS": "4", "AMAZON_PAY_RATE_MAX_WAIT": "2s"},
			check: func(t *testing.T, c Config) {
				r := c.AmazonPayRates()
				want := map[string]amazongate.Limit{"CompleteCheckoutSession": {Rate: 2, Burst: 10}, "GetCharge": {Rate: 1.5, Burst: 2}, "GetChargePermission": {}}
				if !maps.Equal(r.Limits, want) || r.Replicas != 4 || r.MaxWait != 2*time.Second || r.Off {
					t.Errorf("rates = %+v, want limits %v, 4 replicas, 2s", r, want)
				}
			}},
		{name: "rate_limits_off", env: map[string]string{"AMAZON_PAY_RATE_LIMITS": "off"},
			check: func(t *testing.T, c Config) {
				if !c.AmazonPayRates().Off {
					t.Error("off does not lift the limits")
				}
			}},
		{name: "zero_in_flight", env: map[string]string{"MAX_COMPLETIONS_IN_FLIGHT": "0"}, wantErr: []string{"MAX_COMPLETIONS_IN_FLIGHT", "1 or more"}},
		{name: "negative_queue", args: []string{"-amazon-pay-max-queued", "-1"}, wantErr: []string{"-amazon-pay-max-queued", "0 or more"}},
		{name: "bad_bool_env", env: map[string]string{"AMAZON_PAY_SANDBOX": "maybe"}, wantErr: []string{"AMAZON_PAY_SANDBOX", "true or false"}},
		{name: "bad_bool_flag", args: []string{"-amazon-pay-sandbox=yes please"}, wantErr: []string{"-amazon-pay-sandbox"}},
		{name: "address_without_port", args: []string{"-listen-addr", "localhost"}, wantErr: []string{"LISTEN_ADDR (-listen-addr)", "host:port"}},
		{name: "address_bad_port", env: map[string]string{"LISTEN_ADDR": "127.0.0.1:99999"}, wantErr: []string{"LISTEN_ADDR", "invalid port"}},
		{name: "inflight_lease_within_the_call_budget", env: map[string]string{"COMPLETION_INFLIGHT_LEASE": "5s"},
			wantErr: []string{"COMPLETION_INFLIGHT_LEASE", "COMPLETION_UPSTREAM_TIMEOUT (45s)", "got 5s"}},
		{name: "inflight_lease_equal_to_the_call_budget", args: []string{"-completion-inflight-lease", "20s", "-completion-upstream-timeout", "20s"},
			wantErr: []string{"COMPLETION_INFLIGHT_LEASE", "longer than COMPLETION_UPSTREAM_TIMEOUT (20s)"}},
		{name: "inflight_lease_above_a_shorter_budget", env: map[string]string{"COMPLETION_INFLIGHT_LEASE": "30s", "COMPLETION_UPSTREAM_TIMEOUT": "20s"},
			check: func(t *testing.T, c Config) {
				if c.CompletionInflightLease != 30*time.Second || c.CompletionUpstreamTimeout != 20*time.Second {
					t.Errorf("lease %v, budget %v", c.CompletionInflightLease, c.CompletionUpstreamTimeout)
				}
			}},
		{name: "upstream_timeout_not_positive", env: map[string]string{"COMPLETION_UPSTREAM_TIMEOUT": "0s"}, wantErr: []string{"COMPLETION_UPSTREAM_TIMEOUT", "must be positive"}},
		{name: "simulator_address", env: map[string]string{"SIMULATOR_ADDR": "127.0.0.1"}, wantErr: []string{"SIMULATOR_ADDR (-simulator-addr)"}},
		{name: "ipn_embedded_default", check: func(t *testing.T, c Config) {
			if got := c.IPNListenAddr(); got != DefaultEmbeddedIPNAddr {
				t.Errorf("IPNListenAddr = %q, want %q with the embedded simulator", got, DefaultEmbeddedIPNAddr)
			}
		}},
		{name: "ipn_off", env: map[string]string{"IPN_ADDR": "off"}, check: func(t *testing.T, c Config) {
			if got := c.IPNListenAddr(); got != "" {
				t.Errorf("IPNListenAddr = %q, want none", got)
			}
		}},
		{name: "ipn_credentials_without_it", env: map[string]string{"AMAZON_PAY_PUBLIC_KEY_ID": "LIVE-ABC", "AMAZON_PAY_PRIVATE_KEY_FILE": "/k.pem"},
			check: func(t *testing.T, c Config) {
				if got := c.IPNListenAddr(); got != "" {
					t.Errorf("IPNListenAddr = %q, want none without IPN_ADDR", got)
				}
			}},
		{name: "ipn_needs_merchant_with_credentials", env: map[string]string{"AMAZON_PAY_PUBLIC_KEY_ID": "LIVE-ABC", "AMAZON_PAY_PRIVATE_KEY_FILE": "/k.pem", "IPN_ADDR": "127.0.0.1:8444"},
			wantErr: []string{"IPN_MERCHANT_ID (-ipn-merchant-id)", "required"}},
		{name: "ipn_public_needs_tls", env: map[string]string{"IPN_ADDR": "0.0.0.0:8444"}, wantErr: []string{"IPN_ADDR (-ipn-addr)", "IPN_TLS_CERT_FILE"}},
		{name: "ipn_tls_pair", env: map[string]string{"IPN_TLS_CERT_FILE": "/c.pem"}, wantErr: []string{"IPN_TLS_CERT_FILE", "go together"}},
		{name: "ipn_bad_addr", env: map[string]string{"IPN_ADDR": "localhost"}, wantErr: []string{"IPN_ADDR (-ipn-addr)"}},
		{name: "ipn_rate", env: map[string]string{"IPN_RATE": "0"}, wantErr: []string{"IPN_RATE", "positive"}},
		{name: "ipn_max_age", env: map[string]string{"IPN_MAX_AGE": "0s"}, wantErr: []string{"IPN_MAX_AGE", "positive"}},
		{name: "simulator_clock", env: map[string]string{"SIMULATOR_CLOCK": "fast"}, wantErr: []string{"SIMULATOR_CLOCK (-simulator-clock)", "real or manual"}},
		{name: "simulator_throttle", args: []string{"-simulator-throttle", "always"}, wantErr: []string{"SIMULATOR_THROTTLE (-simulator-throttle)", "none, sandbox or live"}},
		{name: "unknown_log_level", env: map[string]string{"LOG_LEVEL": "verbose"}, wantErr: []string{"LOG_LEVEL", "debug, info, warn or error"}},
		{name: "unknown_flag", args: []string{"-listen"}, wantErr: []string{"-listen"}},
		{name: "positional_argument", args: []string{"serve"}, wantErr: []string{`"serve"`}},
		{name: "zero_timeout", args: []string{"-default-call-timeout", "0s"}, wantErr: []string{"DEFAULT_CALL_TIMEOUT", "positive"}},
		{name: "bad_debug_addr", env: map[string]string{"DEBUG_ADDR": "localhost"}, wantErr: []string{"DEBUG_ADDR", "-debug-addr", "host:port"}},
		{name: "negative_grace", env: map[string]string{"SHUTDOWN_GRACE": "-1s"}, wantErr: []string{"SHUTDOWN_GRACE", "positive"}},
		{name: "negative_delay", env: map[string]string{"RECONCILE_FIRST_DELAY": "-2s"}, wantErr: []string{"RECONCILE_FIRST_DELAY"}},
		{name: "max_interval_below_first_poll", env: map[string]string{"TRACKER_FIRST_POLL": "1h"}, wantErr: []string{"TRACKER_MAX_INTERVAL", "at least"}},
		{name: "negative_rate", env: map[string]string{"TRACKER_GET_CHARGE_RATE": "-1"}, wantErr: []string{"TRACKER_GET_CHARGE_RATE", "positive"}},
		{name: "rate_limit_unknown_operation", env: map[string]string{"AMAZON_PAY_RATE_LIMITS": "CompleteCheckout=2"}, wantErr: []string{"AMAZON_PAY_RATE_LIMITS", "Operation=rate"}},
		{name: "rate_limit_bad_rate", env: map[string]string{"AMAZON_PAY_RATE_LIMITS": "GetCharge=fast"}, wantErr: []string{"AMAZON_PAY_RATE_LIMITS", "GetCharge"}},
		{name: "rate_limit_bad_burst", env: map[string]string{"AMAZON_PAY_RATE_LIMITS": "GetCharge=2/0"}, wantErr: []string{"AMAZON_PAY_RATE_LIMITS", "burst"}},
		{name: "rate_replicas_zero", env: map[string]string{"AMAZON_PAY_RATE_REPLICAS": "0"}, wantErr: []string{"AMAZON_PAY_RATE_REPLICAS"}},
		{name: "rate_max_wait_zero", env: map[string]string{"AMAZON_PAY_RATE_MAX_WAIT": "0s"}, wantErr: []string{"AMAZON_PAY_RATE_MAX_WAIT", "positive"}},
		{name: "infinite_rate", env: map[string]string{"TRACKER_GET_CHARGE_RATE": "+Inf"}, wantErr: []string{"TRACKER_GET_CHARGE_RATE"}},
		{name: "nan_rate", env: map[string]string{"TRACKER_GET_CHARGE_RATE": "NaN"}, wantErr: []string{"TRACKER_GET_CHARGE_RATE"}},
		{name: "word_rate", args: []string{"-tracker-get-charge-rate", "fast"}, wantErr: []string{"-tracker-get-charge-rate", "number"}},
		{name: "key_id_without_key", env: map[string]string{"AMAZON_PAY_PUBLIC_KEY_ID": "SANDBOX-X"}, wantErr: []string{"AMAZON_PAY_PRIVATE_KEY_FILE", "required"}},
		{name: "key_without_key_id", env: map[string]string{"AMAZON_PAY_PRIVATE_KEY_FILE": "k.pem"}, wantErr: []string{"AMAZON_PAY_PUBLIC_KEY_ID", "required"}},
		{name: "unknown_region", env: map[string]string{"AMAZON_PAY_REGION": "mars"}, wantErr: []string{"AMAZON_PAY_REGION", "mars"}},
		{name: "unknown_algorithm", env: map[string]string{"AMAZON_PAY_ALGORITHM": "HMAC"}, wantErr: []string{"AMAZON_PAY_ALGORITHM", "HMAC"}},
		{name: "bad_endpoint", env: map[string]string{"AMAZON_PAY_ENDPOINT": "ftp://pay.example"}, wantErr: []string{"AMAZON_PAY_ENDPOINT"}},
		{name: "plaintext_endpoint_with_real_keys", env: map[string]string{"AMAZON_PAY_PUBLIC_KEY_ID": "LIVE-ABC", "AMAZON_PAY_PRIVATE_KEY_FILE": "k.pem", "AMAZON_PAY_ENDPOINT": "http://egress.internal:3128"}, wantErr: []string{"AMAZON_PAY_ENDPOINT (-amazon-pay-endpoint)", "plain HTTP", "https"}},
		{name: "bad_database_url", env: map[string]string{"DATABASE_URL": "mysql://db/pc"}, wantErr: []string{"DATABASE_URL (-database-url)", "mysql"}},
		{name: "plaintext_on_all_interfaces", env: map[string]string{"LISTEN_ADDR": ":50051"}, wantErr: []string{"LISTEN_ADDR", "TLS_CERT_FILE", "TLS_KEY_FILE", "ALLOW_PLAINTEXT=true"}},
		{name: "plaintext_on_private_address", args: []string{"-listen-addr", "10.0.0.7:50051"}, wantErr: []string{"not a loopback address", "ALLOW_PLAINTEXT"}},
		{name: "cert_without_key", env: map[string]string{"TLS_CERT_FILE": "c.pem"}, wantErr: []string{"TLS_CERT_FILE", "TLS_KEY_FILE", "both or neither"}},
		{name: "client_ca_without_cert", env: map[string]string{"TLS_CLIENT_CA_FILE": "ca.pem"}, wantErr: []string{"TLS_CLIENT_CA_FILE", "requires TLS_CERT_FILE"}},
		{name: "bad_allow_plaintext", env: map[string]string{"ALLOW_PLAINTEXT": "sure"}, wantErr: []string{"ALLOW_PLAINTEXT", "true or false"}},
		{name: "replica_id_with_space", env: map[string]string{"REPLICA_ID": "a b"}, wantErr: []string{"REPLICA_ID"}},
		// The embedded simulator never stands in silently where a setting
		// says production.
		{name: "simulator_refused_on_public_address", env: map[string]string{"LISTEN_ADDR": "0.0.0.0:50051", "ALLOW_PLAINTEXT": "true"}, wantErr: []string{"AMAZON_PAY_PUBLIC_KEY_ID", "AMAZON_PAY_PRIVATE_KEY_FILE", "LISTEN_ADDR", "EMBEDDED_SIMULATOR=true"}},
		{name: "simulator_refused_on_postgres", env: map[string]string{"DATABASE_URL": "postgres://app@db/pc"}, wantErr: []string{"AMAZON_PAY_PUBLIC_KEY_ID", "DATABASE_URL is PostgreSQL"}},
		{name: "simulator_refused_with_tls", env: map[string]string{"TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": "k.pem"}, wantErr: []string{"AMAZON_PAY_PUBLIC_KEY_ID", "TLS_CERT_FILE is set"}},
		{name: "simulator_refused_with_callers", env: map[string]string{"AUTH_CALLERS_FILE": "callers.json"}, wantErr: []string{"AMAZON_PAY_PRIVATE_KEY_FILE", "AUTH_CALLERS_FILE is set"}},
		{name: "simulator_refused_everywhere", env: map[string]string{"EMBEDDED_SIMULATOR": "false"}, wantErr: []string{"AMAZON_PAY_PUBLIC_KEY_ID", "EMBEDDED_SIMULATOR=false"}},
		{name: "simulator_with_credentials", env: map[string]string{"EMBEDDED_SIMULATOR": "true", "AMAZON_PAY_PUBLIC_KEY_ID": "LIVE-X", "AMAZON_PAY_PRIVATE_KEY_FILE": "k.pem"}, wantErr: []string{"EMBEDDED_SIMULATOR", "credentials are set"}},
		{name: "bad_embedded_simulator", env: map[string]string{"EMBEDDED_SIMULATOR": "maybe"}, wantErr: []string{"EMBEDDED_SIMULATOR", "auto, true or false"}},
		{name: "negative_drain", env: map[string]string{"SHUTDOWN_DRAIN_DELAY": "-1s"}, wantErr: []string{"SHUTDOWN_DRAIN_DELAY"}},
		{
			name: "simulator_chosen_in_production",
			env:  map[string]string{"DATABASE_URL": "postgres://app@db/pc", "EMBEDDED_SIMULATOR": "true", "SHUTDOWN_DRAIN_DELAY": "0s", "MIGRATE_AT_START": "false"},
			check: func(t *testing.T, c Config) {
				if !c.UseSimulator() || c.Mode() != ModeSimulator || c.ShutdownDrainDelay != 0 || c.MigrateAtStart {
					t.Errorf("%+v", c)
				}
			},
		},
		{
			name:    "every_problem_reported",
			env:     map[string]string{"LISTEN_ADDR": "nope", "TRACKER_GET_CHARGE_RATE": "-2"},
			wantErr: []string{"LISTEN_ADDR", "TRACKER_GET_CHARGE_RATE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			c, err := parseConfig(tt.args, envOf(tt.env), &out)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("parseConfig: %v", err)
				}
				tt.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("parseConfig succeeded with %+v, want error containing %q", c, tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error()+out.String(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := parseConfig([]string{"-help"}, envOf(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-help returned %v, want flag.ErrHelp", err)
	}
	for _, s := range settings() {
		if !strings.Contains(out.String(), "-"+s.flag+" ") || !strings.Contains(out.String(), "env "+s.env+";") {
			t.Errorf("-help does not list -%s with %s", s.flag, s.env)
		}
	}
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings() {
		if row := "| `-" + s.flag + "` | `" + s.env + "` |"; !strings.Contains(string(doc), row) {
			t.Errorf("docs/configuration.md's settings table lacks a row starting %s", row)
		}
	}
}

// TestMode: a LIVE-/SANDBOX- key ID chooses its environment, a legacy one
// follows AMAZON_PAY_SANDBOX, no credentials is the simulator.
func TestMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		keyID   string
		sandbox bool
		want    string
	}{
		{"", false, ModeSimulator},
		{"LIVE-AB12", false, ModeLive},
		{"LIVE-AB12", true, ModeLive},
		{"SANDBOX-AB12", false, ModeSandbox},
		{"sandbox-ab12", false, ModeSandbox},
		{"AB12LEGACY", false, ModeLive},
		{"AB12LEGACY", true, ModeSandbox},
	}
	for _, tt := range tests {
		c := Config{EmbeddedSimulator: "auto"}
		c.AmazonPay.PublicKeyID, c.AmazonPay.Sandbox = tt.keyID, tt.sandbox
		if tt.keyID != "" {
			c.AmazonPay.PrivateKeyFile = "k.pem"
		}
		if got := c.Mode(); got != tt.want {
			t.Errorf("key ID %q sandbox %v: mode %s, want %s", tt.keyID, tt.sandbox, got, tt.want)
		}
	}
}

func TestLogAttrsHideSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, want string }{
		{"postgres://app:hunter2@db:5432/pc", `"database_url":"postgres://app:xxxxx@db:5432/pc"`},
		{"postgres://app@db:5432/pc?password=hunter2&sslmode=require", `"database_url":"postgres://app@db:5432/pc?password=xxxxx&sslmode=require"`},
		{"host=db port=5432 user=app password=hunter2 dbname=pc", `"database_url":"host=db port=5432 user=app password=xxxxx dbname=pc"`},
		{"host=db user=app password='hunter2 x' dbname=pc", `"database_url":"host=db user=app password=xxxxx dbname=pc"`},
	}
	for _, tt := range tests {
		c, err := parseConfig([]string{"-database-url", tt.url, "-auth-token-file", "/run/secrets/token", "-embedded-simulator=true"}, envOf(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", c.logAttrs()...)
		if strings.Contains(buf.String(), "hunter2") {
			t.Errorf("database password logged: %s", buf.String())
		}
		for _, want := range []string{`"listen_addr":"127.0.0.1:50051"`, `"auth":true`, tt.want} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("start line lacks %s: %s", want, buf.String())
			}
		}
	}
}

// TestLogAttrsNameEverySetting checks that the start line carries every
// setting (the token file only as "auth": whether one is set), under the
// flag's name with underscores, in both Amazon Pay modes, and durations as
// Go duration strings.
func TestLogAttrsNameEverySetting(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil,
		{"-amazon-pay-public-key-id", "LIVE-ABC", "-amazon-pay-private-key-file", "/k.pem", "-amazon-pay-ca-file", "/ca.pem"},
	} {
		c, err := parseConfig(args, envOf(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", c.logAttrs()...)
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		for _, s := range settings() {
			key := strings.ReplaceAll(s.flag, "-", "_")
			if s.flag == "auth-token-file" {
				key = "auth"
			}
			v, ok := line[key]
			if !ok {
				t.Errorf("args %q: start line lacks %s: %s", args, key, buf.String())
				continue
			}
			if s.arg == "duration" {
				str, _ := v.(string)
				if _, err := time.ParseDuration(str); err != nil {
					t.Errorf("%s = %v, want a duration string such as \"15s\"", key, v)
				}
			}
		}
	}
}

func TestLoggerWritesDurationsAsStrings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	newLogger(&buf, slog.LevelInfo).Info("retrying", slog.Duration("backoff", 1500*time.Millisecond), "grace", 15*time.Second,
		slog.Group("g", slog.Duration("d", time.Minute)))
	for _, want := range []string{`"backoff":"1.5s"`, `"grace":"15s"`, `"d":"1m0s"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log line lacks %s: %s", want, buf.String())
		}
	}
}
