// Package postgres keeps payments in PostgreSQL (pgx, pgxpool). Several
// replicas may share one database: claims use FOR UPDATE SKIP LOCKED so
// replicas get disjoint due payments, migrations are serialized by an
// advisory lock, and every change of a payment other than a claim is
// announced on the payment_changed channel (see Store.ListenChanges).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ChangeChannel is the notification channel every change of a payment
// other than a claim is announced on, with the checkout session ID as
// payload.
const ChangeChannel = "payment_changed"

// migrationLockKey is the pg_advisory_xact_lock key that serializes
// migrations of replicas starting at once ("paycomp" in ASCII).
const migrationLockKey int64 = 0x70617963_6f6d70

// Store is a store.Store backed by PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	// listenConfig is the pool's connection configuration; ListenChanges
	// dials its own connection from it, since LISTEN binds a session.
	listenConfig *pgx.ConnConfig
	// listenIdleCheck is how long a LISTEN connection may stay silent
	// before ListenChanges checks it: the constant of that name, unless a
	// test shortens it.
	listenIdleCheck time.Duration
	// listenPID is the server process of the current LISTEN connection
	// (0 when none), so tests can cut it.
	listenPID atomic.Uint32
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value
// connection string; a search_path parameter selects the schema) and
// applies any pending migrations. A database that cannot be reached gives
// an error wrapping store.ErrUnavailable.
func Open(ctx context.Context, url string) (*Store, error) {
	s, _, err := open(ctx, url, true)
	return s, err
}

// OpenExisting is Open without migrating: a database whose schema lacks a
// migration of this binary is refused with an error wrapping
// sqlstore.ErrSchemaBehind.
func OpenExisting(ctx context.Context, url string) (*Store, error) {
	s, _, err := open(ctx, url, false)
	return s, err
}

// Migrate applies the pending migrations of the database at url, as Open
// does (under the same advisory lock), and returns the names of those it
// applied.
func Migrate(ctx context.Context, url string) ([]string, error) {
	s, applied, err := open(ctx, url, true)
	if err != nil {
		return nil, err
	}
	s.pool.Close()
	return applied, nil
}

// MigrationStatus reports every migration of this binary and whether the
// database at url has it. It changes nothing.
func MigrationStatus(ctx context.Context, url string) ([]sqlstore.MigrationState, error) {
	s, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer s.pool.Close()
	return s.migrationStatus(ctx)
}

