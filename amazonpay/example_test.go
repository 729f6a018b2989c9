package amazonpay_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
)

// A stand-in for Amazon Pay that answers Complete Checkout Session with a
// pending authorization (202) and Get Charge with the charge.
func fakeAmazonPay() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Pay-Request-Id", "example-request")
		switch r.Method + " " + r.URL.Path {
		case "POST /v2/checkoutSessions/bd504926-f659-4ad7-a1a9-9a747aaf5275/complete":
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"checkoutSessionId":"bd504926-f659-4ad7-a1a9-9a747aaf5275",
				"statusDetails":{"state":"Completed"},"chargePermissionId":"S01-5105180-3221187",
				"chargeId":"S01-5105180-3221187-C056351"}`)
		case "GET /v2/charges/S01-5105180-3221187-C056351":
			io.WriteString(w, `{"chargeId":"S01-5105180-3221187-C056351",
				"chargeAmount":{"amount":"14.00","currencyCode":"USD"},
				"statusDetails":{"state":"Authorized","lastUpdatedTimestamp":"20200908T221012Z"}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"reasonCode":"ResourceNotFound","message":"unknown object"}`)
		}
	}))
}

func Example() {
	srv := fakeAmazonPay()
	defer srv.Close()

	// In production: cfg, err := amazonpay.ConfigFromSettings(settings).
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	client, err := amazonpay.New(amazonpay.Config{
		PublicKeyID: "SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B",
		PrivateKey:  key,
		Region:      "us",
		Endpoint:    srv.URL, // omit to talk to Amazon
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	session, info, err := client.CompleteCheckoutSession(ctx, "bd504926-f659-4ad7-a1a9-9a747aaf5275",
		amazonpay.CompleteCheckoutSessionRequest{ChargeAmount: amazonpay.Price{Amount: "14.00", CurrencyCode: "USD"}})
	var te *amazonpay.TransportError
	switch {
	case errors.As(err, &te) && te.MayHaveBeenApplied:
		log.Fatal("outcome unknown: get the checkout session before anything else")
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("complete:", info.StatusCode, session.StatusDetails.State)

	// 202: the authorization is pending; look at the charge.
	charge, _, err := client.GetCharge(ctx, session.ChargeID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("charge:", charge.StatusDetails.State, charge.ChargeAmount)

	_, _, err = client.GetCharge(ctx, "S01-0000000-0000000-C000000")
	var apiErr *amazonpay.Error
	if errors.As(err, &apiErr) {
		fmt.Println("error:", apiErr.StatusCode, apiErr.ReasonCode, apiErr.Retryable)
	}
	// Output:
	// complete: 202 Completed
	// charge: Authorized 14.00 USD
	// error: 404 ResourceNotFound false
}
