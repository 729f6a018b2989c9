package payment_test

import (
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

func TestSumAndCompare(t *testing.T) {
	t.Parallel()
	usd := func(a string) payment.Money { return payment.Money{Amount: a, CurrencyCode: "USD"} }
	jpy := func(a string) payment.Money { return payment.Money{Amount: a, CurrencyCode: "JPY"} }
	sums := []struct {
		currency string
		in       []payment.Money
		want     string
		ok       bool
	}{
		{"USD", nil, "0.00", true},
		{"USD", []payment.Money{usd("15.00"), usd("5.01")}, "20.01", true},
		{"USD", []payment.Money{usd("0.05"), usd("0.05")}, "0.10", true},
		{"USD", []payment.Money{usd("99999999999999999999.99"), usd("0.01")}, "100000000000000000000.00", true},
		{"JPY", []payment.Money{jpy("1000"), jpy("1")}, "1001", true},
		{"USD", []payment.Money{usd("1.00"), jpy("1")}, "", false},
		{"USD", []payment.Money{usd("1.0x")}, "", false},
		{"USD", []payment.Money{usd("1.001")}, "", false},
	}
	for _, tt := range sums {
		got, ok := payment.Sum(tt.currency, tt.in...)
		if ok != tt.ok || (ok && got.Amount != tt.want) {
			t.Errorf("Sum(%s, %v) = %v, %v; want %s, %v", tt.currency, tt.in, got, ok, tt.want, tt.ok)
		}
	}
	cmps := []struct {
		a, b payment.Money
		want int
		ok   bool
	}{
		{usd("10.01"), usd("10.00"), 1, true},
		{usd("9.99"), usd("10.00"), -1, true},
		{usd("10.00"), usd("10.00"), 0, true},
		{usd("100.00"), usd("99.99"), 1, true},
		{usd("1.00"), jpy("1"), 0, false},
	}
	for _, tt := range cmps {
		got, ok := payment.Compare(tt.a, tt.b)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Compare(%v, %v) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzSum(f *testing.F) {
	f.Add("12.34", "0.66")
	f.Fuzz(func(t *testing.T, a, b string) {
		x, y := payment.Money{Amount: a, CurrencyCode: "USD"}, payment.Money{Amount: b, CurrencyCode: "USD"}
		s, ok := payment.Sum("USD", x, y)
		if !ok {
			return
		}
		// The sum is at least each part.
		if c, ok := payment.Compare(s, x); ok && c < 0 {
			t.Errorf("Sum(%s, %s) = %s < %s", a, b, s.Amount, a)
		}
	})
}
