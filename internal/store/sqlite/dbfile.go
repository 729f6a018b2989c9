package sqlite

import (
	"os"
	"sync"
)

// dbFile is a descriptor of a database file, used by the checkpointers of
// the Stores open on that file in this process to sync it (see
// Store.checkpointer). SQLite's own descriptors are out of reach.
//
// Closing any descriptor of a file drops every POSIX lock the process
// holds on it, SQLite's included, which would let another process think
// the database unused and delete its WAL. So the Stores of this process
// share one descriptor per file, closed only when the last of them has
// closed its connections. Other code in the process must not open and
// close the database file itself (SQLite documents the same rule).
type dbFile struct {
	f    *os.File
	refs int
}

var dbFiles struct {
	sync.Mutex
	list []*dbFile
}

// acquireDBFile returns the shared descriptor of the file at path, opening
// it if no Store of this process has it open.
func acquireDBFile(path string) (*dbFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	dbFiles.Lock()
	defer dbFiles.Unlock()
	for _, df := range dbFiles.list {
		if same, err := df.f.Stat(); err == nil && os.SameFile(fi, same) {
			df.refs++
			return df, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	df := &dbFile{f: f, refs: 1}
	dbFiles.list = append(dbFiles.list, df)
	return df, nil
}

// release gives back a descriptor from acquireDBFile, closing it if no
// other Store of this process uses it.
func (df *dbFile) release() error {
	dbFiles.Lock()
	defer dbFiles.Unlock()
	if df.refs--; df.refs > 0 {
		return nil
	}
	for i, d := range dbFiles.list {
		if d == df {
			dbFiles.list = append(dbFiles.list[:i], dbFiles.list[i+1:]...)
			break
		}
	}
	return df.f.Close()
}
