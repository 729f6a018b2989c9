package simulator

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Persistence (Options.StateDir).
//
// The state lives in memory; a SQLite database in the state directory holds
// a copy that New reads back. Every change is written before the request
// that made it is answered, as one small transaction of the records it
// touched, so its cost does not grow with the number of records kept.
//
// The unit written is a record: a public key, an idempotency record, or a
// checkout session together with every object hanging off it (its charge
// permission, charges, call counts: a sessionGroup). A change marks what it
// touched (changedLocked for a session's objects, putRecordLocked for
// anything else) and persistLocked writes the marked records.
//
// To persist a new kind of object:
//   - that belongs to a checkout session (refunds, say): give sessionGroup a
//     field, fill it in groupLocked, put it back in restoreGroupLocked, call
//     linkLocked(sessionID, objectID) when an object is created (this also
//     makes call counting find its session), and call changedLocked(its
//     session) wherever it changes;
//   - that stands alone (a notification endpoint, say): call
//     putRecordLocked(kind, id, value) when it changes, and read it back in
//     the switch of loadRecord.

// Files inside Options.StateDir.
const (
	dbFile = "simulator.db"
	// legacyStateFile is the whole-state JSON file of earlier versions; New
	// imports it once and renames it to legacyStateFile+".imported".
	legacyStateFile = "simulator-state.json"
)

// Record kinds in the records table.
const (
	kindKey         = "key"
	kindSession     = "checkoutSession"
	kindIdempotency = "idempotency"
	// kindClock holds where a manual clock stands (id "manual").
	kindClock      = "clock"
	kindBuyerToken = "buyerToken"
)

// sessionGroup is a checkout session and the objects that belong to it, as
// persisted in one record.
type sessionGroup struct {
	Session           *sessionRecord            `json:"session"`
	ChargePermissions []*chargePermissionRecord `json:"chargePermissions,omitempty"`
	Charges           []*chargeRecord           `json:"charges,omitempty"`
	Refunds           []*refundRecord           `json:"refunds,omitempty"`
	Calls             map[string]int            `json:"calls,omitempty"`
}

// groupLocked collects session id's group.
func (s *Simulator) groupLocked(id string) *sessionGroup {
	g := &sessionGroup{Session: s.sessions[id], Calls: s.calls[id]}
	for _, oid := range s.members[id] {
		if cp := s.perms[oid]; cp != nil {
			g.ChargePermissions = append(g.ChargePermissions, cp)
		}
		if ch := s.charges[oid]; ch != nil {
			g.Charges = append(g.Charges, ch)
		}
		if r := s.refunds[oid]; r != nil {
			g.Refunds = append(g.Refunds, r)
		}
	}
	return g
}

// restoreGroupLocked puts a persisted group back into memory.
func (s *Simulator) restoreGroupLocked(g *sessionGroup) error {
	if g.Session == nil || g.Session.ID == "" {
		return errors.New("checkout session record without a session")
	}
	id := g.Session.ID
	s.sessions[id] = g.Session
	s.linkLocked(id, id)
	for _, cp := range g.ChargePermissions {
		s.perms[cp.ID] = cp
		s.linkLocked(id, cp.ID)
	}
	for _, ch := range g.Charges {
		s.charges[ch.ID] = ch
		s.linkLocked(id, ch.ID)
	}
	for _, r := range g.Refunds {
		s.refunds[r.ID] = r
		s.linkLocked(id, r.ID)
	}
	if len(g.Calls) > 0 {
		s.calls[id] = g.Calls
	}
	return nil
}

// linkLocked records that objectID (a charge permission, charge, ...)
// belongs to checkout session sessionID: its changes are persisted with the
// session and calls on it are counted for the session.
func (s *Simulator) linkLocked(sessionID, objectID string) {
	if _, ok := s.owner[objectID]; ok {
		return
	}
	s.owner[objectID] = sessionID
	if objectID != sessionID {
		s.members[sessionID] = append(s.members[sessionID], objectID)
	}
}

// changedLocked marks checkout session id's group as changed, to be written
// by the next persistLocked.
func (s *Simulator) changedLocked(id string) {
	if s.db == nil || id == "" {
		return
	}
	s.pending[recordRef{kindSession, id}] = nil
}

// putRecordLocked schedules a stand-alone record for the next
// persistLocked; a nil v deletes it.
func (s *Simulator) putRecordLocked(kind, id string, v any) {
	if s.db == nil {
		return
	}
	s.pending[recordRef{kind, id}] = v
}

// recordRef names a record of the records table.
type recordRef struct{ kind, id string }

// stateDB is the SQLite copy of the state.
type stateDB struct {
	db     *sql.DB
	upsert *sql.Stmt
	del    *sql.Stmt
	get    *sql.Stmt
}

