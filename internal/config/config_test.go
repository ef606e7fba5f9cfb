package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/vault"
)

const fullConfig = `
state_dir       = "/var/lib/palyra"
listen          = "127.0.0.1:9000"
server_names    = ["palyra.home.arpa", "10.0.0.5"]
server_cert_ttl = "12h"
client_cert_ttl = "1h"
log_level       = "debug"
log_format      = "json"

[audit]
sync                = "always"
sync_window         = "5ms"
checkpoint_interval = "30s"
checkpoint_every    = 10

[vault]
list_page_default = 50
`

func TestDefaults(t *testing.T) {
	d := Defaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Daemon: Daemon{Listen: "127.0.0.1:7443", LogLevel: "info", LogFormat: "text"},
		Certs:  Certs{ServerCertTTL: Duration(24 * time.Hour), ClientCertTTL: Duration(24 * time.Hour)},
		Audit: Audit{
			Sync:               "window",
			SyncWindow:         Duration(10 * time.Millisecond),
			CheckpointInterval: Duration(time.Second),
			CheckpointEvery:    1024,
		},
		Vault:     Vault{ListPageDefault: 100, Retention: 10},
		MasterKey: MasterKey{Provider: masterkey.ProviderFile},
		Tools:     defaultTools(),
		Approvals: Approvals{Wait: Duration(30 * time.Minute)},
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("Defaults() =\n%+v\nwant\n%+v", d, want)
	}
	// An empty document, or one of comments only, is the base unchanged.
	for _, doc := range []string{"", "# nothing\n", "\n\n"} {
		got, err := Parse([]byte(doc), d)
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Errorf("Parse(%q) = %+v, %v", doc, got, err)
		}
	}
}

func TestParseFull(t *testing.T) {
	cfg, err := Parse([]byte(fullConfig), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Daemon: Daemon{
			StateDir:    "/var/lib/palyra",
			Listen:      "127.0.0.1:9000",
			ServerNames: []string{"palyra.home.arpa", "10.0.0.5"},
			LogLevel:    "debug",
			LogFormat:   "json",
		},
		Certs: Certs{ServerCertTTL: Duration(12 * time.Hour), ClientCertTTL: Duration(time.Hour)},
		Audit: Audit{
			Sync:               SyncAlways,
			SyncWindow:         Duration(5 * time.Millisecond),
			CheckpointInterval: Duration(30 * time.Second),
			CheckpointEvery:    10,
		},
		Vault:     Vault{ListPageDefault: 50, Retention: 10},
		MasterKey: MasterKey{Provider: masterkey.ProviderFile},
		Tools:     defaultTools(),
		Approvals: Approvals{Wait: Duration(30 * time.Minute)},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Parse =\n%+v\nwant\n%+v", cfg, want)
	}
}

// TestParseKeepsBase: keys absent from the file keep the base's values,
// tables may be partial, dotted keys and inline tables are the same tables,
// and the base is not modified.
func TestParseKeepsBase(t *testing.T) {
	base := Defaults()
	base.StateDir = "/base"
	base.ServerNames = []string{"base.example"}
	base.Audit.CheckpointEvery = 7
	for _, doc := range []string{
		"[audit]\nsync = \"always\"\n",
		"audit.sync = \"always\"\n",
		"audit = { sync = \"always\" }\n",
	} {
		cfg, err := Parse([]byte(doc), base)
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		want := base
		want.Audit.Sync = SyncAlways
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("%q: got\n%+v\nwant\n%+v", doc, cfg, want)
		}
	}
	cfg, err := Parse([]byte(`server_names = ["new.example", "other.example"]`), base)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.ServerNames, []string{"new.example", "other.example"}) || base.ServerNames[0] != "base.example" || len(base.ServerNames) != 1 {
		t.Errorf("server_names: parsed %q, base now %q", cfg.ServerNames, base.ServerNames)
	}
	// An empty list is the same as none.
	cfg, err = Parse([]byte(`server_names = []`), base)
	if err != nil || cfg.ServerNames != nil {
		t.Errorf("server_names = []: %#v, %v", cfg.ServerNames, err)
	}
}

// rejectCase is a document Parse must refuse, and a fragment its error
// must contain (the key's path, usually).
type rejectCase struct {
	name, doc, want string
}

