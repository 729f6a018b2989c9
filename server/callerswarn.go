package main

import (
	"log/slog"

	"github.com/paymentcompletion/paymentcompletion/internal/callers"
)

// warnCertificateCallers warns when the callers file names callers
// recognised by client certificate while the server asks for none (no
// TLS_CLIENT_CA_FILE): every call of theirs would be refused
// UNAUTHENTICATED, with nothing at start saying why. It is a warning, not a
// refusal to start, so that the callers file can be rolled out before the
// TLS settings.
func warnCertificateCallers(logger *slog.Logger, set *callers.Set, clientCAFile string) {
	if set == nil || clientCAFile != "" {
		return
	}
	if names := set.CertificateCallers(); len(names) > 0 {
		logger.Warn("callers recognised by client certificate will be refused: no client certificate is asked for; set TLS_CLIENT_CA_FILE (-tls-client-ca-file, with TLS_CERT_FILE and TLS_KEY_FILE) to the CAs of their certificates",
			"setting", "TLS_CLIENT_CA_FILE", "callers", names)
	}
}
