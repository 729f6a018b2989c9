// Package storeopen opens the store.Store a database URL names. Accepted
// forms:
//
//   - postgres://... or postgresql://... : PostgreSQL (package postgres);
//     the URL is passed to pgx as is (a search_path parameter selects the
//     schema).
//   - a libpq key=value connection string ("host=db user=app dbname=pay"):
//     PostgreSQL, passed to pgx as is.
//   - sqlite:PATH : SQLite database file at PATH, relative to the working
//     directory unless absolute ("sqlite:data/paymentcompletion.db",
//     "sqlite:/var/lib/paymentcompletion/payments.db"). The URL form with an
//     empty host, "sqlite:///var/lib/...", names the absolute path.
//
// Query parameters are not interpreted in the SQLite form: the text after
// the prefix is the file path. Everything else (the empty string, other
// schemes, a bare path) is an error: a value that names no engine must
// never quietly become a SQLite file of its own.
//
// Passwords (in the URL's user information, a password query parameter or
// a password= key) never appear in Open's errors; Redact hides them for
// logs.
//
// Stores that can tell of changes made by other processes implement
// ChangeListener. The PostgreSQL store does; the SQLite store does not, so
// changes made by another process sharing its file are only seen when
// re-read:
//
//	if l, ok := s.(storeopen.ChangeListener); ok {
//		go l.ListenChanges(ctx, onChange)
//	}
package storeopen

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlite"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

// ChangeListener is implemented by stores that announce committed changes,
// including those of other replicas.
type ChangeListener interface {
	// ListenChanges calls fn with the checkout session ID of every changed
	// payment, and with "" when notifications may have been missed (after
	// a reconnect) so the subscriber re-reads what it follows. It blocks
	// until ctx ends.
	ListenChanges(ctx context.Context, fn func(checkoutSessionID string)) error
}

var _ ChangeListener = (*postgres.Store)(nil)

// Open opens the store named by databaseURL (see the package documentation
// for the accepted forms) and applies pending migrations.
func Open(ctx context.Context, databaseURL string) (store.Store, error) {
	kind, target, err := Parse(databaseURL)
	if err != nil {
		return nil, err
	}
	switch kind {
	case Postgres:
		s, err := postgres.Open(ctx, target)
		if err != nil {
			return nil, hideSecrets(err, databaseURL)
		}
		return s, nil
	default:
		s, err := sqlite.Open(ctx, target)
		if err != nil {
			// SQLite's own errors ("unable to open database file") do
			// not say which file.
			return nil, fmt.Errorf("SQLite database %s: %w", target, err)
		}
		return s, nil
	}
}

// OpenExisting is Open without migrating: a database whose schema lacks a
// migration of this binary is refused with an error wrapping
// sqlstore.ErrSchemaBehind (run Migrate first).
func OpenExisting(ctx context.Context, databaseURL string) (store.Store, error) {
	kind, target, err := Parse(databaseURL)
	if err != nil {
		return nil, err
	}
	if kind == Postgres {
		s, err := postgres.OpenExisting(ctx, target)
		if err != nil {
			return nil, hideSecrets(err, databaseURL)
		}
		return s, nil
	}
	s, err := sqlite.OpenExisting(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("SQLite database %s: %w", target, err)
	}
	return s, nil
}

// Migrate applies the pending migrations of the database databaseURL
// names, as Open does (with PostgreSQL under the same advisory lock, so
// starting replicas and this wait for each other), and returns the names
// of those it applied.
func Migrate(ctx context.Context, databaseURL string) ([]string, error) {
	kind, target, err := Parse(databaseURL)
	if err != nil {
		return nil, err
	}
	if kind == Postgres {
		applied, err := postgres.Migrate(ctx, target)
		if err != nil {
			return nil, hideSecrets(err, databaseURL)
		}
		return applied, nil
	}
	applied, err := sqlite.Migrate(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("SQLite database %s: %w", target, err)
	}
	return applied, nil
}

// MigrationStatus reports every migration of this binary and whether the
// database databaseURL names has it; it changes nothing.
func MigrationStatus(ctx context.Context, databaseURL string) ([]sqlstore.MigrationState, error) {
	kind, target, err := Parse(databaseURL)
	if err != nil {
		return nil, err
	}
	if kind == Postgres {
		states, err := postgres.MigrationStatus(ctx, target)
		if err != nil {
			return nil, hideSecrets(err, databaseURL)
		}
		return states, nil
	}
	states, err := sqlite.MigrationStatus(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("SQLite database %s: %w", target, err)
	}
	return states, nil
}

// Kind is a database engine.
type Kind string

// Engines Open can choose.
const (
	Postgres Kind = "postgres"
	SQLite   Kind = "sqlite"
)

// Parse tells which engine databaseURL names and what to pass it: the URL
// itself for PostgreSQL, the file path for SQLite. Open uses it; it is
// exported so configuration can be checked without opening anything.
func Parse(databaseURL string) (Kind, string, error) {
	u := strings.TrimSpace(databaseURL)
	lower := strings.ToLower(u)
	switch {
	case u == "":
		return "", "", errors.New("storeopen: empty database URL")
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return Postgres, u, nil
	case strings.HasPrefix(lower, "sqlite:"):
		return sqlitePath(u[len("sqlite:"):])
	case looksKeyValue(u):
		if _, err := parseKeyValue(u); err != nil {
			return "", "", fmt.Errorf("storeopen: PostgreSQL key=value connection string: %w", err)
		}
		return Postgres, u, nil
	case strings.Contains(u, "://"):
		scheme, _, _ := strings.Cut(u, "://")
		return "", "", fmt.Errorf("storeopen: unsupported database URL scheme %q (want postgres://, postgresql://, sqlite:PATH or a key=value connection string)", scheme)
	default:
		return "", "", errors.New("storeopen: database URL names no engine: want sqlite:PATH, postgres://user@host:port/db or a key=value connection string such as \"host=db dbname=pay\"")
	}
}

// sqlitePath accepts PATH or //PATH-with-empty-host after a sqlite: prefix.
func sqlitePath(rest string) (Kind, string, error) {
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		if !strings.HasPrefix(after, "/") {
			return "", "", fmt.Errorf("storeopen: SQLite URL with a host (%q): write sqlite:relative/path or sqlite:///absolute/path", "//"+after)
		}
		rest = after
	}
	if rest == "" {
		return "", "", errors.New("storeopen: SQLite URL without a path")
	}
	return SQLite, rest, nil
}
