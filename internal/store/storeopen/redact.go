package storeopen

import (
	"errors"
	"net/url"
	"strings"
)

// redacted replaces every secret value in what Redact returns.
const redacted = "xxxxx"

// secretKey reports whether a connection parameter holds a secret:
// password, and sslpassword (the client key's passphrase).
func secretKey(k string) bool {
	return strings.Contains(strings.ToLower(k), "password")
}

// Redact returns databaseURL fit for logs and error messages: the password
// of the URL's user information, of password query parameters and of
// password= keys is replaced by xxxxx. A PostgreSQL value that does not
// parse is replaced whole, since where its password starts is unknown.
func Redact(databaseURL string) string {
	u := strings.TrimSpace(databaseURL)
	lower := strings.ToLower(u)
	switch {
	case strings.HasPrefix(lower, "sqlite:"):
		return u
	case looksKeyValue(u):
		kvs, err := parseKeyValue(u)
		if err != nil {
			return "(unparseable PostgreSQL connection string, redacted)"
		}
		parts := make([]string, len(kvs))
		for i, kv := range kvs {
			if secretKey(kv.key) {
				parts[i] = kv.key + "=" + redacted
			} else {
				parts[i] = kv.raw
			}
		}
		return strings.Join(parts, " ")
	case strings.Contains(u, "://"):
		pu, err := url.Parse(u)
		if err != nil {
			return "(unparseable PostgreSQL URL, redacted)"
		}
		if _, ok := pu.User.Password(); ok {
			pu.User = url.UserPassword(pu.User.Username(), redacted)
		}
		if pu.RawQuery != "" {
			// Rewrite only the secret parameters, keeping the others as
			// written and in their order.
			params := strings.Split(pu.RawQuery, "&")
			for i, p := range params {
				k, _, _ := strings.Cut(p, "=")
				if dk, err := url.QueryUnescape(k); err == nil && secretKey(dk) || secretKey(k) {
					params[i] = k + "=" + redacted
				}
			}
			pu.RawQuery = strings.Join(params, "&")
		}
		return pu.String()
	}
	// Not a form Parse accepts; it may still be someone's password.
	return "(unrecognised database URL, redacted)"
}

// secrets returns the password values databaseURL carries, in every form.
func secrets(databaseURL string) []string {
	u := strings.TrimSpace(databaseURL)
	var out []string
	if looksKeyValue(u) {
		kvs, _ := parseKeyValue(u)
		for _, kv := range kvs {
			if secretKey(kv.key) && kv.value != "" {
				out = append(out, kv.value)
			}
		}
		return out
	}
	pu, err := url.Parse(u)
	if err != nil {
		return nil
	}
	if pw, ok := pu.User.Password(); ok && pw != "" {
		out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	for k, vs := range pu.Query() {
		if secretKey(k) {
			for _, v := range vs {
				if v != "" {
					out = append(out, v, url.QueryEscape(v))
				}
			}
		}
	}
	return out
}

// hideSecrets returns err with every password of databaseURL blanked out of
// its message; errors.Is and errors.As still see the original chain.
func hideSecrets(err error, databaseURL string) error {
	msg := err.Error()
	changed := false
	for _, s := range secrets(databaseURL) {
		if strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, redacted)
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// keyValue is one keyword=value pair of a libpq connection string.
type keyValue struct {
	key, value string
	// raw is the pair as written, without surrounding blanks.
	raw string
}

// looksKeyValue reports whether s starts like a libpq key=value connection
// string: a keyword of letters and underscores followed by '='.
func looksKeyValue(s string) bool {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_') })
	if i <= 0 {
		return false
	}
	return strings.HasPrefix(strings.TrimLeft(s[i:], " \t"), "=")
}

// parseKeyValue splits a libpq connection string into its pairs: blanks
// separate them and may surround '='; a value is a run of non-blank
// characters or a single-quoted string, and a backslash escapes the next
// character in both.
func parseKeyValue(s string) ([]keyValue, error) {
	var out []keyValue
	isBlank := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	i := 0
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != '=' && !isBlank(s[i]) {
			i++
		}
		key := s[start:i]
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if key == "" || i == len(s) || s[i] != '=' {
			return nil, errors.New("want keyword=value pairs separated by spaces")
		}
		i++
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					v.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return nil, errors.New("unterminated quoted value")
			}
		} else {
			for i < len(s) && !isBlank(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
		}
		out = append(out, keyValue{key: key, value: v.String(), raw: strings.TrimSpace(s[start:i])})
	}
	if len(out) == 0 {
		return nil, errors.New("empty connection string")
	}
	return out, nil
}
