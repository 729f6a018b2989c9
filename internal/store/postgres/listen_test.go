package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
)

// eventWait bounds how long a test waits for a notification that must come;
// it is a liveness limit, not a speed requirement.
const eventWait = 30 * time.Second

// expect reads notifications until want arrives. Notifications of other
// tests sharing the database (other schemas, same channel) are skipped;
// forbidden ones must not come before want.
func expect(t *testing.T, got <-chan string, want string, forbidden ...string) {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		select {
		case id := <-got:
			if id == want {
				return
			}
			for _, f := range forbidden {
				if id == f {
					t.Fatalf("notification for %q arrived before %q; it must not be sent at all", f, want)
				}
			}
		case <-timeout:
			t.Fatalf("no notification %q within %v", want, eventWait)
		}
	}
}

func TestListenChanges(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan string, 1024)
	done := make(chan error, 1)
	go func() {
		done <- s.ListenChanges(ctx, func(id string) {
			select {
			case got <- id:
			case <-ctx.Done():
			}
		})
	}()
	waitListening(t, s)

	// IDs unique across the database: other tests notify on the channel too.
	prefix := "cs-listen-" + rand.Text()[:8] + "-"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	create := func(id string, next time.Time) {
		t.Helper()
		p := payment.Payment{
			CheckoutSessionID: id, OrderID: "o-" + id,
			ChargeAmount: payment.Money{Amount: "5.00", CurrencyCode: "GBP"},
			Outcome:      payment.Completing, CreateTime: now, UpdateTime: now, NextCheckTime: next,
		}
		if _, _, err := s.CreateAttempt(ctx, p, "w"); err != nil {
			t.Fatalf("CreateAttempt: %v", err)
		}
	}
	a, b, c := prefix+"a", prefix+"b", prefix+"c"

	create(a, now.Add(time.Minute))
	expect(t, got, a)
	if _, _, err := s.Transition(ctx, a, payment.Transition{Outcome: payment.Pending, NextCheckTime: now, Time: now}); err != nil {
		t.Fatal(err)
	}
	expect(t, got, a)

	// A claim only moves the lease: not announced. b's creation, committed
	// after the claim, must be announced first.
	if claimed, err := s.ClaimDue(ctx, []payment.Outcome{payment.Pending}, now, 10, time.Minute, "w"); err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimDue = %d payments, %v; want 1", len(claimed), err)
	}
	create(b, now.Add(time.Minute))
	expect(t, got, b, a)

	if _, err := s.Reschedule(ctx, a, "w", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	expect(t, got, a)
	if err := s.DeleteAttempt(ctx, b, "w"); err != nil {
		t.Fatal(err)
	}
	expect(t, got, b)
	// A transition that changes nothing is not announced either.
	if _, changed, err := s.Transition(ctx, a, payment.Transition{Outcome: payment.Unknown, NextCheckTime: now, Time: now}); err != nil || changed {
		t.Fatalf("backward Transition = changed %v, %v", changed, err)
	}
	create(c, now.Add(time.Minute))
	expect(t, got, c, a)

	// Cut the listening connection: the listener reconnects, says "re-read
	// everything", and goes on delivering.
	pid := s.listenPID.Load()
	if _, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatalf("terminate listener: %v", err)
	}
	expect(t, got, "")
	if s.listenPID.Load() == pid {
		t.Errorf("listener still on server process %d after it was terminated", pid)
	}
	if _, _, err := s.Transition(ctx, c, payment.Transition{Outcome: payment.Canceled, ReasonCode: "BuyerCanceled", Time: now}); err != nil {
		t.Fatal(err)
	}
	expect(t, got, c)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenChanges returned %v after ctx ended, want nil", err)
		}
	case <-time.After(eventWait):
		t.Fatal("ListenChanges did not return after ctx ended")
	}
}

func TestListenChangesRetriesUnreachable(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	// Point the listener at a port that refuses connections: it must keep
	// retrying (not return) until ctx ends.
	s.listenConfig.Port = 1
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if err := s.ListenChanges(ctx, func(string) { t.Error("fn called without a connection") }); err != nil {
		t.Errorf("ListenChanges = %v, want nil once ctx ends", err)
	}
	if ctx.Err() == nil {
		t.Error("ListenChanges returned before ctx ended")
	}
}

