package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// printer writes responses as aligned "name: value" lines or, with json, as
// protojson. The first write error is kept in err and stops further output.
type printer struct {
	w     io.Writer
	notes io.Writer // stderr: progress notes that are not results
	json  bool
	err   error
}

// note writes one "client: ..." line to notes, if set.
func (p *printer) note(format string, args ...any) {
	if p.notes != nil {
		fmt.Fprintf(p.notes, "client: "+format+"\n", args...)
	}
}

func (p *printer) printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format, args...)
}

// field prints one "name: value" line, skipping empty values.
func (p *printer) field(name, value string) {
	if value == "" {
		return
	}
	p.printf("%-22s %s\n", name+":", value)
}

// jsonLine prints m as protojson; multi-line for single answers, one line
// per message for streams so each update can be piped through a JSON tool.
func (p *printer) jsonLine(m proto.Message, multiline bool) {
	opts := protojson.MarshalOptions{UseProtoNames: true}
	if multiline {
		opts.Indent = "  "
	}
	b, err := opts.Marshal(m)
	if err != nil {
		p.err = err
		return
	}
	p.printf("%s\n", b)
}

func (p *printer) payment(m *pb.Payment) {
	if p.json {
		p.jsonLine(m, true)
		return
	}
	p.field("outcome", outcomeName(m.GetOutcome()))
	p.field("reason_code", m.GetReasonCode())
	p.field("checkout_session_id", m.GetCheckoutSessionId())
	p.field("order_id", m.GetOrderId())
	p.field("charge_amount", money(m.GetChargeAmount()))
	p.field("total_order_amount", money(m.GetTotalOrderAmount()))
	p.field("charge_permission_id", m.GetChargePermissionId())
	p.field("charge_id", m.GetChargeId())
	p.field("charge_state", chargeStateName(m.GetChargeState()))
	p.field("create_time", ts(m.GetCreateTime()))
	p.field("update_time", ts(m.GetUpdateTime()))
	p.field("settle_time", ts(m.GetSettleTime()))
	p.field("next_check_time", ts(m.GetNextCheckTime()))
	if m.GetCheckAttempts() > 0 {
		p.field("check_attempts", fmt.Sprint(m.GetCheckAttempts()))
	}
	p.field("captured_amount", money(m.GetCapturedAmount()))
	p.field("refunded_amount", money(m.GetRefundedAmount()))
	p.field("outstanding_amount", money(m.GetOutstandingAmount()))
	for _, c := range m.GetCharges() {
		line := c.GetChargeId() + " " + chargeStateName(c.GetState())
		if a := money(c.GetCaptureAmount()); a != "" {
			line += " captured " + a
		} else if a := money(c.GetChargeAmount()); a != "" {
			line += " " + a
		}
		p.field("charge", line)
	}
	for _, r := range m.GetRefunds() {
		p.field("refund", r.GetRefundId()+" "+strings.TrimPrefix(r.GetState().String(), "REFUND_STATE_")+" "+money(r.GetRefundAmount()))
	}
}

func (p *printer) refund(m *pb.Refund) {
	if p.json {
		p.jsonLine(m, true)
		return
	}
	p.field("refund_id", m.GetRefundId())
	p.field("charge_id", m.GetChargeId())
	p.field("state", strings.TrimPrefix(m.GetState().String(), "REFUND_STATE_"))
	p.field("reason_code", m.GetReasonCode())
	p.field("reason_description", m.GetReasonDescription())
	p.field("refund_amount", money(m.GetRefundAmount()))
	p.field("soft_descriptor", m.GetSoftDescriptor())
	p.field("create_time", ts(m.GetCreateTime()))
	p.field("state_update_time", ts(m.GetStateUpdateTime()))
}

// operation prints the answer of a capture or cancellation: its outcome,
// then the charge as Amazon Pay answered.
func (p *printer) operation(o pb.Outcome, c *pb.Charge, resp proto.Message) {
	if p.json {
		p.jsonLine(resp, true)
		return
	}
	p.field("outcome", outcomeName(o))
	if c != nil {
		p.charge(c)
	}
}

// update prints one WatchPayment message on one line.
func (p *printer) update(m *pb.Payment) {
	if p.json {
		p.jsonLine(m, false)
		return
	}
	parts := []string{ts(m.GetUpdateTime()), "outcome=" + outcomeName(m.GetOutcome())}
	for _, kv := range [][2]string{
		{"reason_code", m.GetReasonCode()},
		{"charge_state", chargeStateName(m.GetChargeState())},
		{"charge_id", m.GetChargeId()},
		{"next_check_time", ts(m.GetNextCheckTime())},
	} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	p.printf("%s\n", strings.TrimSpace(strings.Join(parts, " ")))
}

// listed prints one payment of a listing on one line: creation time,
// outcome, session, order, amount, and the reason or next check if any.
func (p *printer) listed(m *pb.Payment) {
	if p.json {
		p.jsonLine(m, false)
		return
	}
	line := fmt.Sprintf("%s %-9s %s %s %s", ts(m.GetCreateTime()), outcomeName(m.GetOutcome()),
		m.GetCheckoutSessionId(), m.GetOrderId(), money(m.GetChargeAmount()))
	if r := m.GetReasonCode(); r != "" {
		line += " reason_code=" + r
	}
	if n := ts(m.GetNextCheckTime()); n != "" {
		line += " next_check_time=" + n
	}
	p.printf("%s\n", line)
}

