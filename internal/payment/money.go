package payment

import (
	"errors"
	"fmt"
	"strings"
)

// currencyRule is what the service knows about a currency Amazon Pay can
// charge in: its decimal places and, for ledger currencies, Amazon's
// per-transaction maximum written in canonical form.
type currencyRule struct {
	decimals int
	max      string // "" = no known maximum (presentment currencies)
}

// currencies Amazon Pay charges in: the ledger currencies with their
// documented maximum, and the multi-currency presentment currencies, whose
// maximum is the ledger maximum at Amazon's rate (not knowable here). The
// proto's validation rules encode the same table; a test keeps them equal.
var currencies = map[string]currencyRule{
	"USD": {2, "150000.00"},
	"EUR": {2, "150000.00"},
	"GBP": {2, "150000.00"},
	"JPY": {0, "10000000"},
	"AUD": {2, ""},
	"CHF": {2, ""},
	"DKK": {2, ""},
	"HKD": {2, ""},
	"NOK": {2, ""},
	"NZD": {2, ""},
	"SEK": {2, ""},
	"ZAR": {2, ""},
}

// maxIntegerDigits bounds amounts in currencies without a known maximum.
const maxIntegerDigits = 9

// Errors of Money.Validate (wrapped with details).
var (
	ErrUnknownCurrency = errors.New("unsupported currency")
	ErrBadAmount       = errors.New("malformed amount")
	ErrAmountTooLarge  = errors.New("amount above Amazon Pay's maximum")
)

// Validate checks that m is an amount Amazon Pay accepts: a supported
// currency, a positive decimal with exactly the currency's decimal places and
// no sign, exponent or leading zeros, and at most the maximum. It never
// converts the amount to a number, so any length is handled exactly.
func (m Money) Validate() error {
	rule, ok := currencies[m.CurrencyCode]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownCurrency, m.CurrencyCode)
	}
	intPart, frac, hasDot := strings.Cut(m.Amount, ".")
	if hasDot != (rule.decimals > 0) || len(frac) != rule.decimals || !digits(intPart) || (hasDot && !digits(frac)) {
		return fmt.Errorf("%w: %q needs %d decimal places for %s", ErrBadAmount, m.Amount, rule.decimals, m.CurrencyCode)
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return fmt.Errorf("%w: %q has leading zeros", ErrBadAmount, m.Amount)
	}
	if strings.Trim(intPart+frac, "0") == "" {
		return fmt.Errorf("%w: %q is not positive", ErrBadAmount, m.Amount)
	}
	if rule.max == "" {
		if len(intPart) > maxIntegerDigits {
			return fmt.Errorf("%w: %q", ErrAmountTooLarge, m.Amount)
		}
		return nil
	}
	// Same canonical form and no leading zeros: comparing length, then bytes,
	// compares the values.
	if len(m.Amount) > len(rule.max) || (len(m.Amount) == len(rule.max) && m.Amount > rule.max) {
		return fmt.Errorf("%w: %q > %s %s", ErrAmountTooLarge, m.Amount, rule.max, m.CurrencyCode)
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
