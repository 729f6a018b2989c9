package sqlite_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlite"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

func openTemp(t testing.TB) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payments.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, path
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

// TestOpenSyncsWithFdatasync: on Linux commits sync with fdatasync, as
// SQLite's own Linux builds do, once a Store is open.
func TestOpenSyncsWithFdatasync(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	defer s.Close()
	if got, want := sqlite3.FdatasyncEnabled(), runtime.GOOS == "linux"; got != want {
		t.Errorf("FdatasyncEnabled() = %v after Open on %s, want %v", got, runtime.GOOS, want)
	}
}

func TestOpenCreatesDirectoryAndReopens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "payments.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := payment.Payment{
		CheckoutSessionID: "cs-1", OrderID: "o-1",
		ChargeAmount: payment.Money{Amount: "1.00", CurrencyCode: "EUR"},
		Outcome:      payment.Completing, CreateTime: at, UpdateTime: at, NextCheckTime: at.Add(time.Minute),
	}
	if _, _, err := s.CreateAttempt(ctx, p, "w"); err != nil {
		t.Fatalf("CreateAttempt: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Reopening runs the migrations again: they must be skipped, and the
	// data must have survived.
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.Get(ctx, "cs-1"); err != nil {
		t.Errorf("Get after reopen: %v", err)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a?b#c%d.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not created at the given path: %v", err)
	}
}

func TestOpenUnwritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A directory where the database file should be cannot be opened.
	path := filepath.Join(dir, "db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("Open of a directory succeeded")
	} else if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open of a directory = %v, want ErrUnavailable", err)
	}
}

// TestSharedFile opens the same file twice, as two processes on one host
// would, and checks that concurrent claimers through both handles never
// share a payment and never see SQLITE_BUSY.
func TestSharedFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, path := openTemp(t)
	defer a.Close()
	b, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer b.Close()

	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	const n = 100
	for i := range n {
		id := fmt.Sprintf("cs-%03d", i)
		p := payment.Payment{
			CheckoutSessionID: id, OrderID: "o-" + id,
			ChargeAmount: payment.Money{Amount: "1.00", CurrencyCode: "EUR"},
			Outcome:      payment.Completing, CreateTime: now, UpdateTime: now, NextCheckTime: now.Add(-time.Second),
		}
		// Alternate handles so both write.
		w := []*sqlite.Store{a, b}[i%2]
		if _, _, err := w.CreateAttempt(ctx, p, "creator"); err != nil {
			t.Fatalf("CreateAttempt: %v", err)
		}
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	for c, s := range []*sqlite.Store{a, b, a, b} {
		wg.Go(func() {
			name := fmt.Sprintf("claimer-%d", c)
			for {
				got, err := s.ClaimDue(ctx, []payment.Outcome{payment.Completing}, now, 3, time.Hour, name)
				if err != nil {
					t.Errorf("%s: ClaimDue: %v", name, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, p := range got {
					if prev, dup := seen[p.CheckoutSessionID]; dup {
						t.Errorf("%s claimed by %s and %s", p.CheckoutSessionID, prev, name)
					}
					seen[p.CheckoutSessionID] = name
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d payments, want %d", len(seen), n)
	}
}

func TestOperationsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunOperations(t, func(t *testing.T) storetest.OperationStore {
		s, _ := openTemp(t)
		return s
	})
}
