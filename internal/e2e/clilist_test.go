package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// runClient runs the command-line client against addr and returns its
// exit status, stdout and stderr.
func runClient(t *testing.T, addr string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), clientBinary(t), append([]string{"-addr", addr, "-timeout", "20s"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("client %v: %v", args, err)
		}
		code = exit.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// TestCLIListPagesWithRelativeTimes pages through a listing filtered with
// "-since 24h" by following the client's next-page hint against the real
// service, which refuses a token sent with another filter: every payment
// is listed once, newest first, where repeating "-since 24h" with the
// token is refused. A listing with nothing in it says so.
func TestCLIListPagesWithRelativeTimes(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := context.Background()
	var want []string // orders, newest first
	for _, order := range []string{"order-a", "order-b", "order-c"} {
		id := a.newSession(t, ctx, sessionSpec{Amount: "10.00", Scenario: "Authorized"})
		if _, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: order, ChargeAmount: usd("10.00")}); err != nil {
			t.Fatalf("CompleteCheckout(%s): %v", order, err)
		}
		want = append([]string{order}, want...)
	}

	filter := []string{"list", "-outcome", "completed", "-since", "24h", "-page-size", "1"}
	args := append(append([]string(nil), filter...), "-page-token", "")
	var got []string
	for page := 0; ; page++ {
		code, out, errOut := runClient(t, svc.Addr, args...)
		if code != 0 {
			t.Fatalf("page %d, client %v: exit %d, stderr %s", page, args, code, errOut)
		}
		for _, order := range want {
			if strings.Contains(out, " "+order+" ") {
				got = append(got, order)
			}
		}
		_, hint, ok := strings.Cut(errOut, "client: next page: list ")
		if !ok {
			break
		}
		next := strings.Fields(hint)
		if page == 0 {
			// The flags as first typed, with the token, name another
			// instant: the service refuses the token.
			token := next[len(next)-1]
			if code, _, errOut := runClient(t, svc.Addr, append(append([]string(nil), filter...), "-page-token", token)...); code != 3 {
				t.Errorf("-since 24h with the token: exit %d, want 3 (another filter); stderr %s", code, errOut)
			}
		}
		args = append([]string{"list"}, next...)
		if page > len(want) {
			t.Fatalf("more pages than payments: %v", got)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want %v", got, want)
	}

	code, out, errOut := runClient(t, svc.Addr, "list", "-outcome", "canceled", "-since", "24h")
	if code != 0 || out != "" || errOut != "client: no payments match\n" {
		t.Errorf("empty listing: exit %d, stdout %q, stderr %q; want 0, nothing, \"no payments match\"", code, out, errOut)
	}
}
