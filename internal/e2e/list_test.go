package e2e_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestListPaymentsPagedAcrossInserts lists completed and declined payments
// two at a time while more checkouts complete: every payment that existed
// before the first page is listed exactly once, newest first, and none of
// the newer ones moves the pages. A token sent with another filter is
// refused.
func TestListPaymentsPagedAcrossInserts(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := context.Background()
	complete := func(id, order string) *pb.Payment {
		t.Helper()
		resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: order, ChargeAmount: usd("10.00")})
		if err != nil {
			t.Fatalf("CompleteCheckout(%s): %v", order, err)
		}
		return resp.GetPayment()
	}
	var want []string // newest first
	for i, scenario := range []string{"Authorized", "Declined", "Authorized", "Authorized", "Declined", "Authorized", "Authorized"} {
		id := a.newSession(t, ctx, sessionSpec{Amount: "10.00", Scenario: scenario})
		p := complete(id, "order-"+string(rune('a'+i)))
		if o := p.GetOutcome(); o != pb.Outcome_OUTCOME_COMPLETED && o != pb.Outcome_OUTCOME_DECLINED {
			t.Fatalf("completion %d: %v", i, o)
		}
		want = append([]string{id}, want...)
	}
	later := prepareSessions(t, a, 4)

	req := &pb.ListPaymentsRequest{
		Outcomes:        []pb.Outcome{pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_DECLINED},
		CreateTimeStart: timestamppb.New(time.Now().Add(-time.Hour)),
		PageSize:        2,
	}
	var got []string
	var firstToken string
	for page := 0; ; page++ {
		resp, err := svc.Client.ListPayments(ctx, req)
		if err != nil {
			t.Fatalf("ListPayments page %d: %v", page, err)
		}
		for _, p := range resp.GetPayments() {
			got = append(got, p.GetCheckoutSessionId())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		if firstToken == "" {
			firstToken = resp.GetNextPageToken()
		}
		req.PageToken = resp.GetNextPageToken()
		if page < len(later) {
			complete(later[page], "order-later")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %v\nwant    %v", got, want)
	}

	// The newer payments are there for a new listing.
	resp, err := svc.Client.ListPayments(ctx, &pb.ListPaymentsRequest{Outcomes: []pb.Outcome{pb.Outcome_OUTCOME_COMPLETED}, PageSize: 1})
	if err != nil || len(resp.GetPayments()) != 1 || resp.GetPayments()[0].GetOrderId() != "order-later" {
		t.Errorf("new listing: %v, %v; want the newest payment first", resp.GetPayments(), err)
	}

	bad := []struct {
		name  string
		req   *pb.ListPaymentsRequest
		field string
	}{
		{"token_with_other_outcomes", &pb.ListPaymentsRequest{Outcomes: []pb.Outcome{pb.Outcome_OUTCOME_UNKNOWN}, CreateTimeStart: req.GetCreateTimeStart(), PageToken: firstToken}, "page_token"},
		{"token_without_start", &pb.ListPaymentsRequest{Outcomes: req.GetOutcomes(), PageToken: firstToken}, "page_token"},
		{"not_a_token", &pb.ListPaymentsRequest{PageToken: "bm90IGEgdG9rZW4"}, "page_token"},
		{"negative_page_size", &pb.ListPaymentsRequest{PageSize: -1}, "page_size"},
		{"unspecified_outcome", &pb.ListPaymentsRequest{Outcomes: []pb.Outcome{pb.Outcome_OUTCOME_UNSPECIFIED}}, "outcomes[0]"},
		{"empty_range", &pb.ListPaymentsRequest{CreateTimeStart: timestamppb.New(time.Unix(100, 0)), CreateTimeEnd: timestamppb.New(time.Unix(100, 0))}, ""},
		{"start_after_year_9999", &pb.ListPaymentsRequest{CreateTimeStart: &timestamppb.Timestamp{Seconds: 1 << 62}}, "create_time_start"},
		{"end_before_year_1", &pb.ListPaymentsRequest{CreateTimeEnd: &timestamppb.Timestamp{Seconds: -1 << 62}}, "create_time_end"},
		{"end_negative_nanos", &pb.ListPaymentsRequest{CreateTimeEnd: &timestamppb.Timestamp{Seconds: 100, Nanos: -1}}, "create_time_end"},
		{"tampered_token", &pb.ListPaymentsRequest{Outcomes: req.GetOutcomes(), CreateTimeStart: req.GetCreateTimeStart(), PageToken: tamper(firstToken)}, "page_token"},
	}
	for _, tt := range bad {
		_, err := svc.Client.ListPayments(ctx, tt.req)
		code, reason, _, fields := errorInfo(t, err)
		if code != codes.InvalidArgument || reason != "INVALID_REQUEST" || (tt.field != "" && !slices.Contains(fields, tt.field)) {
			t.Errorf("%s: %v %s fields %v; want INVALID_ARGUMENT INVALID_REQUEST on %q", tt.name, code, reason, fields, tt.field)
		}
	}
}

// tamper changes one character in the middle of a page token.
func tamper(token string) string {
	b := []byte(token)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
