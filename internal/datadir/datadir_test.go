package datadir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/datadir"
	"github.com/paymentcompletion/paymentcompletion/internal/datadir/datadirtest"
)

func TestLockRefusesSecondHolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	first, err := datadir.Lock(dir)
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	// A second lock on the same directory, as a second server would take:
	// flock locks belong to the open file, so this conflicts even in one
	// process.
	_, err = datadir.Lock(dir)
	if !errors.Is(err, datadir.ErrInUse) {
		t.Fatalf("second Lock = %v, want ErrInUse", err)
	}
	for _, want := range []string{dir, "PID " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := datadir.Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Release: %v", err)
	}
	if err := again.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestLockReadOnlyDir(t *testing.T) {
	t.Parallel()
	dir := datadirtest.ReadOnlyDir(t)
	_, err := datadir.Lock(dir)
	if err == nil {
		t.Fatal("Lock succeeded on a read-only directory")
	}
	if !strings.Contains(err.Error(), dir) || !(errors.Is(err, syscall.EROFS) || errors.Is(err, os.ErrPermission)) {
		t.Errorf("error %q names neither the directory nor the cause", err)
	}
	if !strings.Contains(err.Error(), "not writable") {
		t.Errorf("error %q does not say the directory is not writable", err)
	}
}

func TestLockCreatesMissingDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	l, err := datadir.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("directory not created: %v", err)
	}
	if l.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", l.Dir(), dir)
	}
}