// openStateDB opens (creating) the database in dir. The WAL journal with
// synchronous=NORMAL makes a commit a write into the WAL file without an
// fsync: a committed change survives the process being killed (the kernel
// holds the written pages) and the file is never corrupted; an operating
// system crash may lose the last commits. The exclusive lock keeps a second
// simulator off the same directory.
func openStateDB(dir string) (*stateDB, error) {
	path := filepath.Join(dir, dbFile)
	// 16 KiB pages (set when the file is created) hold a session's record
	// of a few KiB without overflow pages, which an update would otherwise
	// have to read back and free.
	db, err := sql.Open("sqlite", "file:"+path+
		"?_pragma=busy_timeout(100)&_pragma=page_size(16384)&_pragma=locking_mode(EXCLUSIVE)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-32768)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS records (
			kind TEXT NOT NULL,
			id   TEXT NOT NULL,
			doc  BLOB NOT NULL,
			PRIMARY KEY (kind, id)
		)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	sdb := &stateDB{db: db}
	if sdb.upsert, err = db.PrepareContext(ctx, `INSERT INTO records (kind, id, doc) VALUES (?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc`); err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if sdb.del, err = db.PrepareContext(ctx, `DELETE FROM records WHERE kind = ? AND id = ?`); err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if sdb.get, err = db.PrepareContext(ctx, `SELECT doc FROM records WHERE kind = ? AND id = ?`); err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return sdb, nil
}

func (d *stateDB) close() error { return d.db.Close() }

