// Package secaudit inspects a palyrad installation and reports what makes it
// less safe than it should be: permissions of the state directory, the
// master key provider's strength, listeners off loopback, certificate
// horizons, broken policy files, the audit journal, and core dumps.
//
// It works from the files alone (the daemon stopped) and, when the caller
// fills in Live, also from what the running daemon reports. It never changes
// anything: databases are opened read-only.
package secaudit

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/harden"
	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/offline"
	"github.com/palyra/palyra/internal/policy"
	"github.com/palyra/palyra/internal/sqlitedb"
	"github.com/palyra/palyra/internal/statedir"
)

// Severity ranks a finding. Any High finding makes the audit fail.
type Severity string

// The severities, most severe first.
const (
	High   Severity = "high"
	Medium Severity = "medium"
	Low    Severity = "low"
	Info   Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case High:
		return 0
	case Medium:
		return 1
	case Low:
		return 2
	}
	return 3
}

// Finding is one thing the audit found: which check, how severe, what was
// found and how to fix it (empty for info findings that need nothing).
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Found    string   `json:"found"`
	Fix      string   `json:"fix,omitempty"`
}

// Live is what the running daemon reported. Zero values mean unknown.
type Live struct {
	PID                int
	TCP, QUIC          string
	ServerCertNotAfter time.Time
	// TLS12Refused reports that a TLS 1.2 handshake with the daemon's TCP
	// listener failed; TLS12Err is the error of the attempt (nil when it
	// succeeded, which is a finding).
	TLS12Tried bool
	TLS12Err   error
}

// Options say what to audit.
type Options struct {
	Layout statedir.Layout
	// Config is the configuration palyrad runs with (config.Load of its
	// file; Defaults when it has none).
	Config config.Config
	// Live is nil when the daemon is not running.
	Live *Live
	// Now is the time certificates are measured against (time.Now when
	// zero).
	Now time.Time
	// Getenv reads the auditing process's environment (os.Getenv when nil).
	Getenv func(string) string
	// ProcDir is /proc (tests may point it elsewhere).
	ProcDir string
}

// Thresholds.
const (
	// CAWarn and CAHigh: a CA certificate expiring within these is a
	// medium and a high finding.
	CAWarn = 90 * 24 * time.Hour
	CAHigh = 7 * 24 * time.Hour
	// ServerCertHigh: a running daemon's server certificate expiring within
	// this is a high finding. palyrad renews it at two thirds of its life,
	// so with the default 24h lifetime it always has at least 8h left; less
	// than an hour means renewal is failing or the lifetime is set so short
	// that clients will meet an expired certificate.
	ServerCertHigh = time.Hour
	// DeviceCertWarn: an active device certificate expiring within this is
	// reported as info (it is renewed by the device in use).
	DeviceCertWarn = 24 * time.Hour
)

// PassphraseFloor is the weakest Argon2id parameters accepted without a
// high finding: 64 MiB, 2 passes, 1 lane (OWASP's minimum is 19 MiB, t=2;
// palyra's default is 256 MiB, t=3, p=2).
var PassphraseFloor = masterkey.Params{Time: 2, MemoryK: 64 << 10, Threads: 1}

// Run performs every check and returns the findings, most severe first.
func Run(ctx context.Context, o Options) []Finding {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ProcDir == "" {
		o.ProcDir = "/proc"
	}
	var fs []Finding
	add := func(f ...Finding) { fs = append(fs, f...) }
	add(Permissions(o.Layout)...)
	in, err := o.Layout.Inspect(ctx) // opens every database and hashes the key files: once
	add(State(o.Layout, in, err)...)
	add(MasterKey(o.Layout, o.Config, recordedProvider(in, err))...)
	add(Listeners(o.Config, o.Live)...)
	add(TLS(o.Live)...)
	add(Certificates(o.Layout, o.Live, o.Now)...)
	add(Devices(o.Layout, o.Now)...)
	add(RevokedConnected(o.Live)...)
	pd := o.Config.PolicyDir
	if pd == "" {
		pd = filepath.Join(o.Layout.Dir, PolicyDir)
	} else {
		add(ConfiguredPolicyDir(pd)...)
	}
	add(Policies(pd)...)
	add(Audit(ctx, o.Layout, o.Config, o.Live != nil, o.Now)...)
	add(CoreDumps(o.Live, o.Getenv, o.ProcDir)...)
	add(DaemonUser(o.Layout, o.Live, o.ProcDir)...)
	Sort(fs)
	return fs
}

