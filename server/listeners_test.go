package main

import "testing"

func TestOverlap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:8443", "127.0.0.1:8443", true},
		{"0.0.0.0:8443", "127.0.0.1:8443", true},
		{":8443", "127.0.0.1:8443", true},
		{"[::]:8443", "127.0.0.1:8443", true},
		{"localhost:8443", "127.0.0.1:8443", true},
		{"0.0.0.0:8444", "127.0.0.1:8443", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{"127.0.0.2:8443", "127.0.0.1:8443", false},
		{"", "127.0.0.1:8443", false},
	}
	for _, tt := range tests {
		if got := overlap(tt.a, tt.b); got != tt.want {
			t.Errorf("overlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
