package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

// BenchmarkPollingPass measures a tracker pass over 1,000 due payments with
// no other payments stored and with 1,000,000 other tracked (pending, due
// later) payments: the two must cost about the same.
//
//	go test -run '^$' -bench PollingPass ./internal/store/postgres/
func BenchmarkPollingPass(b *testing.B) {
	if testing.Short() {
		b.Skip("loads a million rows; skipped with -short")
	}
	for _, tracked := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("tracked=%d", tracked), func(b *testing.B) {
			url := pgtest.URL(b)
			s, err := postgres.Open(b.Context(), url)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			loadTracked(b, url, tracked)
			storetest.PollingPass(b, s, 1000)
		})
	}
}

// loadTracked inserts n pending payments due after the benchmark's horizon
// with one INSERT ... SELECT over generate_series, then refreshes the
// planner statistics as autovacuum would after such a load.
func loadTracked(b *testing.B, url string, n int) {
	b.Helper()
	ctx := b.Context()
	start := time.Now()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	created := storetest.PollingStart.Add(-24 * time.Hour)
	firstDue := storetest.PollingStart.Add(storetest.PollingHorizon + time.Hour)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// A bulk load is not a change anyone watches: skip the per-row
		// notification trigger for it.
		if _, err := tx.Exec(ctx, `ALTER TABLE payments DISABLE TRIGGER payments_insert_delete_notify`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO payments (
				checkout_session_id, order_id, charge_amount, charge_currency,
				outcome, charge_id, charge_state, create_time, update_time,
				next_check_time, check_attempts, version)
			SELECT format('cs-tracked-%s', lpad(i::text, 8, '0')), format('order-tracked-%s', i), '14.00', 'USD',
				'pending', format('S01-0000000-0000000-C%s', lpad((i % 1000000)::text, 6, '0')), 'AuthorizationInitiated', $2, $2,
				$3::timestamptz + i * interval '1 second', 3, 4
			FROM generate_series(1, $1::int) AS i`, n, created, firstDue); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `ALTER TABLE payments ENABLE TRIGGER payments_insert_delete_notify`)
		return err
	})
	if err != nil {
		b.Fatalf("load tracked payments: %v", err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE payments`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d tracked payments in %v", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkListPage measures List pages of 50 (storetest.ListPages) with
// 10,000 and with 1,000,000 payments stored: the two must cost about the
// same.
//
//	go test -run '^$' -bench ListPage -count 6 ./internal/store/postgres/
func BenchmarkListPage(b *testing.B) {
	if testing.Short() {
		b.Skip("loads a million rows; skipped with -short")
	}
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("payments=%d", n), func(b *testing.B) {
			url := pgtest.URL(b)
			s, err := postgres.Open(b.Context(), url)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			loadListed(b, url, n)
			storetest.ListPages(b, s, n)
		})
	}
}

// loadListed inserts n payments created one second apart up to
// storetest.ListEnd, with the outcomes of storetest.ListOutcome, then
// refreshes the planner statistics as autovacuum would after such a load.
func loadListed(b *testing.B, url string, n int) {
	b.Helper()
	ctx := b.Context()
	start := time.Now()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	outcomes := make([]string, 100)
	for i := range outcomes {
		outcomes[i] = string(storetest.ListOutcome(i))
	}
	first := storetest.ListEnd.Add(-time.Duration(n) * time.Second)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// A bulk load is not a change anyone watches: skip the per-row
		// notification trigger for it.
		if _, err := tx.Exec(ctx, `ALTER TABLE payments DISABLE TRIGGER payments_insert_delete_notify`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO payments (
				checkout_session_id, order_id, charge_amount, charge_currency,
				outcome, create_time, update_time, check_attempts, version)
			SELECT md5(i::text), format('order-%s', i), '14.00', 'USD',
				($3::text[])[i % 100 + 1], $2::timestamptz + i * interval '1 second', $2::timestamptz + i * interval '1 second', 0, 2
			FROM generate_series(0, $1::int - 1) AS i`, n, first, outcomes); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `ALTER TABLE payments ENABLE TRIGGER payments_insert_delete_notify`)
		return err
	})
	if err != nil {
		b.Fatalf("load payments: %v", err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE payments`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d payments in %v", n, time.Since(start).Round(time.Millisecond))
}
