package amazonpay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Known-answer vectors. The canonical request is the docs example (with a
// concrete body, since the docs elide theirs); hashes were computed with
// sha256sum, independently of this package:
//
//	printf '%s' "$BODY" | sha256sum
//	printf '%s' "$CANONICAL" | sha256sum
const (
	docsBody      = `{"webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.com/merchant-review-page"},"storeId":"amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId"}`
	docsBodyHash  = "e3ff249dac84a58f0b7e77a429e35daa1ed66c748f0355fd85f99195e7c43493"
	docsCanonical = "POST\n" +
		"/live/v2/checkoutSessions\n" +
		"\n" +
		"accept:application/json\n" +
		"content-type:application/json\n" +
		"x-amz-pay-date:20190923T231908Z\n" +
		"x-amz-pay-host:pay-api.amazon.com\n" +
		"x-amz-pay-idempotency-key:cllHyiNvS8cJ8Zas\n" +
		"x-amz-pay-region:na\n" +
		"\n" +
		"accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-idempotency-key;x-amz-pay-region\n" +
		docsBodyHash
	docsCanonicalHash = "29548cb66faa06d582d294f37a5455b3ca7b5470da1607ff49c6e08e5286586c"

	// A GET with an empty body (the hash of "") in the EU region.
	getCanonical = "GET\n" +
		"/v2/charges/S01-5105180-3221187-C056351\n" +
		"\n" +
		"accept:application/json\n" +
		"content-type:application/json\n" +
		"x-amz-pay-date:20200908T221012Z\n" +
		"x-amz-pay-host:pay-api.amazon.eu\n" +
		"x-amz-pay-region:eu\n" +
		"\n" +
		"accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	getCanonicalHash = "6ccffd382586aeda434cf640b1576126be8294138ee3944430757c31a64efc85"

	pinnedCompleteKey = "hRB6cpsW-rS8DpeB4c9stf1Ch7rSgG27"
)

func docsHeaders() http.Header {
	h := http.Header{}
	// Set in arbitrary case and order: canonicalization must not care.
	h.Set("X-Amz-Pay-Region", "na")
	h.Set("Accept", "application/json")
	h.Set("x-amz-pay-idempotency-key", "cllHyiNvS8cJ8Zas")
	h.Set("Content-Type", "  application/json ")
	h.Set("X-Amz-Pay-Host", "pay-api.amazon.com")
	h.Set("X-Amz-Pay-Date", "20190923T231908Z")
	h.Set("User-Agent", "not signed")
	return h
}

func TestCanonicalRequestKnownAnswers(t *testing.T) {
	t.Parallel()
	getHeaders := http.Header{}
	getHeaders.Set("Accept", "application/json")
	getHeaders.Set("Content-Type", "application/json")
	getHeaders.Set("X-Amz-Pay-Date", "20200908T221012Z")
	getHeaders.Set("X-Amz-Pay-Host", "pay-api.amazon.eu")
	getHeaders.Set("X-Amz-Pay-Region", "eu")

	tests := []struct {
		name          string
		method, path  string
		headers       http.Header
		signed        []string
		body          []byte
		want, wantSum string
	}{
		{
			name: "docs_example", method: "post", path: "/live/v2/checkoutSessions", headers: docsHeaders(),
			signed: []string{"x-amz-pay-region", "X-Amz-Pay-Idempotency-Key", "accept", "content-type", "x-amz-pay-host", "x-amz-pay-date"},
			body:   []byte(docsBody), want: docsCanonical, wantSum: docsCanonicalHash,
		},
		{
			name: "get_empty_body", method: "GET", path: "/v2/charges/S01-5105180-3221187-C056351", headers: getHeaders,
			signed: SignedHeaderNames(getHeaders), want: getCanonical, wantSum: getCanonicalHash,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := CanonicalRequest(tt.method, tt.path, "", tt.headers, tt.signed, tt.body)
			if got != tt.want {
				t.Errorf("canonical request:\n%s\nwant:\n%s", got, tt.want)
			}
			sts := StringToSign(AlgorithmV2, got)
			if want := "AMZN-PAY-RSASSA-PSS-V2\n" + tt.wantSum; sts != want {
				t.Errorf("string to sign = %q, want %q", sts, want)
			}
			if sts := StringToSign(AlgorithmV1, got); sts != "AMZN-PAY-RSASSA-PSS\n"+tt.wantSum {
				t.Errorf("V1 string to sign = %q", sts)
			}
		})
	}
}

func TestSignedHeaderNames(t *testing.T) {
	t.Parallel()
	h := docsHeaders()
	want := "accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-idempotency-key;x-amz-pay-region"
	if got := strings.Join(SignedHeaderNames(h), ";"); got != want {
		t.Errorf("with key: %s, want %s", got, want)
	}
	h.Del("X-Amz-Pay-Idempotency-Key")
	want = "accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region"
	if got := strings.Join(SignedHeaderNames(h), ";"); got != want {
		t.Errorf("without key: %s, want %s", got, want)
	}
}