func testRejects(t *testing.T, cases []rejectCase) {
	t.Helper()
	for _, tc := range cases {
		cfg, err := Parse([]byte(tc.doc), Defaults())
		if err == nil {
			t.Errorf("%s: accepted %q as %+v", tc.name, tc.doc, cfg)
			continue
		}
		if !strings.HasPrefix(err.Error(), "config: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q: error %q, want it to contain %q", tc.name, tc.doc, err, tc.want)
		}
		if !reflect.DeepEqual(cfg, Config{}) {
			t.Errorf("%s: returned %+v with the error", tc.name, cfg)
		}
	}
}

func TestParseRejectsTopLevel(t *testing.T) {
	testRejects(t, []rejectCase{
		{"unknown key", `lisen = "127.0.0.1:1"`, `unknown key "lisen"`},
		{"unknown key with a good one", "listen = \"127.0.0.1:1\"\nverbose = true", `unknown key "verbose"`},
		{"case variant", `Listen = "127.0.0.1:1"`, `unknown key "Listen" (keys are case-sensitive: did you mean "listen"?)`},
		{"upper case", `LOG_LEVEL = "debug"`, `unknown key "LOG_LEVEL"`},
		{"case variant ttl", `Server_Cert_TTL = "1h"`, `unknown key "Server_Cert_TTL"`},
		{"quoted unknown key", `"log level" = "debug"`, `unknown key "\"log level\""`},
		{"unknown table", "[server]\nlisten = \"127.0.0.1:1\"", `unknown key "server"`},
		{"case variant table", "[Audit]\nsync = \"always\"", `unknown key "Audit"`},
		{"duplicate key", "listen = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"", "line 2, column 1: key listen is already defined"},
		{"duplicate after dotted", "audit.sync = \"always\"\n[audit]\nsync_window = \"2ms\"", "config: "},
		{"wrong type string", `listen = 5`, "listen: want a string, got an integer"},
		{"wrong type list", `server_names = "a.example"`, "server_names: want an array, got a string"},
		{"wrong type list element", `server_names = ["a.example", 7]`, "server_names[1]: want a string, got an integer"},
		{"wrong type duration", `server_cert_ttl = 3600`, `server_cert_ttl: want a duration string such as "10ms", got an integer`},
		{"date for duration", `client_cert_ttl = 1979-05-27`, "client_cert_ttl: want a duration string"},
		{"bad duration", `server_cert_ttl = "forever"`, `server_cert_ttl: time: invalid duration "forever"`},
		{"table for string", "[listen]\nhost = \"x\"", "listen: want a string, got a table"},
		{"ttl too long", `client_cert_ttl = "2161h"`, "client_cert_ttl 2161h0m0s out of range"},
		{"ttl too short", `server_cert_ttl = "999ms"`, "server_cert_ttl 999ms out of range"},
		{"ttl negative", `server_cert_ttl = "-1h"`, "server_cert_ttl -1h0m0s out of range"},
		{"approval wait too long", "[approvals]\nwait = \"25h\"", "approvals.wait 25h0m0s out of range"},
		{"approval wait zero", "[approvals]\nwait = \"0s\"", "approvals.wait 0s out of range"},
		{"bad listen", `listen = "nope"`, `listen "nope"`},
		{"bad level", `log_level = "loud"`, `log_level "loud"`},
		{"bad format", `log_format = "xml"`, `log_format "xml"`},
		{"bad name", `server_names = ["a b"]`, `server_names: invalid name "a b"`},
		{"empty name", `server_names = [""]`, `server_names: invalid name ""`},
		{"long name", `server_names = ["` + strings.Repeat("a", MaxServerNameBytes+1) + `"]`, "server_names: invalid name"},
		{"syntax", `listen = `, "line 1"},
		{"not utf-8", "listen = \"\xff\"", "config: "},
	})
}

func TestParseRejectsAudit(t *testing.T) {
	testRejects(t, []rejectCase{
		{"unknown key", "[audit]\ntimeout = \"1s\"", `unknown key "audit.timeout"`},
		{"misspelt key", "[audit]\nsync_windw = \"1s\"", `unknown key "audit.sync_windw"`},
		{"case variant", "[audit]\nSync = \"always\"", `unknown key "audit.Sync" (keys are case-sensitive: did you mean "audit.sync"?)`},
		{"upper case", "[audit]\nCHECKPOINT_EVERY = 5", `unknown key "audit.CHECKPOINT_EVERY"`},
		{"case variant dotted", `audit.Sync_Window = "2ms"`, `unknown key "audit.Sync_Window"`},
		{"case variant inline", `audit = { SYNC = "always" }`, `unknown key "audit.SYNC"`},
		{"nested unknown table", "[audit.journal]\npath = \"x\"", `unknown key "audit.journal"`},
		{"duplicate key", "[audit]\nsync = \"always\"\nsync = \"window\"", "line 3"},
		{"duplicate table", "[audit]\nsync = \"always\"\n[audit]\nsync_window = \"2ms\"", "line 3"},
		{"not a table", `audit = "always"`, "audit: want a table, got a string"},
		{"array of tables", "[[audit]]\nsync = \"always\"", "audit: want a table, got an array"},
		{"sync wrong type", "[audit]\nsync = true", "audit.sync: want a string, got a boolean"},
		{"sync bad value", "[audit]\nsync = \"sometimes\"", `audit.sync "sometimes"`},
		{"sync case", "[audit]\nsync = \"Always\"", `audit.sync "Always"`},
		{"window wrong type", "[audit]\nsync_window = 10", "audit.sync_window: want a duration string"},
		{"window bad", "[audit]\nsync_window = \"10\"", `audit.sync_window: time: missing unit in duration "10"`},
		{"window too short", "[audit]\nsync_window = \"999us\"", "audit.sync_window 999µs out of range [1ms, 1s]"},
		{"window too long", "[audit]\nsync_window = \"1.001s\"", "audit.sync_window 1.001s out of range [1ms, 1s]"},
		{"window zero", "[audit]\nsync_window = \"0s\"", "audit.sync_window 0s out of range"},
		{"interval too short", "[audit]\ncheckpoint_interval = \"99ms\"", "audit.checkpoint_interval 99ms out of range [100ms, 1h0m0s]"},
		{"interval too long", "[audit]\ncheckpoint_interval = \"61m\"", "audit.checkpoint_interval 1h1m0s out of range"},
		{"every wrong type", "[audit]\ncheckpoint_every = \"1024\"", "audit.checkpoint_every: want an integer, got a string"},
		{"every float", "[audit]\ncheckpoint_every = 10.0", "audit.checkpoint_every: want an integer, got a float"},
		{"every zero", "[audit]\ncheckpoint_every = 0", "audit.checkpoint_every 0 out of range [1, 4096]"},
		{"every negative", "[audit]\ncheckpoint_every = -5", "audit.checkpoint_every -5 out of range"},
		{"every too large", "[audit]\ncheckpoint_every = 1_000_001", "audit.checkpoint_every 1000001 out of range"},
		{"every huge", "[audit]\ncheckpoint_every = 9223372036854775807", "audit.checkpoint_every 9223372036854775807 out of range"},
		{"every beyond int64", "[audit]\ncheckpoint_every = 9223372036854775808", "config: "},
	})
}

func TestParseRejectsVault(t *testing.T) {
	testRejects(t, []rejectCase{
		{"unknown key", "[vault]\nkey = 1", `unknown key "vault.key"`},
		{"misspelt key", "[vault]\nlist_page_defualt = 10", `unknown key "vault.list_page_defualt"`},
		{"case variant", "[vault]\nList_Page_Default = 10", `unknown key "vault.List_Page_Default" (keys are case-sensitive: did you mean "vault.list_page_default"?)`},
		{"case variant table", "[VAULT]\nlist_page_default = 10", `unknown key "VAULT" (keys are case-sensitive: did you mean "vault"?)`},
		{"duplicate key", "[vault]\nlist_page_default = 10\nlist_page_default = 20", "line 3"},
		{"wrong type", "[vault]\nlist_page_default = \"100\"", "vault.list_page_default: want an integer, got a string"},
		{"not a table", `vault = [1]`, "vault: want a table, got an array"},
		{"zero", "[vault]\nlist_page_default = 0", "vault.list_page_default 0 out of range [1, 1000]"},
		{"too large", "[vault]\nlist_page_default = 1001", "vault.list_page_default 1001 out of range [1, 1000]"},
		{"retention zero", "[vault]\nretention = 0", "vault.retention 0 out of range [1, 1000]"},
		{"retention too large", "[vault]\nretention = 1001", "vault.retention 1001 out of range [1, 1000]"},
	})
}

// TestParseAcceptsBounds: every bound is inclusive.
func TestParseAcceptsBounds(t *testing.T) {
	for _, doc := range []string{
		`server_cert_ttl = "1s"`,
		`client_cert_ttl = "2160h"`,
		"[audit]\nsync_window = \"1ms\"\ncheckpoint_interval = \"100ms\"\ncheckpoint_every = 1",
		"[audit]\nsync_window = \"1s\"\ncheckpoint_interval = \"1h\"\ncheckpoint_every = 4096",
		"[audit]\nsync = \"window\"",
		"[vault]\nlist_page_default = 1",
		"[vault]\nlist_page_default = 1000",
		"[vault]\nretention = 1\n",
		"[vault]\nretention = 1000\n",
		"[audit]\n[vault]\n",
	} {
		if _, err := Parse([]byte(doc), Defaults()); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

// TestValidateReportsEveryKey: Validate names each offending key, not only
// the first.
func TestValidateReportsEveryKey(t *testing.T) {
	c := Defaults()
	c.Listen = "nope"
	c.ClientCertTTL = 0
	c.Audit.Sync = ""
	c.Audit.CheckpointEvery = 0
	c.Vault.ListPageDefault = -1
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, key := range []string{"listen", "client_cert_ttl", "audit.sync", "audit.checkpoint_every", "vault.list_page_default"} {
		if !strings.Contains(err.Error(), "config: "+key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestParseRejectsOversize(t *testing.T) {
	if _, err := Parse([]byte(strings.Repeat("#", MaxConfigBytes+1)), Defaults()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized config: %v", err)
	}
	if _, err := Parse([]byte(strings.Repeat("#", MaxConfigBytes)), Defaults()); err != nil {
		t.Errorf("config of exactly MaxConfigBytes: %v", err)
	}
}

// TestMarshalRoundTrip: a Config written with toml.Marshal parses back to
// itself, keeps the documented top-level keys at the top level, and spells
// every key as the strict check expects.
func TestMarshalRoundTrip(t *testing.T) {
	full, err := Parse([]byte(fullConfig), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{Defaults(), full} {
		out, err := toml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out, Config{})
		if err != nil {
			t.Fatalf("%s\n%v", out, err)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip of\n%s\ngave %+v, want %+v", out, back, cfg)
		}
		for _, top := range []string{"\nlisten = ", "\nserver_cert_ttl = ", "\nclient_cert_ttl = ", "\n[audit]\n", "\n[vault]\n"} {
			if !bytes.Contains(append([]byte("\n"), out...), []byte(top)) {
				t.Errorf("marshalled config lacks %q:\n%s", top, out)
			}
		}
	}
}

func TestVaultLimitsMatchVault(t *testing.T) {
	if DefaultListPage != vault.DefaultListLimit || MaxListPage != vault.MaxListLimit {
		t.Errorf("config page sizes (default %d, max %d) differ from the vault's (%d, %d)",
			DefaultListPage, MaxListPage, vault.DefaultListLimit, vault.MaxListLimit)
	}
}

func TestDuration(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 1500 * time.Millisecond, 90 * 24 * time.Hour, -time.Minute} {
		text, err := Duration(d).MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || time.Duration(back) != d {
			t.Errorf("%v: %q parsed as %v, %v", d, text, time.Duration(back), err)
		}
	}
	var d Duration = 5
	if err := d.UnmarshalText([]byte("5 minutes")); err == nil || d != 5 {
		t.Errorf("bad duration: %v, value now %v", err, d)
	}
}

func writeFile(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "palyrad.toml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func clearEnv(t *testing.T) {
	t.Helper()
	for _, env := range []string{EnvStateDir, EnvListen, EnvLogLevel} {
		t.Setenv(env, "") // restored after the test
		os.Unsetenv(env)
	}
}

func TestLoad(t *testing.T) {
	clearEnv(t)
	cfg, err := Load("")
	if err != nil || !reflect.DeepEqual(cfg, Defaults()) {
		t.Fatalf("Load(\"\") = %+v, %v", cfg, err)
	}
	path := writeFile(t, fullConfig)
	cfg, err = Load(path)
	if err != nil || cfg.Listen != "127.0.0.1:9000" || cfg.Audit.Sync != SyncAlways {
		t.Fatalf("Load = %+v, %v", cfg, err)
	}

	bad := writeFile(t, "[audit]\nSync = \"always\"\n")
	if _, err := Load(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": config: unknown key \"audit.Sync\"") {
		t.Errorf("Load(bad) = %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.toml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
	big := writeFile(t, strings.Repeat("#", MaxConfigBytes+100))
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(oversized) = %v", err)
	}
}

// TestLoadEnv: the environment overrides the file, and a bad value from the
// environment is reported as such.
func TestLoadEnv(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, fullConfig)
	t.Setenv(EnvStateDir, "/from/env")
	t.Setenv(EnvListen, "[::1]:8000")
	t.Setenv(EnvLogLevel, "warn")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/from/env" || cfg.Listen != "[::1]:8000" || cfg.LogLevel != "warn" || cfg.LogFormat != "json" {
		t.Errorf("Load with env = %+v", cfg)
	}
	t.Setenv(EnvListen, "")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "config: listen") || !strings.Contains(err.Error(), EnvListen) {
		t.Errorf("Load with an empty %s = %v", EnvListen, err)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.1.2.3:1": true, "[::1]:1": true, "localhost:1": true,
		"0.0.0.0:1": false, ":1": false, "[::]:1": false, "192.168.1.2:1": false, "example.com:1": false, "nope": false,
	} {
		c := Defaults()
		c.Listen = addr
		if got := c.LoopbackOnly(); got != want {
			t.Errorf("%s: LoopbackOnly = %v", addr, got)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	c := Defaults()
	c.LogFormat = "json"
	c.LogLevel = "warn"
	log := c.NewLogger(&buf)
	log.Info("hidden")
	log.Warn("shown", "k", "v")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.HasPrefix(out, "{") || !strings.Contains(out, `"msg":"shown"`) {
		t.Errorf("json logger wrote %q", out)
	}
	buf.Reset()
	c = Defaults()
	c.NewLogger(&buf).Info("hello")
	if out := buf.String(); !strings.Contains(out, "level=INFO msg=hello") {
		t.Errorf("text logger wrote %q", out)
	}
}

func TestToolsRejects(t *testing.T) {
	for _, doc := range []string{
		"[tools]\nworkspace = \"rel\"\n",
		"[tools]\ntrusted_dirs = []\n",
		"[tools]\ntrusted_dirs = [\"usr/bin\"]\n",
		"[tools]\nsystem_dirs = [\"/usr/\"]\n",
		"[tools]\nwall_time = \"2h\"\n",
		"[tools]\ncpu_time = \"10ms\"\n",
		"[tools]\nmemory_bytes = 1\n",
		"[tools]\noutput_bytes = 4194304\n",
		"[tools]\nWall_time = \"1s\"\n",
		"[tools]\nshell = true\n",
	} {
		if _, err := Parse([]byte(doc), Defaults()); err == nil || !strings.Contains(err.Error(), "tools.") {
			t.Errorf("Parse(%q) = %v, want an error naming tools.KEY", doc, err)
		}
	}
}

func TestToolsFetchAllowPrefixes(t *testing.T) {
	cfg, err := Parse([]byte("[tools]\nfetch_allow_prefixes = [\"127.0.0.1/32\"]\n"), Defaults())
	if err != nil || len(cfg.Tools.FetchAllowPrefixes) != 1 {
		t.Fatalf("%v %+v", err, cfg.Tools)
	}
	if _, err := Parse([]byte("[tools]\nfetch_allow_prefixes = [\"localhost\"]\n"), Defaults()); err == nil || !strings.Contains(err.Error(), "tools.fetch_allow_prefixes[0]") {
		t.Fatalf("got %v", err)
	}
}
