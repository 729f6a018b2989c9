package pgtest

import (
	"net"
	"strings"
	"testing"
)

func TestUnreachableNote(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	note := unreachableNote("postgres://app:secret@" + addr + "/test?sslmode=disable&connect_timeout=5")
	for _, want := range []string{"SKIPPED", addr, "TEST_DATABASE_URL", "REQUIRE_POSTGRES=1"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	if strings.Contains(note, "secret") || strings.Contains(note, "\n") {
		t.Errorf("note %q shows the password or is more than one line", note)
	}
	note = unreachableNote("postgres://app@" + addr + "/test?password=secret&connect_timeout=5")
	if strings.Contains(note, "secret") {
		t.Errorf("note %q shows the password given as a query parameter", note)
	}
	if got := unreachableNote(DefaultURL); got != "" && !strings.Contains(got, "SKIPPED") {
		t.Errorf("note for the default URL: %q", got)
	}
}