// TestListenChangesIdle lets the LISTEN connection go silent past several
// idle checks: the checks must keep the connection (no resync) and
// notifications must still arrive.
func TestListenChangesIdle(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	s.listenIdleCheck = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan string, 1024)
	go s.ListenChanges(ctx, func(id string) {
		select {
		case got <- id:
		case <-ctx.Done():
		}
	})
	waitListening(t, s)
	pid := s.listenPID.Load()
	time.Sleep(10 * s.listenIdleCheck)

	id := "cs-idle-" + rand.Text()[:8]
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := payment.Payment{
		CheckoutSessionID: id, OrderID: "o-" + id,
		ChargeAmount: payment.Money{Amount: "5.00", CurrencyCode: "GBP"},
		Outcome:      payment.Completing, CreateTime: now, UpdateTime: now, NextCheckTime: now,
	}
	if _, _, err := s.CreateAttempt(ctx, p, "w"); err != nil {
		t.Fatalf("CreateAttempt: %v", err)
	}
	expect(t, got, id, "")
	if s.listenPID.Load() != pid {
		t.Errorf("listener reconnected while idle (server process %d, was %d)", s.listenPID.Load(), pid)
	}
}

func waitListening(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for s.listenPID.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("listener did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUnavailable checks the error mapping on real failures: a connection
// cut by the server and a refused connection are store.ErrUnavailable; a
// caller's cancellation and an SQL error are not.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)

	victim, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, victim.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	_, cutErr := victim.Exec(ctx, `SELECT 1`)

	refusedCfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	refusedCfg.Port = 1
	_, refusedErr := pgx.ConnectConfig(ctx, refusedCfg)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, canceledErr := admin.Exec(canceled, `SELECT 1`)
	_, sqlErr := admin.Exec(ctx, `SELECT * FROM no_such_table`)

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection_cut", cutErr, true},
		{"connection_refused", refusedErr, true},
		{"caller_canceled", canceledErr, false},
		{"sql_error", sqlErr, false},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error to classify", tt.name)
			continue
		}
		if got := errors.Is(wrap("op", tt.err), store.ErrUnavailable); got != tt.want {
			t.Errorf("%s: wrap(%v) is ErrUnavailable = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestListenOperationChanges: every change of an operation a watcher of its
// payment can see is announced under the charge permission's key; a claim
// or a lease extension is not.
func TestListenOperationChanges(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan string, 1024)
	go func() {
		_ = s.ListenChanges(ctx, func(id string) {
			select {
			case got <- id:
			case <-ctx.Done():
			}
		})
	}()
	waitListening(t, s)

	cp := "S01-" + rand.Text()[:12]
	key := "CP:" + cp
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// b is on another charge permission, so its announcement tells
	// whether a's claim was announced before it.
	cp2 := cp + "-2"
	key2 := "CP:" + cp2
	op := func(id, cp string) payment.Operation {
		return payment.Operation{
			ID: id, Kind: payment.OpRefund, ObjectID: cp + "-C00001", IdempotencyKey: "k-" + id,
			Request: "5.00 EUR", ChargePermissionID: cp, State: payment.OpSending,
			CreateTime: now, UpdateTime: now, NextCheckTime: now.Add(time.Minute),
		}
	}
	a, b := cp+"-a", cp+"-b"
	if _, _, err := s.CreateOperation(ctx, op(a, cp), "w"); err != nil {
		t.Fatal(err)
	}
	expect(t, got, key)
	if _, _, err := s.AdvanceOperation(ctx, a, payment.OpUpdate{State: payment.OpPending, Result: []byte(`{"refundId":"R1"}`), NextCheckTime: now, Time: now}); err != nil {
		t.Fatal(err)
	}
	expect(t, got, key)

	// A claim and a lease extension only move the lease: b's creation,
	// committed after them, comes before any announcement of a.
	if claimed, err := s.ClaimDueOperations(ctx, []payment.OpState{payment.OpPending}, now, 10, time.Minute, "w"); err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimDueOperations = %d, %v; want 1", len(claimed), err)
	}
	if err := s.ExtendOperationLease(ctx, a, "w", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateOperation(ctx, op(b, cp2), "w"); err != nil {
		t.Fatal(err)
	}
	expect(t, got, key2, key)

	if _, _, err := s.AdvanceOperation(ctx, a, payment.OpUpdate{State: payment.OpDone, Result: []byte(`{"refundId":"R1"}`), Time: now}); err != nil {
		t.Fatal(err)
	}
	expect(t, got, key)
	if err := s.DeleteOperation(ctx, b, "w"); err != nil {
		t.Fatal(err)
	}
	expect(t, got, key2)
}
