// The operations of store.Operations.

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

var _ store.Operations = (*Store)(nil)

const opColumns = `id, kind, object_id, idempotency_key, request, charge_permission_id,
	state, result, reason_code, create_time, update_time, next_check_time,
	check_attempts, lease_owner, version, trace_parent`

func scanOperation(row scanner) (payment.Operation, error) {
	var (
		op             payment.Operation
		kind, state    string
		create, update int64
		next           sql.NullInt64
		traceParent    sql.NullString
	)
	err := row.Scan(&op.ID, &kind, &op.ObjectID, &op.IdempotencyKey, &op.Request, &op.ChargePermissionID,
		&state, &op.Result, &op.ReasonCode, &create, &update, &next,
		&op.CheckAttempts, &op.LeaseOwner, &op.Version, &traceParent)
	if err != nil {
		return payment.Operation{}, err
	}
	op.TraceParent = traceParent.String
	op.Kind = payment.OpKind(kind)
	if op.State, err = payment.ParseOpState(state); err != nil {
		return payment.Operation{}, err
	}
	op.CreateTime, op.UpdateTime = fromMicros(create), fromMicros(update)
	if next.Valid {
		op.NextCheckTime = fromMicros(next.Int64)
	}
	return op, nil
}

const getOpSQL = `SELECT ` + opColumns + ` FROM operations WHERE id = ?`

