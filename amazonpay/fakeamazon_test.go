package amazonpay

// This file holds the test double for Amazon Pay: an HTTP server on a real
// socket that checks every request's signature with its own verifier. The
// verifier deliberately shares no code with signing.go: it parses the
// Authorization header itself and rebuilds the canonical request from the
// SignedHeaders list it names.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is one RSA-2048 key shared by the package's tests: generating
// keys is slow and the tests do not depend on the key.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const testKeyID = "SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B"

// verifiedRequest is what the verifier learned about a request.
type verifiedRequest struct {
	Method         string
	Path           string // as on the wire
	Header         http.Header
	Body           []byte
	Algorithm      string
	PublicKeyID    string
	SignedHeaders  []string
	Signature      string
	IdempotencyKey string
}

// verifySignature independently checks an Amazon Pay request signature.
func verifySignature(pub *rsa.PublicKey, r *http.Request, body []byte) (verifiedRequest, error) {
	vr := verifiedRequest{Method: r.Method, Header: r.Header.Clone(), Body: body}
	vr.Path, _, _ = strings.Cut(r.RequestURI, "?")
	vr.IdempotencyKey = r.Header.Get("X-Amz-Pay-Idempotency-Key")

	auth := r.Header.Get("Authorization")
	alg, params, ok := strings.Cut(auth, " ")
	if !ok {
		return vr, fmt.Errorf("authorization %q: no algorithm", auth)
	}
	vr.Algorithm = alg
	fields := map[string]string{}
	for _, part := range strings.Split(params, ", ") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return vr, fmt.Errorf("authorization part %q: no '='", part)
		}
		fields[k] = v
	}
	vr.PublicKeyID, vr.Signature = fields["PublicKeyId"], fields["Signature"]
	vr.SignedHeaders = strings.Split(fields["SignedHeaders"], ";")

	var salt int
	switch alg {
	case "AMZN-PAY-RSASSA-PSS":
		salt = 20
	case "AMZN-PAY-RSASSA-PSS-V2":
		salt = 32
	default:
		return vr, fmt.Errorf("unknown algorithm %q", alg)
	}
	if !slices.IsSorted(vr.SignedHeaders) {
		return vr, fmt.Errorf("signed headers %v not sorted", vr.SignedHeaders)
	}
	for _, must := range []string{"accept", "content-type", "x-amz-pay-date", "x-amz-pay-host", "x-amz-pay-region"} {
		if !slices.Contains(vr.SignedHeaders, must) {
			return vr, fmt.Errorf("%s not signed", must)
		}
	}
	if vr.IdempotencyKey != "" && !slices.Contains(vr.SignedHeaders, "x-amz-pay-idempotency-key") {
		return vr, fmt.Errorf("idempotency key sent but not signed")
	}
	if got := r.Header.Get("X-Amz-Pay-Host"); got != r.Host {
		return vr, fmt.Errorf("x-amz-pay-host %q != Host %q", got, r.Host)
	}
	if _, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Pay-Date")); err != nil {
		return vr, fmt.Errorf("x-amz-pay-date: %v", err)
	}
	if reg := r.Header.Get("X-Amz-Pay-Region"); reg != "na" && reg != "eu" && reg != "jp" {
		return vr, fmt.Errorf("x-amz-pay-region %q", reg)
	}

	canonical := r.Method + "\n" + vr.Path + "\n" + "" + "\n"
	for _, h := range vr.SignedHeaders {
		canonical += h + ":" + strings.TrimSpace(r.Header.Get(h)) + "\n"
	}
	bodySum := sha256.Sum256(body)
	canonical += "\n" + strings.Join(vr.SignedHeaders, ";") + "\n" + hex.EncodeToString(bodySum[:])
	canonicalSum := sha256.Sum256([]byte(canonical))
	toSign := alg + "\n" + hex.EncodeToString(canonicalSum[:])
	digest := sha256.Sum256([]byte(toSign))
	sig, err := base64.StdEncoding.DecodeString(vr.Signature)
	if err != nil {
		return vr, fmt.Errorf("signature: %v", err)
	}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256}); err != nil {
		return vr, fmt.Errorf("signature does not verify: %v", err)
	}
	return vr, nil
}

