package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

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

// TestMigrateFromVersion1 builds a database file as version 1 of the
// schema left it, by hand (the first migration's SQL and its record in
// schema_migrations, as Open applied them), stores two payments in it, and
// checks that Open migrates it to the current schema with the rows intact
// and still usable.
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v1.db")
	v1, err := os.ReadFile(filepath.Join("migrations", "0001_payments.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE schema_migrations (
			version      INTEGER NOT NULL PRIMARY KEY,
			name         TEXT    NOT NULL,
			applied_time INTEGER NOT NULL
		) STRICT`,
		string(v1),
		`INSERT INTO schema_migrations (version, name, applied_time) VALUES (1, '0001_payments.sql', 1)`,
		// Every column set.
		`INSERT INTO payments (checkout_session_id, order_id, charge_amount, charge_currency,
			total_amount, total_currency, outcome, charge_permission_id, charge_id,
			reason_code, charge_state, create_time, update_time, settle_time,
			next_check_time, check_attempts, lease_owner, version)
		VALUES ('cs-full', 'o-1', '14.00', 'USD', '20.00', 'USD', 'pending', 'B01-1', 'S01-1-C1',
			'', 'AuthorizationInitiated', 1777593600000000, 1777593601000000, NULL,
			1777593660000000, 3, 'tracker-1', 4)`,
		// Only the required columns: the defaults of version 1.
		`INSERT INTO payments (checkout_session_id, order_id, charge_amount, charge_currency,
			outcome, create_time, update_time, settle_time)
		VALUES ('cs-min', 'o-2', '1.00', 'EUR', 'declined', 1777593600000000, 1777593600000000, 1777593600000000)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("version 1 schema: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	defer s.Close()
	at := func(sec int64) time.Time { return time.Unix(1777593600+sec, 0).UTC() }
	want := map[string]payment.Payment{
		"cs-full": {
			CheckoutSessionID: "cs-full", OrderID: "o-1",
			ChargeAmount:     payment.Money{Amount: "14.00", CurrencyCode: "USD"},
			TotalOrderAmount: &payment.Money{Amount: "20.00", CurrencyCode: "USD"},
			Outcome:          payment.Pending, ChargePermissionID: "B01-1", ChargeID: "S01-1-C1",
			ChargeState: "AuthorizationInitiated", CreateTime: at(0), UpdateTime: at(1),
			NextCheckTime: at(60), CheckAttempts: 3, LeaseOwner: "tracker-1", Version: 4,
		},
		"cs-min": {
			CheckoutSessionID: "cs-min", OrderID: "o-2",
			ChargeAmount: payment.Money{Amount: "1.00", CurrencyCode: "EUR"},
			Outcome:      payment.Declined, CreateTime: at(0), UpdateTime: at(0), SettleTime: at(0), Version: 1,
		},
	}
	for id, w := range want {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get %s after migration: %v", id, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("Get %s after migration:\n got %+v\nwant %+v", id, got, w)
		}
	}
	// The migrated table serves the store: the due index and the key.
	claimed, err := s.ClaimDue(ctx, []payment.Outcome{payment.Pending}, at(60), 10, time.Minute, "tracker-2")
	if err != nil || len(claimed) != 1 || claimed[0].CheckoutSessionID != "cs-full" {
		t.Errorf("ClaimDue after migration = %v, %v; want cs-full", claimed, err)
	}
	if _, created, err := s.CreateAttempt(ctx, payment.Payment{
		CheckoutSessionID: "cs-min", OrderID: "o-2",
		ChargeAmount: payment.Money{Amount: "1.00", CurrencyCode: "EUR"},
		Outcome:      payment.Completing, CreateTime: at(9), UpdateTime: at(9), NextCheckTime: at(99),
	}, "w"); err != nil || created {
		t.Errorf("CreateAttempt of a migrated key: created %v, err %v; want the existing payment", created, err)
	}

	// The schema is the new one, with the same index names, and the
	// migration is recorded.
	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var withoutRowid, strict int
	if err := db.QueryRowContext(ctx, `SELECT wr, strict FROM pragma_table_list WHERE name = 'payments'`).Scan(&withoutRowid, &strict); err != nil {
		t.Fatal(err)
	}
	if withoutRowid != 1 || strict != 1 {
		t.Errorf("payments: WITHOUT ROWID %d, STRICT %d; want 1, 1", withoutRowid, strict)
	}
	for _, name := range []string{"payments_order_create_time", "payments_next_check_time"} {
		var tbl string
		if err := db.QueryRowContext(ctx, `SELECT tbl_name FROM sqlite_schema WHERE type = 'index' AND name = ?`, name).Scan(&tbl); err != nil || tbl != "payments" {
			t.Errorf("index %s: table %q, %v; want payments", name, tbl, err)
		}
	}
	var versions int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version IN (1, 2)`).Scan(&versions); err != nil || versions != 2 {
		t.Errorf("schema_migrations has %d of versions 1 and 2, %v; want both", versions, err)
	}
}
