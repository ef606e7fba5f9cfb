package statedir

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/sqlitedb"
)

// ManifestFile is the name of the manifest in a state directory.
const ManifestFile = "state.json"

// manifestVersion is the manifest format this package writes and reads.
const manifestVersion = 1

// maxManifestBytes bounds the manifest read.
const maxManifestBytes = 64 << 10

// Part kinds: how the manifest recognises a file.
const (
	// kindKey files never change after creation; the manifest holds their
	// SHA-256.
	kindKey = "sha256"
	// kindDB files are SQLite databases that change all the time; the
	// manifest holds the random instance id written into their header
	// (application_id) when they were created.
	kindDB = "sqlite"
)

// Entry is what the manifest knows of one file.
type Entry struct {
	// SHA256 is the lowercase hex SHA-256 of a key file's content.
	SHA256 string `json:"sha256,omitempty"`
	// InstanceID is a database's random instance id (its application_id).
	InstanceID uint32 `json:"instance_id,omitempty"`
}

// Manifest records what a state directory holds. palyrad writes it when it
// creates the directory and checks it at every start, so that a missing or
// replaced part is refused instead of silently re-created.
type Manifest struct {
	Version  int              `json:"version"`
	Created  time.Time        `json:"created"`
	DeviceID string           `json:"device_id"`
	Files    map[string]Entry `json:"files"`
	// MasterKey is where the master key is kept and its check value.
	// Absent in manifests written before providers existed: those
	// directories keep it in master.key (provider file).
	MasterKey *KeyRecord `json:"master_key,omitempty"`
}

// KeyRecord is what the manifest knows of the master key.
type KeyRecord struct {
	// Provider is the masterkey provider that keeps it.
	Provider string `json:"provider"`
	// Check is its key check value (masterkey.Key.CheckValue): a start
	// with another key is refused before anything is read with it.
	Check string `json:"check"`
}

// KeyProvider is the provider that keeps the directory's master key:
// provider file when the manifest predates providers.
func (m *Manifest) KeyProvider() string {
	if m == nil || m.MasterKey == nil {
		return masterkey.ProviderFile
	}
	return m.MasterKey.Provider
}

// parts lists, in start-up order, the files a state directory whose master
// key provider is provider must hold, and how each is recognised. The key
// file depends on the provider: master.key (file), master.key.sealed
// (passphrase), none (keyring, env: the manifest's key check value stands
// for it).
func (l Layout) parts(provider string) []struct{ name, path, kind string } {
	var ps []struct{ name, path, kind string }
	if f := masterkey.KeyFile(provider); f != "" {
		ps = append(ps, struct{ name, path, kind string }{f, filepath.Join(l.Dir, f), kindKey})
	}
	return append(ps, []struct{ name, path, kind string }{
		{"identity.sealed", l.Identity, kindKey},
		{"ca.crt", l.CACert, kindKey},
		{"ca.key.sealed", l.CAKey, kindKey},
		{"vault.db", l.Vault, kindDB},
		{"audit.db", l.Audit, kindDB},
		{"devices.db", l.Devices, kindDB},
		{"approvals.db", l.Approvals, kindDB},
	}...)
}

// Added are the parts newer than the manifest format: a directory whose
// manifest (or, unrecorded, whose files) predates one of them gets it
// created once and recorded (Inspection.Added), and from then on it is
// checked like every other part. approvals.db came with approvals.
var Added = []string{"approvals.db"}

// PartNames are the names of the files the manifest covers for a master
// key provider, in start-up order.
func PartNames(provider string) []string {
	var names []string
	for _, p := range (Layout{}).parts(provider) {
		names = append(names, p.name)
	}
	return names
}

// Recreatable are the parts an operator may ask palyrad to re-create empty
// when they are missing (palyrad --recreate): losing one loses its content
// but breaks nothing else. The keys and the CA cannot be: everything else
// depends on them.
var Recreatable = []string{"vault.db", "audit.db", "devices.db", "approvals.db"}

// State is what Inspect found.
type State int

const (
	// Fresh: the directory does not exist or is empty; a first start
	// creates everything.
	Fresh State = iota
	// Recorded: a manifest exists (Problems lists what does not match it).
	Recorded
	// Unrecorded: files exist but no manifest (a directory from a version
	// that kept none). Problems lists missing parts.
	Unrecorded
)

