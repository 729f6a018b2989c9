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
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
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

// options are the settings tests change.
type options struct {
	every         time.Duration // checkpointEvery
	restartFrames int           // restartFrames
	pacer         *commitPacer  // nil: newCommitPacer()
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
	if err := s.migrate(ctx); err != nil {
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

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own write transaction, so processes
// opening the same file at once apply each migration exactly once.
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
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// columns lists the payments columns in the order scanPayment reads them.
const columns = `checkout_session_id, order_id, charge_amount, charge_currency,
	total_amount, total_currency, outcome, charge_permission_id, charge_id,
	reason_code, charge_state, create_time, update_time, settle_time,
	next_check_time, check_attempts, lease_owner, version`

type scanner interface{ Scan(dest ...any) error }

func scanPayment(row scanner) (payment.Payment, error) {
	var (
		p                  payment.Payment
		totalAmt, totalCur sql.NullString
		outcome            string
		create, update     int64
		settle, next       sql.NullInt64
	)
	err := row.Scan(&p.CheckoutSessionID, &p.OrderID, &p.ChargeAmount.Amount, &p.ChargeAmount.CurrencyCode,
		&totalAmt, &totalCur, &outcome, &p.ChargePermissionID, &p.ChargeID,
		&p.ReasonCode, &p.ChargeState, &create, &update, &settle,
		&next, &p.CheckAttempts, &p.LeaseOwner, &p.Version)
	if err != nil {
		return payment.Payment{}, err
	}
	if totalAmt.Valid {
		p.TotalOrderAmount = &payment.Money{Amount: totalAmt.String, CurrencyCode: totalCur.String}
	}
	if p.Outcome, err = payment.ParseOutcome(outcome); err != nil {
		return payment.Payment{}, err
	}
	p.CreateTime = fromMicros(create)
	p.UpdateTime = fromMicros(update)
	if settle.Valid {
		p.SettleTime = fromMicros(settle.Int64)
	}
	if next.Valid {
		p.NextCheckTime = fromMicros(next.Int64)
	}
	return p, nil
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// micros converts t for storage; the zero time is stored as NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// getSQL reads one payment by its key.
const getSQL = `SELECT ` + columns + ` FROM payments WHERE checkout_session_id = ?`

// latestByOrderSQL reads the most recent payment of an order.
const latestByOrderSQL = `SELECT ` + columns + ` FROM payments
	WHERE order_id = ? ORDER BY create_time DESC, checkout_session_id DESC LIMIT 1`

// createSQL inserts an attempt and returns it in the same statement; a
// conflict returns no row, and the caller reads the existing payment.
const createSQL = `INSERT INTO payments (
		checkout_session_id, order_id, charge_amount, charge_currency,
		total_amount, total_currency, outcome, charge_permission_id, charge_id,
		reason_code, charge_state, create_time, update_time, settle_time,
		next_check_time, check_attempts, lease_owner, version)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, ?, 1)
	ON CONFLICT (checkout_session_id) DO NOTHING
	RETURNING ` + columns

const deleteSQL = `DELETE FROM payments
	WHERE checkout_session_id = ? AND outcome = ? AND lease_owner = ?`

// CreateAttempt implements store.Store.
func (s *Store) CreateAttempt(ctx context.Context, p payment.Payment, leaseOwner string) (payment.Payment, bool, error) {
	if err := sqlstore.CheckCreate(p, leaseOwner); err != nil {
		return payment.Payment{}, false, err
	}
	var totalAmt, totalCur any
	if p.TotalOrderAmount != nil {
		totalAmt, totalCur = p.TotalOrderAmount.Amount, p.TotalOrderAmount.CurrencyCode
	}
	var (
		stored  payment.Payment
		created bool
	)
	err := s.inTx(ctx, "create attempt", func(ctx context.Context, tx *sql.Tx) error {
		created = false // fn may run again; see writeOp.fn.
		var err error
		stored, err = scanPayment(tx.StmtContext(ctx, s.stmts.create).QueryRowContext(ctx,
			p.CheckoutSessionID, p.OrderID, p.ChargeAmount.Amount, p.ChargeAmount.CurrencyCode,
			totalAmt, totalCur, string(p.Outcome), p.ChargePermissionID, p.ChargeID,
			p.ReasonCode, p.ChargeState, micros(p.CreateTime), micros(p.UpdateTime),
			micros(p.NextCheckTime), leaseOwner))
		if err == nil {
			created = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		stored, err = scanPayment(tx.StmtContext(ctx, s.stmts.getForWrite).QueryRowContext(ctx, p.CheckoutSessionID))
		return err
	})
	if err != nil {
		return payment.Payment{}, false, err
	}
	return stored, created, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, checkoutSessionID string) (payment.Payment, error) {
	p, err := scanPayment(s.stmts.get.QueryRowContext(ctx, checkoutSessionID))
	if err != nil {
		return payment.Payment{}, wrap("get", err)
	}
	return p, nil
}

// GetLatestByOrder implements store.Store. Payments of one order created in
// the same microsecond are ordered by checkout session ID, so the answer is
// stable.
func (s *Store) GetLatestByOrder(ctx context.Context, orderID string) (payment.Payment, error) {
	p, err := scanPayment(s.stmts.latestByOrder.QueryRowContext(ctx, orderID))
	if err != nil {
		return payment.Payment{}, wrap("get latest by order", err)
	}
	return p, nil
}

// DeleteAttempt implements store.Store.
func (s *Store) DeleteAttempt(ctx context.Context, checkoutSessionID, leaseOwner string) error {
	if leaseOwner == "" {
		return fmt.Errorf("sqlite: delete attempt: empty lease owner: %w", store.ErrLeaseLost)
	}
	return s.inTx(ctx, "delete attempt", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.stmts.deleteAttempt).ExecContext(ctx,
			checkoutSessionID, string(payment.Completing), leaseOwner)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrLeaseLost
		}
		return nil
	})
}

var transitionSQL = `UPDATE payments SET
		outcome = :outcome,
		charge_permission_id = CASE WHEN :cpid <> '' THEN :cpid ELSE charge_permission_id END,
		charge_id = CASE WHEN :cid <> '' THEN :cid ELSE charge_id END,
		reason_code = CASE WHEN :reason <> '' THEN :reason ELSE reason_code END,
		charge_state = CASE WHEN :state <> '' THEN :state ELSE charge_state END,
		update_time = :time,
		settle_time = :settle,
		next_check_time = :next,
		check_attempts = check_attempts + :checked,
		lease_owner = '',
		version = version + 1
	WHERE checkout_session_id = :id AND ` + sqlstore.RankSQL("outcome") + ` < :rank
	RETURNING ` + columns

// Transition implements store.Store. The rank comparison is part of the
// UPDATE, so concurrent transitions cannot move a payment backwards.
func (s *Store) Transition(ctx context.Context, checkoutSessionID string, t payment.Transition) (payment.Payment, bool, error) {
	if err := sqlstore.CheckTransition(t); err != nil {
		return payment.Payment{}, false, err
	}
	var settle any
	if t.Outcome.Final() {
		settle = micros(t.Time)
	}
	var (
		stored  payment.Payment
		changed bool
	)
	err := s.inTx(ctx, "transition", func(ctx context.Context, tx *sql.Tx) error {
		changed = false // fn may run again; see writeOp.fn.
		var err error
		stored, err = scanPayment(tx.StmtContext(ctx, s.stmts.transition).QueryRowContext(ctx,
			sql.Named("outcome", string(t.Outcome)),
			sql.Named("cpid", t.ChargePermissionID),
			sql.Named("cid", t.ChargeID),
			sql.Named("reason", t.ReasonCode),
			sql.Named("state", t.ChargeState),
			sql.Named("time", micros(t.Time)),
			sql.Named("settle", settle),
			sql.Named("next", micros(t.NextCheckTime)),
			sql.Named("checked", checkedCount(t)),
			sql.Named("id", checkoutSessionID),
			sql.Named("rank", t.Outcome.Rank())))
		if err == nil {
			changed = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		stored, err = scanPayment(tx.StmtContext(ctx, s.stmts.getForWrite).QueryRowContext(ctx, checkoutSessionID))
		return err
	})
	if err != nil {
		return payment.Payment{}, false, err
	}
	return stored, changed, nil
}

// claimDueSQL selects the earliest due payments of the given outcomes (a
// JSON array). The partial index on (next_check_time, checkout_session_id)
// yields them in claim order, and the scan stops at the limit. It is named:
// without statistics SQLite would rather search the index on outcome, and
// sort every pending payment.
const claimDueSQL = `SELECT checkout_session_id FROM payments INDEXED BY payments_next_check_time
	WHERE next_check_time IS NOT NULL AND next_check_time <= ?
		AND outcome IN (SELECT value FROM json_each(?))
	ORDER BY next_check_time, checkout_session_id
	LIMIT ?`

// claimUpdateSQL leases the payments whose keys it is given (a JSON array).
const claimUpdateSQL = `UPDATE payments SET next_check_time = ?, lease_owner = ?
	WHERE checkout_session_id IN (SELECT value FROM json_each(?))
	RETURNING ` + columns

// ClaimDue implements store.Store. The partial index on next_check_time
// makes the scan read only due payments; the write lock taken at BEGIN makes
// the claim exclusive across processes sharing the file.
func (s *Store) ClaimDue(ctx context.Context, outcomes []payment.Outcome, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Payment, error) {
	if err := sqlstore.CheckClaim(outcomes, lease, owner); err != nil {
		return nil, err
	}
	if len(outcomes) == 0 || limit <= 0 {
		return nil, nil
	}
	names, err := json.Marshal(sqlstore.OutcomeNames(outcomes))
	if err != nil {
		return nil, err
	}
	var claimed []payment.Payment
	err = s.inTx(ctx, "claim due", func(ctx context.Context, tx *sql.Tx) error {
		claimed = nil // fn may run again; see writeOp.fn.
		rows, err := tx.StmtContext(ctx, s.stmts.claimDue).QueryContext(ctx, now.UnixMicro(), string(names), limit)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		idsJSON, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		rows, err = tx.StmtContext(ctx, s.stmts.claimUpdate).QueryContext(ctx, now.Add(lease).UnixMicro(), owner, string(idsJSON))
		if err != nil {
			return err
		}
		defer rows.Close()
		byID := make(map[string]payment.Payment, len(ids))
		for rows.Next() {
			p, err := scanPayment(rows)
			if err != nil {
				return err
			}
			byID[p.CheckoutSessionID] = p
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// RETURNING has no defined order; restore earliest due first.
		claimed = make([]payment.Payment, 0, len(ids))
		for _, id := range ids {
			claimed = append(claimed, byID[id])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Clip(claimed), nil
}

var rescheduleSQL = `UPDATE payments SET
		next_check_time = ?,
		check_attempts = check_attempts + 1,
		lease_owner = '',
		update_time = ?,
		version = version + 1
	WHERE checkout_session_id = ? AND lease_owner = ? AND ` + sqlstore.RankSQL("outcome") + ` < ?
	RETURNING ` + columns

// Reschedule implements store.Store. A payment that does not exist is not
// leased to owner, so it too gives store.ErrLeaseLost.
func (s *Store) Reschedule(ctx context.Context, checkoutSessionID, owner string, next, now time.Time) (payment.Payment, error) {
	if err := sqlstore.CheckReschedule(owner, next, now); err != nil {
		return payment.Payment{}, err
	}
	var stored payment.Payment
	err := s.inTx(ctx, "reschedule", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		stored, err = scanPayment(tx.StmtContext(ctx, s.stmts.reschedule).QueryRowContext(ctx,
			next.UnixMicro(), now.UnixMicro(), checkoutSessionID, owner, sqlstore.FinalRank))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrLeaseLost
		}
		return err
	})
	if err != nil {
		return payment.Payment{}, err
	}
	return stored, nil
}

// listSQL returns the statement of a List of n outcomes: one index range
// per outcome (payments_outcome_create_time, read backwards from the upper
// bound and stopping at the limit), merged by a sort of at most n*limit
// rows. Named parameters: :o1 ... :oN the outcomes, :from the start of the
// creation range, :at and :id its exclusive upper bound in List's order
// (sqlstore.ListBound), :limit.
func listSQL(n int) string {
	sub := func(i int) string {
		return fmt.Sprintf(`SELECT * FROM (SELECT %s FROM payments
		WHERE outcome = :o%d AND create_time >= :from
			AND create_time <= :at AND (create_time < :at OR checkout_session_id < :id)
		ORDER BY create_time DESC, checkout_session_id DESC LIMIT :limit)`, columns, i)
	}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString("\n\tUNION ALL ")
		}
		b.WriteString(sub(i))
	}
	b.WriteString("\n\tORDER BY create_time DESC, checkout_session_id DESC LIMIT :limit")
	return b.String()
}

// List implements store.Store. It reads on the read pool, in one
// statement and so one snapshot.
func (s *Store) List(ctx context.Context, q store.ListQuery) ([]payment.Payment, error) {
	outcomes, err := sqlstore.CheckList(q)
	if err != nil {
		return nil, err
	}
	from, at := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.CreatedFrom.IsZero() {
		from = q.CreatedFrom.UnixMicro()
	}
	bound, id := sqlstore.ListBound(q)
	if !bound.IsZero() {
		at = bound.UnixMicro()
	}
	args := []any{sql.Named("from", from), sql.Named("at", at), sql.Named("id", id), sql.Named("limit", q.Limit)}
	for i, o := range outcomes {
		args = append(args, sql.Named(fmt.Sprintf("o%d", i+1), string(o)))
	}
	rows, err := s.read.QueryContext(ctx, listSQL(len(outcomes)), args...)
	if err != nil {
		return nil, wrap("list", err)
	}
	defer rows.Close()
	var out []payment.Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, wrap("list", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list", err)
	}
	return out, nil
}

var extendLeaseSQL = `UPDATE payments SET next_check_time = ?
	WHERE checkout_session_id = ? AND lease_owner = ? AND ` + sqlstore.RankSQL("outcome") + ` < ?`

// ExtendLease implements store.Store.
func (s *Store) ExtendLease(ctx context.Context, checkoutSessionID, owner string, until time.Time) error {
	if owner == "" {
		return fmt.Errorf("sqlite: extend lease: empty lease owner: %w", store.ErrLeaseLost)
	}
	return s.inTx(ctx, "extend lease", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.stmts.extendLease).ExecContext(ctx,
			micros(until), checkoutSessionID, owner, sqlstore.FinalRank)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrLeaseLost
		}
		return nil
	})
}

