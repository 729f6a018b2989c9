package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// readKeyValues reads KEY=value lines (an environment file, a unit's
// directives), skipping comments and section headers; a unit's repeated
// directives keep their last value.
func readKeyValues(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: not KEY=value: %q", path, line)
		}
		kv[k] = v
	}
	return kv, sc.Err()
}

func checkSystemd(unitPath, envPath string, s settings) ([]string, error) {
	unit, err := readKeyValues(unitPath)
	if err != nil {
		return nil, err
	}
	env, err := readKeyValues(envPath)
	if err != nil {
		return nil, err
	}
	return systemdProblems(unit, env, s), nil
}

func systemdProblems(unit, env map[string]string, s settings) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	for k := range env {
		if !s.known(k) {
			bad("environment file sets %s, which server/config.go does not have", k)
		}
	}
	if unit["DynamicUser"] != "yes" && unit["User"] == "" {
		bad("the unit runs as root: set DynamicUser=yes or User=")
	}
	for k, want := range map[string]string{"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectHome": "yes"} {
		if unit[k] != want {
			bad("%s=%q, want %q", k, unit[k], want)
		}
	}
	if unit["CapabilityBoundingSet"] != "" {
		bad("CapabilityBoundingSet=%q, want empty (no capabilities)", unit["CapabilityBoundingSet"])
	}
	if unit["StateDirectory"] == "" {
		bad("no StateDirectory: with ProtectSystem=strict the service has nowhere to write")
	} else if want := "DATA_DIR=/var/lib/" + unit["StateDirectory"]; unit["Environment"] != want && env["DATA_DIR"] != strings.TrimPrefix(want, "DATA_DIR=") {
		bad("DATA_DIR is not the state directory (%s)", want)
	}
	if env["EMBEDDED_SIMULATOR"] != "false" {
		bad("EMBEDDED_SIMULATOR must be false in the production example, got %q", env["EMBEDDED_SIMULATOR"])
	}
	drain, err := duration(env, "SHUTDOWN_DRAIN_DELAY", "0s")
	if err != nil {
		bad("%v", err)
	}
	grace, err := duration(env, "SHUTDOWN_GRACE", "15s")
	if err != nil {
		bad("%v", err)
	}
	stop, err := strconv.Atoi(unit["TimeoutStopSec"])
	if err != nil {
		bad("TimeoutStopSec=%q, want whole seconds", unit["TimeoutStopSec"])
	} else if time.Duration(stop)*time.Second <= drain+grace {
		bad("TimeoutStopSec=%ds is not above SHUTDOWN_DRAIN_DELAY %v + SHUTDOWN_GRACE %v", stop, drain, grace)
	}
	for _, k := range []string{"LISTEN_ADDR", "METRICS_ADDR"} {
		if env[k] == "" {
			bad("%s is not set", k)
		}
	}
	return p
}
