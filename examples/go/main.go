// Command checkout completes an Amazon Pay checkout through the
// paymentcompletion service and prints what the storefront should do.
//
//	go run ./examples/go SESSION_ID ORDER_ID 14.00 USD
//
// PAYMENTCOMPLETION_CA_FILE (PEM CAs of the server's certificate) turns on
// TLS; PAYMENTCOMPLETION_CERT_FILE and PAYMENTCOMPLETION_KEY_FILE add a
// client certificate for a server that requires one (mTLS).
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/gen/serviceconfig"
)

func main() {
	addr := cmp.Or(os.Getenv("PAYMENTCOMPLETION_ADDR"), "127.0.0.1:50051")
	creds, err := transportCredentials()
	if err != nil {
		panic(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceconfig.JSON)) // retries and timeouts
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := pb.NewPaymentCompletionServiceClient(conn)

	resp, err := client.CompleteCheckout(context.Background(), &pb.CompleteCheckoutRequest{
		CheckoutSessionId: os.Args[1], // amazonCheckoutSessionId from the return URL
		OrderId:           os.Args[2],
		ChargeAmount:      &pb.Money{Amount: os.Args[3], CurrencyCode: os.Args[4]},
	})
	if err != nil {
		reason := "" // the ErrorInfo reason: an ErrorReason name without its prefix
		for _, d := range status.Convert(err).Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == "paymentcompletion" {
				reason = info.GetReason()
			}
		}
		switch reason {
		case "AMOUNT_MISMATCH", "CURRENCY_MISMATCH":
			fmt.Println(reason + ": charge the amount set on the checkout session")
		case "CHECKOUT_SESSION_NOT_READY":
			fmt.Println(reason + ": send the buyer back to Amazon Pay")
		case "AMAZON_PAY_UNAVAILABLE", "STORE_UNAVAILABLE", "SHUTTING_DOWN":
			fmt.Println(reason + ": retry the same call later")
		default:
			fmt.Printf("%s %s: %s\n", status.Code(err), reason, status.Convert(err).Message())
		}
		os.Exit(1)
	}
	p := resp.GetPayment()
	switch p.GetOutcome() {
	case pb.Outcome_OUTCOME_COMPLETED:
		fmt.Println("COMPLETED: show the order confirmation, charge", p.GetChargeId())
	case pb.Outcome_OUTCOME_PENDING, pb.Outcome_OUTCOME_UNKNOWN:
		fmt.Println("PENDING: show \"payment being confirmed\"; follow it with WatchPayment")
	case pb.Outcome_OUTCOME_DECLINED:
		fmt.Println("DECLINED: ask for another payment method,", p.GetReasonCode())
	case pb.Outcome_OUTCOME_CANCELED:
		fmt.Println("CANCELED: show the cart again,", p.GetReasonCode())
	}
}

// transportCredentials is plaintext unless PAYMENTCOMPLETION_CA_FILE is set.
func transportCredentials() (credentials.TransportCredentials, error) {
	caFile := os.Getenv("PAYMENTCOMPLETION_CA_FILE")
	if caFile == "" {
		return insecure.NewCredentials(), nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}
	if !config.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	if certFile := os.Getenv("PAYMENTCOMPLETION_CERT_FILE"); certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, os.Getenv("PAYMENTCOMPLETION_KEY_FILE"))
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(config), nil
}
