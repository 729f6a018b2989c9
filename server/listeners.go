package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// listenerSetting is one setting of an address this process listens on.
type listenerSetting struct {
	env, flag, addr string
}

// listenerSettings are the addresses this process listens on with cfg,
// in the order they are bound.
func listenerSettings(cfg Config) []listenerSetting {
	s := []listenerSetting{{"IPN_ADDR", "ipn-addr", cfg.IPNListenAddr()}}
	if cfg.UseSimulator() {
		s = append(s, listenerSetting{"SIMULATOR_ADDR", "simulator-addr", cfg.SimulatorAddr})
	}
	return append(s,
		listenerSetting{"LISTEN_ADDR", "listen-addr", cfg.ListenAddr},
		listenerSetting{"DEBUG_ADDR", "debug-addr", cfg.DebugAddr},
		listenerSetting{"METRICS_ADDR", "metrics-addr", cfg.MetricsAddr})
}

// listenError names the setting whose address could not be bound and,
// when the address is taken, who holds it: another listener of this same
// server when a setting's address overlaps it (both settings named), or
// else, most likely, a server started earlier (in the background, or
// orphaned by an interrupted "go run") that still runs.
func listenError(cfg Config, env, flagName string, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s (-%s): %w", env, flagName, err)
	}
	var addr string
	for _, s := range listenerSettings(cfg) {
		if s.env == env {
			addr = s.addr
		}
	}
	for _, s := range listenerSettings(cfg) {
		if s.env != env && overlap(s.addr, addr) {
			return fmt.Errorf("%s (-%s): %w (this server's own %s (-%s) is %s: give one of the two another port)",
				env, flagName, err, s.env, s.flag, s.addr)
		}
	}
	return fmt.Errorf("%s (-%s): %w (another process listens there, probably another server, or an earlier one still running: stop it or choose another address with -%s)", env, flagName, err, flagName)
}

// overlap reports whether listening on a and on b would collide: the same
// port (not 0, which picks a free one) on the same host, or on any host
// when either listens on all interfaces.
func overlap(a, b string) bool {
	ha, pa, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	hb, pb, err := net.SplitHostPort(b)
	if err != nil || pa != pb || pa == "0" || pa == "" {
		return false
	}
	return wildcard(ha) || wildcard(hb) || loopbackName(ha) == loopbackName(hb)
}

// wildcard reports whether host means every interface.
func wildcard(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// loopbackName writes "localhost" as the address it is bound to.
func loopbackName(host string) string {
	if host == "localhost" {
		return "127.0.0.1"
	}
	return host
}