// load opens the state directory's database and reads what it holds,
// importing a legacy whole-state file first.
func (s *Simulator) load() error {
	if err := os.MkdirAll(s.stateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	db, err := openStateDB(s.stateDir)
	if err != nil {
		return err
	}
	s.db = db
	if err := s.importLegacy(); err != nil {
		return err
	}
	// Idempotency records stay in the database (idemLookupLocked): they
	// are most of the bytes and only a retry reads one.
	rows, err := db.db.QueryContext(context.Background(), `SELECT kind, id, doc FROM records WHERE kind <> ?`, kindIdempotency)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	defer rows.Close()
	// Session records, nearly all of the state, are decoded by one worker
	// per CPU; one goroutine puts every record back, in whatever order the
	// workers finish.
	type job struct {
		kind, id string
		doc      []byte
		g        *sessionGroup
		err      error
	}
	jobs, done := make(chan *job, 256), make(chan *job, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range jobs {
				if j.kind == kindSession {
					j.g = &sessionGroup{}
					j.err = json.Unmarshal(j.doc, j.g)
					j.doc = nil
				}
				done <- j
			}
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	var restoreErr error
	restored := make(chan struct{})
	go func() {
		defer close(restored)
		for j := range done {
			if restoreErr != nil {
				continue
			}
			switch {
			case j.err != nil:
			case j.kind == kindSession:
				j.err = s.restoreGroupLocked(j.g)
			default:
				j.err = s.loadRecord(j.kind, j.id, j.doc)
			}
			if j.err != nil {
				restoreErr = fmt.Errorf("%s %s: %w", j.kind, j.id, j.err)
			}
		}
	}()
	readErr := func() error {
		defer close(jobs)
		for rows.Next() {
			var kind, id string
			var doc []byte
			if err := rows.Scan(&kind, &id, &doc); err != nil {
				return fmt.Errorf("read state: %w", err)
			}
			jobs <- &job{kind: kind, id: id, doc: doc}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read state: %w", err)
		}
		return nil
	}()
	<-restored
	return errors.Join(readErr, restoreErr)
}

// loadRecord puts one persisted record back into memory.
func (s *Simulator) loadRecord(kind, id string, doc []byte) error {
	switch kind {
	case kindKey:
		var k keyRecord
		if err := json.Unmarshal(doc, &k); err != nil {
			return err
		}
		return s.restoreKey(&k)
	case kindNotificationEndpoint:
		return s.restoreEndpoint(doc)
	case kindClock:
		return json.Unmarshal(doc, &s.manualSince)
	case kindBuyerToken:
		var b buyerTokenRecord
		if err := json.Unmarshal(doc, &b); err != nil {
			return err
		}
		s.buyerTokens[id] = &b
		return nil
	}
	// A kind written by a newer version: keep it, ignore it.
	s.log.Warn("simulator: unknown record kind in state", "kind", kind)
	return nil
}

func (s *Simulator) restoreKey(k *keyRecord) error {
	pub, err := parsePublicKeyPEM(k.PEM)
	if err != nil {
		return err
	}
	k.pub = pub
	s.keys[k.ID] = k
	return nil
}

// idemLookupLocked finds the idempotency record of key: in memory without
// a state directory, else among the pending writes or in the database.
func (s *Simulator) idemLookupLocked(key string) (*idemRecord, error) {
	if s.db == nil {
		return s.idem[key], nil
	}
	if v, ok := s.pending[recordRef{kindIdempotency, key}]; ok {
		rec, _ := v.(*idemRecord)
		return rec, nil
	}
	var doc []byte
	err := s.db.get.QueryRowContext(context.Background(), kindIdempotency, key).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec idemRecord
	if err := json.Unmarshal(doc, &rec); err != nil {
		return nil, fmt.Errorf("decode idempotency record: %w", err)
	}
	return &rec, nil
}

// legacySnapshot is the format of legacyStateFile (version 1).
type legacySnapshot struct {
	Version           int                                `json:"version"`
	Keys              map[string]*keyRecord              `json:"keys"`
	Sessions          map[string]*sessionRecord          `json:"sessions"`
	Charges           map[string]*chargeRecord           `json:"charges"`
	ChargePermissions map[string]*chargePermissionRecord `json:"chargePermissions"`
	Idempotency       map[string]*idemRecord             `json:"idempotency"`
	Calls             map[string]map[string]int          `json:"calls"`
}

// importLegacy copies a whole-state file of an earlier version into the
// database in one transaction, then renames the file so it is read once.
func (s *Simulator) importLegacy() error {
	path := filepath.Join(s.stateDir, legacyStateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", legacyStateFile, err)
	}
	var snap legacySnapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("decode %s: %w", legacyStateFile, err)
	}
	if snap.Version != 1 {
		return fmt.Errorf("%s: unsupported state version %d", legacyStateFile, snap.Version)
	}
	// Build the records in a scratch simulator so the groups come out as
	// the current code forms them.
	tmp := &Simulator{
		keys: map[string]*keyRecord{}, sessions: snap.Sessions, charges: snap.Charges,
		perms: snap.ChargePermissions, calls: snap.Calls,
		owner: map[string]string{}, members: map[string][]string{},
	}
	if tmp.sessions == nil {
		tmp.sessions = map[string]*sessionRecord{}
	}
	if tmp.charges == nil {
		tmp.charges = map[string]*chargeRecord{}
	}
	if tmp.perms == nil {
		tmp.perms = map[string]*chargePermissionRecord{}
	}
	for id := range tmp.sessions {
		tmp.linkLocked(id, id)
	}
	for _, cp := range tmp.perms {
		tmp.linkLocked(cp.SessionID, cp.ID)
	}
	for _, ch := range tmp.charges {
		tmp.linkLocked(ch.SessionID, ch.ID)
	}
	recs := map[recordRef]any{}
	for id, k := range snap.Keys {
		recs[recordRef{kindKey, id}] = k
	}
	for id := range tmp.sessions {
		recs[recordRef{kindSession, id}] = tmp.groupLocked(id)
	}
	for id, r := range snap.Idempotency {
		recs[recordRef{kindIdempotency, id}] = r
	}
	if err := s.db.write(recs); err != nil {
		return fmt.Errorf("import %s: %w", legacyStateFile, err)
	}
	if err := os.Rename(path, path+".imported"); err != nil {
		return fmt.Errorf("import %s: %w", legacyStateFile, err)
	}
	s.log.Info("simulator: imported legacy state file", "sessions", len(tmp.sessions), "renamedTo", legacyStateFile+".imported")
	return nil
}

// write stores recs (nil values delete) in one transaction.
func (d *stateDB) write(recs map[recordRef]any) error {
	ctx := context.Background()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	upsert, del := tx.StmtContext(ctx, d.upsert), tx.StmtContext(ctx, d.del)
	for ref, v := range recs {
		if v == nil {
			if _, err := del.ExecContext(ctx, ref.kind, ref.id); err != nil {
				return err
			}
			continue
		}
		doc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", ref.kind, ref.id, err)
		}
		if _, err := upsert.ExecContext(ctx, ref.kind, ref.id, doc); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// persistLocked writes what changed since the last call. Call counts alone
// do not count as a change (a GET would otherwise cost a write); they are
// written with their session's next change and on Close. A failed write is
// logged: the request it follows has been applied in memory and answering
// an error would misreport it.
func (s *Simulator) persistLocked() {
	if s.db == nil || s.closed || len(s.pending) == 0 {
		return
	}
	if err := s.flushLocked(); err != nil {
		s.log.Error("simulator: persist state", "err", err)
	}
}

// flushLocked writes the pending records.
func (s *Simulator) flushLocked() error {
	recs := make(map[recordRef]any, len(s.pending))
	for ref, v := range s.pending {
		if ref.kind == kindSession {
			if s.sessions[ref.id] == nil {
				v = nil
			} else {
				v = s.groupLocked(ref.id)
			}
			delete(s.uncountedCalls, ref.id)
		}
		recs[ref] = v
	}
	if err := s.db.write(recs); err != nil {
		return err
	}
	clear(s.pending)
	return nil
}

// writeFileAtomic replaces path with data so that readers see either the
// old or the new content, never a mix, even after a crash.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
