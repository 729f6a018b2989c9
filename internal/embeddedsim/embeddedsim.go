// Package embeddedsim holds how the server lays out its embedded Amazon Pay
// simulator under its data directory: the merchant key it registers there
// and under which key ID, next to the simulator's certificate. Programs that
// act beside a running server (democheckout) read the same files.
package embeddedsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// KeyID is the service's public key ID at its embedded simulator; the
// SANDBOX- prefix selects the environment-specific paths (/v2/...).
const KeyID = "SANDBOX-EMBEDDEDSIMULATORKEY0001"

// KeyFile is the merchant private key's file in Dir.
const KeyFile = "merchant-private-key.pem"

// Dir is the simulator's state directory under a data directory: its
// state, its certificate (simulator.CertFile) and KeyFile.
func Dir(dataDir string) string { return filepath.Join(dataDir, "simulator") }

// LoadOrCreateKey returns the key kept in dir, creating it on first use, so
// the key stays the same across restarts, like a merchant's key registered
// in Seller Central.
func LoadOrCreateKey(dir string) (*rsa.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return amazonpay.ParsePrivateKey(b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return key, os.Rename(tmp, path)
}

// Load reads what a running server left in dataDir for others to call its
// simulator as the service does: the merchant key and a pool trusting the
// simulator's certificate. It creates nothing.
func Load(dataDir string) (*rsa.PrivateKey, *x509.CertPool, error) {
	dir := Dir(dataDir)
	keyFile := filepath.Join(dir, KeyFile)
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		abs, _ := filepath.Abs(keyFile)
		return nil, nil, fmt.Errorf("the server's simulator key %s: %w (start the server without Amazon Pay credentials first, with the same DATA_DIR)", abs, err)
	}
	key, err := amazonpay.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's simulator key %s: %w", keyFile, err)
	}
	certFile := filepath.Join(dir, simulator.CertFile)
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("the simulator's certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, nil, fmt.Errorf("the simulator's certificate %s: no PEM certificate in it", certFile)
	}
	return key, pool, nil
}
