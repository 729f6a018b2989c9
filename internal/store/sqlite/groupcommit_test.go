package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// TestGroupCommitIsolatesFailures queues several operations behind a
// blocked one so that they share a transaction, and checks that the one
// that writes and then fails leaves nothing behind while the others' writes
// are committed and visible to a separate connection once their calls
// return.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	// In a bubble, so that the callers can be seen queued.
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "g.db")
		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		ctx := t.Context()
		insert := func(ctx context.Context, tx *sql.Tx, id string) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO payments (checkout_session_id, order_id, charge_amount, charge_currency,
				outcome, create_time, update_time) VALUES (?, 'o', '1.00', 'USD', 'completing', 1, 1)`, id)
			return err
		}

		// The first operation holds the writer until the others are queued.
		release := make(chan struct{})
		started := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.inTx(ctx, "block", func(ctx context.Context, tx *sql.Tx) error {
				close(started)
				<-release
				return insert(ctx, tx, "first")
			})
		}()
		<-started

		errBoom := errors.New("boom")
		tests := []struct {
			id      string
			fail    bool
			wantErr bool
		}{
			{id: "ok-1"},
			{id: "bad", fail: true, wantErr: true},
			{id: "ok-2"},
			{id: "first", wantErr: true}, // key written earlier in the same transaction
			{id: "ok-3"},
		}
		errs := make([]error, len(tests))
		for i, tt := range tests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.inTx(ctx, "test", func(ctx context.Context, tx *sql.Tx) error {
					if err := insert(ctx, tx, tt.id); err != nil {
						return err
					}
					if tt.fail {
						return errBoom
					}
					return nil
				})
			}()
		}
		// Every caller is queued behind the blocked operation (blocked
		// sending to the writer), so they share its successor's transaction.
		// The checks below hold however they are grouped.
		synctest.Wait()
		close(release)
		wg.Wait()

		for i, tt := range tests {
			if (errs[i] != nil) != tt.wantErr {
				t.Errorf("op %d (%s): err = %v, want error %v", i, tt.id, errs[i], tt.wantErr)
			}
		}
		if !errors.Is(errs[1], errBoom) {
			t.Errorf("failing op: err = %v, want %v", errs[1], errBoom)
		}

		// A separate connection sees exactly the committed rows.
		other, err := sql.Open("sqlite", fileURI(path))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		for _, c := range []struct {
			id   string
			want int
		}{{"first", 1}, {"ok-1", 1}, {"ok-2", 1}, {"ok-3", 1}, {"bad", 0}} {
			var n int
			if err := other.QueryRowContext(ctx, `SELECT count(*) FROM payments WHERE checkout_session_id = ?`, c.id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != c.want {
				t.Errorf("rows with id %s = %d, want %d", c.id, n, c.want)
			}
		}
	})
}

// TestWriteAfterClose checks that writes fail once the store is closed
// rather than waiting forever for the stopped writer.
func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err = s.inTx(t.Context(), "after close", func(context.Context, *sql.Tx) error { return nil })
	if !errors.Is(err, errClosed) {
		t.Errorf("err = %v, want %v", err, errClosed)
	}
}

// TestCanceledBeforeRun checks that an operation whose caller gave up while
// it was queued is not run.
func TestCanceledBeforeRun(t *testing.T) {
	t.Parallel()
	// In a bubble, so that the callers can be seen queued.
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		release := make(chan struct{})
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- s.inTx(t.Context(), "block", func(context.Context, *sql.Tx) error {
				close(started)
				<-release
				return nil
			})
		}()
		<-started
		ctx, cancel := context.WithCancel(t.Context())
		ran := make(chan struct{}, 1)
		res := make(chan error, 1)
		go func() {
			res <- s.inTx(ctx, "canceled", func(context.Context, *sql.Tx) error {
				ran <- struct{}{}
				return nil
			})
		}()
		// The canceled op is queued behind the blocked one.
		synctest.Wait()
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Errorf("canceled op: err = %v, want %v", err, context.Canceled)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("blocking op: %v", err)
		}
		// A later write goes through the writer after the canceled op would
		// have run.
		if err := s.inTx(t.Context(), "later", func(context.Context, *sql.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ran:
			t.Error("the canceled operation ran")
		default:
		}
	})
}

// TestCommitBatchPaths runs batches through commitBatch directly, so their
// composition and order are known, and checks both paths: a batch of one
// runs its operation once without savepoints, and a batch of several whose
// operation fails is rolled back and run again with savepoints. Either way
// the failing operation reports its error and leaves nothing behind, and
// the others' writes are committed.
func TestCommitBatchPaths(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	errBoom := errors.New("boom")

	// op describes one operation: it inserts id, then fails with err if
	// err is set. An operation with noWrite changes nothing and fails,
	// like a Reschedule whose lease was lost.
	type op struct {
		id      string
		noWrite bool
		err     error
	}
	run := func(ops []op) (results []error, runs []int) {
		t.Helper()
		batch := make([]*writeOp, len(ops))
		runs = make([]int, len(ops))
		for i, o := range ops {
			batch[i] = &writeOp{ctx: ctx, done: make(chan error, 1), fn: func(ctx context.Context, tx *sql.Tx) error {
				runs[i]++
				if o.noWrite {
					_, err := tx.ExecContext(ctx, `UPDATE payments SET lease_owner = 'x' WHERE checkout_session_id = ?`, o.id)
					if err != nil {
						return err
					}
					return o.err
				}
				if err := insertPayment(ctx, tx, o.id); err != nil {
					return err
				}
				return o.err
			}}
		}
		s.commitBatch(batch)
		results = make([]error, len(ops))
		for i, w := range batch {
			results[i] = <-w.done
		}
		return results, runs
	}

	tests := []struct {
		name     string
		ops      []op
		wantRuns []int
	}{
		{"single ok", []op{{id: "s-ok"}}, []int{1}},
		{"single failing write", []op{{id: "s-bad", err: errBoom}}, []int{1}},
		{"single lease lost", []op{{id: "s-absent", noWrite: true, err: store.ErrLeaseLost}}, []int{1}},
		{"several ok", []op{{id: "m-ok-1"}, {id: "m-ok-2"}, {id: "m-ok-3"}}, []int{1, 1, 1}},
		{"several, one failing write", []op{
			{id: "f-ok-1"}, {id: "f-bad", err: errBoom}, {id: "f-ok-2"},
		}, []int{2, 2, 1}},
		{"several, lease lost", []op{
			{id: "l-ok-1"}, {id: "l-ok-2"}, {id: "l-absent", noWrite: true, err: store.ErrLeaseLost}, {id: "l-ok-3"},
		}, []int{2, 2, 2, 1}},
		{"several, duplicate key", []op{
			{id: "d-ok"}, {id: "d-dup"}, {id: "d-dup"}, {id: "d-ok-2"},
		}, []int{2, 2, 2, 1}},
	}
	for _, tt := range tests {
		results, runs := run(tt.ops)
		for i, o := range tt.ops {
			wantErr := o.err
			if tt.name == "several, duplicate key" && i == 2 {
				if results[i] == nil {
					t.Errorf("%s: op %d (%s): no error for a duplicate key", tt.name, i, o.id)
				}
			} else if !errors.Is(results[i], wantErr) || (wantErr == nil) != (results[i] == nil) {
				t.Errorf("%s: op %d (%s): err = %v, want %v", tt.name, i, o.id, results[i], wantErr)
			}
			if runs[i] != tt.wantRuns[i] {
				t.Errorf("%s: op %d (%s) ran %d times, want %d", tt.name, i, o.id, runs[i], tt.wantRuns[i])
			}
		}
	}

	// A separate connection sees exactly the committed rows.
	other, err := sql.Open("sqlite", fileURI(path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for id, want := range map[string]int{
		"s-ok": 1, "s-bad": 0, "s-absent": 0,
		"m-ok-1": 1, "m-ok-2": 1, "m-ok-3": 1,
		"f-ok-1": 1, "f-bad": 0, "f-ok-2": 1,
		"l-ok-1": 1, "l-ok-2": 1, "l-absent": 0, "l-ok-3": 1,
		"d-ok": 1, "d-dup": 1, "d-ok-2": 1,
	} {
		var n int
		if err := other.QueryRowContext(ctx, `SELECT count(*) FROM payments WHERE checkout_session_id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("rows with id %s = %d, want %d", id, n, want)
		}
	}
}

