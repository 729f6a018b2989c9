package e2e_test

import (
	"path/filepath"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// TestListPaymentsNeedingAttention: ListPayments with
// operations_need_attention lists the payments with an operation unknown
// past its budget, and only them.
func TestListPaymentsNeedingAttention(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "payments.db")
	svc := startService(t, a, serviceOptions{DatabaseURL: dbURL})
	ctx := t.Context()
	stuck := completeOrder(t, a, svc, "order-stuck", sessionSpec{Amount: "20.00", Scenario: "Authorized"})
	completeOrder(t, a, svc, "order-fine", sessionSpec{Amount: "20.00", Scenario: "Authorized"})
	// The operator's view of the same database.
	ops := operationsAt(t, dbURL)
	// A capture recorded a day and more ago and still in flight at a
	// replica that holds it (so this one's worker leaves it alone).
	now := time.Now().UTC()
	op := payment.Operation{
		ID: chargeops.OperationID(payment.OpCapture, stuck.GetChargeId(), "ship"), Kind: payment.OpCapture,
		ObjectID: stuck.GetChargeId(), IdempotencyKey: "ship", Request: `{"amount":"20.00","currency":"USD"}`,
		ChargePermissionID: stuck.GetChargePermissionId(), State: payment.OpSending,
		CreateTime: now.Add(-chargeops.UnknownBudget - time.Hour), UpdateTime: now, NextCheckTime: now.Add(time.Hour),
	}
	if _, _, err := ops.CreateOperation(ctx, op, "another-replica"); err != nil {
		t.Fatal(err)
	}
	resp, err := svc.Client.ListPayments(ctx, &pb.ListPaymentsRequest{OperationsNeedAttention: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPayments()) != 1 || resp.GetPayments()[0].GetOrderId() != "order-stuck" {
		t.Errorf("payments needing attention = %v; want order-stuck only", resp.GetPayments())
	}
	all, err := svc.Client.ListPayments(ctx, &pb.ListPaymentsRequest{})
	if err != nil || len(all.GetPayments()) != 2 {
		t.Errorf("all payments = %v, %v; want 2", all.GetPayments(), err)
	}
}
