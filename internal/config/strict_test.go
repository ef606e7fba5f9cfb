package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// The strict check is generic: these types exercise shapes Config does not
// have yet (tables in tables, arrays of tables, maps, pointers, embedded
// structs, unsigned and fixed-size fields).
type (
	strictInner struct {
		Timeout Duration `toml:"timeout"`
		Port    uint16   `toml:"port"`
	}
	strictServer struct {
		Name  string       `toml:"name"`
		Inner strictInner  `toml:"inner"`
		Peers []strictPeer `toml:"peers"`
	}
	strictPeer struct {
		Addr string `toml:"addr"`
	}
	strictEmbedded struct {
		Shared string `toml:"shared"`
	}
	strictDoc struct {
		strictEmbedded
		Servers  []strictServer         `toml:"servers"`
		Limits   map[string]strictInner `toml:"limits"`
		Labels   map[string]string      `toml:"labels"`
		Ptr      *strictInner           `toml:"ptr"`
		Pair     [2]int                 `toml:"pair"`
		Ratio    float64                `toml:"ratio"`
		Flag     bool                   `toml:"flag,omitempty"`
		Skipped  string                 `toml:"-"`
		Untagged string
	}
)

func checkDoc(doc string) error {
	var raw map[string]any
	if err := toml.Unmarshal([]byte(doc), &raw); err != nil {
		return decodeError(err)
	}
	return checkTable(raw, reflect.TypeFor[strictDoc](), "")
}

func TestStrictGeneric(t *testing.T) {
	good := `
shared = "s"
Untagged = "u"
pair = [1, 2]
ratio = 0.5
flag = true
labels = { "any key" = "v", Other = "w" }
ptr = { timeout = "1s" }

[limits.Foo]
port = 80

[[servers]]
name = "a"
inner.timeout = "2s"

[[servers]]
name = "b"
[servers.inner]
port = 65535
[[servers.peers]]
addr = "x"
[[servers.peers]]
addr = "y"
`
	if err := checkDoc(good); err != nil {
		t.Fatal(err)
	}
	var d strictDoc
	if err := toml.Unmarshal([]byte(good), &d); err != nil || len(d.Servers) != 2 || len(d.Servers[1].Peers) != 2 || d.Shared != "s" {
		t.Fatalf("go-toml disagrees with the strict check's model: %+v, %v", d, err)
	}
	for _, tc := range []struct{ doc, want string }{
		{`Shared = "s"`, `unknown key "Shared" (keys are case-sensitive: did you mean "shared"?)`},
		{`untagged = "u"`, `unknown key "untagged" (keys are case-sensitive: did you mean "Untagged"?)`},
		{`Skipped = "x"`, `unknown key "Skipped"`},
		{`strictEmbedded = { shared = "s" }`, `unknown key "strictEmbedded"`},
		{"[[servers]]\nname = \"a\"\n[[servers]]\nNAME = \"b\"", `unknown key "servers[1].NAME" (keys are case-sensitive: did you mean "servers[1].name"?)`},
		{"[[servers]]\n[servers.inner]\nTimeout = \"1s\"", `unknown key "servers[0].inner.Timeout"`},
		{"[[servers]]\n[[servers.peers]]\naddr = \"x\"\n[[servers.peers]]\nport = 1", `unknown key "servers[0].peers[1].port"`},
		{"[[servers]]\n[[servers.peers]]\naddr = 1", "servers[0].peers[0].addr: want a string, got an integer"},
		{"servers = [1]", "servers[0]: want a table, got an integer"},
		{"servers = { name = \"a\" }", "servers: want an array, got a table"},
		{"[limits.\"a.b\"]\nTIMEOUT = \"1s\"", `unknown key "limits.\"a.b\".TIMEOUT"`},
		{"[limits.x]\nport = -1", "limits.x.port: -1 does not fit in uint16"},
		{"[limits.x]\nport = 65536", "limits.x.port: 65536 does not fit in uint16"},
		{"labels = { a = 1 }", "labels.a: want a string, got an integer"},
		{"labels = 1", "labels: want a table, got an integer"},
		{"ptr = { timeout = \"soon\" }", `ptr.timeout: time: invalid duration "soon"`},
		{"ptr = { timeout = 5 }", `ptr.timeout: want a duration string such as "10ms", got an integer`},
		{"pair = [1, 2, 3]", "pair: 3 elements, at most 2"},
		{"ratio = 1", "ratio: want a float, got an integer"},
		{"flag = \"yes\"", "flag: want a boolean, got a string"},
		{"\"x\\ny\" = 1", `unknown key "\"x\\ny\""`},
	} {
		err := checkDoc(tc.doc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}

// TestStrictReportsFirstKeyInOrder: with several problems, the error is
// stable (keys are checked in sorted order).
func TestStrictReportsFirstKeyInOrder(t *testing.T) {
	for range 20 {
		err := checkDoc("zz = 1\naa = 2\nmm = 3")
		if err == nil || err.Error() != `config: unknown key "aa"` {
			t.Fatalf("got %v", err)
		}
	}
}
