package simulator

import (
	"strings"
	"testing"
	"time"
)

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr bool
		want    authorization
	}{
		{name: "sdk_form", in: "AMZN-PAY-RSASSA-PSS-V2 PublicKeyId=SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B, SignedHeaders=accept;content-type;x-amz-pay-date, Signature=AAEC",
			want: authorization{Algorithm: algorithmV2, PublicKeyID: "SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B", SignedHeaders: "accept;content-type;x-amz-pay-date"}},
		{name: "any_order_extra_spaces", in: "  AMZN-PAY-RSASSA-PSS Signature=AAEC ,SignedHeaders=a;b,  PublicKeyId=K ",
			want: authorization{Algorithm: algorithmV1, PublicKeyID: "K", SignedHeaders: "a;b"}},
		{name: "unpadded_signature", in: "AMZN-PAY-RSASSA-PSS PublicKeyId=K, SignedHeaders=a, Signature=AAE",
			want: authorization{Algorithm: algorithmV1, PublicKeyID: "K", SignedHeaders: "a"}},
		{name: "empty", in: "", wantErr: true},
		{name: "algorithm_only", in: "AMZN-PAY-RSASSA-PSS", wantErr: true},
		{name: "missing_signature", in: "AMZN-PAY-RSASSA-PSS PublicKeyId=K, SignedHeaders=a", wantErr: true},
		{name: "repeated_field", in: "AMZN-PAY-RSASSA-PSS PublicKeyId=K, PublicKeyId=L, SignedHeaders=a, Signature=AAEC", wantErr: true},
		{name: "unknown_field", in: "AMZN-PAY-RSASSA-PSS PublicKeyId=K, SignedHeaders=a, Signature=AAEC, Region=na", wantErr: true},
		{name: "empty_header_name", in: "AMZN-PAY-RSASSA-PSS PublicKeyId=K, SignedHeaders=a;;b, Signature=AAEC", wantErr: true},
		{name: "bad_base64", in: "AMZN-PAY-RSASSA-PSS PublicKeyId=K, SignedHeaders=a, Signature=@@", wantErr: true},
		{name: "no_equals", in: "AMZN-PAY-RSASSA-PSS PublicKeyId", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseAuthorization(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got.Algorithm != tc.want.Algorithm || got.PublicKeyID != tc.want.PublicKeyID || got.SignedHeaders != tc.want.SignedHeaders || len(got.Signature) == 0 {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseAmzDate(t *testing.T) {
	t.Parallel()
	want := time.Date(2019, 9, 23, 23, 19, 8, 0, time.UTC)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"20190923T231908Z", true},
		{"2019-09-23T23:19:08Z", true},
		{" 2019-09-23T23:19:08Z ", true},
		{"2019-09-24T01:19:08+02:00", true},
		{"2019-09-23T23:19:08.000Z", true},
		{"20190923T231908", false},
		{"2019-09-23 23:19:08", false},
		{"Mon, 23 Sep 2019 23:19:08 GMT", false},
		{"", false},
	} {
		got, err := parseAmzDate(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v", tc.in, err)
			continue
		}
		if tc.ok && !got.Equal(want) {
			t.Errorf("%q: got %v", tc.in, got)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":        "",
		"b=2&a=1": "a=1&b=2",
		"customInformation=Information+about+order": "customInformation=Information%20about%20order",
		"x=%7E*": "x=~%2A",
	} {
		if got := canonicalQuery(in); got != want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPriceParsing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		amount, currency, text, reason string
	}{
		{"14", "USD", "14.00", ""},
		{"14.5", "USD", "14.50", ""},
		{"0.01", "EUR", "0.01", ""},
		{"1000", "JPY", "1000", ""},
		{"10000000", "JPY", "10000000", ""},
		{"10000001", "JPY", "", "TransactionAmountExceeded"},
		{"1000.0", "JPY", "", "InvalidParameterValue"},
		{"1.001", "USD", "", "InvalidParameterValue"},
		{"0", "USD", "", "InvalidParameterValue"},
		{"1e3", "USD", "", "InvalidParameterValue"},
		{".5", "USD", "", "InvalidParameterValue"},
		{"5.", "USD", "", "InvalidParameterValue"},
		{"99999999999999999999999", "USD", "", "TransactionAmountExceeded"},
		{"5", "XXX", "", "InvalidParameterValue"},
		{"", "USD", "", "MissingParameterValue"},
	} {
		a, c := amountText(tc.amount), tc.currency
		p, e := parsePrice("chargeAmount", &priceInput{Amount: &a, CurrencyCode: &c})
		gotReason := ""
		if e != nil {
			gotReason = e.ReasonCode
		}
		if gotReason != tc.reason || (e == nil && p.text() != tc.text) {
			t.Errorf("%s %s: got %q %q, want %q %q", tc.amount, tc.currency, p.text(), gotReason, tc.text, tc.reason)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AMZN-PAY-RSASSA-PSS-V2 PublicKeyId=K, SignedHeaders=accept;x-amz-pay-date, Signature=AAEC")
	f.Add("AMZN-PAY-RSASSA-PSS PublicKeyId=, SignedHeaders=;, Signature==")
	f.Add(" , = ,,")
	f.Fuzz(func(t *testing.T, in string) {
		a, err := parseAuthorization(in)
		if err != nil {
			return
		}
		// A parse that succeeds yields every required part.
		if a.Algorithm == "" || a.PublicKeyID == "" || a.SignedHeaders == "" || a.Signature == nil {
			t.Fatalf("incomplete parse of %q: %+v", in, a)
		}
		for _, n := range a.headerNames() {
			if n == "" || n != strings.ToLower(n) {
				t.Fatalf("bad header name %q from %q", n, in)
			}
		}
	})
}

func FuzzParseAmzDate(f *testing.F) {
	f.Add("20190923T231908Z")
	f.Add("2019-09-23T23:19:08Z")
	f.Add("2019-09-23T23:19:08.999999999-23:59")
	f.Add("0000-01-01T00:00:00+01:00")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseAmzDate(in)
		if err != nil {
			return
		}
		// Whatever was accepted must survive a round trip through the basic
		// form Amazon answers with.
		back, err := parseAmzDate(got.UTC().Format(basicDateLayout))
		if err != nil || !back.Equal(got.Truncate(time.Second)) {
			t.Fatalf("%q -> %v -> %v (%v)", in, got, back, err)
		}
	})
}