// CreateOperation implements store.Operations.
func (s *Store) CreateOperation(ctx context.Context, op payment.Operation, leaseOwner string) (payment.Operation, bool, error) {
	if err := sqlstore.CheckCreateOperation(op, leaseOwner); err != nil {
		return payment.Operation{}, false, err
	}
	var (
		stored  payment.Operation
		created bool
	)
	err := s.inTx(ctx, "create operation", func(ctx context.Context, tx *sql.Tx) error {
		created = false // fn may run again; see writeOp.fn.
		var err error
		stored, err = scanOperation(tx.QueryRowContext(ctx, `INSERT INTO operations (`+opColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', ?, ?, ?, 0, ?, 1, ?)
			ON CONFLICT (id) DO NOTHING RETURNING `+opColumns,
			op.ID, string(op.Kind), op.ObjectID, op.IdempotencyKey, op.Request, op.ChargePermissionID,
			string(op.State), micros(op.CreateTime), micros(op.UpdateTime), micros(op.NextCheckTime), leaseOwner, nullString(op.TraceParent)))
		if err == nil {
			created = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		stored, err = scanOperation(tx.QueryRowContext(ctx, getOpSQL, op.ID))
		return err
	})
	if err != nil {
		return payment.Operation{}, false, err
	}
	return stored, created, nil
}

// insertFollowing records, in tx, the operations t.Then gives for the
// payment p that t has just changed; one whose ID exists is kept.
func insertFollowing(ctx context.Context, tx *sql.Tx, t payment.Transition, p payment.Payment) error {
	if t.Then == nil {
		return nil
	}
	for _, op := range t.Then(p) {
		if err := sqlstore.CheckCreateOperation(op, op.LeaseOwner); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO operations (`+opColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', ?, ?, ?, 0, ?, 1, ?)
			ON CONFLICT (id) DO NOTHING`,
			op.ID, string(op.Kind), op.ObjectID, op.IdempotencyKey, op.Request, op.ChargePermissionID,
			string(op.State), micros(op.CreateTime), micros(op.UpdateTime), micros(op.NextCheckTime), op.LeaseOwner, nullString(op.TraceParent)); err != nil {
			return err
		}
	}
	return nil
}

// GetOperation implements store.Operations.
func (s *Store) GetOperation(ctx context.Context, id string) (payment.Operation, error) {
	op, err := scanOperation(s.read.QueryRowContext(ctx, getOpSQL, id))
	if err != nil {
		return payment.Operation{}, wrap("get operation", err)
	}
	return op, nil
}

// ListOperations implements store.Operations.
func (s *Store) ListOperations(ctx context.Context, chargePermissionID string) ([]payment.Operation, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+opColumns+` FROM operations
		WHERE charge_permission_id = ? ORDER BY create_time, id`, chargePermissionID)
	if err != nil {
		return nil, wrap("list operations", err)
	}
	defer rows.Close()
	var out []payment.Operation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, wrap("list operations", err)
		}
		out = append(out, op)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list operations", err)
	}
	return out, nil
}

// execLeased runs query, which matches only an operation the caller's lease
// still holds, in a transaction; matching none is store.ErrLeaseLost.
func (s *Store) execLeased(ctx context.Context, what, query string, args ...any) error {
	return s.inTx(ctx, what, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrLeaseLost
		}
		return nil
	})
}

// DeleteOperation implements store.Operations.
func (s *Store) DeleteOperation(ctx context.Context, id, leaseOwner string) error {
	if leaseOwner == "" {
		return fmt.Errorf("sqlite: delete operation: empty lease owner: %w", store.ErrLeaseLost)
	}
	return s.execLeased(ctx, "delete operation", `DELETE FROM operations WHERE id = ? AND state = ? AND lease_owner = ?`,
		id, string(payment.OpSending), leaseOwner)
}

// BindOperation implements store.Operations.
func (s *Store) BindOperation(ctx context.Context, id, leaseOwner, chargePermissionID string) error {
	if leaseOwner == "" {
		return fmt.Errorf("sqlite: bind operation: empty lease owner: %w", store.ErrLeaseLost)
	}
	return s.execLeased(ctx, "bind operation", `UPDATE operations SET charge_permission_id = ? WHERE id = ? AND state = ? AND lease_owner = ?`,
		chargePermissionID, id, string(payment.OpSending), leaseOwner)
}

var advanceOpSQL = `UPDATE operations SET
		state = :state,
		result = CASE WHEN :result IS NOT NULL THEN :result ELSE result END,
		reason_code = CASE WHEN :reason <> '' THEN :reason ELSE reason_code END,
		charge_permission_id = CASE WHEN :cpid <> '' THEN :cpid ELSE charge_permission_id END,
		update_time = :time,
		next_check_time = :next,
		check_attempts = check_attempts + :checked,
		lease_owner = '',
		version = version + 1
	WHERE id = :id AND ` + sqlstore.OpRankSQL("state") + ` < :rank
	RETURNING ` + opColumns

// AdvanceOperation implements store.Operations.
func (s *Store) AdvanceOperation(ctx context.Context, id string, u payment.OpUpdate) (payment.Operation, bool, error) {
	if err := sqlstore.CheckAdvance(u); err != nil {
		return payment.Operation{}, false, err
	}
	var result any
	if len(u.Result) > 0 {
		result = u.Result
	}
	checked := 0
	if u.Checked {
		checked = 1
	}
	var (
		stored  payment.Operation
		changed bool
	)
	err := s.inTx(ctx, "advance operation", func(ctx context.Context, tx *sql.Tx) error {
		changed = false // fn may run again; see writeOp.fn.
		var err error
		stored, err = scanOperation(tx.QueryRowContext(ctx, advanceOpSQL,
			sql.Named("state", string(u.State)), sql.Named("result", result),
			sql.Named("reason", u.ReasonCode), sql.Named("cpid", u.ChargePermissionID),
			sql.Named("time", micros(u.Time)), sql.Named("next", micros(u.NextCheckTime)),
			sql.Named("checked", checked), sql.Named("id", id), sql.Named("rank", u.State.Rank())))
		if err == nil {
			changed = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		stored, err = scanOperation(tx.QueryRowContext(ctx, getOpSQL, id))
		return err
	})
	if err != nil {
		return payment.Operation{}, false, err
	}
	return stored, changed, nil
}

// ClaimDueOperations implements store.Operations.
func (s *Store) ClaimDueOperations(ctx context.Context, states []payment.OpState, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Operation, error) {
	if err := sqlstore.CheckClaimOperations(states, lease, owner); err != nil {
		return nil, err
	}
	if len(states) == 0 || limit <= 0 {
		return nil, nil
	}
	names, err := json.Marshal(sqlstore.OpStateNames(states))
	if err != nil {
		return nil, err
	}
	var claimed []payment.Operation
	err = s.inTx(ctx, "claim operations", func(ctx context.Context, tx *sql.Tx) error {
		claimed = nil // fn may run again; see writeOp.fn.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM operations INDEXED BY operations_next_check_time
			WHERE next_check_time IS NOT NULL AND next_check_time <= ?
				AND state IN (SELECT value FROM json_each(?))
			ORDER BY next_check_time, id LIMIT ?`, now.UnixMicro(), string(names), limit)
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
		for _, id := range ids {
			op, err := scanOperation(tx.QueryRowContext(ctx, `UPDATE operations SET next_check_time = ?, lease_owner = ?
				WHERE id = ? RETURNING `+opColumns, now.Add(lease).UnixMicro(), owner, id))
			if err != nil {
				return err
			}
			claimed = append(claimed, op)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// RescheduleOperation implements store.Operations.
func (s *Store) RescheduleOperation(ctx context.Context, id, owner string, next, now time.Time) (payment.Operation, error) {
	if err := sqlstore.CheckReschedule(owner, next, now); err != nil {
		return payment.Operation{}, err
	}
	var stored payment.Operation
	err := s.inTx(ctx, "reschedule operation", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		stored, err = scanOperation(tx.QueryRowContext(ctx, `UPDATE operations SET
				next_check_time = ?, check_attempts = check_attempts + 1, lease_owner = '',
				update_time = ?, version = version + 1
			WHERE id = ? AND lease_owner = ? AND `+sqlstore.OpRankSQL("state")+` < ?
			RETURNING `+opColumns, next.UnixMicro(), now.UnixMicro(), id, owner, sqlstore.OpDoneRank))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrLeaseLost
		}
		return err
	})
	if err != nil {
		return payment.Operation{}, err
	}
	return stored, nil
}

// ExtendOperationLease implements store.Operations.
func (s *Store) ExtendOperationLease(ctx context.Context, id, owner string, until time.Time) error {
	if owner == "" {
		return fmt.Errorf("sqlite: extend operation lease: empty lease owner: %w", store.ErrLeaseLost)
	}
	return s.execLeased(ctx, "extend operation lease", `UPDATE operations SET next_check_time = ?
		WHERE id = ? AND lease_owner = ? AND `+sqlstore.OpRankSQL("state")+` < ?`,
		micros(until), id, owner, sqlstore.OpDoneRank)
}

// nudgeOperations makes the unsettled operations on ref (a charge) whose
// lease is free due at now, in Nudge's transaction. An operation leased
// right now is left to its holder, whose check reads Amazon anyway. The
// expiry watch of the charge (kind expiry, waiting under its lease until
// the authorization's expiry) is made due whatever that lease: it only
// reads the charge, so Amazon's own changes to it (a cancellation by a
// closure, a capture elsewhere) reach the payment now. Once made due
// (unknown) it is nudged like the others.
func nudgeOperations(ctx context.Context, tx *sql.Tx, ref store.ObjectRef, now time.Time) (int64, error) {
	// A charge created on a permission (CreateCharge) is recorded under
	// the permission: the notification's ChargePermissionId finds it.
	where := `(object_id = :id OR (kind = 'charge' AND object_id = :cp AND :cp <> ''))`
	switch {
	case ref.Type == store.ObjectRefund && ref.ChargePermissionID != "":
		where = `kind = 'refund' AND charge_permission_id = :cp`
	case ref.Type != store.ObjectCharge:
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE operations SET next_check_time = min(next_check_time, :now)
		WHERE `+where+` AND next_check_time IS NOT NULL
			AND ((state IN ('unknown', 'pending') AND (lease_owner = '' OR next_check_time <= :now))
				OR (kind = 'expiry' AND state = 'sending'))`,
		sql.Named("now", now.UnixMicro()), sql.Named("id", ref.ID), sql.Named("cp", ref.ChargePermissionID))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

var _ store.UnknownOperationCounter = (*Store)(nil)

// CountUnknownOperations implements store.UnknownOperationCounter; only
// scheduled operations (the partial index on next_check_time) are read.
func (s *Store) CountUnknownOperations(ctx context.Context, createdBefore time.Time) (map[payment.OpKind]int64, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT kind, count(*) FROM operations INDEXED BY operations_next_check_time
		WHERE next_check_time IS NOT NULL AND state IN ('sending', 'unknown') AND kind <> 'expiry' AND create_time < ?
		GROUP BY kind`, micros(createdBefore))
	if err != nil {
		return nil, wrap("count unknown operations", err)
	}
	defer rows.Close()
	out := map[payment.OpKind]int64{}
	for rows.Next() {
		var (
			kind string
			n    int64
		)
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, wrap("count unknown operations", err)
		}
		out[payment.OpKind(kind)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("count unknown operations", err)
	}
	return out, nil
}

// OperationsBacklog implements store.OperationsBacklogger. Operations not
// done are the ones scheduled: it reads the partial index of those only.
func (s *Store) OperationsBacklog(ctx context.Context) ([]store.OperationBacklog, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT kind, state, count(*), min(create_time)
		FROM operations INDEXED BY operations_next_check_time
		WHERE next_check_time IS NOT NULL GROUP BY kind, state`)
	if err != nil {
		return nil, wrap("operations backlog", err)
	}
	defer rows.Close()
	var out []store.OperationBacklog
	for rows.Next() {
		var (
			b           store.OperationBacklog
			kind, state string
			create      int64
		)
		if err := rows.Scan(&kind, &state, &b.Count, &create); err != nil {
			return nil, wrap("operations backlog", err)
		}
		b.Kind, b.State, b.OldestCreateTime = payment.OpKind(kind), payment.OpState(state), fromMicros(create)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("operations backlog", err)
	}
	return out, nil
}
