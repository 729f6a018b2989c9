package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestGroupCommitIsolatesFailures queues several operations behind a
// blocked one so that they share a transaction, and checks that the one
// that writes and then fails leaves nothing behind while the others' writes
// are committed and visible to a separate connection once their calls
// return.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
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
	// Give the callers time to queue behind the blocked operation, so they
	// share its successor's transaction. The checks below hold however
	// they are grouped.
	time.Sleep(50 * time.Millisecond)
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
	// The canceled op is queued behind the blocked one; wait for the
	// writer to take it into a batch or for the caller to return.
	time.Sleep(20 * time.Millisecond)
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
}