// open connects and then migrates, or checks the schema is current.
func open(ctx context.Context, url string, migrate bool) (*Store, []string, error) {
	s, err := connect(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	if !migrate {
		states, err := s.migrationStatus(ctx)
		if err == nil {
			err = sqlstore.CheckCurrent(states)
		}
		if err != nil {
			s.pool.Close()
			return nil, nil, fmt.Errorf("postgres: %w", err)
		}
		return s, nil, nil
	}
	applied, err := s.migrate(ctx)
	if err != nil {
		s.pool.Close()
		return nil, nil, err
	}
	return s, applied, nil
}

// connect opens the pool and pings the database.
func connect(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("postgres: invalid database URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("open", err)
	}
	s := &Store{pool: pool, listenConfig: cfg.ConnConfig.Copy(), listenIdleCheck: listenIdleCheck}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// migrationStatus reads which migrations schema_migrations records.
func (s *Store) migrationStatus(ctx context.Context) ([]sqlstore.MigrationState, error) {
	ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	applied := map[int]bool{}
	var exists bool
	// to_regclass follows search_path, as the migrations do.
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, wrap("migration status", err)
	}
	if exists {
		rows, err := s.pool.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return nil, wrap("migration status", err)
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return nil, wrap("migration status", err)
		}
		for _, v := range versions {
			applied[int(v)] = true
		}
	}
	return sqlstore.States(ms, applied), nil
}

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own transaction holding an advisory lock,
// so replicas starting together apply each migration exactly once. It
// returns the names of the migrations it applied.
func (s *Store) migrate(ctx context.Context) ([]string, error) {
	ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var done []string
	for _, m := range ms {
		ran := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
					version      integer     NOT NULL PRIMARY KEY,
					name         text        NOT NULL,
					applied_time timestamptz NOT NULL DEFAULT now()
				)`); err != nil {
				return err
			}
			var applied bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&applied); err != nil {
				return err
			}
			if applied {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			ran = err == nil
			return err
		})
		if err != nil {
			return nil, wrap("migrate", err)
		}
		if ran {
			done = append(done, m.Name)
		}
	}
	return done, nil
}

var columnNames = []string{
	"checkout_session_id", "order_id", "charge_amount", "charge_currency",
	"total_amount", "total_currency", "outcome", "charge_permission_id", "charge_id",
	"reason_code", "charge_state", "create_time", "update_time", "settle_time",
	"next_check_time", "check_attempts", "lease_owner", "version", "trace_parent",
}

// columns lists the payments columns in the order scanPayment reads them.
var columns = strings.Join(columnNames, ", ")

// scanPayment reads a row of columns.
func scanPayment(row pgx.Row) (payment.Payment, error) {
	var (
		p                  payment.Payment
		totalAmt, totalCur *string
		outcome            string
		settle, next       *time.Time
		traceParent        *string
	)
	err := row.Scan(&p.CheckoutSessionID, &p.OrderID, &p.ChargeAmount.Amount, &p.ChargeAmount.CurrencyCode,
		&totalAmt, &totalCur, &outcome, &p.ChargePermissionID, &p.ChargeID,
		&p.ReasonCode, &p.ChargeState, &p.CreateTime, &p.UpdateTime, &settle,
		&next, &p.CheckAttempts, &p.LeaseOwner, &p.Version, &traceParent)
	if err != nil {
		return payment.Payment{}, err
	}
	if traceParent != nil {
		p.TraceParent = *traceParent
	}
	if totalAmt != nil && totalCur != nil {
		p.TotalOrderAmount = &payment.Money{Amount: *totalAmt, CurrencyCode: *totalCur}
	}
	if p.Outcome, err = payment.ParseOutcome(outcome); err != nil {
		return payment.Payment{}, err
	}
	p.CreateTime = p.CreateTime.UTC()
	p.UpdateTime = p.UpdateTime.UTC()
	if settle != nil {
		p.SettleTime = settle.UTC()
	}
	if next != nil {
		p.NextCheckTime = next.UTC()
	}
	return p, nil
}

// nullString stores "" as NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nullTime converts t for storage; the zero time is stored as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

var getSQL = `SELECT ` + columns + ` FROM payments WHERE checkout_session_id = $1`

var createSQL = `INSERT INTO payments (
		checkout_session_id, order_id, charge_amount, charge_currency,
		total_amount, total_currency, outcome, charge_permission_id, charge_id,
		reason_code, charge_state, create_time, update_time, settle_time,
		next_check_time, check_attempts, lease_owner, version, trace_parent)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, $14, 0, $15, 1, $16)
	ON CONFLICT (checkout_session_id) DO NOTHING
	RETURNING ` + columns

// CreateAttempt implements store.Store. The unique key decides between
// concurrent duplicates: the losers' INSERT waits for the winner's commit and
// then does nothing.
func (s *Store) CreateAttempt(ctx context.Context, p payment.Payment, leaseOwner string) (payment.Payment, bool, error) {
	if err := sqlstore.CheckCreate(p, leaseOwner); err != nil {
		return payment.Payment{}, false, err
	}
	var totalAmt, totalCur *string
	if p.TotalOrderAmount != nil {
		totalAmt, totalCur = &p.TotalOrderAmount.Amount, &p.TotalOrderAmount.CurrencyCode
	}
	// The existing row can be deleted (DeleteAttempt) between the INSERT
	// that saw it and the SELECT that reads it; then insert again.
	for range 3 {
		stored, err := scanPayment(s.pool.QueryRow(ctx, createSQL,
			p.CheckoutSessionID, p.OrderID, p.ChargeAmount.Amount, p.ChargeAmount.CurrencyCode,
			totalAmt, totalCur, string(p.Outcome), p.ChargePermissionID, p.ChargeID,
			p.ReasonCode, p.ChargeState, p.CreateTime, p.UpdateTime,
			p.NextCheckTime, leaseOwner, nullString(p.TraceParent)))
		if err == nil {
			return stored, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return payment.Payment{}, false, wrap("create attempt", err)
		}
		stored, err = scanPayment(s.pool.QueryRow(ctx, getSQL, p.CheckoutSessionID))
		if err == nil {
			return stored, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return payment.Payment{}, false, wrap("create attempt", err)
		}
	}
	return payment.Payment{}, false, errors.New("postgres: create attempt: payment keeps appearing and disappearing")
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, checkoutSessionID string) (payment.Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, getSQL, checkoutSessionID))
	if err != nil {
		return payment.Payment{}, wrap("get", err)
	}
	return p, nil
}

var latestSQL = `SELECT ` + columns + ` FROM payments
	WHERE order_id = $1 ORDER BY create_time DESC, checkout_session_id DESC LIMIT 1`

// GetLatestByOrder implements store.Store. Payments of one order created in
// the same microsecond are ordered by checkout session ID, so the answer is
// stable.
func (s *Store) GetLatestByOrder(ctx context.Context, orderID string) (payment.Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, latestSQL, orderID))
	if err != nil {
		return payment.Payment{}, wrap("get latest by order", err)
	}
	return p, nil
}

// Backlog implements store.Backlogger. It reads the partial index of
// scheduled payments, so its cost grows with the unsettled payments only.
func (s *Store) Backlog(ctx context.Context) ([]store.Backlog, error) {
	rows, err := s.pool.Query(ctx, `SELECT outcome, count(*), min(create_time), min(next_check_time)
		FROM payments WHERE next_check_time IS NOT NULL GROUP BY outcome`)
	if err != nil {
		return nil, wrap("backlog", err)
	}
	defer rows.Close()
	var out []store.Backlog
	for rows.Next() {
		var (
			b             store.Backlog
			outcome       string
			create, check time.Time
		)
		if err := rows.Scan(&outcome, &b.Count, &create, &check); err != nil {
			return nil, wrap("backlog", err)
		}
		b.Outcome, b.OldestCreateTime, b.EarliestCheckTime = payment.Outcome(outcome), create.UTC(), check.UTC()
		if !b.Outcome.Final() {
			out = append(out, b)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("backlog", err)
	}
	return out, nil
}

// DeleteAttempt implements store.Store.
func (s *Store) DeleteAttempt(ctx context.Context, checkoutSessionID, leaseOwner string) error {
	if leaseOwner == "" {
		return fmt.Errorf("postgres: delete attempt: empty lease owner: %w", store.ErrLeaseLost)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM payments
		WHERE checkout_session_id = $1 AND outcome = $2 AND lease_owner = $3`,
		checkoutSessionID, string(payment.Completing), leaseOwner)
	if err != nil {
		return wrap("delete attempt", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete attempt: %w", store.ErrLeaseLost)
	}
	return nil
}