// Sort orders findings most severe first, keeping the checks' order within
// a severity.
func Sort(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity.rank() < fs[j].Severity.rank() })
}

// HasHigh reports whether any finding is high.
func HasHigh(fs []Finding) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == High })
}

// privateFiles are files that must be 0600 (the rest of the directory must
// still have no group or other write bits and belong to this user).
func isKeyFile(name string) bool {
	switch name {
	case "master.key", masterkey.SealedName, "identity.sealed", "ca.key.sealed":
		return true
	}
	return false
}

// Permissions checks the state directory (0700, this user's) and every file
// in it (this user's, no group or other bits; key files 0600).
func Permissions(l statedir.Layout) []Finding {
	const check = "permissions"
	fi, err := os.Stat(l.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Finding{{check, High, "state directory " + l.Dir + " does not exist", "start palyrad once to create it, or pass the right --state-dir"}}
	}
	if err != nil {
		return []Finding{{check, High, "state directory " + l.Dir + ": " + err.Error(), "make it readable by its owner"}}
	}
	var out []Finding
	uid := os.Getuid()
	owner := func(fi fs.FileInfo) (int, bool) {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return 0, true
		}
		return int(st.Uid), int(st.Uid) == uid
	}
	if u, ok := owner(fi); !ok {
		out = append(out, Finding{check, High, fmt.Sprintf("state directory %s belongs to uid %d, not to uid %d", l.Dir, u, uid), fmt.Sprintf("chown %d %s (palyrad runs as its owner)", uid, l.Dir)})
	}
	if !fi.IsDir() {
		return append(out, Finding{check, High, l.Dir + " is not a directory", "point --state-dir at palyrad's state directory"})
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		out = append(out, Finding{check, High, fmt.Sprintf("state directory %s has mode %04o (group/other may enter it)", l.Dir, m), "chmod 0700 " + l.Dir})
	}
	// Every file and directory below it, subdirectories (policies/)
	// included; symbolic links are reported, never followed.
	err = filepath.WalkDir(l.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == l.Dir {
				return err
			}
			out = append(out, Finding{check, High, "cannot read " + p + ": " + err.Error(), "make it this user's: chown and chmod 0700/0600"})
			return nil
		}
		if p == l.Dir {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			out = append(out, Finding{check, Medium, p + " is a symbolic link", "replace it with the file itself; palyrad keeps every file in its own directory"})
			return nil
		}
		if u, ok := owner(fi); !ok {
			out = append(out, Finding{check, High, fmt.Sprintf("%s belongs to uid %d, not to uid %d", p, u, uid), fmt.Sprintf("chown %d %s", uid, p)})
		}
		m := fi.Mode().Perm()
		want := "0600"
		if fi.IsDir() {
			want = "0700"
		}
		switch {
		case m&0o077 == 0:
		case (filepath.Dir(p) == l.Dir && isKeyFile(d.Name())) || m&0o022 != 0:
			// A key readable by others, or anything others may write
			// (a policy, a database, a directory to plant files in).
			out = append(out, Finding{check, High, fmt.Sprintf("%s has mode %04o (must be %s)", p, m, want), "chmod " + want + " " + p})
		default:
			out = append(out, Finding{check, Medium, fmt.Sprintf("%s has mode %04o (readable by group/other)", p, m), "chmod " + want + " " + p})
		}
		return nil
	})
	if err != nil {
		out = append(out, Finding{check, High, "cannot list " + l.Dir + ": " + err.Error(), "chmod 0700 " + l.Dir})
	}
	return out
}

