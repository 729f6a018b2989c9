package payment_test

import (
	"errors"
	"testing"

	"buf.build/go/protovalidate"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

func TestMoneyValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount, currency string
		want             error
	}{
		{"14.00", "USD", nil},
		{"0.01", "EUR", nil},
		{"150000.00", "USD", nil},
		{"150000.00", "GBP", nil},
		{"1000", "JPY", nil},
		{"10000000", "JPY", nil},
		{"999999999.99", "SEK", nil},
		{"150000.01", "USD", payment.ErrAmountTooLarge},
		{"1000000.00", "EUR", payment.ErrAmountTooLarge},
		{"10000001", "JPY", payment.ErrAmountTooLarge},
		{"1000000000.00", "DKK", payment.ErrAmountTooLarge},
		{"14.0", "USD", payment.ErrBadAmount},
		{"14.000", "USD", payment.ErrBadAmount},
		{"14", "USD", payment.ErrBadAmount},
		{"014.00", "USD", payment.ErrBadAmount},
		{"1000.00", "JPY", payment.ErrBadAmount},
		{"0100", "JPY", payment.ErrBadAmount},
		{"0.00", "USD", payment.ErrBadAmount},
		{"0", "JPY", payment.ErrBadAmount},
		{"-1.00", "USD", payment.ErrBadAmount},
		{"+1.00", "USD", payment.ErrBadAmount},
		{"1e3", "JPY", payment.ErrBadAmount},
		{"1,000", "JPY", payment.ErrBadAmount},
		{".50", "USD", payment.ErrBadAmount},
		{"", "USD", payment.ErrBadAmount},
		{"5.00", "XXX", payment.ErrUnknownCurrency},
		{"5.00", "usd", payment.ErrUnknownCurrency},
		{"5.00", "", payment.ErrUnknownCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.amount+"_"+tt.currency, func(t *testing.T) {
			t.Parallel()
			err := payment.Money{Amount: tt.amount, CurrencyCode: tt.currency}.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate(%q %s) = %v, want %v", tt.amount, tt.currency, err, tt.want)
			}
		})
	}
}

// protoAccepts reports whether the proto's validation rules accept m.
func protoAccepts(t testing.TB, v protovalidate.Validator, m payment.Money) bool {
	err := v.Validate(&pb.Money{Amount: m.Amount, CurrencyCode: m.CurrencyCode})
	var verr *protovalidate.ValidationError
	if err != nil && !errors.As(err, &verr) {
		t.Fatalf("validator failed: %v", err)
	}
	return err == nil
}

// FuzzMoneyAgreesWithProto keeps the Go validator and the rules published in
// the proto in step: callers in other languages validate with the proto's
// rules, the service with both.
func FuzzMoneyAgreesWithProto(f *testing.F) {
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"14.00", "0.01", "150000.00", "150000.01", "1000", "10000000", "10000001", "014.00", "0.00", "1.0", "999999999.99", "1000000000.00", "", "-1"} {
		for _, c := range []string{"USD", "JPY", "SEK", "EUR", "XXX"} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, amount, currency string) {
		m := payment.Money{Amount: amount, CurrencyCode: currency}
		goOK := m.Validate() == nil
		if pOK := protoAccepts(t, v, m); goOK != pOK {
			t.Fatalf("%q %q: Go validator says %v, proto rules say %v", amount, currency, goOK, pOK)
		}
	})
}

func TestOutcomeRank(t *testing.T) {
	t.Parallel()
	order := []payment.Outcome{payment.Completing, payment.Unknown, payment.Pending, payment.Completed}
	for i := 1; i < len(order); i++ {
		if order[i-1].Rank() >= order[i].Rank() {
			t.Errorf("%s must rank below %s", order[i-1], order[i])
		}
	}
	for _, o := range []payment.Outcome{payment.Completed, payment.Declined, payment.Canceled} {
		if !o.Final() {
			t.Errorf("%s must be final", o)
		}
	}
	for _, o := range []payment.Outcome{payment.Completing, payment.Unknown, payment.Pending} {
		if o.Final() {
			t.Errorf("%s must not be final", o)
		}
	}
	if _, err := payment.ParseOutcome("bogus"); err == nil {
		t.Error("ParseOutcome accepted an unknown name")
	}
}

func TestSameRequest(t *testing.T) {
	t.Parallel()
	usd := func(a string) payment.Money { return payment.Money{Amount: a, CurrencyCode: "USD"} }
	total := usd("20.00")
	base := payment.Payment{OrderID: "o1", ChargeAmount: usd("14.00"), TotalOrderAmount: &total}
	other := usd("21.00")
	tests := []struct {
		name string
		q    payment.Payment
		want bool
	}{
		{"same", payment.Payment{OrderID: "o1", ChargeAmount: usd("14.00"), TotalOrderAmount: &total}, true},
		{"other_order", payment.Payment{OrderID: "o2", ChargeAmount: usd("14.00"), TotalOrderAmount: &total}, false},
		{"other_amount", payment.Payment{OrderID: "o1", ChargeAmount: usd("14.01"), TotalOrderAmount: &total}, false},
		{"no_total", payment.Payment{OrderID: "o1", ChargeAmount: usd("14.00")}, false},
		{"other_total", payment.Payment{OrderID: "o1", ChargeAmount: usd("14.00"), TotalOrderAmount: &other}, false},
	}
	for _, tt := range tests {
		if got := base.SameRequest(tt.q); got != tt.want {
			t.Errorf("%s: SameRequest = %v, want %v", tt.name, got, tt.want)
		}
	}
}
