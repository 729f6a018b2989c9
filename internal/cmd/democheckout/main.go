// Command democheckout plays the storefront's and the buyer's part of an
// Amazon Pay checkout against the server's embedded simulator, so that a
// checkout can be completed through the service by hand:
//
//	democheckout -amount 14.00 -scenario Authorized
//
// It creates a checkout session with the server's own simulator key (as the
// storefront's front end does with Amazon Pay), sets the amount, lets the
// buyer "pay" with the chosen scenario, and prints the checkout session ID,
// the value Amazon Pay would append to the return URL. It reads the
// server's settings DATA_DIR and SIMULATOR_ADDR (flags -data-dir and
// -simulator-addr win over them), so it works from any directory.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/embeddedsim"
)

func main() {
	os.Exit(cli(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// options are democheckout's settings.
type options struct {
	dataDir, simulatorAddr             string
	amount, currency, intent, scenario string
	pending                            bool
}

// cli parses args (the environment gives the server's settings' defaults),
// runs the checkout and returns the exit status: 0, 1 on failure, 2 on a
// usage error.
func cli(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	env := func(name, def string) string {
		if v, ok := lookupEnv(name); ok && v != "" {
			return v
		}
		return def
	}
	var o options
	fs := flag.NewFlagSet("democheckout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data-dir", env("DATA_DIR", "./data"), "the server's data directory (env DATA_DIR), where it keeps its simulator key")
	fs.StringVar(&o.simulatorAddr, "simulator-addr", env("SIMULATOR_ADDR", "127.0.0.1:8443"), "address of the server's embedded simulator (env SIMULATOR_ADDR)")
	fs.StringVar(&o.amount, "amount", "14.00", "charge amount, a decimal string with the currency's decimals")
	fs.StringVar(&o.currency, "currency", "USD", "ISO 4217 currency code")
	fs.StringVar(&o.intent, "intent", "Authorize", "paymentIntent: Authorize, AuthorizeWithCapture or Confirm")
	fs.BoolVar(&o.pending, "pending", false, "let the authorization be pending (canHandlePendingAuthorization); implied by the Pending* scenarios")
	fs.StringVar(&o.scenario, "scenario", "Authorized", "what the buyer does: Authorized, BuyerCanceled, Declined, PendingThenAuthorized, PendingThenDeclined, or none (has not paid yet)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: democheckout [flags]

Plays the storefront's front end and the buyer against the server's embedded
Amazon Pay simulator: creates a checkout session with the server's simulator
key, sets the amount, lets the buyer pay with the chosen scenario, and prints
the checkout session ID to pass to "client complete". Start the server
without Amazon Pay credentials first; democheckout reads the same DATA_DIR
and SIMULATOR_ADDR settings.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "democheckout: unexpected argument %q (see -help)\n", fs.Arg(0))
		return 2
	}
	if strings.HasPrefix(o.scenario, "Pending") {
		o.pending = true
	}
	id, err := run(o)
	if err != nil {
		fmt.Fprintln(stderr, "democheckout:", err)
		return 1
	}
	fmt.Fprintln(stdout, id)
	return 0
}

// run creates the checkout session and plays the buyer; it returns the
// session's ID.
func run(o options) (string, error) {
	dataDir, amount, currency, intent, pending, scenario := o.dataDir, o.amount, o.currency, o.intent, o.pending, o.scenario
	simURL := "https://" + o.simulatorAddr
	key, pool, err := embeddedsim.Load(dataDir)
	if err != nil {
		return "", err
	}
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
		PublicKeyID: embeddedsim.KeyID, PrivateKey: key, Region: region, Endpoint: simURL, RootCAs: pool,
	})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, _, err := c.CreateCheckoutSession(ctx, amazonpay.CreateCheckoutSessionRequest{
		WebCheckoutDetails: amazonpay.WebCheckoutDetails{CheckoutReviewReturnURL: "https://shop.example/review"},
		StoreID:            "amzn1.application-oa2-client.demo",
	})
	if err != nil {
		return "", err
	}
	price := amazonpay.Price{Amount: amount, CurrencyCode: currency}
	if _, _, err := c.UpdateCheckoutSession(ctx, sess.CheckoutSessionID, amazonpay.UpdateCheckoutSessionRequest{
		WebCheckoutDetails: &amazonpay.WebCheckoutDetails{CheckoutResultReturnURL: "https://shop.example/result"},
		PaymentDetails:     &amazonpay.PaymentDetails{PaymentIntent: intent, CanHandlePendingAuthorization: pending, ChargeAmount: &price},
	}); err != nil {
		return "", err
	}
	if scenario != "none" {
		body, _ := json.Marshal(map[string]string{"scenario": scenario})
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		resp, err := hc.Post(simURL+"/simulator/checkoutSessions/"+sess.CheckoutSessionID+"/buyer", "application/json", bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("buyer scenario: HTTP %d", resp.StatusCode)
		}
	}
	return sess.CheckoutSessionID, nil
}
