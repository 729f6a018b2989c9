package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// amountText is an amount as a request carries it: Amazon documents strings
// ("14.00") but the .NET SDK sends bare JSON numbers, so both are accepted.
// The decimal text is kept verbatim; it is never turned into a float.
type amountText string

// UnmarshalJSON accepts a JSON string or number.
func (a *amountText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = amountText(s)
		return nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return errors.New("amount must be a string or a number")
	}
	*a = amountText(n.String())
	return nil
}

// priceInput is a Price object in a request body.
type priceInput struct {
	Amount       *amountText `json:"amount"`
	CurrencyCode *string     `json:"currencyCode"`
}

// price is a validated Price: the amount in minor units of its currency.
type price struct {
	Minor    int64  `json:"minor"`
	Currency string `json:"currency"`
}

// currencyExponents lists the currencies Amazon Pay settles or presents
// (multi-currency list of the EU/UK regions plus the ledger currencies) and
// their decimal places.
var currencyExponents = map[string]int{
	"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "AUD": 2, "DKK": 2, "HKD": 2,
	"NZD": 2, "NOK": 2, "ZAR": 2, "SEK": 2, "CHF": 2,
}

// maxMinor is the largest charge Amazon documents per currency (US $150,000,
// UK £150,000, EU €150,000, JP ¥10,000,000); other currencies use 150,000.
func maxMinor(currency string) int64 {
	if currency == "JPY" {
		return 10_000_000
	}
	return 150_000_00
}

// apiError is an Amazon Pay error answer.
type apiError struct {
	Status     int
	ReasonCode string
	Message    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.ReasonCode, e.Message) }

func errorf(status int, reason, format string, args ...any) *apiError {
	return &apiError{Status: status, ReasonCode: reason, Message: fmt.Sprintf(format, args...)}
}

// parsePrice validates a Price object named field. A currency with no minor
// unit (JPY) must not carry decimals; others at most two.
func parsePrice(field string, in *priceInput) (price, *apiError) {
	if in == nil || in.Amount == nil || strings.TrimSpace(string(*in.Amount)) == "" {
		return price{}, errorf(400, "MissingParameterValue", "The mandatory parameter %s.amount is missing.", field)
	}
	if in.CurrencyCode == nil || *in.CurrencyCode == "" {
		return price{}, errorf(400, "MissingParameterValue", "The mandatory parameter %s.currencyCode is missing.", field)
	}
	cur := *in.CurrencyCode
	exp, ok := currencyExponents[cur]
	if !ok {
		return price{}, errorf(400, "InvalidParameterValue", "The value %q provided for %s.currencyCode is invalid.", cur, field)
	}
	text := strings.TrimSpace(string(*in.Amount))
	intPart, frac, hasDot := strings.Cut(text, ".")
	bad := errorf(400, "InvalidParameterValue", "The value %q provided for %s.amount is invalid.", text, field)
	if intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))) {
		return price{}, bad
	}
	if hasDot && exp == 0 {
		return price{}, errorf(400, "InvalidParameterValue", "The value %q provided for %s.amount is invalid: %s has no decimal places.", text, field, cur)
	}
	if len(frac) > exp {
		return price{}, bad
	}
	frac += strings.Repeat("0", exp-len(frac))
	n, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return price{}, bad
	}
	if n.Sign() <= 0 {
		return price{}, bad
	}
	if !n.IsInt64() || n.Int64() > maxMinor(cur) {
		return price{}, errorf(400, "TransactionAmountExceeded", "The amount of %s exceeds the maximum allowed for %s.", field, cur)
	}
	return price{Minor: n.Int64(), Currency: cur}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// text formats the amount with the currency's decimal places ("14.00", "1000").
func (p price) text() string {
	exp := currencyExponents[p.Currency]
	s := fmt.Sprintf("%0*d", exp+1, p.Minor)
	if exp == 0 {
		return s
	}
	return s[:len(s)-exp] + "." + s[len(s)-exp:]
}

// priceJSON is a Price object in a response.
type priceJSON struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

// json renders p, or nil for the zero price.
func (p *price) json() *priceJSON {
	if p == nil || p.Currency == "" {
		return nil
	}
	return &priceJSON{Amount: p.text(), CurrencyCode: p.Currency}
}

// ledgerCurrencies are the currencies a merchant of each region may charge
// in: its ledger currency, and for EU/UK merchants (ledger EUR or GBP) every
// currency of Amazon's multi-currency list. The .NET SDK's Currency type
// says so ("a currency other than the ledger currency is only supported in
// the EU region"); the multi-currency integration guide lists the
// currencies.
var ledgerCurrencies = map[string]map[string]bool{
	"na": {"USD": true},
	"jp": {"JPY": true},
	"eu": {"EUR": true, "GBP": true, "AUD": true, "DKK": true, "HKD": true, "JPY": true,
		"NZD": true, "NOK": true, "ZAR": true, "SEK": true, "CHF": true, "USD": true},
}

// checkLedgerCurrency refuses a currency the merchant of region cannot
// charge in with 400 CurrencyMismatch (nil cur passes).
func checkLedgerCurrency(region, field string, cur *string) *apiError {
	if cur == nil {
		return nil
	}
	allowed, ok := ledgerCurrencies[region]
	if !ok || allowed[*cur] {
		return nil
	}
	return errorf(400, "CurrencyMismatch", "The currency %s provided for %s is not supported: it is not your ledger currency and multi-currency is only available in the EU region.", *cur, field)
}

func currencyOf(p *price) *string {
	if p == nil {
		return nil
	}
	return &p.Currency
}
