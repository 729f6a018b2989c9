package simulator

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Signature algorithms Amazon Pay accepts. They differ only in the RSA-PSS
// salt length, which is checked exactly: a V2 signature made with a 20-byte
// salt is rejected, as a strict server would.
const (
	algorithmV1 = "AMZN-PAY-RSASSA-PSS"
	algorithmV2 = "AMZN-PAY-RSASSA-PSS-V2"
)

// saltLength returns the PSS salt length of a signature algorithm.
func saltLength(algorithm string) (int, bool) {
	switch algorithm {
	case algorithmV1:
		return 20, true
	case algorithmV2:
		return 32, true
	}
	return 0, false
}

// authorization is a parsed authorization header.
type authorization struct {
	Algorithm     string
	PublicKeyID   string
	SignedHeaders string // verbatim, as the signer put it in the canonical request
	Signature     []byte
}

// headerNames returns the signed header names, lower-cased, in listed order.
func (a authorization) headerNames() []string {
	parts := strings.Split(a.SignedHeaders, ";")
	names := make([]string, 0, len(parts))
	for _, p := range parts {
		names = append(names, strings.ToLower(strings.TrimSpace(p)))
	}
	return names
}

// errMalformedAuthorization is wrapped by every parseAuthorization error.
var errMalformedAuthorization = errors.New("malformed authorization header")

// parseAuthorization parses
// "<algorithm> PublicKeyId=<id>, SignedHeaders=<a;b;c>, Signature=<base64>".
// The three fields may come in any order but each exactly once; whitespace
// around separators is tolerated because the SDKs differ in none of it but a
// hand-written client might.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	h = strings.TrimSpace(h)
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg == "" {
		return a, fmt.Errorf("%w: no algorithm", errMalformedAuthorization)
	}
	a.Algorithm = alg
	seen := map[string]bool{}
	for field := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return a, fmt.Errorf("%w: field without '='", errMalformedAuthorization)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if seen[name] {
			return a, fmt.Errorf("%w: %s repeated", errMalformedAuthorization, name)
		}
		seen[name] = true
		if value == "" {
			return a, fmt.Errorf("%w: empty %s", errMalformedAuthorization, name)
		}
		switch name {
		case "PublicKeyId":
			a.PublicKeyID = value
		case "SignedHeaders":
			a.SignedHeaders = value
		case "Signature":
			sig, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				// Tolerate unpadded base64; the SDKs pad, others may not.
				sig, err = base64.RawStdEncoding.DecodeString(value)
			}
			if err != nil {
				return a, fmt.Errorf("%w: signature is not base64", errMalformedAuthorization)
			}
			a.Signature = sig
		default:
			return a, fmt.Errorf("%w: unknown field %q", errMalformedAuthorization, name)
		}
	}
	if a.PublicKeyID == "" || a.SignedHeaders == "" || a.Signature == nil {
		return a, fmt.Errorf("%w: PublicKeyId, SignedHeaders and Signature are required", errMalformedAuthorization)
	}
	for _, n := range a.headerNames() {
		if n == "" {
			return a, fmt.Errorf("%w: empty name in SignedHeaders", errMalformedAuthorization)
		}
	}
	return a, nil
}

// Date layouts accepted in x-amz-pay-date: the basic ISO 8601 form the Java,
// PHP and .NET SDKs send and the extended form the Node SDK sends (RFC 3339
// also covers offsets and fractional seconds).
const basicDateLayout = "20060102T150405Z"

// parseAmzDate parses an x-amz-pay-date value.
func parseAmzDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	t, err := time.Parse(basicDateLayout, v)
	if err != nil {
		t, err = time.Parse(time.RFC3339, v)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("x-amz-pay-date %q is neither basic nor extended ISO 8601", v)
	}
	// An offset may carry a four-digit year out of range in UTC; no
	// genuine request is dated there.
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("x-amz-pay-date %q is out of range", v)
	}
	return t, nil
}

// rfc3986Escape percent-encodes everything but the unreserved characters.
func rfc3986Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// canonicalQuery sorts the query parameters by name (then value) and
// re-encodes them RFC 3986 style, as the SDKs do.
func canonicalQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		// Sign what was sent when it is not decodable; verification decides.
		return rawQuery
	}
	var pairs []string
	for name, vs := range values {
		for _, v := range vs {
			pairs = append(pairs, rfc3986Escape(name)+"="+rfc3986Escape(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// headerValue returns a request header as the client sent it. Go moves Host
// out of the header map, so it is read from the request.
func headerValue(r *http.Request, name string) (string, bool) {
	if name == "host" {
		return r.Host, r.Host != ""
	}
	vs, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// collapseSpaces reduces runs of blanks to one space, as the Java and .NET
// SDKs do when canonicalizing header values.
func collapseSpaces(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// canonicalRequest rebuilds the canonical request from the headers named in
// SignedHeaders (in their listed order, which is the signer's sorted order).
// rawPath is the path exactly as sent.
func canonicalRequest(r *http.Request, rawPath string, a authorization, bodyHash string, collapse bool) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	if rawPath == "" {
		rawPath = "/"
	}
	b.WriteString(rawPath)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, name := range a.headerNames() {
		v, _ := headerValue(r, name)
		v = strings.TrimSpace(v)
		if collapse {
			v = collapseSpaces(v)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(a.SignedHeaders)
	b.WriteByte('\n')
	b.WriteString(bodyHash)
	return b.String()
}

// stringToSign is the algorithm name and the hex SHA-256 of the canonical
// request; RSA-PSS then hashes it once more.
func stringToSign(algorithm, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + hex.EncodeToString(sum[:])
}

// verifySignature checks a's signature over the request with pub. Values are
// canonicalized trimmed, as the Node and PHP SDKs send them, and failing
// that with inner blanks collapsed, as the Java and .NET SDKs sign them.
func verifySignature(r *http.Request, rawPath string, body []byte, a authorization, pub *rsa.PublicKey) error {
	salt, ok := saltLength(a.Algorithm)
	if !ok {
		return fmt.Errorf("unsupported algorithm %q", a.Algorithm)
	}
	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	opts := &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256}
	var err error
	for _, collapse := range []bool{false, true} {
		sts := stringToSign(a.Algorithm, canonicalRequest(r, rawPath, a, bodyHash, collapse))
		digest := sha256.Sum256([]byte(sts))
		if err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], a.Signature, opts); err == nil {
			return nil
		}
	}
	return fmt.Errorf("signature does not match: %w", err)
}
