package amazonpay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Header names of the signed request headers, lower-case as they appear in
// the canonical request.
const (
	HeaderAccept         = "accept"
	HeaderContentType    = "content-type"
	HeaderDate           = "x-amz-pay-date"
	HeaderHost           = "x-amz-pay-host"
	HeaderIdempotencyKey = "x-amz-pay-idempotency-key"
	HeaderRegion         = "x-amz-pay-region"
	// HeaderRequestID is the response header carrying Amazon's request ID.
	HeaderRequestID = "x-amz-pay-request-id"
	// HeaderSimulationCode forces sandbox outcomes; send it with WithHeader.
	HeaderSimulationCode = "x-amz-pay-simulation-code"
)

// DateFormat is the layout of x-amz-pay-date and of response timestamps
// (ISO 8601 basic format, UTC).
const DateFormat = "20060102T150405Z"

// signedHeaderSet is exactly the set the PHP SDK and the docs example sign.
// Anything else (user-agent, simulation codes) is sent unsigned, which is
// the proven-sufficient minimum.
var signedHeaderSet = []string{
	HeaderAccept, HeaderContentType, HeaderDate, HeaderHost, HeaderIdempotencyKey, HeaderRegion,
}

// SignedHeaderNames returns the headers of h that this package signs, in
// canonical (sorted) order: accept, content-type, x-amz-pay-date,
// x-amz-pay-host, x-amz-pay-idempotency-key (only when present) and
// x-amz-pay-region.
func SignedHeaderNames(h http.Header) []string {
	names := make([]string, 0, len(signedHeaderSet))
	for _, name := range signedHeaderSet {
		if name == HeaderIdempotencyKey && len(h.Values(name)) == 0 {
			continue
		}
		names = append(names, name)
	}
	return names // signedHeaderSet is already sorted
}