// checkedCount is what a transition adds to check_attempts.
func checkedCount(t payment.Transition) int {
	if t.Checked {
		return 1
	}
	return 0
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
		s.stmts.claimDue, s.stmts.claimUpdate, s.stmts.reschedule,
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

// errClosed is returned by write calls made after Close.
var errClosed = errors.New("store closed")

// maxBatch bounds how many queued write operations share one commit, so a
// long queue cannot make one transaction (and the wait of its first
// caller) arbitrarily long.
const maxBatch = 128

// writeOp is one write operation waiting for the writer goroutine.
type writeOp struct {
	ctx context.Context
	// fn runs the operation in tx. It may run more than once: when an
	// operation of a batch fails, the writer rolls the batch back and runs
	// it again with savepoints (see commitBatch). So fn must only assign
	// its results, setting every one of them on each run, and never
	// accumulate state or act outside tx; the callers read the results
	// only after done delivered.
	fn func(context.Context, *sql.Tx) error
	// done receives fn's error, or the batch's, once the transaction that
	// ran fn has committed or rolled back. Buffered, so the writer never
	// waits for a caller that gave up.
	done chan error
}

// inTx runs fn in a write transaction and returns once that transaction
// is durably committed (or has failed). The writer goroutine commits the
// operations queued by concurrent callers together: one BEGIN IMMEDIATE
// and one COMMIT (one fsync) for the whole group, and a failing operation
// leaves the others' changes intact. fn may run more than once; see
// writeOp.fn.
func (s *Store) inTx(ctx context.Context, op string, fn func(context.Context, *sql.Tx) error) error {
	w := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- w:
	case <-ctx.Done():
		return wrap(op, ctx.Err())
	case <-s.quit:
		return wrap(op, errClosed)
	}
	select {
	case err := <-w.done:
		if err != nil {
			return wrap(op, err)
		}
		return nil
	case <-ctx.Done():
		// The operation may still commit; as with any interrupted write,
		// the caller cannot tell.
		return wrap(op, ctx.Err())
	}
}

