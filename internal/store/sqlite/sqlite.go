// Package sqlite keeps payments in a SQLite database file (pure Go driver,
// no cgo). It suits a single replica; several processes may share the file
// on one host, since every write takes SQLite's write lock up front.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// write that returned has been synced to disk. Commits sync with
// fdatasync(2) where the platform has it, as SQLite built by its own
// configure script does on Linux: it syncs the data and the size, not the
// timestamps, and the WAL is rewritten in place once it starts over, so a
// commit does not wait for the file system's journal.
//
// Group commit: one goroutine runs every write, committing the writes
// queued together in one transaction and one sync. When the process is
// CPU-bound it holds a small batch open for up to a few milliseconds so
// that more writes share the sync (see commitPacer); otherwise it commits
// at once.
//
// Checkpoints: SQLite's automatic checkpoint is off, since it runs inside
// the commit that crosses its threshold and stalls that commit and every
// caller sharing it. A background goroutine of the Store instead copies the
// WAL into the database file on a connection of its own (see checkpointer).
// Every process sharing the file runs its own; SQLite lets one checkpoint
// run at a time, and the others skip their round.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// cacheKiB is the write connection's page cache. SQLite's default (2 MiB)
// holds a small part of the payments table's and indexes' pages, and
// checkout session IDs are random, so most writes would read their pages
// back from the file first; 64 MiB keeps a few hundred thousand payments'
// pages in memory (BenchmarkCompletionWrites over 100,000 payments: half the
// bytes read per completion). The read connections keep the default.
const cacheKiB = 64 << 10

// busyTimeout bounds how long a statement waits for another process's
// write lock before failing with store.ErrUnavailable.
const busyTimeout = 10 * time.Second

// checkpointEvery is how often the checkpointer copies the WAL into the
// database file while there are writes.
const checkpointEvery = 500 * time.Millisecond

// restartFrames is the WAL length, in frames (pages; 4 KiB each by
// default), past which the checkpointer makes sure the WAL starts over from
// its beginning, which bounds its file at about this size plus what is
// written in one checkpointEvery. See checkpointer.
const restartFrames = 4096

// Store is a store.Store backed by one SQLite database file.
type Store struct {
	// write has exactly one connection: SQLite allows one writer at a
	// time, and queueing writers in the pool (which honours contexts)
	// rather than in SQLite's busy handler keeps this process from ever
	// seeing SQLITE_BUSY from itself.
	write *sql.DB
	// read serves Get and GetLatestByOrder; in WAL mode readers never
	// block the writer or each other.
	read *sql.DB

	// stmts are prepared once at Open; database/sql keeps each prepared
	// per connection, so a call only binds and steps.
	stmts statements

	// ops carries write operations to the writer goroutine, which commits
	// the ones queued together in one transaction (group commit).
	ops chan *writeOp
	// pacer decides when the writer holds a batch open; writer only.
	pacer *commitPacer
	// quit stops the writer; writerDone is closed when it has returned.
	quit       chan struct{}
	closeOnce  sync.Once
	writerDone chan struct{}

	// ckpt has the one connection the checkpointer runs on, and file is
	// the database file it syncs.
	ckpt *sql.DB
	file *dbFile
	// wrote holds a token when the writer ran a batch since the
	// checkpointer last took it.
	wrote chan struct{}
	// restart holds a token when the checkpointer asks the writer to copy
	// the last few WAL frames itself, between two batches (see
	// checkpointer).
	restart chan struct{}
	// checkpointerDone is closed when the checkpointer has returned,
	// after the writer and after a last checkpoint.
	checkpointerDone chan struct{}
	// every and restartFrames are checkpointEvery and restartFrames,
	// changed by tests only.
	every         time.Duration
	restartFrames int
	// applied names the migrations Open applied.
	applied []string
}

// statements are the prepared statements of the store: the write ones on
// the single write connection, the read ones on the read pool.
type statements struct {
	create, getForWrite, deleteAttempt, transition *sql.Stmt
	claimDue, claimUpdate, reschedule, extendLease *sql.Stmt
	savepoint, release, rollbackTo                 *sql.Stmt
	get, latestByOrder, ping                       *sql.Stmt
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed, with its parent directory) the database
// file at path and applies any pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, options{every: checkpointEvery, restartFrames: restartFrames})
}