// State reports what l.Inspect found (in, or the error it returned):
// state.json against the files.
func State(l statedir.Layout, in statedir.Inspection, err error) []Finding {
	const check = "state"
	if err != nil {
		return []Finding{{check, High, "state directory cannot be inspected: " + err.Error(), "restore " + statedir.ManifestFile + " from a backup, or run palyrad --record-state once after checking every file"}}
	}
	switch in.State {
	case statedir.Fresh:
		return []Finding{{check, Info, "state directory " + l.Dir + " is empty: nothing installed yet", ""}}
	case statedir.Unrecorded:
		out := []Finding{{check, High, statedir.ManifestFile + " missing: palyrad refuses to start on this directory", "check that every file is the one you expect, then start palyrad once with --record-state"}}
		for _, p := range in.Problems {
			out = append(out, Finding{check, High, p.String(), "restore it from a backup"})
		}
		return out
	}
	var out []Finding
	for _, p := range in.Problems {
		fix := "restore it from a backup"
		if slices.Contains(statedir.Recreatable, p.Name) {
			fix += ", or start palyrad with --recreate " + p.Name + " (its content is lost)"
		}
		out = append(out, Finding{check, High, p.String(), fix})
	}
	if len(out) == 0 {
		out = append(out, Finding{check, Info, statedir.ManifestFile + " present; every recorded file matches it", ""})
	}
	return out
}

// recordedProvider is the master key provider the state directory holds
// its key with, from what l.Inspect returned; "" when it is not known.
func recordedProvider(in statedir.Inspection, err error) string {
	if err != nil || in.State == statedir.Fresh {
		return ""
	}
	return in.KeyProvider
}

