package chargeops

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// View is a payment's money at a glance: its charges as last recorded and
// what they add up to. Amounts are nil when nothing counts toward them.
type View struct {
	Charges                         []amazonpay.Charge
	Refunds                         []amazonpay.Refund
	Captured, Refunded, Outstanding *payment.Money
	// Unsettled counts the operations shown here (charges, captures,
	// cancellations, refunds) that are not done yet: their state can still
	// change by itself (Amazon's answer, or a pending state settling); and
	// the charges a closure canceled that are not read back yet.
	Unsettled int
}

// ViewOf builds the view of p from the completion's charge and the results
// of the operations recorded on its charge permission.
func (s *Service) ViewOf(ctx context.Context, p payment.Payment) (View, error) {
	var ops []payment.Operation
	if p.ChargePermissionID != "" {
		var err error
		if ops, err = s.st.ListOperations(ctx, p.ChargePermissionID); err != nil {
			return View{}, storeError(err)
		}
	}
	return buildView(p, ops), nil
}

func buildView(p payment.Payment, ops []payment.Operation) View {
	var (
		order []string
		byID  = map[string]amazonpay.Charge{}
	)
	if p.ChargeID != "" && p.ChargeState != "" {
		amt := amazonpay.Price{Amount: p.ChargeAmount.Amount, CurrencyCode: p.ChargeAmount.CurrencyCode}
		ch := amazonpay.Charge{ChargeID: p.ChargeID, ChargePermissionID: p.ChargePermissionID, ChargeAmount: &amt}
		ch.StatusDetails.State = p.ChargeState
		if p.ChargeState == payment.ChargeCaptured {
			ch.CaptureAmount = &amt
		}
		order = append(order, p.ChargeID)
		byID[p.ChargeID] = ch
	}
	// The latest recorded answer about each charge wins.
	ops = slices.Clone(ops)
	// At one time, a charge's creation comes before what was done to it.
	later := func(o payment.Operation) int {
		if o.Kind == payment.OpCharge {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(ops, func(a, b payment.Operation) int {
		if c := a.UpdateTime.Compare(b.UpdateTime); c != 0 {
			return c
		}
		return later(a) - later(b)
	})
	var refunded []payment.Money
	v := View{}
	for _, op := range ops {
		switch op.Kind {
		case payment.OpCapture, payment.OpCancel, payment.OpRefund, payment.OpCharge:
			if op.State != payment.OpDone {
				v.Unsettled++
			}
		case payment.OpExpiry:
			// Made due because Amazon changed the charge (a closure
			// canceled it): the change is on its way to the payment.
			if op.State == payment.OpUnknown {
				v.Unsettled++
			}
		}
		if len(op.Result) == 0 || (op.State != payment.OpDone && op.State != payment.OpPending) {
			continue
		}
		if op.Kind == payment.OpClose || op.Kind == payment.OpReference {
			continue
		}
		if op.Kind == payment.OpRefund {
			var rf amazonpay.Refund
			if json.Unmarshal(op.Result, &rf) != nil || rf.RefundID == "" {
				continue
			}
			v.Refunds = append(v.Refunds, rf)
			if rf.StatusDetails.State == amazonpay.RefundStateRefunded && rf.RefundAmount != nil {
				refunded = append(refunded, money(rf.RefundAmount))
			}
			continue
		}
		var ch amazonpay.Charge
		if json.Unmarshal(op.Result, &ch) != nil || ch.ChargeID == "" {
			continue
		}
		if _, seen := byID[ch.ChargeID]; !seen {
			order = append(order, ch.ChargeID)
		}
		byID[ch.ChargeID] = ch
	}
	var captured, outstanding []payment.Money
	currency := p.ChargeAmount.CurrencyCode
	// A charge's refunded amount is its refunds' that reached the buyer,
	// as Amazon counts it: a charge recorded before its refunds does
	// not say.
	refundedOf := map[string][]payment.Money{}
	for _, rf := range v.Refunds {
		if rf.StatusDetails.State == amazonpay.RefundStateRefunded && rf.RefundAmount != nil {
			refundedOf[rf.ChargeID] = append(refundedOf[rf.ChargeID], money(rf.RefundAmount))
		}
	}
	for _, id := range order {
		ch := byID[id]
		if rs := refundedOf[id]; len(rs) > 0 {
			if sum := total(currency, rs); sum != nil {
				ch.RefundedAmount = &amazonpay.Price{Amount: sum.Amount, CurrencyCode: sum.CurrencyCode}
			}
		}
		v.Charges = append(v.Charges, ch)
		switch ch.StatusDetails.State {
		case payment.ChargeCaptured:
			if ch.CaptureAmount != nil {
				captured = append(captured, money(ch.CaptureAmount))
			}
		case payment.ChargeAuthorized, payment.ChargeAuthorizationInitiated:
			if ch.ChargeAmount != nil {
				outstanding = append(outstanding, money(ch.ChargeAmount))
			}
		}
	}
	v.Captured, v.Refunded, v.Outstanding = total(currency, captured), total(currency, refunded), total(currency, outstanding)
	return v
}

func money(p *amazonpay.Price) payment.Money {
	return payment.Money{Amount: p.Amount, CurrencyCode: p.CurrencyCode}
}

func total(currency string, ms []payment.Money) *payment.Money {
	if len(ms) == 0 {
		return nil
	}
	if currency == "" {
		currency = ms[0].CurrencyCode
	}
	m, ok := payment.Sum(currency, ms...)
	if !ok {
		return nil
	}
	return &m
}
