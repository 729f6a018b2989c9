package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestPragmas checks the settings durability and concurrency rely on, as
// the write and read connections actually see them.
func TestPragmas(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	tests := []struct {
		conn   string
		pragma string
		want   string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "synchronous", "2"}, // FULL
		{"write", "foreign_keys", "1"},
		{"write", "busy_timeout", "10000"},
		{"write", "wal_autocheckpoint", "0"}, // the checkpointer's job
		{"ckpt", "synchronous", "2"},         // FULL: database synced before the WAL is reused
		{"read", "journal_mode", "wal"},
		{"read", "busy_timeout", "10000"},
		{"read", "query_only", "1"},
	}
	for _, tt := range tests {
		db := map[string]*sql.DB{"write": s.write, "read": s.read, "ckpt": s.ckpt}[tt.conn]
		var got string
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", tt.conn, tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("%s PRAGMA %s = %s, want %s", tt.conn, tt.pragma, got, tt.want)
		}
	}
}

// TestClaimDuePlan checks that the claim reads the partial index in claim
// order: no scan of the table, no sort of the due rows.
func TestClaimDuePlan(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+claimDueSQL, 0, `["pending"]`, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	if !strings.Contains(joined, "SEARCH payments USING INDEX payments_next_check_time") ||
		strings.Contains(joined, "SCAN payments") || strings.Contains(joined, "TEMP B-TREE") {
		t.Errorf("claim plan does not read the due index in order:\n%s", joined)
	}
}

// TestListPlan checks that SQLite serves a List page from the
// payments_outcome_create_time index: every outcome's part of the statement
// searches that index by outcome and creation range and reads it in List's
// order (no sort of what it finds), and nothing scans the table. The page
// then costs the same whatever the table holds (see BenchmarkListPage).
func TestListPlan(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	for _, n := range []int{1, 2, 6} {
		args := []any{sql.Named("from", 0), sql.Named("at", 0), sql.Named("id", ""), sql.Named("limit", 50)}
		for i := 1; i <= n; i++ {
			args = append(args, sql.Named(fmt.Sprintf("o%d", i), "unknown"))
		}
		rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+listSQL(n, false), args...)
		if err != nil {
			t.Fatal(err)
		}
		type node struct {
			parent int
			detail string
		}
		nodes := map[int]node{}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			nodes[id] = node{parent, detail}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		searches := 0
		for _, nd := range nodes {
			parent := nodes[nd.parent].detail
			switch {
			case strings.HasPrefix(nd.detail, "SCAN payments"):
				t.Errorf("%d outcomes: the table is scanned: %q", n, plan)
			case strings.HasPrefix(nd.detail, "SEARCH payments"):
				searches++
				if !strings.Contains(nd.detail, "USING INDEX payments_outcome_create_time (outcome=? AND create_time>? AND create_time<?)") {
					t.Errorf("%d outcomes: %q, want a search of payments_outcome_create_time by outcome and creation range", n, nd.detail)
				}
			case strings.Contains(nd.detail, "TEMP B-TREE") && strings.HasPrefix(parent, "CO-ROUTINE"):
				// A sort inside an outcome's part would read every match
				// before its limit applies.
				t.Errorf("%d outcomes: an outcome's part is sorted: %q", n, plan)
			}
		}
		if searches != n {
			t.Errorf("%d outcomes: %d index searches: %q", n, searches, plan)
		}
	}
}
