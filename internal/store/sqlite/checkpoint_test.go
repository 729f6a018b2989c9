package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// writeLoad creates n payments through s from 16 concurrent callers, so
// that the writer is saturated and commits while checkpoints run, and
// returns the largest size the WAL file reached.
func writeLoad(t *testing.T, s *Store, path, prefix string, n int) (maxWAL int64) {
	t.Helper()
	ctx := t.Context()
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		peak atomic.Int64
	)
	sample := func() {
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > peak.Load() {
			peak.Store(fi.Size())
		}
	}
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id := fmt.Sprintf("%s-%06d", prefix, i)
				p := payment.Payment{
					CheckoutSessionID: id, OrderID: "o-" + id,
					ChargeAmount: payment.Money{Amount: "1.00", CurrencyCode: "EUR"},
					Outcome:      payment.Completing, CreateTime: at, UpdateTime: at, NextCheckTime: at.Add(time.Minute),
				}
				if _, _, err := s.CreateAttempt(ctx, p, "w"); err != nil {
					t.Errorf("CreateAttempt: %v", err)
					return
				}
				if i%50 == 0 {
					sample()
				}
			}
		})
	}
	wg.Wait()
	sample()
	return peak.Load()
}

// TestCheckpointerBoundsWAL writes far more than the restart threshold
// under a saturated writer and checks that the WAL file stays near that
// threshold: the checkpointer copies it into the database file and has it
// start over.
func TestCheckpointerBoundsWAL(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.db")
	const frames = 256
	s, err := open(t.Context(), path, options{every: 20 * time.Millisecond, restartFrames: frames})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	peak := writeLoad(t, s, path, "cs", 4000)
	// Without the checkpointer the WAL reaches several times this (about
	// 8 MiB for 4,000 payments); with it, the threshold plus what is
	// written in one round and in one checkpoint.
	const limit = 4 * frames * (4096 + 24)
	t.Logf("WAL peak %d bytes, limit %d", peak, limit)
	if peak > limit {
		t.Errorf("WAL file reached %d bytes, want at most %d", peak, limit)
	}
}

// TestCloseStopsGoroutinesAfterCheckpoint checks that Close returns only
// after the writer and the checkpointer have, and that it copied the WAL
// into the database file although another connection kept the file open
// (which stops SQLite from checkpointing on close).
func TestCloseStopsGoroutinesAfterCheckpoint(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	// No periodic checkpoint during the test: only the last one.
	s, err := open(t.Context(), path, options{every: time.Hour, restartFrames: restartFrames})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	other, err := sql.Open("sqlite", fileURI(path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	writeLoad(t, s, path, "cs", 500)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, done := range map[string]chan struct{}{"writer": s.writerDone, "checkpointer": s.checkpointerDone} {
		select {
		case <-done:
		default:
			t.Errorf("%s still running after Close", name)
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// 500 payments take about 25 pages.
	if after.Size() < before.Size()+16*4096 {
		t.Errorf("database file grew from %d to %d bytes: the WAL was not checkpointed at Close", before.Size(), after.Size())
	}
	var n int
	if err := other.QueryRowContext(context.Background(), `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 500 {
		t.Errorf("payments after Close = %d, %v; want 500", n, err)
	}
}

// TestDBFileShared checks that the Stores of a process share one
// descriptor per database file, whatever path names it, and that it is
// closed only when the last of them gives it back.
func TestDBFileShared(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "f.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	a, err := acquireDBFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := acquireDBFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("two descriptors for one file")
	}
	if err := a.release(); err != nil {
		t.Fatal(err)
	}
	if err := b.f.Sync(); err != nil {
		t.Errorf("descriptor closed while a Store still uses it: %v", err)
	}
	if err := b.release(); err != nil {
		t.Fatal(err)
	}
	if err := b.f.Sync(); err == nil {
		t.Error("descriptor still open after the last release")
	}
	c, err := acquireDBFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.release()
	if c == a {
		t.Error("a released descriptor was handed out again")
	}
}
