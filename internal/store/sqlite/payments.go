// The payment operations of store.Store: the SQL of each and how its rows
// are read.

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

// columns lists the payments columns in the order scanPayment reads them.
const columns = `checkout_session_id, order_id, charge_amount, charge_currency,
	total_amount, total_currency, outcome, charge_permission_id, charge_id,
	reason_code, charge_state, create_time, update_time, settle_time,
	next_check_time, check_attempts, lease_owner, version, trace_parent`

type scanner interface{ Scan(dest ...any) error }

func scanPayment(row scanner) (payment.Payment, error) {
	var (
		p                  payment.Payment
		totalAmt, totalCur sql.NullString
		outcome            string
		create, update     int64
		settle, next       sql.NullInt64
		traceParent        sql.NullString
	)
	err := row.Scan(&p.CheckoutSessionID, &p.OrderID, &p.ChargeAmount.Amount, &p.ChargeAmount.CurrencyCode,
		&totalAmt, &totalCur, &outcome, &p.ChargePermissionID, &p.ChargeID,
		&p.ReasonCode, &p.ChargeState, &create, &update, &settle,
		&next, &p.CheckAttempts, &p.LeaseOwner, &p.Version, &traceParent)
	if err != nil {
		return payment.Payment{}, err
	}
	p.TraceParent = traceParent.String
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
		next_check_time, check_attempts, lease_owner, version, trace_parent)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, ?, 1, ?)
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
			micros(p.NextCheckTime), leaseOwner, nullString(p.TraceParent)))
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

// Backlog implements store.Backlogger. It reads the partial index of
// scheduled payments, so its cost grows with the unsettled payments only.
func (s *Store) Backlog(ctx context.Context) ([]store.Backlog, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT outcome, count(*), min(create_time), min(next_check_time)
		FROM payments INDEXED BY payments_next_check_time
		WHERE next_check_time IS NOT NULL GROUP BY outcome`)
	if err != nil {
		return nil, wrap("backlog", err)
	}
	defer rows.Close()
	var out []store.Backlog
	for rows.Next() {
		var (
			b             store.Backlog
			outcome       string
			create, check int64
		)
		if err := rows.Scan(&outcome, &b.Count, &create, &check); err != nil {
			return nil, wrap("backlog", err)
		}
		b.Outcome, b.OldestCreateTime, b.EarliestCheckTime = payment.Outcome(outcome), fromMicros(create), fromMicros(check)
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
		next_check_time = CASE WHEN nudged <> 0 AND :next > :time THEN :time ELSE :next END,
		nudged = 0,
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
			return insertFollowing(ctx, tx, t, stored)
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
const claimUpdateSQL = `UPDATE payments SET next_check_time = ?, lease_owner = ?, nudged = 0
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
		next_check_time = CASE WHEN nudged <> 0 AND :next > :now THEN :now ELSE :next END,
		nudged = 0,
		check_attempts = check_attempts + 1,
		lease_owner = '',
		update_time = :now,
		version = version + 1
	WHERE checkout_session_id = :id AND lease_owner = :owner AND ` + sqlstore.RankSQL("outcome") + ` < :rank
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
			sql.Named("next", next.UnixMicro()), sql.Named("now", now.UnixMicro()), sql.Named("id", checkoutSessionID),
			sql.Named("owner", owner), sql.Named("rank", sqlstore.FinalRank)))
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
func listSQL(n int, unknownOps bool) string {
	filter := ""
	if unknownOps {
		filter = " AND " + sqlstore.UnknownOperationsSQL(":before")
	}
	sub := func(i int) string {
		return fmt.Sprintf(`SELECT * FROM (SELECT %s FROM payments
		WHERE outcome = :o%d AND create_time >= :from
			AND create_time <= :at AND (create_time < :at OR checkout_session_id < :id)%s
		ORDER BY create_time DESC, checkout_session_id DESC LIMIT :limit)`, columns, i, filter)
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
	unknownOps := !q.UnknownOperationsBefore.IsZero()
	if unknownOps {
		args = append(args, sql.Named("before", micros(q.UnknownOperationsBefore)))
	}
	rows, err := s.read.QueryContext(ctx, listSQL(len(outcomes), unknownOps), args...)
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

// nudgeSQL is the Nudge of the payments whose col (charge_id or
// charge_permission_id) is :id; the partial index on col finds them.
func nudgeSQL(col string) string {
	return `UPDATE payments SET
		next_check_time = CASE WHEN lease_owner = '' OR next_check_time <= :now
			THEN min(next_check_time, :now) ELSE next_check_time END,
		nudged = CASE WHEN lease_owner = '' OR next_check_time <= :now THEN nudged ELSE 1 END
	WHERE ` + col + ` = :id AND ` + col + ` <> '' AND next_check_time IS NOT NULL`
}

// Nudge implements store.Store; the write is committed (and synced) when
// it returns.
func (s *Store) Nudge(ctx context.Context, ref store.ObjectRef, now time.Time) (int, error) {
	col, err := sqlstore.NudgeColumn(ref, now)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.inTx(ctx, "nudge", func(ctx context.Context, tx *sql.Tx) error {
		n = 0 // fn may run again; see writeOp.fn.
		if col != "" {
			res, err := tx.ExecContext(ctx, nudgeSQL(col), sql.Named("now", now.UnixMicro()), sql.Named("id", ref.ID))
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		m, err := nudgeOperations(ctx, tx, ref, now)
		n += m
		return err
	})
	return int(n), err
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// checkedCount is what a transition adds to check_attempts.
func checkedCount(t payment.Transition) int {
	if t.Checked {
		return 1
	}
	return 0
}
