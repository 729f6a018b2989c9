package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), pgtest.URL(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// TestReplicasStartTogether opens one fresh schema from several replicas at
// once: the migrations must be applied exactly once and every Open succeed.
func TestReplicasStartTogether(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		defer stores[i].Close()
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var n, distinct int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct || n == 0 {
		t.Errorf("schema_migrations has %d rows for %d versions, want one row per version", n, distinct)
	}
}

// TestReplicasClaimDisjoint has claimers in two replicas (two pools on one
// database) drain the same due payments: no payment may be claimed twice.
func TestReplicasClaimDisjoint(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	replicas := []*postgres.Store{open(t, url), open(t, url)}
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	const n = 300
	for i := range n {
		id := fmt.Sprintf("cs-%03d", i)
		p := payment.Payment{
			CheckoutSessionID: id, OrderID: "o-" + id,
			ChargeAmount: payment.Money{Amount: "1.00", CurrencyCode: "EUR"},
			Outcome:      payment.Completing, CreateTime: now, UpdateTime: now,
			// All due at the same instant, so claimers contend for the
			// same rows.
			NextCheckTime: now.Add(-time.Second),
		}
		if _, _, err := replicas[i%2].CreateAttempt(ctx, p, "creator"); err != nil {
			t.Fatalf("CreateAttempt: %v", err)
		}
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	for c := range 6 {
		s := replicas[c%2]
		wg.Go(func() {
			name := fmt.Sprintf("replica-%d-claimer-%d", c%2, c)
			for {
				got, err := s.ClaimDue(ctx, []payment.Outcome{payment.Completing}, now, 5, time.Hour, name)
				if err != nil {
					t.Errorf("%s: ClaimDue: %v", name, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, p := range got {
					if prev, dup := seen[p.CheckoutSessionID]; dup {
						t.Errorf("%s claimed by %s and %s", p.CheckoutSessionID, prev, name)
					}
					seen[p.CheckoutSessionID] = name
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d payments, want %d", len(seen), n)
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	// Port 1 on the loopback refuses connections.
	_, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open(unreachable) = %v, want ErrUnavailable", err)
	}
}

func TestOpenInvalidURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), "postgres://user:secret@127.0.0.1:notaport/test")
	if err == nil {
		t.Fatal("Open(invalid URL) succeeded")
	}
	if errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open(invalid URL) = %v, want a configuration error, not ErrUnavailable", err)
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Errorf("Open error %q reveals the password", got)
	}
}

func TestOperationsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunOperations(t, func(t *testing.T) storetest.OperationStore {
		s, err := postgres.Open(t.Context(), pgtest.URL(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