var transitionSQL = `UPDATE payments SET
		outcome = $2,
		charge_permission_id = CASE WHEN $3 <> '' THEN $3 ELSE charge_permission_id END,
		charge_id = CASE WHEN $4 <> '' THEN $4 ELSE charge_id END,
		reason_code = CASE WHEN $5 <> '' THEN $5 ELSE reason_code END,
		charge_state = CASE WHEN $6 <> '' THEN $6 ELSE charge_state END,
		update_time = $7,
		settle_time = $8,
		next_check_time = CASE WHEN nudged AND $9::timestamptz > $7::timestamptz THEN $7::timestamptz ELSE $9::timestamptz END,
		nudged = false,
		check_attempts = check_attempts + $11,
		lease_owner = '',
		version = version + 1
	WHERE checkout_session_id = $1 AND ` + sqlstore.RankSQL("outcome") + ` < $10
	RETURNING ` + columns

// Transition implements store.Store. The rank comparison is part of the
// UPDATE's WHERE clause, which PostgreSQL re-evaluates against the latest
// row version when a concurrent writer got there first, so nothing moves
// backwards.
func (s *Store) Transition(ctx context.Context, checkoutSessionID string, t payment.Transition) (payment.Payment, bool, error) {
	if err := sqlstore.CheckTransition(t); err != nil {
		return payment.Payment{}, false, err
	}
	var settle any
	if t.Outcome.Final() {
		settle = t.Time
	}
	checked := 0
	if t.Checked {
		checked = 1
	}
	args := []any{checkoutSessionID, string(t.Outcome), t.ChargePermissionID, t.ChargeID,
		t.ReasonCode, t.ChargeState, t.Time, settle, nullTime(t.NextCheckTime), t.Outcome.Rank(), checked}
	var (
		stored payment.Payment
		err    error
	)
	if t.Then == nil {
		stored, err = scanPayment(s.pool.QueryRow(ctx, transitionSQL, args...))
	} else {
		// The operations that follow commit with the transition or not at all.
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			if stored, err = scanPayment(tx.QueryRow(ctx, transitionSQL, args...)); err != nil {
				return err
			}
			return insertFollowing(ctx, tx, t.Then(stored))
		})
	}
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return payment.Payment{}, false, wrap("transition", err)
	}
	// Not changed: report the row as it stands now (a new statement, so a
	// concurrent transition that won is visible).
	stored, err = scanPayment(s.pool.QueryRow(ctx, getSQL, checkoutSessionID))
	if err != nil {
		return payment.Payment{}, false, wrap("transition", err)
	}
	return stored, false, nil
}