func TestCanonicalQueryString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"customInformation=Information%20about%20order", "customInformation=Information%20about%20order"},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=1", "a=1&a=2"},
		{"q=a+b", "q=a%20b"},
		{"x=~*'", "x=~%2A%27"},
		{"flag", "flag="},
		{"bad=%zz", "bad=%25zz"},
		{"&&a=1&", "a=1"},
	}
	for _, tt := range tests {
		if got := CanonicalQueryString(tt.in); got != tt.want {
			t.Errorf("CanonicalQueryString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalHeaderValues(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-A": {"  a   b\t c  "}, "X-B": {"1", " 2 "}}
	got := CanonicalRequest("GET", "", "", h, []string{"X-B", "x-a"}, nil)
	want := "GET\n/\n\nx-a:a b c\nx-b:1,2\n\nx-a;x-b\n" + emptySHA256
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAuthorizationHeaderFormat(t *testing.T) {
	t.Parallel()
	got := AuthorizationHeader(AlgorithmV2, "SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B", []string{"x-amz-pay-region", "accept"}, "c2ln==")
	want := "AMZN-PAY-RSASSA-PSS-V2 PublicKeyId=SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B, SignedHeaders=accept;x-amz-pay-region, Signature=c2ln=="
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func verifyPSS(t *testing.T, sigB64, stringToSign string, salt int) error {
	t.Helper()
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		t.Fatalf("signature is not base64: %v", err)
	}
	digest := sha256.Sum256([]byte(stringToSign))
	return rsa.VerifyPSS(&testKey().PublicKey, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256})
}

func TestSignatureRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg       Algorithm
		salt      int
		otherSalt int
	}{
		{AlgorithmV2, 32, 20},
		{AlgorithmV1, 20, 32},
		{"", 32, 20}, // default
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			t.Parallel()
			s, err := NewSigner(testKeyID, testKey(), tt.alg)
			if err != nil {
				t.Fatal(err)
			}
			sts := StringToSign(s.Algorithm(), docsCanonical)
			sig, err := s.Sign(sts)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyPSS(t, sig, sts, tt.salt); err != nil {
				t.Errorf("does not verify with salt %d: %v", tt.salt, err)
			}
			if err := verifyPSS(t, sig, sts, tt.otherSalt); err == nil {
				t.Errorf("verifies with the other algorithm's salt %d", tt.otherSalt)
			}
			if err := verifyPSS(t, sig, sts+"x", tt.salt); err == nil {
				t.Error("verifies for a different string")
			}
			// PSS is randomized: two signatures differ, both verify.
			sig2, err := s.Sign(sts)
			if err != nil {
				t.Fatal(err)
			}
			if sig2 == sig || verifyPSS(t, sig2, sts, tt.salt) != nil {
				t.Error("second signature identical or invalid")
			}
		})
	}
}

// roundTripFunc captures requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestClientSignsDocsExample sends the docs example through the real client
// (default endpoint, legacy live key, the docs' date and key) and checks the
// signature against the independently computed string to sign.
func TestClientSignsDocsExample(t *testing.T) {
	t.Parallel()
	for _, alg := range []Algorithm{AlgorithmV1, AlgorithmV2} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			var captured *http.Request
			var body []byte
			c := newTestClient(t, Config{
				PublicKeyID: "AFVX7ULWSGBZ5535PCUQOY7B",
				PrivateKey:  testKey(),
				Region:      "US",
				Algorithm:   alg,
				Now:         func() time.Time { return time.Date(2019, 9, 23, 23, 19, 8, 0, time.UTC) },
				HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					captured = r
					body, _ = io.ReadAll(r.Body)
					return &http.Response{StatusCode: 201, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(sessionJSON)), Request: r}, nil
				})},
			})
			_, _, err := c.CreateCheckoutSession(t.Context(), CreateCheckoutSessionRequest{
				WebCheckoutDetails: WebCheckoutDetails{CheckoutReviewReturnURL: "https://a.com/merchant-review-page"},
				StoreID:            "amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId",
			}, WithIdempotencyKey("cllHyiNvS8cJ8Zas"))
			if err != nil {
				t.Fatal(err)
			}
			if captured.URL.String() != "https://pay-api.amazon.com/live/v2/checkoutSessions" {
				t.Errorf("URL = %s", captured.URL)
			}
			if string(body) != docsBody {
				t.Fatalf("body = %s, want %s", body, docsBody)
			}
			auth := captured.Header.Get("Authorization")
			prefix := string(alg) + " PublicKeyId=AFVX7ULWSGBZ5535PCUQOY7B, SignedHeaders=accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-idempotency-key;x-amz-pay-region, Signature="
			sig, ok := strings.CutPrefix(auth, prefix)
			if !ok {
				t.Fatalf("Authorization = %q, want prefix %q", auth, prefix)
			}
			if err := verifyPSS(t, sig, string(alg)+"\n"+docsCanonicalHash, alg.saltLength()); err != nil {
				t.Errorf("signature does not match the docs string to sign: %v", err)
			}
		})
	}
}

func TestNewSignerRejects(t *testing.T) {
	t.Parallel()
	if _, err := NewSigner("", testKey(), AlgorithmV2); err == nil {
		t.Error("empty key ID accepted")
	}
	if _, err := NewSigner("ID, Signature=x", testKey(), AlgorithmV2); err == nil {
		t.Error("key ID with comma accepted")
	}
	if _, err := NewSigner("ID", nil, AlgorithmV2); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := NewSigner("ID", testKey(), "RSA-SHA1"); err == nil {
		t.Error("unknown algorithm accepted")
	}
	s, err := NewSigner("ID", testKey(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "AMZN-PAY-RSASSA-PSS-V2 ID" {
		t.Errorf("String() = %q", got)
	}
}