// emptySHA256 is the payload hash of an empty body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// CanonicalRequest builds the canonical request Amazon Pay signs:
//
//	METHOD \n path \n canonical-query \n canonical-headers \n signed-headers \n hex(sha256(body))
//
// path is the URI path exactly as sent on the wire ("/" when empty); query
// is the raw query string (without "?"), canonicalized by
// CanonicalQueryString. Each signed header contributes
// "name:value\n" with the name lower-cased, the value trimmed and inner
// whitespace runs collapsed (as the Java and .NET SDKs do; the values this
// package sends contain none). signedHeaders may be in any order and case.
func CanonicalRequest(method, path, query string, headers http.Header, signedHeaders []string, body []byte) string {
	names := normalizeHeaderNames(signedHeaders)
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.Grow(len(method) + len(path) + len(query) + 64*len(names) + 2*sha256.Size + 8)
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(CanonicalQueryString(query))
	b.WriteByte('\n')
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		writeCanonicalValue(&b, headers.Values(name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	writeJoined(&b, names, ';')
	b.WriteByte('\n')
	b.WriteString(payloadHash(body))
	return b.String()
}

func payloadHash(body []byte) string {
	if len(body) == 0 {
		return emptySHA256
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// normalizeHeaderNames lower-cases, sorts and de-duplicates names, without
// modifying the caller's slice.
func normalizeHeaderNames(in []string) []string {
	sorted := true
	for i, n := range in {
		if !isLowerASCII(n) || (i > 0 && in[i-1] >= n) {
			sorted = false
			break
		}
	}
	if sorted {
		return in
	}
	out := make([]string, len(in))
	for i, n := range in {
		out[i] = strings.ToLower(strings.TrimSpace(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; ('A' <= c && c <= 'Z') || c == ' ' || c == '\t' {
			return false
		}
	}
	return true
}

// writeCanonicalValue writes the header's values joined by commas, trimmed,
// with runs of spaces and tabs collapsed to one space.
func writeCanonicalValue(b *strings.Builder, values []string) {
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		v = strings.Trim(v, " \t")
		space := false
		for j := 0; j < len(v); j++ {
			c := v[j]
			if c == ' ' || c == '\t' {
				space = true
				continue
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteByte(c)
		}
	}
}

func writeJoined(b *strings.Builder, parts []string, sep byte) {
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(p)
	}
}

// CanonicalQueryString canonicalizes a raw query string: parameters sorted
// by name (then value), each "name=value" with both parts percent-encoded as
// RFC 3986 (unreserved characters A-Z a-z 0-9 - _ . ~ kept, space as %20),
// joined with "&". None of the operations in this package use a query; it
// exists so the canonical form is complete.
func CanonicalQueryString(query string) string {
	if query == "" {
		return ""
	}
	type param struct{ name, value string }
	var params []param
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		params = append(params, param{unescapeQuery(name), unescapeQuery(value)})
	}
	slices.SortFunc(params, func(a, b param) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeRFC3986(p.name))
		b.WriteByte('=')
		b.WriteString(escapeRFC3986(p.value))
	}
	return b.String()
}

func unescapeQuery(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// escapeRFC3986 percent-encodes everything except the RFC 3986 unreserved
// characters. It is used for path segments and query parts.
func escapeRFC3986(s string) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !isUnreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	buf := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			buf = append(buf, c)
			continue
		}
		buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return string(buf)
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// StringToSign returns alg + "\n" + hex(sha256(canonicalRequest)).
func StringToSign(alg Algorithm, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return string(alg) + "\n" + hex.EncodeToString(sum[:])
}

// AuthorizationHeader formats the Authorization header value:
// "<alg> PublicKeyId=<id>, SignedHeaders=<a;b;c>, Signature=<base64>".
func AuthorizationHeader(alg Algorithm, publicKeyID string, signedHeaders []string, signature string) string {
	names := normalizeHeaderNames(signedHeaders)
	var b strings.Builder
	b.Grow(len(alg) + len(publicKeyID) + len(signature) + 24*len(names) + 48)
	b.WriteString(string(alg))
	b.WriteString(" PublicKeyId=")
	b.WriteString(publicKeyID)
	b.WriteString(", SignedHeaders=")
	writeJoined(&b, names, ';')
	b.WriteString(", Signature=")
	b.WriteString(signature)
	return b.String()
}

// Signer signs Amazon Pay requests with one key. It is safe for concurrent
// use. Its String and LogValue never reveal the key.
type Signer struct {
	publicKeyID string
	key         *rsa.PrivateKey
	alg         Algorithm
	pss         rsa.PSSOptions
}

// NewSigner returns a Signer for a public key ID, its RSA private key and an
// algorithm ("" means AlgorithmV2).
func NewSigner(publicKeyID string, key *rsa.PrivateKey, alg Algorithm) (*Signer, error) {
	if err := validatePublicKeyID(publicKeyID); err != nil {
		return nil, fmt.Errorf("amazonpay: public key ID: %w", err)
	}
	if key == nil {
		return nil, errors.New("amazonpay: private key is required")
	}
	if alg == "" {
		alg = AlgorithmV2
	}
	salt := alg.saltLength()
	if salt == 0 {
		return nil, fmt.Errorf("amazonpay: unknown algorithm %q", alg)
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("amazonpay: private key: %w", err)
	}
	key.Precompute()
	return &Signer{
		publicKeyID: publicKeyID,
		key:         key,
		alg:         alg,
		pss:         rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256},
	}, nil
}

// Algorithm returns the signer's algorithm.
func (s *Signer) Algorithm() Algorithm { return s.alg }

// PublicKeyID returns the public key ID named in Authorization headers.
func (s *Signer) PublicKeyID() string { return s.publicKeyID }

// String identifies the signer without revealing the key.
func (s *Signer) String() string { return string(s.alg) + " " + s.publicKeyID }

// Sign returns the base64 (standard, padded) RSASSA-PSS signature of
// stringToSign: SHA-256, MGF1-SHA-256, salt of the algorithm's length.
func (s *Signer) Sign(stringToSign string) (string, error) {
	digest := sha256.Sum256([]byte(stringToSign))
	sig, err := rsa.SignPSS(rand.Reader, s.key, crypto.SHA256, digest[:], &s.pss)
	if err != nil {
		return "", fmt.Errorf("amazonpay: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Authorization signs a request whose signed headers (SignedHeaderNames)
// are already set in headers and returns the Authorization header value.
// path and query are as sent on the wire; body is the exact body sent.
func (s *Signer) Authorization(method, path, query string, headers http.Header, body []byte) (string, error) {
	names := SignedHeaderNames(headers)
	canonical := CanonicalRequest(method, path, query, headers, names, body)
	sig, err := s.Sign(StringToSign(s.alg, canonical))
	if err != nil {
		return "", err
	}
	return AuthorizationHeader(s.alg, s.publicKeyID, names, sig), nil
}
