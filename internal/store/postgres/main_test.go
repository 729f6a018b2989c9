package postgres_test

import (
	"os"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
)

// TestMain says once, for the whole "go test ./...", when the PostgreSQL
// suites (this package's and the others using pgtest) are skipped: this
// package is the one that exists only to test PostgreSQL.
func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.NoteIfUnreachable()
	os.Exit(code)
}
