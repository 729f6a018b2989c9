package storeopen_test

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/datadir/datadirtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeopen"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		kind    storeopen.Kind
		target  string
		wantErr bool
	}{
		{"postgres://u@h:5432/db?sslmode=disable", storeopen.Postgres, "postgres://u@h:5432/db?sslmode=disable", false},
		{"postgresql://u@h/db", storeopen.Postgres, "postgresql://u@h/db", false},
		{"POSTGRES://u@h/db", storeopen.Postgres, "POSTGRES://u@h/db", false},
		{"sqlite:data/paymentcompletion.db", storeopen.SQLite, "data/paymentcompletion.db", false},
		{"sqlite:/var/lib/pc/payments.db", storeopen.SQLite, "/var/lib/pc/payments.db", false},
		{"sqlite:///var/lib/pc/payments.db", storeopen.SQLite, "/var/lib/pc/payments.db", false},
		// libpq key=value connection strings are PostgreSQL, never a file.
		{"host=127.0.0.1 port=5432 user=app password=s3cret dbname=pay", storeopen.Postgres, "host=127.0.0.1 port=5432 user=app password=s3cret dbname=pay", false},
		{"  dbname = pay  sslmode=disable", storeopen.Postgres, "dbname = pay  sslmode=disable", false},
		{"host=h password='a b\\' c'", storeopen.Postgres, "host=h password='a b\\' c'", false},
		// Anything else is refused rather than taken as a SQLite file.
		{"file:data/p.db", "", "", true},
		{"data/p.db", "", "", true},
		{"/abs/p.db", "", "", true},
		{"payments.db", "", "", true},
		{"host=h password='unterminated", "", "", true},
		{"host=h junk", "", "", true},
		{"host=h =x", "", "", true},
		{"", "", "", true},
		{"   ", "", "", true},
		{"sqlite:", "", "", true},
		{"sqlite://host/p.db", "", "", true},
		{"mysql://u@h/db", "", "", true},
	}
	for _, tt := range tests {
		kind, target, err := storeopen.Parse(tt.url)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", tt.url, err, tt.wantErr)
			continue
		}
		if kind != tt.kind || target != tt.target {
			t.Errorf("Parse(%q) = %q, %q; want %q, %q", tt.url, kind, target, tt.kind, tt.target)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name     string
		url      func(t *testing.T) string
		file     string // for SQLite: the file Open must create
		listener bool
	}{
		{"sqlite_prefix", func(*testing.T) string { return "sqlite:" + filepath.Join(dir, "a", "p.db") }, filepath.Join(dir, "a", "p.db"), false},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }, "", true},
		{"postgres_key_value", func(t *testing.T) string { return keyValueDSN(t, pgtest.URL(t)) }, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := storeopen.Open(t.Context(), tt.url(t))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
			if _, ok := s.(storeopen.ChangeListener); ok != tt.listener {
				t.Errorf("store is ChangeListener = %v, want %v", ok, tt.listener)
			}
			if tt.file != "" {
				if _, err := os.Stat(tt.file); err != nil {
					t.Errorf("database file: %v", err)
				}
			}
		})
	}
	if _, err := storeopen.Open(t.Context(), ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

// TestOpenRefusesNamelessValues checks that a value naming no engine
// creates nothing: no SQLite file named after it.
func TestOpenRefusesNamelessValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, v := range []string{filepath.Join(dir, "plain.db"), "file:" + filepath.Join(dir, "f.db"), filepath.Join(dir, "user=app password=x")} {
		if s, err := storeopen.Open(t.Context(), v); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", v)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files in %s after refused opens: %v, want none", dir, entries)
	}
}

// keyValueDSN rewrites a postgres:// URL into libpq's key=value form.
func keyValueDSN(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{"host=" + u.Hostname(), "port=" + u.Port(), "user=" + u.User.Username(), "dbname=" + strings.TrimPrefix(u.Path, "/")}
	if pw, ok := u.User.Password(); ok {
		parts = append(parts, "password='"+pw+"'")
	}
	for k, vs := range u.Query() {
		parts = append(parts, k+"="+vs[0])
	}
	return strings.Join(parts, " ")
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"sqlite:data/p.db", "sqlite:data/p.db"},
		{"postgres://app@db:5432/pay", "postgres://app@db:5432/pay"},
		{"postgres://app:s3cret@db:5432/pay", "postgres://app:xxxxx@db:5432/pay"},
		{"postgres://app@db/pay?password=s3cret&sslmode=disable", "postgres://app@db/pay?password=xxxxx&sslmode=disable"},
		{"postgresql://app@db/pay?sslpassword=s3cret", "postgresql://app@db/pay?sslpassword=xxxxx"},
		{"postgres://app@db/pay?PASSWORD=s3cret", "postgres://app@db/pay?PASSWORD=xxxxx"},
		{"host=db user=app password=s3cret dbname=pay", "host=db user=app password=xxxxx dbname=pay"},
		{"host=db password = 's3 cret' dbname=pay", "host=db password=xxxxx dbname=pay"},
		{"host=db password='unterminated s3cret", "(unparseable PostgreSQL connection string, redacted)"},
		{"postgres://app:s3cret@db:5432/pay\x7f", "(unparseable PostgreSQL URL, redacted)"},
	}
	for _, tt := range tests {
		if got := storeopen.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(storeopen.Redact(tt.in), "s3") {
			t.Errorf("Redact(%q) leaks the password", tt.in)
		}
	}
}

// TestOpenErrorsHidePassword checks that an error opening PostgreSQL never
// carries the password, whichever form gave it.
func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: the connection is refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	port := strconv.Itoa(addr.Port)
	for _, v := range []string{
		"postgres://app:s3cretpw@127.0.0.1:" + port + "/pay?connect_timeout=5",
		"postgres://app@127.0.0.1:" + port + "/pay?password=s3cretpw&connect_timeout=5",
		"host=127.0.0.1 port=" + port + " user=app password=s3cretpw dbname=pay connect_timeout=5",
		"host=127.0.0.1 port=" + port + " user=app password='s3cretpw' dbname=pay connect_timeout=5",
	} {
		_, err := storeopen.Open(t.Context(), v)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", storeopen.Redact(v))
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

// TestOpenSQLiteErrorNamesFile checks that a SQLite file that cannot be
// created is reported with its path.
func TestOpenSQLiteErrorNamesFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(datadirtest.ReadOnlyDir(t), "p.db")
	_, err := storeopen.Open(t.Context(), "sqlite:"+path)
	if err == nil {
		t.Fatal("Open succeeded in a read-only directory")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}