// listPage prints one page of a listing: with json the whole response
// (payments and next_page_token), else one line per payment.
func (p *printer) listPage(m *pb.ListPaymentsResponse) {
	if p.json {
		p.jsonLine(m, true)
		return
	}
	for _, pm := range m.GetPayments() {
		p.listed(pm)
	}
}

func (p *printer) charge(m *pb.Charge) {
	if p.json {
		p.jsonLine(m, true)
		return
	}
	p.field("charge_id", m.GetChargeId())
	p.field("charge_permission_id", m.GetChargePermissionId())
	p.field("state", chargeStateName(m.GetState()))
	p.field("reason_code", m.GetReasonCode())
	p.field("reason_description", m.GetReasonDescription())
	p.field("charge_amount", money(m.GetChargeAmount()))
	p.field("capture_amount", money(m.GetCaptureAmount()))
	p.field("refunded_amount", money(m.GetRefundedAmount()))
	p.field("capture_now", fmt.Sprint(m.GetCaptureNow()))
	p.field("pending_auth_allowed", fmt.Sprint(m.GetCanHandlePendingAuthorization()))
	p.field("soft_descriptor", m.GetSoftDescriptor())
	p.field("release_environment", m.GetReleaseEnvironment())
	p.field("create_time", ts(m.GetCreateTime()))
	p.field("state_update_time", ts(m.GetStateUpdateTime()))
	p.field("expire_time", ts(m.GetExpireTime()))
}

func (p *printer) chargePermission(m *pb.ChargePermission) {
	if p.json {
		p.jsonLine(m, true)
		return
	}
	p.field("charge_permission_id", m.GetChargePermissionId())
	p.field("type", strings.TrimPrefix(m.GetChargePermissionType().String(), "CHARGE_PERMISSION_TYPE_"))
	p.field("state", strings.TrimPrefix(m.GetState().String(), "CHARGE_PERMISSION_STATE_"))
	for _, r := range m.GetReasons() {
		p.field("reason", strings.TrimSpace(r.GetReasonCode()+" "+r.GetReasonDescription()))
	}
	if b := m.GetBuyer(); b != nil {
		p.field("buyer", strings.TrimSpace(b.GetName()+" <"+b.GetEmail()+">"))
		p.field("buyer_id", b.GetBuyerId())
		p.field("buyer_phone", b.GetPhoneNumber())
	}
	p.field("shipping_address", address(m.GetShippingAddress()))
	p.field("billing_address", address(m.GetBillingAddress()))
	for _, d := range m.GetPaymentDescriptors() {
		p.field("payment_descriptor", d)
	}
	p.field("amount_limit", money(m.GetLimits().GetAmountLimit()))
	p.field("amount_balance", money(m.GetLimits().GetAmountBalance()))
	p.field("presentment_currency", m.GetPresentmentCurrency())
	p.field("merchant_reference_id", m.GetMerchantReferenceId())
	p.field("release_environment", m.GetReleaseEnvironment())
	p.field("create_time", ts(m.GetCreateTime()))
	p.field("state_update_time", ts(m.GetStateUpdateTime()))
	p.field("expire_time", ts(m.GetExpireTime()))
}

func outcomeName(o pb.Outcome) string { return strings.TrimPrefix(o.String(), "OUTCOME_") }

func chargeStateName(s pb.ChargeState) string {
	if s == pb.ChargeState_CHARGE_STATE_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(s.String(), "CHARGE_STATE_")
}

// money prints the amount verbatim: it is a decimal string and stays one.
func money(m *pb.Money) string {
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m.GetAmount() + " " + m.GetCurrencyCode())
}

func ts(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

func address(a *pb.Address) string {
	if a == nil {
		return ""
	}
	var parts []string
	for _, s := range []string{a.GetName(), a.GetAddressLine_1(), a.GetAddressLine_2(), a.GetAddressLine_3(), a.GetCity(),
		a.GetDistrict(), a.GetCounty(), a.GetStateOrRegion(), a.GetPostalCode(), a.GetCountryCode()} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// codeName spells a gRPC code the canonical way (FAILED_PRECONDITION).
func codeName(c fmt.Stringer) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// printError writes a call error to w: code, message, the ErrorInfo reason
// and metadata, field violations and retry hints; with asJSON, the
// google.rpc.Status as protojson. It returns the exit status.
func printError(w io.Writer, err error, asJSON bool) int {
	st := status.Convert(err)
	code := errorExit(st.Code())
	if asJSON {
		b, jerr := protojson.MarshalOptions{UseProtoNames: true, Indent: "  "}.Marshal(st.Proto())
		if jerr == nil {
			fmt.Fprintf(w, "%s\n", b)
			return code
		}
	}
	fmt.Fprintf(w, "error: %s: %s\n", codeName(st.Code()), st.Message())
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			fmt.Fprintf(w, "  reason: %s (domain %s)\n", d.GetReason(), d.GetDomain())
			for _, k := range slices.Sorted(maps.Keys(d.GetMetadata())) {
				fmt.Fprintf(w, "  %s: %s\n", k, d.GetMetadata()[k])
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				field := v.GetField()
				if field == "" {
					field = "(request)"
				}
				fmt.Fprintf(w, "  field %s: %s\n", field, v.GetDescription())
			}
		case *errdetails.RetryInfo:
			fmt.Fprintf(w, "  retry after: %s\n", d.GetRetryDelay().AsDuration())
		}
	}
	return code
}
