// Package pgtest gives tests their own PostgreSQL schema. Tests connect to
// TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable);
// when it cannot be reached they are skipped, unless REQUIRE_POSTGRES=1,
// in which case they fail (CI sets it).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NoteIfUnreachable is for the TestMain of a package of PostgreSQL suites:
// when PostgreSQL cannot be reached (and REQUIRE_POSTGRES is not set) it
// prints one line saying the suites are skipped, on the terminal when there
// is one. go test shows nothing of a passing package but "ok", so without it
// a plain "go test ./..." would hide that they did not run.
func NoteIfUnreachable() {
	if os.Getenv("REQUIRE_POSTGRES") == "1" {
		return // the suites fail instead
	}
	note := unreachableNote(baseURL())
	if note == "" {
		return
	}
	w := io.Writer(os.Stderr)
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		w = tty
	}
	fmt.Fprintln(w, note)
}

// unreachableNote returns the line NoteIfUnreachable prints, or "" when
// PostgreSQL at base answers.
func unreachableNote(base string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err == nil {
		_ = conn.Close(ctx)
		return ""
	}
	shown := "TEST_DATABASE_URL"
	if u, perr := url.Parse(base); perr == nil {
		shown = redacted(u)
	}
	return fmt.Sprintf("NOTE: PostgreSQL at %s is unreachable: the PostgreSQL test suites are SKIPPED (start it, set TEST_DATABASE_URL, or set REQUIRE_POSTGRES=1 to fail instead)", shown)
}

// redacted is u for messages: without the password of its user
// information or of its password query parameters.
func redacted(u *url.URL) string {
	c := *u
	q := c.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
		}
	}
	c.RawQuery = q.Encode()
	return c.Redacted()
}

func baseURL() string {
	if base := os.Getenv("TEST_DATABASE_URL"); base != "" {
		return base
	}
	return DefaultURL
}

// DefaultURL is used when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL creates a fresh, empty schema and returns a database URL whose
// search_path selects it, so tests can run in parallel without seeing each
// other's tables. The schema is dropped when the test ends; close stores
// opened on it before then (cleanups registered later run first).
func URL(t testing.TB) string {
	t.Helper()
	base := baseURL()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: TEST_DATABASE_URL must be a postgres:// URL")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("REQUIRE_POSTGRES") == "1" {
			t.Fatalf("pgtest: PostgreSQL at %s is required (REQUIRE_POSTGRES=1) but unreachable: %v", redacted(u), err)
		}
		t.Skipf("pgtest: skipping, PostgreSQL at %s is unreachable (set TEST_DATABASE_URL, or REQUIRE_POSTGRES=1 to fail instead): %v", redacted(u), err)
	}
	defer conn.Close(ctx)

	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails.
	schema := "test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
