package storetest

import (
	"path/filepath"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
)

// Engine names a database engine and makes the DATABASE_URL of a new, empty
// database on it for a test.
type Engine struct {
	Name string
	URL  func(t *testing.T) string
}

// Engines are SQLite (a file in the test's temporary directory) and
// PostgreSQL (a schema of the test's own), for tests that run on each.
func Engines() []Engine {
	return []Engine{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "p.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
	}
}