// Problem is one part of a state directory that is missing or not the file
// the manifest recorded.
type Problem struct {
	Name   string // e.g. "audit.db"
	Reason string // "missing", "replaced", ...
}

func (p Problem) String() string { return p.Name + " " + p.Reason }

// Inspection is the result of Inspect.
type Inspection struct {
	State    State
	Manifest *Manifest // nil unless Recorded
	Problems []Problem
	// Added are parts in Added that the directory predates: not recorded
	// (or, unrecorded, absent) and either absent or an empty database
	// never stamped with an instance id (made by a start that stopped
	// before recording it). The daemon creates them and records them.
	Added []string
	// KeyProvider is the master key provider the directory holds its key
	// with: the manifest's, or for an unrecorded directory the one its
	// files show (passphrase when master.key.sealed exists, else file).
	KeyProvider string
}

// ProblemError reports the problems of a state directory: the daemon refuses
// to start on it.
type ProblemError struct {
	Dir      string
	Problems []Problem
}

func (e *ProblemError) Error() string {
	if len(e.Problems) == 1 && e.Problems[0].Name == ManifestFile {
		return fmt.Sprintf("statedir: %s: %s %s: it was made by a palyrad that kept no record, or the record was deleted; check that every file in it is the one you expect, then start once with --record-state", e.Dir, ManifestFile, e.Problems[0].Reason)
	}
	var names, parts []string
	for _, p := range e.Problems {
		parts = append(parts, p.String())
		names = append(names, p.Name)
	}
	msg := fmt.Sprintf("statedir: %s: %s", e.Dir, strings.Join(parts, ", "))
	var recreatable []string
	for _, n := range names {
		if slices.Contains(Recreatable, n) {
			recreatable = append(recreatable, n)
		}
	}
	if len(recreatable) == len(names) {
		return msg + fmt.Sprintf("; restore it from a backup, or start with --recreate %s to begin it empty (its content is lost)", strings.Join(recreatable, ","))
	}
	return msg + "; restore the state directory from a backup (keys and the CA cannot be re-created without losing every secret and device), or start over with a new --state-dir"
}

// Inspect reads the state directory's manifest and checks every part
// against it. It creates and changes nothing.
func (l Layout) Inspect(ctx context.Context) (Inspection, error) {
	entries, err := os.ReadDir(l.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Inspection{State: Fresh}, nil
	}
	if err != nil {
		return Inspection{}, fmt.Errorf("statedir: %w", err)
	}
	if len(entries) == 0 {
		return Inspection{State: Fresh}, nil
	}
	m, err := l.readManifest()
	if errors.Is(err, fs.ErrNotExist) {
		var in Inspection
		in.State = Unrecorded
		in.KeyProvider = masterkey.ProviderFile
		if _, err := os.Lstat(filepath.Join(l.Dir, masterkey.SealedName)); err == nil {
			in.KeyProvider = masterkey.ProviderPassphrase
		}
		for _, p := range l.parts(in.KeyProvider) {
			if _, err := os.Lstat(p.path); errors.Is(err, fs.ErrNotExist) {
				if slices.Contains(Added, p.name) {
					in.Added = append(in.Added, p.name)
					continue
				}
				in.Problems = append(in.Problems, Problem{p.name, "missing"})
			}
		}
		return in, nil
	}
	if err != nil {
		return Inspection{}, err
	}
	in := Inspection{State: Recorded, Manifest: m, KeyProvider: m.KeyProvider()}
	for _, p := range l.parts(in.KeyProvider) {
		want, ok := m.Files[p.name]
		if !ok && slices.Contains(Added, p.name) && l.unstamped(p.path) {
			in.Added = append(in.Added, p.name)
			continue
		}
		if !ok {
			in.Problems = append(in.Problems, Problem{p.name, "not recorded in " + ManifestFile})
			continue
		}
		got, err := l.entry(ctx, p.path, p.kind)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			in.Problems = append(in.Problems, Problem{p.name, "missing"})
		case err != nil:
			in.Problems = append(in.Problems, Problem{p.name, "unreadable (" + err.Error() + ")"})
		case got != want:
			in.Problems = append(in.Problems, Problem{p.name, "replaced (not the file this state directory was created with)"})
		}
	}
	return in, nil
}

