// Package sqlstore holds what the SQL implementations of store.Store share:
// loading their numbered migrations, the SQL form of payment.Outcome.Rank,
// and the argument checks every implementation applies before writing.
package sqlstore

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// Migration is one numbered schema change.
type Migration struct {
	// Version is the number the file name starts with ("0001_payments.sql"
	// is version 1). Versions are applied in increasing order, once each.
	Version int
	// Name is the file name, recorded for operators.
	Name string
	// SQL is the file's content, run in one transaction.
	SQL string
}

// LoadMigrations reads the *.sql files of dir in fsys, ordered by version.
// Every file name must start with a positive number followed by "_", and no
// two files may share a number.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration %q: name must start with a positive number and '_'", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migration %q: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("sqlstore: migrations %q and %q share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("sqlstore: no migrations found")
	}
	return ms, nil
}

// Outcomes lists every defined payment.Outcome, in rank order.
var Outcomes = []payment.Outcome{
	payment.Completing,
	payment.Unknown,
	payment.Pending,
	payment.Completed,
	payment.Declined,
	payment.Canceled,
}

// FinalRank is the rank of the final outcomes.
var FinalRank = payment.Completed.Rank()

// RankSQL returns a SQL expression giving the rank of the outcome stored in
// column, built from payment.Outcome.Rank so that the database compares ranks
// exactly as the domain model does, inside the writing statement.
func RankSQL(column string) string {
	var b strings.Builder
	b.WriteString("(CASE ")
	b.WriteString(column)
	for _, o := range Outcomes {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", o, o.Rank())
	}
	b.WriteString(" ELSE 0 END)")
	return b.String()
}

// CheckCreate rejects a CreateAttempt call that breaks the store.Store
// contract; such a call is a programming error, not a data condition.
func CheckCreate(p payment.Payment, leaseOwner string) error {
	switch {
	case p.CheckoutSessionID == "":
		return errors.New("store: create attempt: empty checkout session ID")
	case p.Outcome != payment.Completing:
		return fmt.Errorf("store: create attempt: outcome %q, want %q", p.Outcome, payment.Completing)
	case p.CreateTime.IsZero() || p.UpdateTime.IsZero():
		return errors.New("store: create attempt: create and update time must be set")
	case p.NextCheckTime.IsZero():
		return errors.New("store: create attempt: next check time (the in-flight lease) must be set")
	case leaseOwner == "":
		return errors.New("store: create attempt: empty lease owner")
	}
	return nil
}

// CheckTransition rejects a Transition that breaks the store.Store contract.
func CheckTransition(t payment.Transition) error {
	switch {
	case !t.Outcome.Valid():
		return fmt.Errorf("store: transition: invalid outcome %q", t.Outcome)
	case t.Time.IsZero():
		return errors.New("store: transition: time must be set")
	case t.Outcome.Final() && !t.NextCheckTime.IsZero():
		return fmt.Errorf("store: transition: final outcome %q with a next check time", t.Outcome)
	}
	return nil
}

// CheckClaim rejects a ClaimDue call that breaks the store.Store contract.
func CheckClaim(outcomes []payment.Outcome, lease time.Duration, owner string) error {
	switch {
	case owner == "":
		return errors.New("store: claim due: empty owner")
	case lease <= 0:
		return fmt.Errorf("store: claim due: lease %v must be positive", lease)
	}
	for _, o := range outcomes {
		if !o.Valid() {
			return fmt.Errorf("store: claim due: invalid outcome %q", o)
		}
	}
	return nil
}

// CheckReschedule rejects a Reschedule call that breaks the store.Store
// contract.
func CheckReschedule(owner string, next, now time.Time) error {
	switch {
	case owner == "":
		return errors.New("store: reschedule: empty owner")
	case next.IsZero() || now.IsZero():
		return errors.New("store: reschedule: next and now must be set")
	}
	return nil
}

// NudgeColumn checks a Nudge call and returns the payments column that
// holds ref's ID; "" when no payment tracks objects of ref's type (then
// the nudge matches no payment): payments track their charge only.
func NudgeColumn(ref store.ObjectRef, now time.Time) (string, error) {
	if ref.ID == "" || now.IsZero() {
		return "", errors.New("store: nudge: object ID and now must be set")
	}
	switch ref.Type {
	case store.ObjectCharge:
		return "charge_id", nil
	case store.ObjectChargePermission, store.ObjectRefund:
		// An unsettled payment waits for its charge, whose own CHARGE
		// notification nudges it; a read on the permission's notice
		// would find the charge unchanged (a wasted Get Charge).
		return "", nil
	}
	return "", fmt.Errorf("store: nudge: unknown object type %q", ref.Type)
}

// MaxListLimit bounds store.ListQuery.Limit in every implementation, and
// so the memory of one List: it reads at most this many payments per
// outcome asked for.
const MaxListLimit = 5000

// CheckList rejects a List call that breaks the store.Store contract, and
// returns the outcomes to read: the ones asked for without repeats, or
// every outcome when none is named.
func CheckList(q store.ListQuery) ([]payment.Outcome, error) {
	switch {
	case q.Limit <= 0 || q.Limit > MaxListLimit:
		return nil, fmt.Errorf("store: list: limit %d must be between 1 and %d", q.Limit, MaxListLimit)
	case !q.CreatedFrom.IsZero() && !q.CreatedBefore.IsZero() && !q.CreatedFrom.Before(q.CreatedBefore):
		return nil, fmt.Errorf("store: list: created-from %v must be before created-before %v", q.CreatedFrom, q.CreatedBefore)
	case q.After != nil && q.After.CreateTime.IsZero():
		return nil, errors.New("store: list: the position to continue after has no create time")
	}
	if len(q.Outcomes) == 0 {
		return Outcomes, nil
	}
	var out []payment.Outcome
	for _, o := range q.Outcomes {
		if !o.Valid() {
			return nil, fmt.Errorf("store: list: invalid outcome %q", o)
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// ListBound returns the exclusive upper bound of q in List's order (by
// create time, then checkout session ID, descending): the smaller of the
// position q continues after and (q.CreatedBefore, ""), which bounds
// exactly the payments created before q.CreatedBefore. The zero time means
// none. Implementations give their index this one bound: with two upper
// bounds on the creation time a database uses one to start its scan and
// merely filters by the other, which can read half the index.
func ListBound(q store.ListQuery) (time.Time, string) {
	switch {
	case q.After == nil:
		return q.CreatedBefore, ""
	case q.CreatedBefore.IsZero() || q.After.CreateTime.Before(q.CreatedBefore):
		return q.After.CreateTime, q.After.CheckoutSessionID
	default:
		return q.CreatedBefore, ""
	}
}

// OutcomeNames returns the names of outcomes, for binding as query
// arguments.
func OutcomeNames(outcomes []payment.Outcome) []string {
	names := make([]string, len(outcomes))
	for i, o := range outcomes {
		names[i] = string(o)
	}
	return names
}
