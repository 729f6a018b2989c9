// The operations of store.Operations.

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

var _ store.Operations = (*Store)(nil)

const opColumns = `id, kind, object_id, idempotency_key, request, charge_permission_id,
	state, result, reason_code, create_time, update_time, next_check_time,
	check_attempts, lease_owner, version, trace_parent`

func scanOperation(row pgx.Row) (payment.Operation, error) {
	var (
		op          payment.Operation
		kind, state string
		next        *time.Time
		traceParent *string
	)
	err := row.Scan(&op.ID, &kind, &op.ObjectID, &op.IdempotencyKey, &op.Request, &op.ChargePermissionID,
		&state, &op.Result, &op.ReasonCode, &op.CreateTime, &op.UpdateTime, &next,
		&op.CheckAttempts, &op.LeaseOwner, &op.Version, &traceParent)
	if err != nil {
		return payment.Operation{}, err
	}
	if traceParent != nil {
		op.TraceParent = *traceParent
	}
	op.Kind = payment.OpKind(kind)
	if op.State, err = payment.ParseOpState(state); err != nil {
		return payment.Operation{}, err
	}
	op.CreateTime, op.UpdateTime = op.CreateTime.UTC(), op.UpdateTime.UTC()
	if next != nil {
		op.NextCheckTime = next.UTC()
	}
	return op, nil
}

const getOpSQL = `SELECT ` + opColumns + ` FROM operations WHERE id = $1`

