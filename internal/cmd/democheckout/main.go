// Command democheckout plays the storefront's and the buyer's part of an
// Amazon Pay checkout against the service's embedded simulator, so that a
// checkout can be completed through the service by hand:
//
//	go run ./internal/cmd/democheckout -amount 14.00 -scenario Authorized
//
// It creates a checkout session with the service's own simulator key (as the
// storefront's front end does with Amazon Pay), sets the amount, lets the
// buyer "pay" with the chosen scenario, and prints the checkout session ID,
// the value Amazon Pay would append to the return URL.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
)

func main() {
	dataDir := flag.String("data-dir", "./data", "the service's DATA_DIR")
	simURL := flag.String("simulator-url", "https://127.0.0.1:8443", "the embedded simulator's URL (SIMULATOR_ADDR)")
	amount := flag.String("amount", "14.00", "charge amount, a decimal string")
	currency := flag.String("currency", "USD", "ISO 4217 currency code")
	intent := flag.String("intent", "Authorize", "paymentIntent: Authorize, AuthorizeWithCapture or Confirm")
	pending := flag.Bool("pending", false, "set canHandlePendingAuthorization (use with a Pending* scenario)")
	scenario := flag.String("scenario", "Authorized", "buyer scenario: Authorized, BuyerCanceled, Declined, PendingThenAuthorized, PendingThenDeclined, or none")
	flag.Parse()
	if err := run(*dataDir, *simURL, *amount, *currency, *intent, *pending, *scenario); err != nil {
		fmt.Fprintln(os.Stderr, "democheckout:", err)
		os.Exit(1)
	}
}

func run(dataDir, simURL, amount, currency, intent string, pending bool, scenario string) error {
	dir := filepath.Join(dataDir, "simulator")
	keyPEM, err := os.ReadFile(filepath.Join(dir, "merchant-private-key.pem"))
	if err != nil {
		return fmt.Errorf("the service's simulator key (start the service without Amazon Pay credentials first): %w", err)
	}
	key, err := amazonpay.ParsePrivateKey(keyPEM)
	if err != nil {
		return err
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "simulator-cert.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	// The storefront's region follows the currency: outside the EU
	// Amazon keeps a merchant to its ledger currency.
	region := "na"
	switch currency {
	case "USD":
	case "JPY":
		region = "jp"
	default:
		region = "eu"
	}
	c, err := amazonpay.New(amazonpay.Config{
		PublicKeyID: "SANDBOX-EMBEDDEDSIMULATORKEY0001", PrivateKey: key, Region: region, Endpoint: simURL, RootCAs: pool,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, _, err := c.CreateCheckoutSession(ctx, amazonpay.CreateCheckoutSessionRequest{
		WebCheckoutDetails: amazonpay.WebCheckoutDetails{CheckoutReviewReturnURL: "https://shop.example/review"},
		StoreID:            "amzn1.application-oa2-client.demo",
	})
	if err != nil {
		return err
	}
	price := amazonpay.Price{Amount: amount, CurrencyCode: currency}
	if _, _, err := c.UpdateCheckoutSession(ctx, sess.CheckoutSessionID, amazonpay.UpdateCheckoutSessionRequest{
		WebCheckoutDetails: &amazonpay.WebCheckoutDetails{CheckoutResultReturnURL: "https://shop.example/result"},
		PaymentDetails:     &amazonpay.PaymentDetails{PaymentIntent: intent, CanHandlePendingAuthorization: pending, ChargeAmount: &price},
	}); err != nil {
		return err
	}
	if scenario != "none" {
		body, _ := json.Marshal(map[string]string{"scenario": scenario})
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		resp, err := hc.Post(simURL+"/simulator/checkoutSessions/"+sess.CheckoutSessionID+"/buyer", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("buyer scenario: HTTP %d", resp.StatusCode)
		}
	}
	fmt.Println(sess.CheckoutSessionID)
	return nil
}