// fakeAmazon is a signature-checking Amazon Pay stand-in. handle answers
// the n-th (1-based) verified request; requests are recorded.
type fakeAmazon struct {
	*httptest.Server
	t      testing.TB
	handle func(w http.ResponseWriter, r *http.Request, n int)

	mu       sync.Mutex
	requests []verifiedRequest
}

func newFakeAmazon(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int)) *fakeAmazon {
	f := &fakeAmazon{t: t, handle: handle}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAmazon) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("reading request body: %v", err)
		return
	}
	vr, err := verifySignature(&testKey().PublicKey, r, body)
	if err != nil {
		f.t.Errorf("%s %s: %v", r.Method, r.RequestURI, err)
		writeJSON(w, http.StatusForbidden, `{"reasonCode":"InvalidRequestSignature","message":"bad signature"}`)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, vr)
	n := len(f.requests)
	f.mu.Unlock()
	w.Header().Set("X-Amz-Pay-Request-Id", fmt.Sprintf("req-%d", n))
	f.handle(w, r, n)
}

// recorded returns a copy of the verified requests so far.
func (f *fakeAmazon) recorded() []verifiedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// testConfig returns a Config for a fake server at url with fast retries.
func testConfig(url string) Config {
	return Config{
		PublicKeyID: testKeyID,
		PrivateKey:  testKey(),
		Region:      "us",
		Endpoint:    url,
		Retry:       RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
	}
}

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// Fixtures: responses shaped like Amazon's, with unknown fields and nulls.
const (
	sessionJSON = `{
  "checkoutSessionId": "bd504926-f659-4ad7-a1a9-9a747aaf5275",
  "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://shop.example/review", "checkoutResultReturnUrl": "https://shop.example/result", "amazonPayRedirectUrl": "https://pay.amazon.com/checkout?amazonCheckoutSessionId=bd504926-f659-4ad7-a1a9-9a747aaf5275", "checkoutCancelUrl": null, "checkoutMode": null},
  "productType": "PayAndShip",
  "paymentDetails": {"paymentIntent": "Authorize", "canHandlePendingAuthorization": true, "chargeAmount": {"amount": "14.00", "currencyCode": "USD"}, "totalOrderAmount": {"amount": 20, "currencyCode": "USD"}, "presentmentCurrency": "USD", "softDescriptor": null, "allowOvercharge": null, "extendExpiration": null, "estimateOrderTotal": null},
  "chargePermissionType": "OneTime",
  "recurringMetadata": null,
  "paymentMethodOnFileMetadata": null,
  "merchantMetadata": {"merchantReferenceId": "order-42", "merchantStoreName": "Shop", "noteToBuyer": "Thanks", "customInformation": null},
  "supplementaryData": null,
  "buyer": {"buyerId": "amzn1.account.BUYER1", "name": "Jane Q Buyer", "email": "jane@buyer.example", "phoneNumber": "+1-555-0100", "primeMembershipTypes": null},
  "billingAddress": null,
  "shippingAddress": {"name": "Jane Q Buyer", "addressLine1": "1 Secret Lane", "addressLine2": null, "addressLine3": null, "city": "Hiddenville", "county": null, "district": null, "stateOrRegion": "WA", "postalCode": "98101", "countryCode": "US", "phoneNumber": "+1-555-0100"},
  "shippingAddressList": ["{\"name\":\"Jane Q Buyer\",\"addressLine1\":\"1 Secret Lane\",\"countryCode\":\"US\"}", null],
  "paymentPreferences": [null],
  "statusDetails": {"state": "Completed", "reasonCode": null, "reasonDescription": null, "lastUpdatedTimestamp": "20200908T221012Z"},
  "constraints": [],
  "creationTimestamp": "20200908T220900Z",
  "expirationTimestamp": "20200909T220900Z",
  "chargePermissionId": "S01-5105180-3221187",
  "chargeId": "S01-5105180-3221187-C056351",
  "storeId": "amzn1.application-oa2-client.STORE",
  "platformId": null,
  "providerMetadata": {"providerReferenceId": null},
  "deliverySpecifications": null,
  "releaseEnvironment": "Sandbox",
  "checkoutButtonText": null,
  "someFutureField": {"nested": [1, 2, 3]}
}`

	chargeJSON = `{
  "chargeId": "S01-5105180-3221187-C056351",
  "chargePermissionId": "S01-5105180-3221187",
  "chargeAmount": {"amount": 14.5, "currencyCode": "USD"},
  "captureAmount": {"amount": "14.50", "currencyCode": "USD"},
  "refundedAmount": {"amount": "0.00", "currencyCode": "USD"},
  "convertedAmount": null,
  "conversionRate": null,
  "softDescriptor": "SHOP*ORDER",
  "captureNow": true,
  "canHandlePendingAuthorization": false,
  "providerMetadata": {"providerReferenceId": null},
  "merchantMetadata": null,
  "platformId": null,
  "webCheckoutDetails": null,
  "statusDetails": {"state": "Captured", "reasonCode": null, "reasonDescription": null, "lastUpdatedTimestamp": "2020-09-08T22:10:12Z"},
  "creationTimestamp": "20200908T221012Z",
  "expirationTimestamp": "20201008T221012Z",
  "releaseEnvironment": "Sandbox",
  "chargeInitiator": "CITU"
}`

	chargePermissionJSON = `{
  "chargePermissionId": "S01-5105180-3221187",
  "chargePermissionType": "OneTime",
  "limits": {"amountLimit": {"amount": "100", "currencyCode": "USD"}, "amountBalance": {"amount": 85.50, "currencyCode": "USD"}},
  "releaseEnvironment": "Sandbox",
  "buyer": {"buyerId": "amzn1.account.BUYER1", "name": "Jane Q Buyer", "email": "jane@buyer.example", "phoneNumber": null, "primeMembershipTypes": ["US_PRIME"]},
  "shippingAddress": {"name": "Jane Q Buyer", "addressLine1": "1 Secret Lane", "city": "Hiddenville", "postalCode": "98101", "countryCode": "US"},
  "billingAddress": null,
  "paymentPreferences": [{"paymentDescriptor": "Visa ****1111"}],
  "merchantMetadata": {"merchantReferenceId": "order-42"},
  "platformId": null,
  "presentmentCurrency": "USD",
  "recurringMetadata": null,
  "creationTimestamp": "20200908T221012Z",
  "expirationTimestamp": "20210307T221012Z",
  "statusDetails": {"state": "NonChargeable", "reasons": [{"reasonCode": "ChargeInProgress", "reasonDescription": "A charge is in progress"}], "lastUpdatedTimestamp": "20200908T221012Z"}
}`
)

// routes answers like Amazon for the operations this package calls.
func routes(w http.ResponseWriter, r *http.Request, _ int) {
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/checkoutSessions"):
		writeJSON(w, http.StatusCreated, sessionJSON)
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/complete"):
		writeJSON(w, http.StatusOK, sessionJSON)
	case strings.Contains(path, "/checkoutSessions/") && (r.Method == http.MethodGet || r.Method == http.MethodPatch):
		writeJSON(w, http.StatusOK, sessionJSON)
	case r.Method == http.MethodGet && strings.Contains(path, "/chargePermissions/"):
		writeJSON(w, http.StatusOK, chargePermissionJSON)
	case r.Method == http.MethodGet && strings.Contains(path, "/charges/"),
		r.Method == http.MethodPost && strings.HasSuffix(path, "/capture"),
		r.Method == http.MethodDelete && strings.HasSuffix(path, "/cancel"):
		writeJSON(w, http.StatusOK, chargeJSON)
	default:
		writeJSON(w, http.StatusNotFound, `{"reasonCode":"ResourceNotFound","message":"no route"}`)
	}
}

// newPlainServer is an httptest server without signature checks, for
// benchmarks that should measure the client alone.
func newPlainServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
