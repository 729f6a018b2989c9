package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFile is the name of the persisted state inside Options.StateDir.
const stateFile = "simulator-state.json"

// snapshot is the persisted form of the simulator's state.
type snapshot struct {
	Version           int                                `json:"version"`
	Keys              map[string]*keyRecord              `json:"keys"`
	Sessions          map[string]*sessionRecord          `json:"sessions"`
	Charges           map[string]*chargeRecord           `json:"charges"`
	ChargePermissions map[string]*chargePermissionRecord `json:"chargePermissions"`
	Idempotency       map[string]*idemRecord             `json:"idempotency"`
	Calls             map[string]map[string]int          `json:"calls"`
}

// load reads the state persisted in the state directory, if any.
func (s *Simulator) load() error {
	if err := os.MkdirAll(s.stateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(s.stateDir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	if snap.Version != 1 {
		return fmt.Errorf("unsupported state version %d", snap.Version)
	}
	for id, k := range snap.Keys {
		pub, err := parsePublicKeyPEM(k.PEM)
		if err != nil {
			return fmt.Errorf("public key %s: %w", id, err)
		}
		k.pub = pub
		s.keys[id] = k
	}
	for id, v := range snap.Sessions {
		s.sessions[id] = v
	}
	for id, v := range snap.Charges {
		s.charges[id] = v
	}
	for id, v := range snap.ChargePermissions {
		s.perms[id] = v
	}
	for id, v := range snap.Idempotency {
		s.idem[id] = v
	}
	for id, v := range snap.Calls {
		s.calls[id] = v
	}
	return nil
}

// persistLocked saves the state when it changed and a state directory is
// set. A failed save is logged: the request it follows has been applied in
// memory and answering an error would misreport it.
func (s *Simulator) persistLocked() {
	if s.stateDir == "" || !s.dirty || s.closed {
		return
	}
	if err := s.saveLocked(); err != nil {
		s.log.Error("simulator: persist state", "err", err)
	}
}

// saveLocked writes the state atomically: a temporary file in the same
// directory, synced, then renamed over the old one.
func (s *Simulator) saveLocked() error {
	snap := snapshot{
		Version: 1, Keys: s.keys, Sessions: s.sessions, Charges: s.charges,
		ChargePermissions: s.perms, Idempotency: s.idem, Calls: s.calls,
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.stateDir, stateFile), b, 0o600); err != nil {
		return err
	}
	s.dirty = false
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