// TestGroupCommitStoreErrors queues store calls that succeed together with
// calls that fail with the store's expected errors after statements that
// changed nothing (DeleteAttempt and Reschedule without the lease,
// Transition of a payment that does not exist), first one at a time
// (batches of one) and then behind a blocked operation so that they share
// a transaction. Each call must report its own outcome, the successes must
// be committed, and a call that runs again after a rollback must not
// report the first run's results.
func TestGroupCommitStoreErrors(t *testing.T) {
	t.Parallel()
	// In a bubble, so that the callers can be seen queued.
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "e.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		ctx := t.Context()
		at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		attempt := func(id string) payment.Payment {
			return payment.Payment{
				CheckoutSessionID: id, OrderID: "o-" + id,
				ChargeAmount: payment.Money{Amount: "1.00", CurrencyCode: "EUR"},
				Outcome:      payment.Completing, CreateTime: at, UpdateTime: at, NextCheckTime: at.Add(time.Minute),
			}
		}
		completed := payment.Transition{Outcome: payment.Completed, ChargeID: "c", Time: at.Add(time.Second)}

		for _, grouped := range []bool{false, true} {
			prefix := fmt.Sprintf("grouped=%v-", grouped)
			existing := prefix + "existing"
			if _, _, err := s.CreateAttempt(ctx, attempt(existing), "owner"); err != nil {
				t.Fatalf("CreateAttempt: %v", err)
			}
			type result struct {
				err     error
				created bool // CreateAttempt
				changed bool // Transition
			}
			calls := []struct {
				name    string
				call    func() result
				want    result
				wantErr error
			}{
				{"create", func() result {
					_, created, err := s.CreateAttempt(ctx, attempt(prefix+"new-1"), "owner")
					return result{err: err, created: created}
				}, result{created: true}, nil},
				{"delete without lease", func() result {
					return result{err: s.DeleteAttempt(ctx, existing, "not-owner")}
				}, result{}, store.ErrLeaseLost},
				{"create existing", func() result {
					_, created, err := s.CreateAttempt(ctx, attempt(existing), "owner")
					return result{err: err, created: created}
				}, result{}, nil},
				{"reschedule without lease", func() result {
					_, err := s.Reschedule(ctx, existing, "not-owner", at.Add(time.Hour), at)
					return result{err: err}
				}, result{}, store.ErrLeaseLost},
				{"transition missing", func() result {
					_, changed, err := s.Transition(ctx, prefix+"missing", completed)
					return result{err: err, changed: changed}
				}, result{}, store.ErrNotFound},
				{"create 2", func() result {
					_, created, err := s.CreateAttempt(ctx, attempt(prefix+"new-2"), "owner")
					return result{err: err, created: created}
				}, result{created: true}, nil},
				{"transition existing", func() result {
					_, changed, err := s.Transition(ctx, existing, completed)
					return result{err: err, changed: changed}
				}, result{changed: true}, nil},
			}
			results := make([]result, len(calls))
			if !grouped {
				for i, c := range calls {
					results[i] = c.call()
				}
			} else {
				release := make(chan struct{})
				started := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					_ = s.inTx(ctx, "block", func(context.Context, *sql.Tx) error {
						close(started)
						<-release
						return nil
					})
				})
				<-started
				for i, c := range calls {
					wg.Go(func() { results[i] = c.call() })
				}
				// Every call is queued behind the blocked operation; the
				// checks below hold however they are grouped.
				synctest.Wait()
				close(release)
				wg.Wait()
			}
			for i, c := range calls {
				got := results[i]
				if !errors.Is(got.err, c.wantErr) || (c.wantErr == nil) != (got.err == nil) {
					t.Errorf("%s%s: err = %v, want %v", prefix, c.name, got.err, c.wantErr)
				}
				if got.created != c.want.created || got.changed != c.want.changed {
					t.Errorf("%s%s: created, changed = %v, %v; want %v, %v", prefix, c.name,
						got.created, got.changed, c.want.created, c.want.changed)
				}
			}
			for _, id := range []string{prefix + "new-1", prefix + "new-2"} {
				if _, err := s.Get(ctx, id); err != nil {
					t.Errorf("Get %s: %v", id, err)
				}
			}
			if p, err := s.Get(ctx, existing); err != nil || p.Outcome != payment.Completed || p.CheckAttempts != 0 {
				t.Errorf("Get %s = outcome %v, %d check attempts, err %v; want completed, 0, nil", existing, p.Outcome, p.CheckAttempts, err)
			}
		}
	})
}

// insertPayment inserts a minimal payment row with key id.
func insertPayment(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO payments (checkout_session_id, order_id, charge_amount, charge_currency,
		outcome, create_time, update_time) VALUES (?, 'o', '1.00', 'USD', 'completing', 1, 1)`, id)
	return err
}
