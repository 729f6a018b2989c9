package sqlstore

import (
	"errors"
	"fmt"
)

// ErrSchemaBehind is returned by a store opened without migrating when the
// database lacks migrations this binary has.
var ErrSchemaBehind = errors.New("the database schema is behind this binary")

// MigrationState is one embedded migration and whether the database has
// it.
type MigrationState struct {
	Version int
	Name    string
	Applied bool
}

// States pairs each migration of ms with whether applied holds its
// version.
func States(ms []Migration, applied map[int]bool) []MigrationState {
	out := make([]MigrationState, len(ms))
	for i, m := range ms {
		out[i] = MigrationState{Version: m.Version, Name: m.Name, Applied: applied[m.Version]}
	}
	return out
}

// CheckCurrent returns an error wrapping ErrSchemaBehind that names the
// migrations of states not applied, or nil when all are.
func CheckCurrent(states []MigrationState) error {
	var pending []string
	for _, s := range states {
		if !s.Applied {
			pending = append(pending, s.Name)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d migration(s) not applied (%v)", ErrSchemaBehind, len(pending), pending)
}
