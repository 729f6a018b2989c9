// Command amazonpay-simulator serves the Amazon Pay API v2 simulator on its
// own, for programs outside Go tests (SDK interop checks, manual runs).
//
// Every flag has an environment twin, used when the flag is not given:
//
//	-addr           SIMULATOR_ADDR           listen address (default 127.0.0.1:8443; port 0 picks one)
//	-pending-delay  SIMULATOR_PENDING_DELAY  how long pending authorizations stay pending (default 30s)
//	-state-dir      SIMULATOR_STATE_DIR      persist state here ("" = memory only)
//	-cert-dir       SIMULATOR_CERT_DIR       keep the self-signed certificate here (default: state dir)
//	-tls            SIMULATOR_TLS            serve HTTPS (default true)
//	-url-file       SIMULATOR_URL_FILE       write the bound URL here once listening
//	-log-level      SIMULATOR_LOG_LEVEL      debug, info, warn or error (default info)
//	-clock          SIMULATOR_CLOCK          real or manual (POST /simulator/clock advances it; default real)
//	-throttle       SIMULATOR_THROTTLE       none, sandbox or live request quotas (default none)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "amazonpay-simulator:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("amazonpay-simulator", flag.ContinueOnError)
	addr := fs.String("addr", env("SIMULATOR_ADDR", "127.0.0.1:8443"), "listen address")
	delayText := fs.String("pending-delay", env("SIMULATOR_PENDING_DELAY", simulator.DefaultPendingDelay.String()), "pending authorization delay")
	stateDir := fs.String("state-dir", env("SIMULATOR_STATE_DIR", ""), "state directory (empty: in memory)")
	certDir := fs.String("cert-dir", env("SIMULATOR_CERT_DIR", ""), "certificate directory (default: state dir)")
	tlsText := fs.String("tls", env("SIMULATOR_TLS", "true"), "serve HTTPS")
	urlFile := fs.String("url-file", env("SIMULATOR_URL_FILE", ""), "write the bound URL to this file")
	levelText := fs.String("log-level", env("SIMULATOR_LOG_LEVEL", "info"), "log level")
	clockText := fs.String("clock", env("SIMULATOR_CLOCK", "real"), "real or manual clock")
	throttle := fs.String("throttle", env("SIMULATOR_THROTTLE", simulator.ThrottleNone), "request quotas: none, sandbox or live")
	attemptsText := fs.String("notification-attempts", env("SIMULATOR_NOTIFICATION_ATTEMPTS", strconv.Itoa(simulator.DefaultNotificationAttempts)), "attempts per notification (IPN)")
	backoffText := fs.String("notification-backoff", env("SIMULATOR_NOTIFICATION_BACKOFF", simulator.DefaultNotificationBackoff.String()), "wait before a notification's first retry (doubles, at most 20s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	delay, err := time.ParseDuration(*delayText)
	if err != nil {
		return fmt.Errorf("-pending-delay: %w", err)
	}
	useTLS, err := strconv.ParseBool(*tlsText)
	if err != nil {
		return fmt.Errorf("-tls: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*levelText)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	attempts, err := strconv.Atoi(*attemptsText)
	if err != nil || attempts < 1 {
		return fmt.Errorf("-notification-attempts: want a positive number, got %q", *attemptsText)
	}
	backoff, err := time.ParseDuration(*backoffText)
	if err != nil || backoff <= 0 {
		return fmt.Errorf("-notification-backoff: want a positive duration, got %q", *backoffText)
	}
	if *clockText != "real" && *clockText != "manual" {
		return fmt.Errorf("-clock: want real or manual, got %q", *clockText)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *certDir == "" {
		*certDir = *stateDir
	}

	sim, err := simulator.New(simulator.Options{
		PendingDelay: delay, StateDir: *stateDir, Logger: logger,
		ManualClock: *clockText == "manual", Throttle: *throttle,
		NotificationAttempts: attempts, NotificationBackoff: backoff,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := sim.Close(); err != nil {
			logger.Error("close simulator", "err", err)
		}
	}()

	var (
		url  string
		wait func() error
	)
	if useTLS {
		srv, err := simulator.Serve(ctx, *addr, sim, *certDir)
		if err != nil {
			return err
		}
		url = srv.URL
		wait = func() error {
			<-srv.Done()
			return nil
		}
		if *certDir != "" {
			logger.Info("certificate written", "file", filepath.Join(*certDir, simulator.CertFile))
		}
	} else {
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
		url = "http://" + ln.Addr().String()
		// Notifications name the simulator's URL (SigningCertURL); over
		// plain HTTP an SNS validator that insists on https rejects them.
		sim.SetPublicURL(url)
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		wait = func() error {
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
	if *urlFile != "" {
		tmp := *urlFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(url+"\n"), 0o644); err != nil {
			return fmt.Errorf("write url file: %w", err)
		}
		if err := os.Rename(tmp, *urlFile); err != nil {
			return fmt.Errorf("write url file: %w", err)
		}
	}
	logger.Info("amazon pay simulator listening", "url", url, "pendingDelay", delay, "stateDir", *stateDir,
		"clock", *clockText, "throttle", *throttle)
	return wait()
}
