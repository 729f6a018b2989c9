package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
)

// TestDeprecatedTrackerRate: TRACKER_GET_CHARGE_RATE still parses (a
// deployment setting it keeps starting) and is reported as ignored.
func TestDeprecatedTrackerRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  string
		warn bool
	}{{"", false}, {"0", false}, {"0.5", true}} {
		env := map[string]string{}
		if tt.env != "" {
			env["TRACKER_GET_CHARGE_RATE"] = tt.env
		}
		cfg, err := parseConfig(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
		if err != nil {
			t.Fatalf("TRACKER_GET_CHARGE_RATE=%q: %v", tt.env, err)
		}
		logs := &logtest.Buffer{}
		warnDeprecated(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
		if got := strings.Contains(logs.String(), "TRACKER_GET_CHARGE_RATE is deprecated and ignored"); got != tt.warn {
			t.Errorf("TRACKER_GET_CHARGE_RATE=%q: warned %v, want %v (logs %s)", tt.env, got, tt.warn, logs.String())
		}
	}
}