// writer is the only goroutine writing to the database. It takes the first
// queued operation, then every operation already waiting (up to maxBatch),
// and commits them in one transaction; when the process is CPU-bound it
// first holds the batch open for more (see commitPacer).
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	step := time.NewTimer(time.Hour)
	step.Stop()
	for {
		select {
		case w := <-s.ops:
			batch = append(batch[:0], w)
		case <-s.quit:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case w := <-s.ops:
				batch = append(batch, w)
			default:
				break fill
			}
		}
		if len(batch) < maxBatch && s.pacer.linger(time.Now(), len(batch)) {
			batch = s.hold(batch, step)
		}
		s.commitBatch(batch)
		clear(batch)
		select {
		case s.wrote <- struct{}{}:
		default:
		}
		select {
		case <-s.restart:
			// Between two batches: see checkpointer.
			_ = s.checkpoint(s.write)
		default:
		}
	}
}

// hold keeps batch open for operations arriving within the pacer's
// lingerMax, while the CPU stays saturated, and returns it.
func (s *Store) hold(batch []*writeOp, step *time.Timer) []*writeOp {
	deadline := time.Now().Add(s.pacer.max)
	for len(batch) < maxBatch {
		wait := min(s.pacer.step, time.Until(deadline))
		if wait <= 0 {
			return batch
		}
		step.Reset(wait)
		select {
		case w := <-s.ops:
			step.Stop()
			batch = append(batch, w)
			s.pacer.joined(time.Now(), 1)
		case <-step.C:
			if !s.pacer.saturated() {
				return batch
			}
		case <-s.quit:
			step.Stop()
			return batch
		}
	}
	return batch
}

