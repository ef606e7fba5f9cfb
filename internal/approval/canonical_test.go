package approval

import (
	"encoding/hex"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/cedar-policy/cedar-go/types"
)

func TestCanonicalRequest(t *testing.T) {
	base := CanonicalRequest{Principal: `Device::"d"`, Action: "tool.execute", Resource: `Tool::"exec"`, Context: map[string]types.Value{
		"transport": types.String("tcp"),
		"argv":      types.NewSet(types.String("ls"), types.String("-l")),
		"limits":    types.NewRecord(types.RecordMap{"cpu": types.Long(2), "net": types.Boolean(false)}),
	}}
	h0, err := base.Hash()
	if err != nil {
		t.Fatal(err)
	}
	// Map order, set order and the grant attribute do not change the hash.
	same := base
	same.Context = map[string]types.Value{
		"limits":       types.NewRecord(types.RecordMap{"net": types.Boolean(false), "cpu": types.Long(2)}),
		"argv":         types.NewSet(types.String("-l"), types.String("ls")),
		"transport":    types.String("tcp"),
		GrantAttribute: types.String("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
	}
	if h, _ := same.Hash(); h != h0 {
		t.Fatal("equal requests hash differently")
	}
	// Every difference changes it, including moving bytes between fields.
	for name, r := range map[string]CanonicalRequest{
		"principal": {Principal: `Device::"e"`, Action: base.Action, Resource: base.Resource, Context: base.Context},
		"shifted":   {Principal: `Device::"d"tool.execute`, Action: "", Resource: base.Resource, Context: base.Context},
		"context":   {Principal: base.Principal, Action: base.Action, Resource: base.Resource, Context: map[string]types.Value{"transport": types.String("quic")}},
		"type":      {Principal: base.Principal, Action: base.Action, Resource: base.Resource, Context: map[string]types.Value{"transport": types.Long(1)}},
		"none":      {Principal: base.Principal, Action: base.Action, Resource: base.Resource},
		// What the context does not say (an fs.write's content, a
		// version) is in the digest; what the approver saw, in the summary.
		"digest":  {Principal: base.Principal, Action: base.Action, Resource: base.Resource, Context: base.Context, Digest: []byte{1}},
		"summary": {Principal: base.Principal, Action: base.Action, Resource: base.Resource, Context: base.Context, Summary: "ls -l"},
	} {
		if h, _ := r.Hash(); h == h0 {
			t.Errorf("%s: same hash", name)
		}
	}
	// The encoding is pinned: it is documented in docs/approvals.md.
	b, _ := CanonicalRequest{Principal: "P", Action: "a", Resource: "R", Context: map[string]types.Value{"n": types.Long(-1)}, Digest: []byte("d"), Summary: "s"}.Encode()
	want := "0000001a" + hex.EncodeToString([]byte(canonicalDomain)) + "0000000150" + "0000000161" + "0000000152" + "00000001" + "000000016e" + "6c" + "ffffffffffffffff" + "00000001" + "64" + "00000001" + "73"
	if hex.EncodeToString(b) != want {
		t.Fatalf("encoding\n got %x\nwant %s", b, want)
	}
	if _, err := (CanonicalRequest{Context: map[string]types.Value{"d": types.Decimal{}}}).Hash(); err == nil {
		t.Fatal("an unsupported type was encoded")
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"once", "session", "for=10m", "for 1h30m", "for=25h", "for=-1s", "forever"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		if !sc.valid() || sc.lifetime() <= 0 || sc.lifetime() > MaxGrant {
			t.Fatalf("%q parsed to an invalid or unbounded scope %+v", s, sc)
		}
		if again, err := ParseScope(sc.String()); err != nil || again != sc {
			t.Fatalf("%q: round trip %+v %v", s, again, err)
		}
	})
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"ls -l":             "ls -l",
		"rm -rf /\n\x1b[2K": `rm -rf /\n\x1b[2K`,
		"a\u202eb":          `a\u202eb`,
		"bad \xff":          `bad \xff`,
		`back\slash`:        `back\\slash`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	// Nothing is cut: the end of a long text is what an approver might
	// need to see (the caller refuses past MaxSummary instead).
	in := strings.Repeat("é", 2000) + " --checkpoint-action=exec=rm"
	if long := Printable(in); long != in {
		t.Fatalf("long: %d bytes of %d, ends %q", len(long), len(in), long[len(long)-20:])
	}
}

func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"ls", "a\nb", "\xff\xfe", "\u202e", strings.Repeat("x\x00", 700)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Printable(s)
		if len(p) < len(s) || !utf8.ValidString(p) {
			t.Fatalf("%q: %q", s, p)
		}
		for _, r := range p {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("%q: control %U left", s, r)
			}
		}
	})
}