// CreateOperation implements store.Operations. The primary key decides
// between concurrent duplicates.
func (s *Store) CreateOperation(ctx context.Context, op payment.Operation, leaseOwner string) (payment.Operation, bool, error) {
	if err := sqlstore.CheckCreateOperation(op, leaseOwner); err != nil {
		return payment.Operation{}, false, err
	}
	// The existing row can be deleted between the INSERT that saw it and
	// the SELECT that reads it; then insert again.
	for range 3 {
		stored, err := scanOperation(s.pool.QueryRow(ctx, `INSERT INTO operations (`+opColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, '', $8, $9, $10, 0, $11, 1, $12)
			ON CONFLICT (id) DO NOTHING RETURNING `+opColumns,
			op.ID, string(op.Kind), op.ObjectID, op.IdempotencyKey, op.Request, op.ChargePermissionID,
			string(op.State), op.CreateTime, op.UpdateTime, op.NextCheckTime, leaseOwner, nullString(op.TraceParent)))
		if err == nil {
			return stored, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return payment.Operation{}, false, wrap("create operation", err)
		}
		stored, err = scanOperation(s.pool.QueryRow(ctx, getOpSQL, op.ID))
		if err == nil {
			return stored, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return payment.Operation{}, false, wrap("create operation", err)
		}
	}
	return payment.Operation{}, false, errors.New("postgres: create operation: operation keeps appearing and disappearing")
}

// insertFollowing records ops in tx, the operations a Transition's Then
// gave; one whose ID exists is kept.
func insertFollowing(ctx context.Context, tx pgx.Tx, ops []payment.Operation) error {
	for _, op := range ops {
		if err := sqlstore.CheckCreateOperation(op, op.LeaseOwner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO operations (`+opColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, '', $8, $9, $10, 0, $11, 1, $12)
			ON CONFLICT (id) DO NOTHING`,
			op.ID, string(op.Kind), op.ObjectID, op.IdempotencyKey, op.Request, op.ChargePermissionID,
			string(op.State), op.CreateTime, op.UpdateTime, op.NextCheckTime, op.LeaseOwner, nullString(op.TraceParent)); err != nil {
			return err
		}
	}
	return nil
}

// GetOperation implements store.Operations.
func (s *Store) GetOperation(ctx context.Context, id string) (payment.Operation, error) {
	op, err := scanOperation(s.pool.QueryRow(ctx, getOpSQL, id))
	if err != nil {
		return payment.Operation{}, wrap("get operation", err)
	}
	return op, nil
}

// ListOperations implements store.Operations.
func (s *Store) ListOperations(ctx context.Context, chargePermissionID string) ([]payment.Operation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+opColumns+` FROM operations
		WHERE charge_permission_id = $1 ORDER BY create_time, id`, chargePermissionID)
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

// DeleteOperation implements store.Operations.
func (s *Store) DeleteOperation(ctx context.Context, id, leaseOwner string) error {
	if leaseOwner == "" {
		return fmt.Errorf("postgres: delete operation: empty lease owner: %w", store.ErrLeaseLost)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM operations WHERE id = $1 AND state = $2 AND lease_owner = $3`,
		id, string(payment.OpSending), leaseOwner)
	if err != nil {
		return wrap("delete operation", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete operation: %w", store.ErrLeaseLost)
	}
	return nil
}

// BindOperation implements store.Operations.
func (s *Store) BindOperation(ctx context.Context, id, leaseOwner, chargePermissionID string) error {
	if leaseOwner == "" {
		return fmt.Errorf("postgres: bind operation: empty lease owner: %w", store.ErrLeaseLost)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE operations SET charge_permission_id = $1 WHERE id = $2 AND state = $3 AND lease_owner = $4`,
		chargePermissionID, id, string(payment.OpSending), leaseOwner)
	if err != nil {
		return wrap("bind operation", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: bind operation: %w", store.ErrLeaseLost)
	}
	return nil
}

var advanceOpSQL = `UPDATE operations SET
		state = $1,
		result = COALESCE($2, result),
		reason_code = CASE WHEN $3 <> '' THEN $3 ELSE reason_code END,
		charge_permission_id = CASE WHEN $4 <> '' THEN $4 ELSE charge_permission_id END,
		update_time = $5,
		next_check_time = $6,
		check_attempts = check_attempts + $7,
		lease_owner = '',
		version = version + 1
	WHERE id = $8 AND ` + sqlstore.OpRankSQL("state") + ` < $9
	RETURNING ` + opColumns

// AdvanceOperation implements store.Operations. The rank comparison is part
// of the UPDATE, so concurrent updates cannot move an operation backwards.
func (s *Store) AdvanceOperation(ctx context.Context, id string, u payment.OpUpdate) (payment.Operation, bool, error) {
	if err := sqlstore.CheckAdvance(u); err != nil {
		return payment.Operation{}, false, err
	}
	var result []byte
	if len(u.Result) > 0 {
		result = u.Result
	}
	var next *time.Time
	if !u.NextCheckTime.IsZero() {
		next = &u.NextCheckTime
	}
	checked := 0
	if u.Checked {
		checked = 1
	}
	stored, err := scanOperation(s.pool.QueryRow(ctx, advanceOpSQL, string(u.State), result, u.ReasonCode,
		u.ChargePermissionID, u.Time, next, checked, id, u.State.Rank()))
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return payment.Operation{}, false, wrap("advance operation", err)
	}
	stored, err = scanOperation(s.pool.QueryRow(ctx, getOpSQL, id))
	if err != nil {
		return payment.Operation{}, false, wrap("advance operation", err)
	}
	return stored, false, nil
}

// ClaimDueOperations implements store.Operations. SKIP LOCKED lets
// concurrent claimers take disjoint operations.
func (s *Store) ClaimDueOperations(ctx context.Context, states []payment.OpState, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Operation, error) {
	if err := sqlstore.CheckClaimOperations(states, lease, owner); err != nil {
		return nil, err
	}
	if len(states) == 0 || limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id FROM operations
			WHERE next_check_time IS NOT NULL AND next_check_time <= $1 AND state = ANY($2)
			ORDER BY next_check_time, id LIMIT $3
			FOR UPDATE SKIP LOCKED)
		UPDATE operations o SET next_check_time = $4, lease_owner = $5
		FROM due WHERE o.id = due.id
		RETURNING `+prefixed("o.", opColumns), now, sqlstore.OpStateNames(states), limit, now.Add(lease), owner)
	if err != nil {
		return nil, wrap("claim operations", err)
	}
	defer rows.Close()
	var out []payment.Operation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, wrap("claim operations", err)
		}
		out = append(out, op)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("claim operations", err)
	}
	// RETURNING has no defined order; the claim's order is by ID among
	// operations due together, which callers do not depend on.
	return out, nil
}

