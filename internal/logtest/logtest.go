// Package logtest collects what a server under test writes (its JSON log
// lines, a child process's output) safely across goroutines.
package logtest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is an io.Writer whose content can be read while others write.
// The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines decodes every line written so far as a JSON object; a line that is
// not one fails the test.
func (b *Buffer) Lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// WaitFor polls until a JSON log line with the message msg was written, or
// fails the test when its context ends.
func (b *Buffer) WaitFor(t testing.TB, msg string) {
	t.Helper()
	for !strings.Contains(b.String(), `"msg":"`+msg+`"`) {
		select {
		case <-t.Context().Done():
			t.Fatalf("log line %q never appeared", msg)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
