package amazonpay

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func FuzzTimeUnmarshal(f *testing.F) {
	for _, s := range []string{`"20200908T221012Z"`, `"2020-09-08T22:10:12Z"`, `null`, `""`, `"20200908T221012.5Z"`, `1`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var tm Time
		if err := json.Unmarshal(data, &tm); err != nil {
			return
		}
		// Whatever parsed must survive a round trip (to the second: the
		// wire format has no fractions).
		b, err := json.Marshal(tm)
		if err != nil {
			if tm.Year() < 0 || tm.Year() > 9999 {
				return // outside what the format can hold
			}
			t.Fatalf("marshal %v: %v", tm.Time, err)
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil {
			if tm.Year() < 0 || tm.Year() > 9999 {
				return
			}
			t.Fatalf("reparse %s: %v", b, err)
		}
		if !back.Equal(tm.Truncate(1e9)) {
			t.Fatalf("round trip %v -> %s -> %v", tm.Time, b, back.Time)
		}
	})
}

func FuzzPriceUnmarshal(f *testing.F) {
	for _, s := range []string{`{"amount":"14.00","currencyCode":"USD"}`, `{"amount":100,"currencyCode":"JPY"}`, `{"amount":14.5}`, `null`, `{"amount":-0.0e+10}`, `{"amount":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Price
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		// A parsed amount is kept verbatim: it re-marshals as a string and
		// parses back to the same text.
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal %+v: %v", p, err)
		}
		var back Price
		if err := json.Unmarshal(b, &back); err != nil || back != p {
			t.Fatalf("round trip %+v -> %s -> %+v (%v)", p, b, back, err)
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKey(data)
		if err == nil && key == nil {
			t.Fatal("nil key without error")
		}
	})
}

func FuzzCanonicalRequest(f *testing.F) {
	f.Add("POST", "/v2/checkoutSessions", "a=1&b=%20", "x-amz-pay-date", " 20200101T000000Z ", []byte("{}"))
	f.Add("GET", "", "", "Accept", "", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, query, name, value string, body []byte) {
		h := http.Header{}
		h[name] = []string{value}
		signed := []string{name, "accept"}
		got := CanonicalRequest(method, path, query, h, signed, body)
		if again := CanonicalRequest(method, path, query, h, signed, body); again != got {
			t.Fatal("not deterministic")
		}
		// The last line is always the payload hash.
		if i := strings.LastIndexByte(got, '\n'); i < 0 || len(got)-i-1 != 64 {
			t.Fatalf("no payload hash at the end of %q", got)
		}
		sts := StringToSign(AlgorithmV2, got)
		if !strings.HasPrefix(sts, "AMZN-PAY-RSASSA-PSS-V2\n") || len(sts) != len("AMZN-PAY-RSASSA-PSS-V2\n")+64 {
			t.Fatalf("string to sign %q", sts)
		}
		_ = AuthorizationHeader(AlgorithmV1, "ID", signed, "sig")
		_ = CanonicalQueryString(query)
	})
}
