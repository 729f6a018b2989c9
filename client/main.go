// Command client is a command-line client of the paymentcompletion service,
// calling it through the generated stubs as a storefront backend would.
//
//	go run ./client complete -session ID -order ORDER-1 -amount 14.00 -currency USD
//	go run ./client watch -session ID
//	go run ./client -help    # commands, flags and exit statuses
//
// The exit status tells outcomes (0 completed, 10 pending, 11 unknown,
// 12 declined, 13 canceled) and error classes apart; see -help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/paymentcompletion/paymentcompletion/gen/serviceconfig"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runCLI(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr, dial)
	stop()
	os.Exit(code)
}

// dial connects to addr with creds (plaintext or TLS, from the flags). The
// default service config retries UNAVAILABLE with backoff and sets
// per-method timeouts.
func dial(addr string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceconfig.JSON))
}