// checkpointer copies the WAL into the database file every s.every while
// there are writes, with PASSIVE checkpoints on its own connection: they
// run alongside the writer and readers, never waiting for them.
//
// A checkpoint lets the WAL start over from its beginning (instead of
// growing) once it has copied every frame: the next write transaction then
// restarts it, if no reader still uses the old frames. A saturated writer
// commits while each checkpoint runs, so one never copies every frame; and
// SQLite syncs the database file only in a checkpoint that does, so the
// pages copied meanwhile pile up unsynced. So once the WAL is longer than
// s.restartFrames, the checkpointer syncs the database file itself (the
// copied pages), then asks the writer to copy the few frames committed
// since, with a PASSIVE checkpoint of its own between two batches; that
// one copies every frame, so SQLite syncs the database file (only those
// few pages are left to write), and the batch after restarts the WAL. This
// short copy and sync is the only checkpoint work left on the commit path,
// at most once per round. A reader that holds an old snapshot across it,
// or another process writing in between, makes the WAL grow until a later
// round, as it would with SQLite's automatic checkpoint.
//
// The checkpointer returns after the writer has, with a last checkpoint.
func (s *Store) checkpointer() {
	defer close(s.checkpointerDone)
	timer := time.NewTimer(s.every)
	timer.Stop()
	for {
		select {
		case <-s.wrote:
		case <-s.writerDone:
			_ = s.checkpoint(s.ckpt)
			return
		}
		timer.Reset(s.every)
		select {
		case <-timer.C:
		case <-s.writerDone:
			_ = s.checkpoint(s.ckpt)
			return
		}
		if s.checkpoint(s.ckpt) > s.restartFrames {
			// An error leaves the pages to the writer's checkpoint.
			_ = s.file.f.Sync()
			select {
			case s.restart <- struct{}{}:
			default:
			}
		}
	}
}

