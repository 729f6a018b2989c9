package storeopen_test

import (
	"os"
	"path/filepath"
	"testing"

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
		{"file:data/p.db", storeopen.SQLite, "data/p.db", false},
		{"file:///tmp/p.db", storeopen.SQLite, "/tmp/p.db", false},
		{"data/p.db", storeopen.SQLite, "data/p.db", false},
		{"/abs/p.db", storeopen.SQLite, "/abs/p.db", false},
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
		{"plain_path", func(*testing.T) string { return filepath.Join(dir, "b.db") }, filepath.Join(dir, "b.db"), false},
		{"file_prefix", func(*testing.T) string { return "file:" + filepath.Join(dir, "c.db") }, filepath.Join(dir, "c.db"), false},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }, "", true},
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