// claimDueSQL locks the earliest due rows, skipping those another claimer
// holds locked right now. The partial index on (next_check_time,
// checkout_session_id) yields them in claim order and the scan stops at the
// limit, so the cost follows the due payments, not the stored ones.
const claimDueSQL = `SELECT checkout_session_id
	FROM payments
	WHERE next_check_time <= $1 AND outcome = ANY($2)
	ORDER BY next_check_time, checkout_session_id
	LIMIT $3
	FOR UPDATE SKIP LOCKED`

// claimSQL leases the locked rows by primary key. It is a separate
// statement rather than a join with claimDueSQL so that no plan, generic
// or custom, can turn it into a scan of the whole table.
var claimSQL = `UPDATE payments SET next_check_time = $2, lease_owner = $3, nudged = false
	WHERE checkout_session_id = ANY($1)
	RETURNING ` + columns

// ClaimDue implements store.Store. It does not change Version: a claim only
// moves the lease.
func (s *Store) ClaimDue(ctx context.Context, outcomes []payment.Outcome, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Payment, error) {
	if err := sqlstore.CheckClaim(outcomes, lease, owner); err != nil {
		return nil, err
	}
	if len(outcomes) == 0 || limit <= 0 {
		return nil, nil
	}
	var claimed []payment.Payment
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, claimDueSQL, now, sqlstore.OutcomeNames(outcomes), limit)
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
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, claimSQL, ids, now.Add(lease), owner)
		if err != nil {
			return err
		}
		byID := make(map[string]payment.Payment, len(ids))
		for rows.Next() {
			p, err := scanPayment(rows)
			if err != nil {
				rows.Close()
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
		return nil, wrap("claim due", err)
	}
	return claimed, nil
}

var rescheduleSQL = `UPDATE payments SET
		next_check_time = CASE WHEN nudged AND $3::timestamptz > $4::timestamptz THEN $4::timestamptz ELSE $3::timestamptz END,
		nudged = false,
		check_attempts = check_attempts + 1,
		lease_owner = '',
		update_time = $4,
		version = version + 1
	WHERE checkout_session_id = $1 AND lease_owner = $2 AND ` + sqlstore.RankSQL("outcome") + ` < $5
	RETURNING ` + columns

// Reschedule implements store.Store. A payment that does not exist is not
// leased to owner, so it too gives store.ErrLeaseLost.
func (s *Store) Reschedule(ctx context.Context, checkoutSessionID, owner string, next, now time.Time) (payment.Payment, error) {
	if err := sqlstore.CheckReschedule(owner, next, now); err != nil {
		return payment.Payment{}, err
	}
	p, err := scanPayment(s.pool.QueryRow(ctx, rescheduleSQL, checkoutSessionID, owner, next, now, sqlstore.FinalRank))
	if errors.Is(err, pgx.ErrNoRows) {
		return payment.Payment{}, fmt.Errorf("postgres: reschedule: %w", store.ErrLeaseLost)
	}
	if err != nil {
		return payment.Payment{}, wrap("reschedule", err)
	}
	return p, nil
}

