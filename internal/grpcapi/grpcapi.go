// Package grpcapi implements paymentcompletion.v1.PaymentCompletionService:
// it translates between the proto contract and the domain, and decides the
// gRPC status of every domain error in one place.
package grpcapi

import (
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// Server implements pb.PaymentCompletionServiceServer. Until the completion
// logic is wired in, every RPC answers UNIMPLEMENTED.
type Server struct {
	pb.UnimplementedPaymentCompletionServiceServer
}

// New returns the service implementation.
func New() *Server { return &Server{} }
