package postgres

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

// TestListPlan checks that PostgreSQL serves a List page from the
// payments_outcome_create_time index: with a table of 100,000 payments,
// mostly completed, and fresh statistics, every outcome's part of the
// statement is an index scan in List's order cut off by its limit, and no
// part scans the table or sorts what it reads. The page then costs the
// same whatever the table holds (see BenchmarkListPage for the figures).
func TestListPlan(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := s.pool.Exec(t.Context(), `
		INSERT INTO payments (checkout_session_id, order_id, charge_amount, charge_currency,
			outcome, create_time, update_time)
		SELECT 'cs-' || lpad(i::text, 8, '0'), 'order-' || i, '14.00', 'USD',
			CASE WHEN i % 100 = 0 THEN 'unknown' WHEN i % 100 = 1 THEN 'pending' ELSE 'completed' END,
			timestamptz '2026-01-01' + i * interval '1 second', timestamptz '2026-01-01'
		FROM generate_series(1, 100000) AS i`); err != nil {
		t.Fatalf("load: %v", err)
	}
	if _, err := s.pool.Exec(t.Context(), `ANALYZE payments`); err != nil {
		t.Fatal(err)
	}
	inf := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	ninf := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	tests := []struct {
		name     string
		outcomes []any
	}{
		{"one_outcome", []any{"unknown"}},
		{"two_outcomes", []any{"unknown", "pending"}},
		{"every_outcome", []any{"completing", "unknown", "pending", "completed", "declined", "canceled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A generic plan too: pgx prepares statements, and after five
			// runs PostgreSQL may switch to a plan made without the values.
			for _, mode := range []string{"auto", "force_generic_plan"} {
				tx, err := s.pool.Begin(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback(t.Context())
				if _, err := tx.Exec(t.Context(), "SET LOCAL plan_cache_mode = "+mode); err != nil {
					t.Fatal(err)
				}
				args := append([]any{ninf, inf, "", 50}, tt.outcomes...)
				var plan string
				if err := tx.QueryRow(t.Context(), "EXPLAIN (FORMAT JSON) "+listSQL(len(tt.outcomes), false), args...).Scan(&plan); err != nil {
					t.Fatalf("EXPLAIN: %v", err)
				}
				var root []struct{ Plan planNode }
				if err := json.Unmarshal([]byte(plan), &root); err != nil {
					t.Fatal(err)
				}
				scans := 0
				var check func(n planNode, parent string)
				check = func(n planNode, parent string) {
					switch {
					case strings.Contains(n.NodeType, "Seq Scan") || strings.Contains(n.NodeType, "Bitmap"):
						t.Errorf("%s: a %s reads the table: %s", mode, n.NodeType, plan)
					case n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan":
						scans++
						// Directly under its Limit: read in List's order and
						// cut off, not sorted first.
						if n.IndexName != "payments_outcome_create_time" || n.ScanDirection != "Backward" || parent != "Limit" {
							t.Errorf("%s: %s scan of %q under %s; want a backward scan of payments_outcome_create_time under a Limit: %s",
								mode, n.ScanDirection, n.IndexName, parent, plan)
						}
					}
					for _, c := range n.Plans {
						check(c, n.NodeType)
					}
				}
				check(root[0].Plan, "")
				if scans != len(tt.outcomes) {
					t.Errorf("%s: %d index scans for %d outcomes: %s", mode, scans, len(tt.outcomes), plan)
				}
			}
		})
	}
}

// TestListReadsOnePage runs List pages of 50 on 100,000 payments with
// EXPLAIN ANALYZE: whatever bounds the creation time (the range's end, a
// page token, both), each outcome's index scan starts at the bound and
// touches a few index and table pages, not the half of the index above the
// bound.
func TestListReadsOnePage(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := s.pool.Exec(t.Context(), `
		INSERT INTO payments (checkout_session_id, order_id, charge_amount, charge_currency,
			outcome, create_time, update_time)
		SELECT 'cs-' || lpad(i::text, 8, '0'), 'order-' || i, '14.00', 'USD',
			CASE WHEN i % 100 = 0 THEN 'unknown' ELSE 'completed' END,
			timestamptz '2026-01-01' + i * interval '1 second', timestamptz '2026-01-01'
		FROM generate_series(1, 100000) AS i`); err != nil {
		t.Fatalf("load: %v", err)
	}
	if _, err := s.pool.Exec(t.Context(), `VACUUM ANALYZE payments`); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	middle := start.Add(50_000 * time.Second)
	inf := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	ninf := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	ts := func(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: true} }
	tests := []struct {
		name string
		q    store.ListQuery
	}{
		{"range_end", store.ListQuery{Outcomes: []payment.Outcome{payment.Completed}, CreatedBefore: middle, Limit: 51}},
		{"range_end_and_start", store.ListQuery{Outcomes: []payment.Outcome{payment.Completed}, CreatedFrom: middle.Add(-time.Hour), CreatedBefore: middle, Limit: 51}},
		{"token", store.ListQuery{Outcomes: []payment.Outcome{payment.Completed, payment.Unknown}, After: &store.ListPosition{CreateTime: middle, CheckoutSessionID: "cs-x"}, Limit: 51}},
		{"token_below_range_end", store.ListQuery{Outcomes: []payment.Outcome{payment.Completed}, CreatedBefore: middle.Add(time.Hour), After: &store.ListPosition{CreateTime: middle, CheckoutSessionID: "cs-x"}, Limit: 51}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, id := sqlstore.ListBound(tt.q)
			args := []any{ninf, inf, id, tt.q.Limit}
			if !tt.q.CreatedFrom.IsZero() {
				args[0] = ts(tt.q.CreatedFrom)
			}
			if !at.IsZero() {
				args[1] = ts(at)
			}
			for _, o := range tt.q.Outcomes {
				args = append(args, string(o))
			}
			var plan string
			if err := s.pool.QueryRow(t.Context(), "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+listSQL(len(tt.q.Outcomes), false), args...).Scan(&plan); err != nil {
				t.Fatalf("EXPLAIN: %v", err)
			}
			var root []struct{ Plan planNode }
			if err := json.Unmarshal([]byte(plan), &root); err != nil {
				t.Fatal(err)
			}
			var check func(n planNode)
			check = func(n planNode) {
				if n.NodeType == "Index Scan" && n.SharedHit+n.SharedRead > 60 {
					t.Errorf("an index scan touched %d pages for a page of %d: %s", n.SharedHit+n.SharedRead, tt.q.Limit, plan)
				}
				for _, c := range n.Plans {
					check(c)
				}
			}
			check(root[0].Plan)
			// And the store's own List agrees on the first payment.
			ps, err := s.List(t.Context(), tt.q)
			if err != nil || len(ps) == 0 || !ps[0].CreateTime.Before(middle.Add(time.Second)) {
				t.Errorf("List: %d payments, %v", len(ps), err)
			}
		})
	}
}

type planNode struct {
	SharedHit  int `json:"Shared Hit Blocks"`
	SharedRead int `json:"Shared Read Blocks"`

	NodeType      string     `json:"Node Type"`
	IndexName     string     `json:"Index Name"`
	ScanDirection string     `json:"Scan Direction"`
	Plans         []planNode `json:"Plans"`
}
