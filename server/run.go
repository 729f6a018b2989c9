package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
)

// run builds the service's dependencies in order, serves until ctx ends and
// tears everything down in reverse order. Logs go to logw as JSON lines.
//
// Background workers (the gRPC server now; the reconciler, the pending
// authorization tracker and the embedded simulator as they are wired in)
// run in one errgroup tied to ctx: when ctx ends, or any worker fails, all
// of them are asked to stop and run returns once they have.
func run(ctx context.Context, cfg Config, logw io.Writer) (err error) {
	logger := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: cfg.LogLevel}))
	logger.Info("starting", cfg.logAttrs()...)

	// Teardown in reverse order of construction, whatever happens below.
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			err = errors.Join(err, closers[i]())
		}
	}()

	token, err := loadAuthToken(cfg.AuthTokenFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("DATA_DIR: %w", err)
	}

	// Dependencies, in order: the store, Amazon Pay (or the embedded
	// simulator), the completion service with its reconciler, the tracker,
	// and the gRPC implementation over them.
	d, err := wire(ctx, cfg, logger)
	if err != nil {
		return err
	}
	closers = append(closers, d.closers...)
	svc := d.service

	srv, err := grpcserver.New(svc, grpcserver.Options{
		Logger:             logger,
		AuthToken:          token,
		DefaultCallTimeout: cfg.DefaultCallTimeout,
		ShutdownGrace:      cfg.ShutdownGrace,
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, lis) })
	for _, w := range d.workers {
		g.Go(func() error { return w(gctx) })
	}

	// Every dependency above is ready: let load balancers route here.
	srv.SetServing(true)
	logger.Info("serving", "addr", lis.Addr().String())

	if err := g.Wait(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// loadAuthToken reads the bearer token from path; "" means no auth. The
// token is trimmed of surrounding whitespace (files usually end in a
// newline) and must not be empty.
func loadAuthToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("AUTH_TOKEN_FILE: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("AUTH_TOKEN_FILE: %s is empty", path)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("AUTH_TOKEN_FILE: the token in %s must be one word", path)
	}
	return token, nil
}