// RescheduleOperation implements store.Operations.
func (s *Store) RescheduleOperation(ctx context.Context, id, owner string, next, now time.Time) (payment.Operation, error) {
	if err := sqlstore.CheckReschedule(owner, next, now); err != nil {
		return payment.Operation{}, err
	}
	op, err := scanOperation(s.pool.QueryRow(ctx, `UPDATE operations SET
			next_check_time = $1, check_attempts = check_attempts + 1, lease_owner = '',
			update_time = $2, version = version + 1
		WHERE id = $3 AND lease_owner = $4 AND `+sqlstore.OpRankSQL("state")+` < $5
		RETURNING `+opColumns, next, now, id, owner, sqlstore.OpDoneRank))
	if errors.Is(err, pgx.ErrNoRows) {
		return payment.Operation{}, fmt.Errorf("postgres: reschedule operation: %w", store.ErrLeaseLost)
	}
	if err != nil {
		return payment.Operation{}, wrap("reschedule operation", err)
	}
	return op, nil
}

// ExtendOperationLease implements store.Operations.
func (s *Store) ExtendOperationLease(ctx context.Context, id, owner string, until time.Time) error {
	if owner == "" {
		return fmt.Errorf("postgres: extend operation lease: empty lease owner: %w", store.ErrLeaseLost)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE operations SET next_check_time = $1
		WHERE id = $2 AND lease_owner = $3 AND `+sqlstore.OpRankSQL("state")+` < $4`,
		until, id, owner, sqlstore.OpDoneRank)
	if err != nil {
		return wrap("extend operation lease", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: extend operation lease: %w", store.ErrLeaseLost)
	}
	return nil
}

// prefixed qualifies each of the comma-separated columns with p.
func prefixed(p, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// nudgeOperations makes the unsettled operations on ref (a charge) whose
// lease is free due at now. An operation leased right now is left to its
// holder, whose check reads Amazon anyway. The charge's expiry watch is
// made due whatever its lease (it only reads the charge); see the SQLite
// store's.
func (s *Store) nudgeOperations(ctx context.Context, ref store.ObjectRef, now time.Time) (int64, error) {
	// A charge created on a permission (CreateCharge) is recorded under
	// the permission: the notification's ChargePermissionId finds it.
	where := `(object_id = $1 OR (kind = 'charge' AND object_id = $3 AND $3::text <> ''))`
	switch {
	case ref.Type == store.ObjectRefund && ref.ChargePermissionID != "":
		// $1 (the refund's ID, never empty) is named so every parameter
		// has a type.
		where = `kind = 'refund' AND charge_permission_id = $3 AND $1::text <> ''`
	case ref.Type != store.ObjectCharge:
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE operations SET next_check_time = LEAST(next_check_time, $2)
		WHERE `+where+` AND next_check_time IS NOT NULL
			AND ((state IN ('unknown', 'pending') AND (lease_owner = '' OR next_check_time <= $2))
				OR (kind = 'expiry' AND state = 'sending'))`, ref.ID, now, ref.ChargePermissionID)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

var _ store.UnknownOperationCounter = (*Store)(nil)

// CountUnknownOperations implements store.UnknownOperationCounter; only
// scheduled operations (the partial index on next_check_time) are read.
func (s *Store) CountUnknownOperations(ctx context.Context, createdBefore time.Time) (map[payment.OpKind]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, count(*) FROM operations
		WHERE next_check_time IS NOT NULL AND state IN ('sending', 'unknown') AND kind <> 'expiry' AND create_time < $1
		GROUP BY kind`, createdBefore)
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
// done are the ones scheduled: the partial index holds those only.
func (s *Store) OperationsBacklog(ctx context.Context) ([]store.OperationBacklog, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, state, count(*), min(create_time)
		FROM operations WHERE next_check_time IS NOT NULL GROUP BY kind, state`)
	if err != nil {
		return nil, wrap("operations backlog", err)
	}
	defer rows.Close()
	var out []store.OperationBacklog
	for rows.Next() {
		var (
			b           store.OperationBacklog
			kind, state string
			create      time.Time
		)
		if err := rows.Scan(&kind, &state, &b.Count, &create); err != nil {
			return nil, wrap("operations backlog", err)
		}
		b.Kind, b.State, b.OldestCreateTime = payment.OpKind(kind), payment.OpState(state), create.UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("operations backlog", err)
	}
	return out, nil
}