// listSQL returns the statement of a List of n outcomes: one index range
// per outcome (payments_outcome_create_time, scanned backwards from the
// upper bound and stopping at the limit), merged in order. Parameters: $1
// the start of the creation range, $2 and $3 its exclusive upper bound in
// List's order (sqlstore.ListBound), $4 the limit, $5 ... the outcomes.
func listSQL(n int, unknownOps bool) string {
	filter := ""
	if unknownOps {
		// The time follows the outcomes' parameters.
		filter = " AND " + sqlstore.UnknownOperationsSQL(fmt.Sprintf("$%d", 5+n))
	}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("\n\tUNION ALL ")
		}
		fmt.Fprintf(&b, `(SELECT %s FROM payments
		WHERE outcome = $%d AND create_time >= $1
			AND (create_time, checkout_session_id) < ($2, $3)%s
		ORDER BY create_time DESC, checkout_session_id DESC LIMIT $4)`, columns, 5+i, filter)
	}
	if n == 1 {
		return strings.TrimSuffix(strings.TrimPrefix(b.String(), "("), ")")
	}
	b.WriteString("\n\tORDER BY create_time DESC, checkout_session_id DESC LIMIT $4")
	return b.String()
}

// List implements store.Store, in one statement and so one snapshot.
func (s *Store) List(ctx context.Context, q store.ListQuery) ([]payment.Payment, error) {
	outcomes, err := sqlstore.CheckList(q)
	if err != nil {
		return nil, err
	}
	bound := func(t time.Time, inf pgtype.InfinityModifier) pgtype.Timestamptz {
		if t.IsZero() {
			return pgtype.Timestamptz{InfinityModifier: inf, Valid: true}
		}
		return pgtype.Timestamptz{Time: t, Valid: true}
	}
	at, id := sqlstore.ListBound(q)
	args := []any{bound(q.CreatedFrom, pgtype.NegativeInfinity), bound(at, pgtype.Infinity), id, q.Limit}
	for _, o := range outcomes {
		args = append(args, string(o))
	}
	unknownOps := !q.UnknownOperationsBefore.IsZero()
	if unknownOps {
		args = append(args, q.UnknownOperationsBefore)
	}
	rows, err := s.pool.Query(ctx, listSQL(len(outcomes), unknownOps), args...)
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

// ExtendLease implements store.Store.
func (s *Store) ExtendLease(ctx context.Context, checkoutSessionID, owner string, until time.Time) error {
	if owner == "" {
		return fmt.Errorf("postgres: extend lease: empty lease owner: %w", store.ErrLeaseLost)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE payments SET next_check_time = $3
		WHERE checkout_session_id = $1 AND lease_owner = $2 AND `+sqlstore.RankSQL("outcome")+` < $4`,
		checkoutSessionID, owner, until, sqlstore.FinalRank)
	if err != nil {
		return wrap("extend lease", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: extend lease: %w", store.ErrLeaseLost)
	}
	return nil
}

// nudgeSQL is the Nudge of the payments whose col (charge_id or
// charge_permission_id) is $1; the partial index on col finds them. The
// row lock orders it with a concurrent claim: either the claim sees the
// earlier due time, or the nudge sees the lease and marks the row.
func nudgeSQL(col string) string {
	return `UPDATE payments SET
		next_check_time = CASE WHEN lease_owner = '' OR next_check_time <= $2
			THEN LEAST(next_check_time, $2) ELSE next_check_time END,
		nudged = CASE WHEN lease_owner = '' OR next_check_time <= $2 THEN nudged ELSE true END
	WHERE ` + col + ` = $1 AND ` + col + ` <> '' AND next_check_time IS NOT NULL`
}

// Nudge implements store.Store; it is committed when it returns.
func (s *Store) Nudge(ctx context.Context, ref store.ObjectRef, now time.Time) (int, error) {
	col, err := sqlstore.NudgeColumn(ref, now)
	if err != nil {
		return 0, err
	}
	var n int64
	if col != "" {
		tag, err := s.pool.Exec(ctx, nudgeSQL(col), ref.ID, now)
		if err != nil {
			return 0, wrap("nudge", err)
		}
		n = tag.RowsAffected()
	}
	m, err := s.nudgeOperations(ctx, ref, now)
	if err != nil {
		return 0, wrap("nudge", err)
	}
	return int(n + m), nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Close implements store.Store. It waits for connections in use to be
// returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// wrap adds the operation to err and maps it to the store's errors: no row
// to store.ErrNotFound, failures to reach the server to store.ErrUnavailable.
func wrap(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	if unavailable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailable reports whether err means the server could not be reached or
// dropped the connection, so the operation may succeed if retried. The
// caller's own cancellation is not unavailability.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "53300", // too many connections
			pgErr.Code == "57P01", // admin shutdown
			pgErr.Code == "57P02", // crash shutdown
			pgErr.Code == "57P03": // cannot connect now (starting up)
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err)
}
