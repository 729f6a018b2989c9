// Package rpcstatus builds the gRPC status of every error the service
// answers with: one ErrorInfo domain and one builder, used by the API (for
// domain errors) and by the server (authentication, validation, limits,
// shutdown), so that every error carries the same kind of ErrorInfo.
package rpcstatus

import (
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// Domain is the google.rpc.ErrorInfo domain of every error the service
// returns.
const Domain = "paymentcompletion"

// reasonPrefix is the prefix of the ErrorReason value names that the
// contract leaves out of ErrorInfo.reason.
const reasonPrefix = "ERROR_REASON_"

// Reason returns the ErrorInfo reason string for r: the enum value name
// without its ERROR_REASON_ prefix, as the contract specifies.
func Reason(r pb.ErrorReason) string {
	return strings.TrimPrefix(r.String(), reasonPrefix)
}

// ParseReason returns the ErrorReason whose reason string is s.
func ParseReason(s string) (pb.ErrorReason, bool) {
	v, ok := pb.ErrorReason_value[reasonPrefix+s]
	if !ok || v == int32(pb.ErrorReason_ERROR_REASON_UNSPECIFIED) {
		return pb.ErrorReason_ERROR_REASON_UNSPECIFIED, false
	}
	return pb.ErrorReason(v), true
}

// Error returns a status error with code c and message msg, carrying a
// google.rpc.ErrorInfo (reason r, metadata md) and then any further
// details.
func Error(c codes.Code, msg string, r pb.ErrorReason, md map[string]string, details ...protoadapt.MessageV1) error {
	st := status.New(c, msg)
	all := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: Reason(r), Domain: Domain, Metadata: md}}, details...)
	ds, err := st.WithDetails(all...)
	if err != nil {
		// Only fails for messages that cannot be marshalled into Any; keep
		// the code and message rather than losing the error.
		return st.Err()
	}
	return ds.Err()
}

// DefaultRetryDelay is the delay a retryable error's RetryInfo suggests when
// no better one is known (Amazon Pay sent no Retry-After). It is of the
// order of the default service config's backoff.
const DefaultRetryDelay = time.Second

// RetryInfo is the google.rpc.RetryInfo detail of a retryable (UNAVAILABLE)
// error: retry the same call after d, or after DefaultRetryDelay when d is
// not positive.
func RetryInfo(d time.Duration) *errdetails.RetryInfo {
	if d <= 0 {
		d = DefaultRetryDelay
	}
	return &errdetails.RetryInfo{RetryDelay: durationpb.New(d)}
}
