package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
)

// TestReplicasSharePostgres runs three replicas of the server on one
// PostgreSQL database and one Amazon Pay simulator. A few hundred pending
// payments are completed through all replicas (each session twice, through
// two different replicas at once), one replica is killed while it holds
// leases, and every payment must still settle exactly once, from Amazon's
// answer, with no lease left behind.
func TestReplicasSharePostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	a := newAmazonSim(t, 2*time.Second)
	env := a.serverEnv(t, dbURL)
	var replicas []*proc
	for _, id := range []string{"replica-a", "replica-b", "replica-c"} {
		e := map[string]string{"REPLICA_ID": id}
		for k, v := range env {
			e[k] = v
		}
		e["DATA_DIR"] = t.TempDir()
		replicas = append(replicas, startProc(t, e))
	}
	ctx := t.Context()

	const n = 200
	ids := make([]string, n)
	scenario := func(i int) string {
		if i%4 == 3 {
			return "PendingThenDeclined"
		}
		return "PendingThenAuthorized"
	}
	settled := func(i int) pb.Outcome {
		if scenario(i) == "PendingThenDeclined" {
			return pb.Outcome_OUTCOME_DECLINED
		}
		return pb.Outcome_OUTCOME_COMPLETED
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ids[i] = a.newSession(t, ctx, sessionSpec{Amount: "30.00", CanHandlePending: true, Scenario: scenario(i)})
		}()
	}
	wg.Wait()

	errs := make(chan error, 2*n)
	answers := make([][2]pb.Outcome, n)
	for i, id := range ids {
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				r := replicas[(i+k)%len(replicas)]
				resp, err := r.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "order-" + id[:8], ChargeAmount: usd("30.00")})
				// The authorization settles 2s after the first Complete;
				// a duplicate that a busy machine delays past that
				// rightly answers the settled payment.
				if p := resp.GetPayment(); err == nil && p.GetOutcome() != pb.Outcome_OUTCOME_PENDING && p.GetOutcome() != settled(i) {
					t.Errorf("%s answered %s, want PENDING or %s", id, describe(p), settled(i))
				}
				answers[i][k] = resp.GetPayment().GetOutcome()
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("CompleteCheckout: %v", err)
	}
	// The caller whose Complete reached Amazon was answered from its 202.
	for i, a := range answers {
		if a[0] != pb.Outcome_OUTCOME_PENDING && a[1] != pb.Outcome_OUTCOME_PENDING {
			t.Errorf("%s: neither caller was answered PENDING: %v", ids[i], a)
		}
	}

	// Kill one replica while the pending payments are being polled.
	time.Sleep(2500 * time.Millisecond)
	replicas[1].kill()
	alive := []*proc{replicas[0], replicas[2]}

	// A watcher on one replica sees settlements made by any replica.
	watched := waitFinal(t, alive[0].Client, ids[0], 60*time.Second)
	if last := watched[len(watched)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("watched payment settled as %s", describe(last))
	}

	deadline := time.Now().Add(90 * time.Second)
	for i, id := range ids {
		want, reason := settled(i), ""
		if want == pb.Outcome_OUTCOME_DECLINED {
			reason = "HardDeclined"
		}
		for {
			resp, err := alive[i%2].Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}})
			if err != nil {
				t.Fatalf("GetPayment %s: %v", id, err)
			}
			p := resp.GetPayment()
			if p.GetOutcome() != pb.Outcome_OUTCOME_PENDING {
				if p.GetOutcome() != want || p.GetReasonCode() != reason || p.GetSettleTime() == nil {
					t.Fatalf("%s settled as %s, want %s %q", id, describe(p), want, reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still pending: %s", id, describe(p))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if c := a.calls(t, id)["CompleteCheckoutSession"]; c != 1 {
			t.Errorf("%s: Complete reached Amazon %d times, want 1", id, c)
		}
	}

	// Settled exactly once, and no lease held forever: every row is final,
	// unscheduled and unleased, and went pending -> final in one step.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var leased, scheduled, open int
	if err := conn.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE lease_owner <> ''),
		count(*) FILTER (WHERE next_check_time IS NOT NULL),
		count(*) FILTER (WHERE outcome NOT IN ('completed', 'declined'))
		FROM payments`).Scan(&leased, &scheduled, &open); err != nil {
		t.Fatal(err)
	}
	if leased != 0 || scheduled != 0 || open != 0 {
		t.Fatalf("after settlement: %d leased, %d scheduled, %d not final", leased, scheduled, open)
	}
}
