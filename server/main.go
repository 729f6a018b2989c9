// Command server runs the paymentcompletion gRPC service, which completes
// Amazon Pay (Checkout v2) payments for a storefront.
//
//	go run ./server            # embedded defaults: 127.0.0.1:50051, ./data
//	go run ./server -help      # every setting, its flag and environment variable
//	server migrate up|status   # apply or list the database migrations
//	server healthcheck         # exit 0 when the local server is ready
//
// SIGINT or SIGTERM starts a graceful shutdown bounded by SHUTDOWN_GRACE.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	if code, ok := subcommand(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	cfg, err := parseConfig(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if errors.Is(err, errVersion) {
		currentBuild().print(os.Stdout)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: configuration:\n%v\n", err)
		os.Exit(2)
	}
	// With one CPU the runtime would run one goroutine at a time, and the
	// SQLite writer's fsync would stall request handling while it waits;
	// a second P lets other work use the core meanwhile (measured +40%
	// throughput on one pinned core, docs/benchmarks/completion.md). An
	// explicit GOMAXPROCS in the environment is left alone.
	if _, set := os.LookupEnv("GOMAXPROCS"); !set && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		os.Exit(1)
	}
}
