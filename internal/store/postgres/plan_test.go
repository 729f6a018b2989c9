package postgres

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
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
				args := append([]any{ninf, inf, inf, "", 50}, tt.outcomes...)
				var plan string
				if err := tx.QueryRow(t.Context(), "EXPLAIN (FORMAT JSON) "+listSQL(len(tt.outcomes)), args...).Scan(&plan); err != nil {
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

type planNode struct {
	NodeType      string     `json:"Node Type"`
	IndexName     string     `json:"Index Name"`
	ScanDirection string     `json:"Scan Direction"`
	Plans         []planNode `json:"Plans"`
}