// checkpoint runs a PASSIVE checkpoint on db and returns the length of the
// WAL in frames, or 0 if the checkpoint could not run (another process's
// checkpoint running, or an error; the next round tries again).
func (s *Store) checkpoint(db *sql.DB) (walFrames int) {
	var busy, copied int
	err := db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walFrames, &copied)
	if err != nil || busy != 0 {
		return 0
	}
	return walFrames
}

// commitBatch runs the operations of batch in one write transaction and
// reports to each caller only after COMMIT returned, that is after the WAL
// was synced (synchronous=FULL): nothing is acknowledged before it is
// durable.
//
// Savepoints cost three statements per operation, so they are used only
// when needed. A batch of one operation needs none: the transaction is the
// unit, rolled back if the operation fails. A larger batch first runs
// without savepoints; if an operation fails, the whole transaction is
// rolled back and the batch runs again with each operation under its own
// savepoint, so that the failing one leaves the others' changes intact.
// Failures are rare (a lost lease, a payment that disappeared), so the
// second run is too. The second run starts from a fresh transaction and
// every operation runs again, so nothing the first run's operations saw
// (such as a failed operation's partial writes) outlives it.
func (s *Store) commitBatch(batch []*writeOp) {
	results := make([]error, len(batch))
	live := 0
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			results[i] = err
			batch[i] = nil
			continue
		}
		live++
	}
	switch {
	case live == 0:
		deliver(batch, results, nil)
	case live == 1:
		deliver(batch, results, s.runBatch(batch, results))
	default:
		err := s.runBatch(batch, results)
		if errors.Is(err, errOpFailed) {
			err = s.runBatchSavepoints(batch, results)
		}
		deliver(batch, results, err)
	}
}