// unstamped reports whether the database at path is absent or was never
// given an instance id: a part this directory may still add. A database
// with an instance id was recorded by some state directory, and one not
// recorded in this one's manifest is not this directory's.
func (l Layout) unstamped(path string) bool {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return true
	}
	id, err := sqlitedb.InstanceID(path)
	return err == nil && id == 0
}

// entry computes a part's manifest entry from the file at path.
func (l Layout) entry(ctx context.Context, path, kind string) (Entry, error) {
	if _, err := os.Lstat(path); err != nil {
		return Entry{}, err
	}
	if kind == kindDB {
		id, err := sqlitedb.InstanceID(path)
		return Entry{InstanceID: id}, err
	}
	f, err := os.Open(path) // #nosec G304 -- a path inside the operator-chosen state directory
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, 1<<20)); err != nil {
		return Entry{}, err
	}
	return Entry{SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func (l Layout) readManifest() (*Manifest, error) {
	f, err := os.Open(filepath.Join(l.Dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, maxManifestBytes))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil || m.Version != manifestVersion || m.Files == nil || (m.MasterKey != nil && !masterkey.ValidProvider(m.MasterKey.Provider)) {
		return nil, fmt.Errorf("statedir: %s is not a version %d manifest; restore it from a backup", filepath.Join(l.Dir, ManifestFile), manifestVersion)
	}
	return &m, nil
}

// Record writes the manifest for the parts as they are now. Databases that
// have no instance id yet (just created, or from a version that set none)
// get a random one first. deviceID names the daemon the directory belongs
// to; key is its master key's provider and check value. It returns the
// names of the databases it gave an instance id.
func (l Layout) Record(ctx context.Context, deviceID string, key KeyRecord) ([]string, error) {
	if !masterkey.ValidProvider(key.Provider) || key.Check == "" {
		return nil, fmt.Errorf("statedir: record: bad master key record %+v", key)
	}
	m := Manifest{Version: manifestVersion, Created: time.Now().UTC().Truncate(time.Second), DeviceID: deviceID, Files: map[string]Entry{}, MasterKey: &key}
	if old, err := l.readManifest(); err == nil {
		m.Created = old.Created
	}
	var stamped []string
	for _, p := range l.parts(key.Provider) {
		e, err := l.entry(ctx, p.path, p.kind)
		if err != nil {
			return nil, fmt.Errorf("statedir: record %s: %w", p.name, err)
		}
		if p.kind == kindDB && e.InstanceID == 0 {
			var b [4]byte
			rand.Read(b[:])
			e.InstanceID = binary.BigEndian.Uint32(b[:]) | 1 // never 0, which means unset
			if err := sqlitedb.SetInstanceID(ctx, p.path, e.InstanceID); err != nil {
				return nil, err
			}
			stamped = append(stamped, p.name)
		}
		m.Files[p.name] = e
	}
	return stamped, l.writeManifest(&m)
}

// SetKeyProvider records that the master key, whose check value must be
// the recorded one, is now kept by provider: the key file of the old
// provider leaves the manifest and that of the new one (if any) enters it.
// The manifest is replaced atomically: this is the moment a move between
// providers takes effect. Every other entry is kept as it is.
func (l Layout) SetKeyProvider(ctx context.Context, provider, check string) error {
	m, err := l.readManifest()
	if err != nil {
		return err
	}
	if m.MasterKey != nil && m.MasterKey.Check != check {
		return fmt.Errorf("statedir: %s: the master key's check value differs from the recorded one", ManifestFile)
	}
	if !masterkey.ValidProvider(provider) {
		return fmt.Errorf("statedir: unknown master key provider %q", provider)
	}
	delete(m.Files, masterkey.KeyFile(m.KeyProvider()))
	if f := masterkey.KeyFile(provider); f != "" {
		e, err := l.entry(ctx, filepath.Join(l.Dir, f), kindKey)
		if err != nil {
			return fmt.Errorf("statedir: record %s: %w", f, err)
		}
		m.Files[f] = e
	}
	m.MasterKey = &KeyRecord{Provider: provider, Check: check}
	return l.writeManifest(m)
}

func (l Layout) writeManifest(m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(filepath.Join(l.Dir, ManifestFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("statedir: write manifest: %w", err)
	}
	return nil
}
