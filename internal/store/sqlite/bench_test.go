package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlite"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

// BenchmarkPollingPass measures a tracker pass over 1,000 due payments with
// no other payments stored and with 1,000,000 other tracked (pending, due
// later) payments: the two must cost about the same.
//
//	go test -run '^$' -bench PollingPass ./internal/store/sqlite/
func BenchmarkPollingPass(b *testing.B) {
	if testing.Short() {
		b.Skip("loads a million rows; skipped with -short")
	}
	for _, tracked := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("tracked=%d", tracked), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "payments.db")
			s, err := sqlite.Open(b.Context(), path)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			loadTracked(b, path, tracked)
			storetest.PollingPass(b, s, 1000)
		})
	}
}

// loadTracked inserts n pending payments due after the benchmark's horizon,
// in one statement and transaction.
func loadTracked(b *testing.B, path string, n int) {
	b.Helper()
	if n == 0 {
		return
	}
	start := time.Now()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	created := storetest.PollingStart.Add(-24 * time.Hour).UnixMicro()
	firstDue := storetest.PollingStart.Add(storetest.PollingHorizon + time.Hour).UnixMicro()
	if _, err := tx.ExecContext(b.Context(), `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO payments (
			checkout_session_id, order_id, charge_amount, charge_currency,
			outcome, charge_id, charge_state, create_time, update_time,
			next_check_time, check_attempts, version)
		SELECT printf('cs-tracked-%08d', i), printf('order-tracked-%08d', i), '14.00', 'USD',
			'pending', printf('S01-0000000-0000000-C%06d', i % 1000000), 'AuthorizationInitiated', ?, ?,
			? + i * 1000000, 3, 4
		FROM n`, n, created, created, firstDue); err != nil {
		b.Fatalf("load tracked payments: %v", err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d tracked payments in %v", n, time.Since(start).Round(time.Millisecond))
}