// errOpFailed is returned by runBatch when an operation of a batch of
// several failed and the batch was rolled back, to be run again with
// savepoints.
var errOpFailed = errors.New("operation failed")

// runBatch runs the live operations of batch in one transaction without
// savepoints and commits it, recording each operation's result in results.
// If an operation fails, the transaction is rolled back: with a single live
// operation, runBatch returns nil and results holds its error; with
// several, it stops at the failing one and returns errOpFailed. Any other
// error is the batch's.
func (s *Store) runBatch(batch []*writeOp, results []error) error {
	// Statements run under a context that callers cannot cancel: an
	// interrupt would abort the statement of another caller sharing the
	// transaction. A caller that gives up stops waiting instead.
	ctx := context.Background()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	live := 0
	for _, w := range batch {
		if w != nil {
			live++
		}
	}
	for i, w := range batch {
		if w == nil {
			continue
		}
		if results[i] = w.fn(ctx, tx); results[i] != nil {
			_ = tx.Rollback() // The operation's error is the one that matters.
			if live == 1 {
				return nil
			}
			return errOpFailed
		}
	}
	return tx.Commit()
}

// runBatchSavepoints runs the live operations of batch in one transaction,
// each under its own savepoint so that a failing one is undone alone, and
// commits it, recording each operation's result in results. The error
// returned is the batch's.
func (s *Store) runBatchSavepoints(batch []*writeOp, results []error) error {
	ctx := context.Background() // See runBatch.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	savepoint := tx.StmtContext(ctx, s.stmts.savepoint)
	release := tx.StmtContext(ctx, s.stmts.release)
	rollbackTo := tx.StmtContext(ctx, s.stmts.rollbackTo)
	for i, w := range batch {
		if w == nil {
			continue
		}
		if _, err := savepoint.ExecContext(ctx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if results[i] = w.fn(ctx, tx); results[i] != nil {
			// Undo this operation only; if even that fails the
			// transaction is unusable and the whole batch fails.
			if _, err := rollbackTo.ExecContext(ctx); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("%w (rolling back after: %w)", err, results[i])
			}
		}
		if _, err := release.ExecContext(ctx); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// deliver sends each waiting caller its result: batchErr, when the
// transaction as a whole failed, replaces every operation's own result.
func deliver(batch []*writeOp, results []error, batchErr error) {
	for i, w := range batch {
		if w == nil {
			continue
		}
		if batchErr != nil {
			w.done <- batchErr
			continue
		}
		w.done <- results[i]
	}
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
