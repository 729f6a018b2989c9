package e2e_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
)

// tcpProxy forwards connections to a target until it is cut: then every
// open connection is closed and new ones are refused at once, as when the
// database server stops; restore lets connections through again.
type tcpProxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{lis: lis, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		_ = lis.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(up, c) })
		p.wg.Go(func() { pipe(c, up) })
	}
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestWatchDuringStoreOutage: while PostgreSQL cannot be reached, open
// watches end, and new ones are refused, UNAVAILABLE STORE_UNAVAILABLE with
// an ErrorInfo (so clients re-open), as GetPayment answers; once the
// database is back, watches work again.
func TestWatchDuringStoreOutage(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.lis.Addr().String()

	a := newAmazonSim(t, time.Hour) // the authorization stays pending
	svc := startService(t, a, serviceOptions{DatabaseURL: u.String()})
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "20.00", CanHandlePending: true, Scenario: "PendingThenAuthorized"})
	resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-outage", ChargeAmount: usd("20.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_PENDING {
		t.Fatalf("complete: %v %v", err, resp)
	}

	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	stream, err := svc.Client.WatchPayment(wctx, &pb.WatchPaymentRequest{CheckoutSessionId: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first update: %v", err)
	}

	proxy.cut()
	_, err = stream.Recv()
	if code, reason, _, _ := errorInfo(t, err); code != codes.Unavailable || reason != "STORE_UNAVAILABLE" {
		t.Errorf("open watch ended with %v (reason %q), want UNAVAILABLE STORE_UNAVAILABLE", err, reason)
	}
	newWatch := func() error {
		s, err := svc.Client.WatchPayment(wctx, &pb.WatchPaymentRequest{CheckoutSessionId: id})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	err = newWatch()
	if code, reason, _, _ := errorInfo(t, err); code != codes.Unavailable || reason != "STORE_UNAVAILABLE" {
		t.Errorf("watch during the outage: %v (reason %q), want UNAVAILABLE STORE_UNAVAILABLE", err, reason)
	}
	_, err = svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}})
	if code, reason, _, _ := errorInfo(t, err); code != codes.Unavailable || reason != "STORE_UNAVAILABLE" {
		t.Errorf("GetPayment during the outage: %v (reason %q)", err, reason)
	}

	proxy.restore()
	// The pool reconnects on the next use; the client re-opens after an
	// UNAVAILABLE, as a client would.
	for {
		err := newWatch()
		if err == nil {
			break
		}
		if code, _, _, _ := errorInfo(t, err); code != codes.Unavailable || errors.Is(wctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("watch after the outage: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLiveCompletionKeepsItsLease: a completion whose Amazon Pay call takes
// longer than the in-flight lease (a timeout fault holds the first attempt
// until the client gives up and retries) keeps its lease: the reconciler
// does not take it over, and Amazon sees only the one call's two attempts.
func TestLiveCompletionKeepsItsLease(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{InflightLease: time.Second, AttemptTimeout: 3 * time.Second, MaxAttempts: 2})
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "42.00", Scenario: "Authorized"})
	a.fault(t, "CompleteCheckoutSession", "timeout", 1, 0)
	resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-lease", ChargeAmount: usd("42.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("complete: %v %v", err, resp)
	}
	if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 2 {
		t.Errorf("Complete reached Amazon %d times, want 2 (the held attempt and its retry)", n)
	}
}

// TestCheckAttemptsCountEveryCheck: GetPayment's check_attempts counts every
// check after the completion call, as the contract says: each poll of a
// pending charge (the one that settles it too) and a reconciliation.
func TestCheckAttemptsCountEveryCheck(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, c pb.PaymentCompletionServiceClient, id string) *pb.Payment {
		t.Helper()
		resp, err := c.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetPayment()
	}
	t.Run("polls", func(t *testing.T) {
		t.Parallel()
		a := newAmazonSim(t, time.Second)
		svc := startService(t, a, serviceOptions{})
		id := a.newSession(t, t.Context(), sessionSpec{Amount: "30.00", CanHandlePending: true, Scenario: "PendingThenAuthorized"})
		resp, err := svc.Client.CompleteCheckout(t.Context(), &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-polls", ChargeAmount: usd("30.00")})
		if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_PENDING {
			t.Fatalf("complete: %v %v", err, resp)
		}
		seen := waitFinal(t, svc.Client, id, 20*time.Second)
		if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
			t.Fatalf("settled as %s", describe(last))
		}
		polls := a.calls(t, id)["GetCharge"]
		if got := get(t, svc.Client, id).GetCheckAttempts(); polls < 2 || int(got) != polls {
			t.Errorf("check_attempts = %d after %d polls of the charge, want one per poll (and at least 2 polls)", got, polls)
		}
	})
	t.Run("reconciliation", func(t *testing.T) {
		t.Parallel()
		a := newAmazonSim(t, time.Second)
		svc := startService(t, a, serviceOptions{MaxAttempts: 3})
		id := a.newSession(t, t.Context(), sessionSpec{Amount: "30.00", Scenario: "Authorized"})
		// Every attempt's answer is lost, and so is the read-back: the
		// answer is unknown, and the reconciler settles it with one check.
		a.fault(t, "CompleteCheckoutSession", "lostResponse", 3, 0)
		a.fault(t, "GetCheckoutSession", "http503", 3, 0)
		resp, err := svc.Client.CompleteCheckout(t.Context(), &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-reconciled", ChargeAmount: usd("30.00")})
		if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_UNKNOWN {
			t.Fatalf("complete: %v %v", err, resp)
		}
		seen := waitFinal(t, svc.Client, id, 20*time.Second)
		if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
			t.Fatalf("settled as %s", describe(last))
		}
		if got := get(t, svc.Client, id).GetCheckAttempts(); got != 1 {
			t.Errorf("check_attempts = %d after one reconciliation, want 1", got)
		}
	})
}
