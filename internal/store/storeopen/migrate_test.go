package storeopen_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeopen"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

// TestMigrateAndStatus, on each engine: a new database has every
// migration pending and OpenExisting refuses it naming ErrSchemaBehind;
// Migrate applies them all once (also when two run at once); then status
// says applied, OpenExisting opens, and Migrate applies nothing more.
func TestMigrateAndStatus(t *testing.T) {
	t.Parallel()
	for _, tt := range storetest.Engines() {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			u := tt.URL(t)
			states, err := storeopen.MigrationStatus(ctx, u)
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			if len(states) == 0 {
				t.Fatal("status lists no migration")
			}
			for _, s := range states {
				if s.Applied {
					t.Errorf("new database: %s applied", s.Name)
				}
			}
			if s, err := storeopen.OpenExisting(ctx, u); !errors.Is(err, sqlstore.ErrSchemaBehind) {
				if s != nil {
					_ = s.Close()
				}
				t.Fatalf("OpenExisting on a new database: %v, want ErrSchemaBehind", err)
			}

			// Two at once (two replicas, or a migrate command beside a
			// starting server): each migration is applied by one of them.
			var (
				wg      sync.WaitGroup
				applied [2][]string
				errs    [2]error
			)
			for i := range 2 {
				wg.Go(func() { applied[i], errs[i] = storeopen.Migrate(ctx, u) })
			}
			wg.Wait()
			if err := errors.Join(errs[:]...); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			if got := len(applied[0]) + len(applied[1]); got != len(states) {
				t.Errorf("migrations applied %v and %v, want %d in all", applied[0], applied[1], len(states))
			}

			states, err = storeopen.MigrationStatus(ctx, u)
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			for _, s := range states {
				if !s.Applied {
					t.Errorf("after migrate: %s not applied", s.Name)
				}
			}
			s, err := storeopen.OpenExisting(ctx, u)
			if err != nil {
				t.Fatalf("OpenExisting after migrate: %v", err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Error(err)
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			if again, err := storeopen.Migrate(ctx, u); err != nil || len(again) != 0 {
				t.Errorf("second migrate: %v %v, want nothing applied", again, err)
			}
		})
	}
}