// OpenExisting is Open without migrating: a database whose schema lacks a
// migration of this binary is refused with an error wrapping
// sqlstore.ErrSchemaBehind.
func OpenExisting(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, options{every: checkpointEvery, restartFrames: restartFrames, noMigrate: true})
}

// Migrate applies the pending migrations of the database file at path
// (creating it if needed), as Open does, and returns the names of those
// it applied. Each runs in a write transaction, so a server using the file
// meanwhile waits for it.
func Migrate(ctx context.Context, path string) ([]string, error) {
	s, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	applied := s.applied
	return applied, s.Close()
}

// MigrationStatus reports every migration of this binary and whether the
// database file at path has it. It changes nothing (a missing file has
// none).
func MigrationStatus(ctx context.Context, path string) ([]sqlstore.MigrationState, error) {
	ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return sqlstore.States(ms, nil), nil
	}
	db, err := sql.Open("sqlite", fileURI(path)+fmt.Sprintf("?mode=ro&_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer db.Close()
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return nil, err
	}
	return sqlstore.States(ms, applied), nil
}

// appliedVersions reads the versions schema_migrations records (none
// without the table).
func appliedVersions(ctx context.Context, db *sql.DB) (map[int]bool, error) {
	applied := map[int]bool{}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, wrap("migration status", err)
	}
	if n == 0 {
		return applied, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, wrap("migration status", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, wrap("migration status", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("migration status", err)
	}
	return applied, nil
}

// options are the settings tests change.
type options struct {
	every         time.Duration // checkpointEvery
	restartFrames int           // restartFrames
	pacer         *commitPacer  // nil: newCommitPacer()
	// noMigrate refuses a schema that is behind instead of migrating it.
	noMigrate bool
}

// open is Open with the given settings.
func open(ctx context.Context, path string, o options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	// Process-wide and the same for every Store; where fdatasync does not
	// exist (macOS, Windows) SQLite keeps its own full sync.
	_, _ = sqlite3.Fdatasync(true)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create database directory: %w", err)
	}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeout.Milliseconds())
	// _txlock=immediate makes every transaction take the write lock at
	// BEGIN, so two processes never deadlock upgrading read locks.
	// wal_autocheckpoint(0): the checkpointer does it, off the commit path.
	write, err := sql.Open("sqlite", fileURI(path)+"?"+common+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate"+
		fmt.Sprintf("&_pragma=cache_size(%d)", -cacheKiB))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	s := &Store{write: write, every: o.every, restartFrames: o.restartFrames, pacer: o.pacer}
	if s.pacer == nil {
		s.pacer = newCommitPacer()
	}
	if o.noMigrate {
		err = s.checkCurrent(ctx)
	} else {
		err = s.migrate(ctx)
	}
	if err != nil {
		write.Close()
		return nil, err
	}
	read, err := sql.Open("sqlite", fileURI(path)+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	s.read = read
	// The checkpointer's connection has SQLite sync the database file
	// before the WAL may be reused (synchronous=FULL), and waits little for
	// locks: a PASSIVE checkpoint never waits.
	ckpt, err := sql.Open("sqlite", fileURI(path)+"?_pragma=busy_timeout(100)&_pragma=synchronous(FULL)")
	if err != nil {
		_ = read.Close()
		_ = write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	ckpt.SetMaxIdleConns(1)
	ckpt.SetConnMaxLifetime(0)
	ckpt.SetConnMaxIdleTime(0)
	s.ckpt = ckpt
	if err := s.prepare(ctx); err != nil {
		_ = ckpt.Close()
		_ = read.Close()
		_ = write.Close()
		return nil, err
	}
	if s.file, err = acquireDBFile(path); err != nil {
		_ = ckpt.Close()
		_ = read.Close()
		_ = write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.ops = make(chan *writeOp)
	s.quit = make(chan struct{})
	s.writerDone = make(chan struct{})
	s.wrote = make(chan struct{}, 1)
	s.wrote <- struct{}{} // Whatever the migrations wrote.
	s.restart = make(chan struct{}, 1)
	s.checkpointerDone = make(chan struct{})
	go s.writer()
	go s.checkpointer()
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepare prepares every statement the store runs after Open.
func (s *Store) prepare(ctx context.Context) error {
	list := []struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}{
		{s.write, &s.stmts.create, createSQL},
		{s.write, &s.stmts.getForWrite, getSQL},
		{s.write, &s.stmts.deleteAttempt, deleteSQL},
		{s.write, &s.stmts.transition, transitionSQL},
		{s.write, &s.stmts.claimDue, claimDueSQL},
		{s.write, &s.stmts.claimUpdate, claimUpdateSQL},
		{s.write, &s.stmts.reschedule, rescheduleSQL},
		{s.write, &s.stmts.extendLease, extendLeaseSQL},
		{s.write, &s.stmts.savepoint, `SAVEPOINT op`},
		{s.write, &s.stmts.release, `RELEASE op`},
		{s.write, &s.stmts.rollbackTo, `ROLLBACK TO op`},
		{s.read, &s.stmts.get, getSQL},
		{s.read, &s.stmts.latestByOrder, latestByOrderSQL},
		{s.read, &s.stmts.ping, `SELECT 1 FROM sqlite_schema LIMIT 1`},
	}
	for _, st := range list {
		stmt, err := st.db.PrepareContext(ctx, st.text)
		if err != nil {
			return wrap("prepare", err)
		}
		*st.dst = stmt
	}
	return nil
}

// fileURI turns a file path into an SQLite URI filename, escaping the
// characters URIs give a meaning to.
func fileURI(path string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path)
}

// checkCurrent returns an error wrapping sqlstore.ErrSchemaBehind when
// the database lacks a migration.
func (s *Store) checkCurrent(ctx context.Context) error {
	ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, s.write)
	if err != nil {
		return err
	}
	if err := sqlstore.CheckCurrent(sqlstore.States(ms, applied)); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own write transaction, so processes
// opening the same file at once apply each migration exactly once; their
// names are kept in s.applied.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	for _, m := range ms {
		err := s.migrateTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version      INTEGER NOT NULL PRIMARY KEY,
				name         TEXT    NOT NULL,
				applied_time INTEGER NOT NULL
			) STRICT`); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_time) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UnixMicro())
			if err == nil {
				s.applied = append(s.applied, m.Name)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.stmts.ping.QueryRowContext(ctx).Scan(&one); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Close implements store.Store. It waits for the batch being committed, if
// any, and for a last checkpoint; write calls made after Close fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.quit != nil {
			close(s.quit)
			<-s.writerDone
			<-s.checkpointerDone
		}
	})
	var errs []error
	for _, st := range []*sql.Stmt{
		s.stmts.create, s.stmts.getForWrite, s.stmts.deleteAttempt, s.stmts.transition,
		s.stmts.claimDue, s.stmts.claimUpdate, s.stmts.reschedule, s.stmts.extendLease,
		s.stmts.savepoint, s.stmts.release, s.stmts.rollbackTo,
		s.stmts.get, s.stmts.latestByOrder, s.stmts.ping,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.Close())
	}
	errs = append(errs, s.write.Close())
	if s.file != nil {
		// After the connections: see dbFile.
		errs = append(errs, s.file.release())
	}
	return errors.Join(errs...)
}

// migrateTx runs fn in one write transaction on the write connection; it
// serves the migrations, which run before the writer goroutine starts.
func (s *Store) migrateTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return wrap("migrate", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // The error from fn is the one that matters.
		return wrap("migrate", err)
	}
	if err := tx.Commit(); err != nil {
		return wrap("migrate", err)
	}
	return nil
}

// wrap adds the operation to err and maps it to the store's errors: no row
// to store.ErrNotFound, and failures to reach the database file (locked
// past the busy timeout, I/O errors, disk full, cannot open) to
// store.ErrUnavailable.
func wrap(op string, err error) error {
	if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED, sqlite3lib.SQLITE_IOERR,
			sqlite3lib.SQLITE_CANTOPEN, sqlite3lib.SQLITE_FULL, sqlite3lib.SQLITE_PROTOCOL:
			return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