// MasterKey reports the master key provider and its strength. recorded is
// the provider the state directory holds its key with ("" if unknown; see
// recordedProvider).
func MasterKey(l statedir.Layout, cfg config.Config, recorded string) []Finding {
	const check = "master-key"
	provider := cfg.MasterKey.Provider
	if recorded != "" {
		if recorded != provider && provider != "" {
			return []Finding{{check, High, fmt.Sprintf("config says provider %q, the state directory holds its key with %q: palyrad refuses to start", provider, recorded), fmt.Sprintf("set [master_key] provider = %q, or move the key with palyra vault provider migrate --to %s", recorded, provider)}}
		}
		provider = recorded
	}
	switch provider {
	case masterkey.ProviderFile, "":
		// Low, not medium: this is the default and the documented
		// trade-off of a single-user machine; it is what a fresh
		// installation has, and a fresh installation audits clean.
		return []Finding{{check, Low, "provider file: the master key is " + l.MasterKey + ", beside the data it protects (a copy of the directory is a copy of every secret)", "for stronger protection at rest: palyra vault provider migrate --to passphrase (or keyring), then set [master_key] provider"}}
	case masterkey.ProviderPassphrase:
		p := filepath.Join(l.Dir, masterkey.SealedName)
		b, err := os.ReadFile(p) // #nosec G304 -- the sealed key file of the state directory the operator named; only its parameters are read
		if err != nil {
			return []Finding{{check, High, "provider passphrase, but " + p + " cannot be read: " + err.Error(), "restore it from a backup"}}
		}
		var s struct {
			Params masterkey.Params `json:"params"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return []Finding{{check, High, p + " is not a sealed key file", "restore it from a backup"}}
		}
		f := PassphraseFloor
		if s.Params.Time < f.Time || s.Params.MemoryK < f.MemoryK || s.Params.Threads < f.Threads {
			return []Finding{{check, High, fmt.Sprintf("provider passphrase with Argon2id t=%d m=%dKiB p=%d, below the floor t=%d m=%dKiB p=%d: a stolen %s is cheap to brute-force", s.Params.Time, s.Params.MemoryK, s.Params.Threads, f.Time, f.MemoryK, f.Threads, masterkey.SealedName), "re-seal with the default parameters: palyra vault provider migrate --to file, then --to passphrase"}}
		}
		return []Finding{{check, Info, fmt.Sprintf("provider passphrase, Argon2id t=%d m=%dKiB p=%d", s.Params.Time, s.Params.MemoryK, s.Params.Threads), ""}}
	case masterkey.ProviderKeyring:
		return []Finding{{check, Info, "provider keyring: the master key is in the OS keyring, not in the state directory", ""}}
	case masterkey.ProviderEnv:
		return []Finding{{check, Info, "provider env: the master key comes from PALYRA_MASTER_KEY (palyrad removes it from its environment once read); keep it out of shell history and unit files readable by others", ""}}
	}
	return []Finding{{check, High, fmt.Sprintf("unknown master key provider %q", provider), "set [master_key] provider to file, passphrase, keyring or env"}}
}

// loopback reports whether the host of addr is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listeners reports listeners off loopback: the running daemon's addresses
// when known, else the configured listen address.
func Listeners(cfg config.Config, live *Live) []Finding {
	const check = "listeners"
	fix := "listen on loopback (listen = \"127.0.0.1:7443\" or --listen 127.0.0.1:PORT); to serve other machines, enroll them as devices and put the daemon behind a firewall that admits only them"
	if live != nil && (live.TCP != "" || live.QUIC != "") {
		var out []Finding
		for _, a := range []struct{ name, addr string }{{"tcp", live.TCP}, {"quic", live.QUIC}} {
			if a.addr == "" {
				continue
			}
			if !loopback(a.addr) {
				out = append(out, Finding{check, High, fmt.Sprintf("the running daemon listens on %s %s, off loopback (reachable from the network; only enrolled devices pass mTLS, but the handshake and health are exposed)", a.name, a.addr), fix})
			}
		}
		if len(out) == 0 {
			out = append(out, Finding{check, Info, fmt.Sprintf("the running daemon listens on loopback only (tcp %s, quic %s)", live.TCP, live.QUIC), ""})
		}
		return out
	}
	if !cfg.LoopbackOnly() {
		return []Finding{{check, Medium, fmt.Sprintf("configured listen address %s is off loopback (the daemon is not running; this is where it would listen)", cfg.Listen), fix}}
	}
	return []Finding{{check, Info, "configured listen address " + cfg.Listen + " is loopback", ""}}
}

// TLS reports the TLS versions in force.
func TLS(live *Live) []Finding {
	const check = "tls"
	if live != nil && live.TLS12Tried {
		if live.TLS12Err == nil {
			return []Finding{{check, High, "the daemon accepted a TLS 1.2 handshake on " + live.TCP, "run a palyrad built from this source: it requires TLS 1.3"}}
		}
		return []Finding{{check, Info, "the daemon refused a TLS 1.2 handshake on " + live.TCP + ": TLS 1.3 only, with client certificates", ""}}
	}
	return []Finding{{check, Info, "TLS 1.3 only (palyrad's TLS configuration sets MinVersion TLS 1.3 and requires client certificates for everything but health)", ""}}
}

// Certificates checks the CA certificate's and, when running, the server
// certificate's expiry.
func Certificates(l statedir.Layout, live *Live, now time.Time) []Finding {
	const check = "certificates"
	var out []Finding
	b, err := os.ReadFile(l.CACert)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		out = append(out, Finding{check, High, "cannot read " + l.CACert + ": " + err.Error(), "chmod 0600 " + l.CACert})
	default:
		blk, _ := pem.Decode(b)
		var cert *x509.Certificate
		if blk != nil {
			cert, err = x509.ParseCertificate(blk.Bytes)
		}
		if blk == nil || err != nil {
			out = append(out, Finding{check, High, l.CACert + " is not a PEM certificate", "restore it from a backup"})
			break
		}
		left := cert.NotAfter.Sub(now)
		at := cert.NotAfter.UTC().Format(time.RFC3339)
		fix := "the CA cannot be renewed in place: plan a new state directory (new CA) and enroll the devices again before " + at
		switch {
		case left <= 0:
			out = append(out, Finding{check, High, "CA certificate expired at " + at + ": no device can connect", fix})
		case left < CAHigh:
			out = append(out, Finding{check, High, "CA certificate expires at " + at + ", in " + days(left), fix})
		case left < CAWarn:
			out = append(out, Finding{check, Medium, "CA certificate expires at " + at + ", in " + days(left), fix})
		default:
			out = append(out, Finding{check, Info, "CA certificate valid until " + at, ""})
		}
	}
	if live != nil && !live.ServerCertNotAfter.IsZero() {
		left := live.ServerCertNotAfter.Sub(now)
		at := live.ServerCertNotAfter.UTC().Format(time.RFC3339)
		fix := "set server_cert_ttl to hours or more (default 24h; palyrad renews at 2/3 of its life) and restart palyrad; if renewal fails, its log says why"
		if left < ServerCertHigh {
			out = append(out, Finding{check, High, "server certificate expires at " + at + ", in " + left.Truncate(time.Second).String() + " (under " + ServerCertHigh.String() + ")", fix})
		} else {
			out = append(out, Finding{check, Info, "server certificate valid until " + at, ""})
		}
	}
	return out
}

func days(d time.Duration) string {
	if d < 48*time.Hour {
		return d.Truncate(time.Minute).String()
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days"
}

// Devices reports enrolled devices' certificates (devices.db, read-only).
func Devices(l statedir.Layout, now time.Time) []Finding {
	const check = "devices"
	if _, err := os.Stat(l.Devices); err != nil {
		return nil
	}
	db, err := sqlitedb.OpenReadOnly(l.Devices)
	if err != nil {
		return []Finding{{check, Medium, "cannot open " + l.Devices + ": " + err.Error(), "check the file; restore it from a backup if it is damaged"}}
	}
	defer db.Close()
	rows, err := db.Query(`SELECT device_id, name, revoked_at, cert_not_after, connector FROM devices ORDER BY enrolled_at`)
	if err != nil {
		// A devices.db that no daemon of this version has opened yet has
		// no connector column (and no connectors).
		rows, err = db.Query(`SELECT device_id, name, revoked_at, cert_not_after, '' FROM devices ORDER BY enrolled_at`)
	}
	if err != nil {
		return []Finding{{check, Medium, "cannot read " + l.Devices + ": " + err.Error(), "check the file; restore it from a backup if it is damaged"}}
	}
	defer rows.Close()
	var out []Finding
	active := 0
	for rows.Next() {
		var id, name, connector string
		var revoked, notAfter int64
		if err := rows.Scan(&id, &name, &revoked, &notAfter, &connector); err != nil {
			return append(out, Finding{check, Medium, "cannot read " + l.Devices + ": " + err.Error(), "check the file"})
		}
		if revoked != 0 {
			continue
		}
		active++
		na := time.Unix(notAfter, 0)
		at := na.UTC().Format(time.RFC3339)
		kind, again := "device", "enroll it again (palyra devices enroll)"
		if connector != "" {
			kind, name, again = "connector", connector, "pair it again (palyra pair new --connector "+connector+")"
		}
		switch {
		case !na.After(now):
			out = append(out, Finding{check, Low, fmt.Sprintf("%s %s (%s): certificate expired at %s; it can no longer connect", kind, name, id, at), again + ", then revoke the old entry: palyra devices revoke " + id})
		case na.Sub(now) < DeviceCertWarn:
			out = append(out, Finding{check, Info, fmt.Sprintf("%s %s (%s): certificate expires at %s (renewed automatically when it is used past 2/3 of its life)", kind, name, id, at), ""})
		}
	}
	if err := rows.Err(); err != nil {
		return append(out, Finding{check, Medium, "cannot read " + l.Devices + ": " + err.Error(), "check the file"})
	}
	if active == 0 && len(out) == 0 {
		out = append(out, Finding{check, Info, "no active enrolled devices", ""})
	}
	return out
}

// RevokedConnected reports revoked devices still connected. palyrad checks
// the registry on every request and closes a revoked device's connections
// when it revokes it (transport.CloseDevice), so a revoked device cannot
// act; the admin API does not list live connections, so whether one still
// holds an idle socket cannot be known from outside.
func RevokedConnected(live *Live) []Finding {
	if live == nil {
		return nil
	}
	return []Finding{{"revoked-devices", Info, "revoked devices' connections are closed at revocation and every request re-checks the registry; live connections are not listed by the daemon, so an idle socket cannot be seen from here", ""}}
}

// PolicyDir is where operators' Cedar policy files live, inside the state
// directory, unless the configuration names another (policy_dir).
const PolicyDir = "policies"

// Policies loads the policy directory dir exactly as palyrad would
// (internal/policy: permissions, syntax, schema, test cases): the first
// problem is a high finding naming the file and line, or the failing case;
// a directory that loads is one info finding. A missing or empty directory
// has none.
func Policies(dir string) []Finding {
	const check = "policies"
	set, results, err := policy.Check(dir)
	if errors.Is(err, policy.ErrNoDirectory) {
		return nil
	}
	if err != nil {
		return []Finding{policyFinding(dir, err)}
	}
	var out []Finding
	for _, r := range results {
		if !r.Passed() {
			path := filepath.Join(dir, r.File)
			out = append(out, Finding{check, High, fmt.Sprintf("test case %q in %s fails: %s", r.Case, path, r.Failure),
				"fix the policies or the case at " + path + ": palyrad refuses to load the directory while a case fails"})
		}
	}
	if len(out) > 0 || len(set.Files) == 0 {
		return out
	}
	msg := fmt.Sprintf("%d policy file(s) in %s parse and validate against the schema", len(set.Files), dir)
	if set.Cases > 0 {
		msg += fmt.Sprintf("; %d test case(s) pass", set.Cases)
	}
	return []Finding{{check, Info, msg, ""}}
}

// ConfiguredPolicyDir checks the policy_dir the configuration names: it
// must exist (palyrad refuses to start without it), a high finding if not.
func ConfiguredPolicyDir(dir string) []Finding {
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return []Finding{{"policies", High, "policy_dir " + dir + " does not exist: palyrad refuses to start",
		"create it (mkdir -m 700 " + dir + ") or correct policy_dir in the configuration"}}
}

// policyFinding is the finding for a policy directory that does not load:
// where (file and, when known, line and column) and why.
func policyFinding(dir string, err error) Finding {
	var fe *policy.FileError
	if !errors.As(err, &fe) {
		return Finding{"policies", High, "policy directory " + dir + " does not load: " + err.Error(), "fix it as the message says; palyrad does not start with it"}
	}
	where := fe.Path
	if fe.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", fe.Path, fe.Line, fe.Column)
	}
	why := fe.Err.Error()
	if fe.PolicyID != "" {
		why = fmt.Sprintf("policy %q: %s", fe.PolicyID, why)
	}
	return Finding{"policies", High, "policy " + where + " is invalid: " + why, "fix the policy at " + where + " (every policy needs a unique @id and must match the schema: palyra's actions and entity types), or remove the file"}
}

// Audit verifies the audit journal and its checkpoint freshness.
func Audit(ctx context.Context, l statedir.Layout, cfg config.Config, running bool, now time.Time) []Finding {
	const check = "audit"
	if _, err := os.Stat(l.Audit); err != nil {
		return nil
	}
	res, err := offline.VerifyAudit(ctx, l)
	var be *audit.BrokenError
	switch {
	case errors.As(err, &be):
		return []Finding{{check, High, "audit journal broken: " + be.Error(), "keep the state directory as evidence; palyra audit verify names the record; restore audit.db from a backup or start palyrad with --recreate audit.db"}}
	case err != nil:
		return []Finding{{check, Medium, "audit journal not verified: " + err.Error(), "run palyra audit verify to see why"}}
	}
	out := []Finding{{check, Info, fmt.Sprintf("audit journal verified: %d records, %d checkpoints", res.Records, res.Checkpoints), ""}}
	switch {
	case res.Uncovered > 0 && !running:
		out = append(out, Finding{check, Medium, fmt.Sprintf("%d audit record(s) after the latest signed checkpoint, with the daemon stopped (it was killed or crashed before checkpointing)", res.Uncovered), "start palyrad and stop it cleanly (SIGTERM): it signs a checkpoint over every record"})
	case running && res.Uncovered > int64(cfg.Audit.CheckpointEvery):
		out = append(out, Finding{check, Medium, fmt.Sprintf("%d audit records after the latest signed checkpoint while running (checkpoint_every is %d): checkpoints are not being written", res.Uncovered, cfg.Audit.CheckpointEvery), "check palyrad's log for checkpoint errors; restart it"})
	case running && res.Uncovered > 0:
		seq := res.Records - res.Uncovered + 1
		t, err := recordTime(l.Audit, seq)
		if err == nil && Stale(t, now, time.Duration(cfg.Audit.CheckpointInterval)) {
			out = append(out, Finding{check, Medium, fmt.Sprintf("audit record %d (%s) is still not covered by a signed checkpoint while running (checkpoint_interval is %s): checkpoints are not being written", seq, t.UTC().Format(time.RFC3339), time.Duration(cfg.Audit.CheckpointInterval)), "check palyrad's log for checkpoint errors; restart it"})
		}
	}
	return out
}

// CheckpointSlack is how much later than checkpoint_interval a record may
// still be uncovered while the daemon runs before it is a finding.
const CheckpointSlack = 30 * time.Second

// Stale reports whether a record written at t should have been covered by a
// checkpoint by now: palyrad signs one at most interval after a record.
func Stale(t, now time.Time, interval time.Duration) bool {
	return now.Sub(t) > interval+CheckpointSlack
}

// recordTime is the time of audit record seq, read-only: unix nanoseconds
// (journal format 2) or RFC 3339 text (format 1).
func recordTime(path string, seq int64) (time.Time, error) {
	db, err := sqlitedb.OpenReadOnly(path)
	if err != nil {
		return time.Time{}, err
	}
	defer db.Close()
	var v any
	if err := db.QueryRow(`SELECT time FROM records WHERE seq = ?`, seq).Scan(&v); err != nil {
		return time.Time{}, err
	}
	switch v := v.(type) {
	case int64:
		return time.Unix(0, v), nil
	case string:
		return time.Parse(time.RFC3339Nano, v)
	case []byte:
		return time.Parse(time.RFC3339Nano, string(v))
	}
	return time.Time{}, fmt.Errorf("audit record %d: time of type %T", seq, v)
}

// CoreDumps checks the running daemon's core size limit and dumpable flag,
// and PALYRA_ALLOW_CORE_DUMPS in the environment.
func CoreDumps(live *Live, getenv func(string) string, proc string) []Finding {
	const check = "core-dumps"
	var out []Finding
	if v := getenv(harden.EnvAllowCoreDumps); v != "" {
		out = append(out, Finding{check, Medium, harden.EnvAllowCoreDumps + "=" + v + " is set in this environment: a palyrad or palyra started from it may write its secrets to a core file", "unset " + harden.EnvAllowCoreDumps + " (it is for debugging only)"})
	}
	if live == nil || live.PID == 0 {
		return out
	}
	limits, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(live.PID), "limits")) // #nosec G304 -- /proc/PID/limits of the daemon, PID from its socket
	if err != nil {
		return append(out, Finding{check, Info, fmt.Sprintf("cannot read the core limit of palyrad (pid %d): %v", live.PID, err), ""})
	}
	core := ""
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max core file size") {
			f := strings.Fields(strings.TrimPrefix(line, "Max core file size"))
			if len(f) > 0 {
				core = f[0]
			}
		}
	}
	// PR_GET_DUMPABLE answers only for oneself; from outside, a process
	// that is not dumpable shows as the files in its /proc/PID belonging
	// to root. Run
	// as root, the two cannot be told apart.
	dumpable, known := false, os.Getuid() != 0
	if fi, err := os.Stat(filepath.Join(proc, strconv.Itoa(live.PID), "status")); err == nil && known {
		if s, ok := fi.Sys().(*syscall.Stat_t); ok {
			dumpable = int(s.Uid) != 0
		}
	}
	switch {
	case core != "0":
		out = append(out, Finding{check, High, fmt.Sprintf("palyrad (pid %d) has core file size limit %q: a crash writes its memory, keys included, to disk", live.PID, core), "restart palyrad without " + harden.EnvAllowCoreDumps})
	case dumpable:
		out = append(out, Finding{check, High, fmt.Sprintf("palyrad (pid %d) is dumpable (its /proc entry belongs to uid %d): another process of this user may read its memory", live.PID, os.Getuid()), "restart palyrad without " + harden.EnvAllowCoreDumps})
	case !known:
		out = append(out, Finding{check, Info, fmt.Sprintf("palyrad (pid %d): core file size 0 (whether it is dumpable cannot be seen when auditing as root)", live.PID), ""})
	default:
		out = append(out, Finding{check, Info, fmt.Sprintf("palyrad (pid %d): core file size 0, not dumpable", live.PID), ""})
	}
	return out
}

// DaemonUser reports a palyrad that runs as root: the governed tools'
// programs then run as uid 0 (capabilities dropped, but root-owned files
// stay readable to them and RLIMIT_NPROC is not enforced). It reads the
// effective uid from proc/PID/status of the running daemon; stopped, it
// goes by the owner of the state directory (palyrad runs as its owner).
func DaemonUser(l statedir.Layout, live *Live, proc string) []Finding {
	const check = "daemon-user"
	const fix = "run palyrad as an unprivileged user that owns the state directory (chown -R it the state directory, then start palyrad as that user)"
	const why = "governed tools run as uid 0 too: their capabilities are dropped, but root-owned files stay readable to them and RLIMIT_NPROC is not enforced"
	if live != nil && live.PID != 0 {
		st, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(live.PID), "status")) // #nosec G304 -- /proc/PID/status of the daemon, PID from its socket
		if err != nil {
			return []Finding{{check, Info, fmt.Sprintf("cannot read the uid of palyrad (pid %d): %v", live.PID, err), ""}}
		}
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "Uid:" {
				if f[2] == "0" {
					return []Finding{{check, Medium, fmt.Sprintf("palyrad (pid %d) runs as root: %s", live.PID, why), fix}}
				}
				return []Finding{{check, Info, fmt.Sprintf("palyrad (pid %d) runs as uid %s, not root", live.PID, f[2]), ""}}
			}
		}
		return []Finding{{check, Info, fmt.Sprintf("cannot read the uid of palyrad (pid %d): no Uid line", live.PID), ""}}
	}
	fi, err := os.Stat(l.Dir)
	if err != nil {
		return nil // Permissions reports it
	}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok && s.Uid == 0 {
		return []Finding{{check, Medium, "state directory " + l.Dir + " belongs to root, so palyrad runs as root: " + why, fix}}
	}
	return nil
}
