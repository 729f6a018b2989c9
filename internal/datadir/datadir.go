// Package datadir guards the service's data directory: it must be writable,
// and only one server may use it at a time, since the SQLite database and
// the embedded simulator's state in it are single-process.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file, inside the data directory, that the running server
// holds locked; it contains the holder's PID.
const LockFile = "server.lock"

// ErrInUse is returned (wrapped) by Lock when another process holds the
// directory.
var ErrInUse = errors.New("data directory in use")

// Dir is a locked data directory. The lock is an OS file lock (flock), so
// it ends with the process however it exits, kill -9 included.
type Dir struct {
	dir string
	f   *os.File
}

// Lock creates dir if missing, checks that it is writable and takes its
// lock. A second process (or a second Lock) on the same directory gets an
// error wrapping ErrInUse that names the directory and the holder's PID.
func Lock(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s cannot be created: %w", dir, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data directory %s is not writable: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := holderPID(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is used by another server (PID %s): stop that server, or give this one another data directory", ErrInUse, dir, holder)
		}
		return nil, fmt.Errorf("data directory %s: lock %s: %w", dir, path, err)
	}
	// The PID is for the message above; the lock itself is what counts.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Dir{dir: dir, f: f}, nil
}

// checkWritable creates and removes a file in dir, so that a read-only
// directory or file system is reported at start, naming the directory and
// the cause, rather than later by whatever first writes there.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("data directory %s: remove %s: %w", dir, name, err)
	}
	return nil
}

// holderPID reads the PID the holder wrote, or "unknown" when it has not
// written it yet.
func holderPID(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// Dir returns the directory's path as given to Lock.
func (d *Dir) Dir() string { return d.dir }

// Release gives up the lock. The lock file stays: removing it would let a
// process that opened it before the removal lock a file nobody else sees.
func (d *Dir) Release() error {
	return d.f.Close()
}
