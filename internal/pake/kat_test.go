package pake

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/gtank/ristretto255"
)

// Known-answer tests against the vectors of draft-irtf-cfrg-cpace-21 (see
// testdata/README.md for their source).

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("vector %q: %v", s, err)
	}
	return b
}

func TestPrependLenKAT(t *testing.T) {
	var v map[string]string
	readJSON(t, "cpace-prepend-len.json", &v)
	r127, r128 := make([]byte, 127), make([]byte, 128)
	for i := range r128 {
		r128[i] = byte(i)
	}
	copy(r127, r128)
	for in, key := range map[string]string{"": "prepend_len(b'')", "1234": "prepend_len(b'1234')", string(r127): "prepend_len(bytes(range(127)))", string(r128): "prepend_len(bytes(range(128)))"} {
		want, ok := v[key]
		if !ok {
			t.Fatalf("vector %s missing", key)
		}
		if got := prependLen(nil, []byte(in)); !bytes.Equal(got, unhex(t, want)) {
			t.Errorf("%s = %x, want %s", key, got, want)
		}
	}
}

func TestLVCatKAT(t *testing.T) {
	var v map[string]string
	readJSON(t, "cpace-lv-cat.json", &v)
	got := lvCat([]byte("1234"), []byte("5"), []byte(""), []byte("678"))
	if want := unhex(t, v["lv_cat(b'1234',b'5',b'',b'678')"]); !bytes.Equal(got, want) {
		t.Errorf("lv_cat = %x, want %x", got, want)
	}
}

func TestTranscriptIRKAT(t *testing.T) {
	var v map[string]string
	readJSON(t, "cpace-transcript-ir.json", &v)
	for _, tc := range []struct{ ya, yb, key string }{
		{"123", "234", "transcript_ir(b'123',b'PartyA',b'234',b'PartyB')"},
		{"3456", "2345", "transcript_ir(b'3456',b'PartyA',b'2345',b'PartyB')"},
	} {
		got := transcriptIR([]byte(tc.ya), []byte("PartyA"), []byte(tc.yb), []byte("PartyB"))
		if want := unhex(t, v[tc.key]); len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("%s = %x, want %x", tc.key, got, want)
		}
	}
}

func TestGeneratorKAT(t *testing.T) {
	var v map[string]any
	readJSON(t, "cpace-ristretto255-generator.json", &v)
	str := func(k string) []byte {
		s, ok := v[k].(string)
		if !ok {
			t.Fatalf("vector %s missing", k)
		}
		return unhex(t, s)
	}
	if v["H"] != "SHA-512" || v["H.s_in_bytes"] != float64(hashBlockSize) || string(str("DSI")) != groupDSI {
		t.Fatalf("vector is for another suite: %v %v %s", v["H"], v["H.s_in_bytes"], str("DSI"))
	}
	prs, ci, sid := str("PRS"), str("CI"), str("sid")
	gs := generatorString([]byte(groupDSI), prs, ci, sid, hashBlockSize)
	if want := str("generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)"); !bytes.Equal(gs, want) {
		t.Fatalf("generator_string = %x\nwant %x", gs, want)
	}
	if h := sha512.Sum512(gs); !bytes.Equal(h[:], str("hash result")) {
		t.Fatalf("hash = %x", h)
	}
	if g := calculateGenerator(prs, ci, sid).Encode(nil); !bytes.Equal(g, str("encoded generator g")) {
		t.Fatalf("g = %x", g)
	}
}

type cpaceVector struct {
	PRS, CI, Sid, G, Ya, ADa, YaShare, Yb, ADb, YbShare, K, ISKIR, SidOutputIR string
}

func (c *cpaceVector) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*c = cpaceVector{PRS: m["PRS"], CI: m["CI"], Sid: m["sid"], G: m["g"], Ya: m["ya"], ADa: m["ADa"], YaShare: m["Ya"],
		Yb: m["yb"], ADb: m["ADb"], YbShare: m["Yb"], K: m["K"], ISKIR: m["ISK_IR"], SidOutputIR: m["sid_output_ir"]}
	return nil
}

func TestExchangeKAT(t *testing.T) {
	var all struct {
		V cpaceVector `json:"G_Coffee25519"`
	}
	readJSON(t, "cpace-testvectors.json", &all)
	v := all.V
	if v.ISKIR == "" || v.K == "" {
		t.Fatal("G_Coffee25519 vector missing")
	}
	prs, ci, sid := unhex(t, v.PRS), unhex(t, v.CI), unhex(t, v.Sid)
	adA, adB := unhex(t, v.ADa), unhex(t, v.ADb)

	if g := calculateGenerator(prs, ci, sid).Encode(nil); !bytes.Equal(g, unhex(t, v.G)) {
		t.Fatalf("g = %x", g)
	}
	// sampleScalar clears the top 4 bits; the vector scalars have them clear,
	// so feeding their bytes as randomness yields exactly ya and yb.
	a, shareA, err := start(Initiator, prs, ci, sid, adA, adB, bytes.NewReader(unhex(t, v.Ya)))
	if err != nil {
		t.Fatal(err)
	}
	b, shareB, err := start(Responder, prs, ci, sid, adA, adB, bytes.NewReader(unhex(t, v.Yb)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shareA, unhex(t, v.YaShare)) {
		t.Fatalf("Ya = %x, want %s", shareA, v.YaShare)
	}
	if !bytes.Equal(shareB, unhex(t, v.YbShare)) {
		t.Fatalf("Yb = %x, want %s", shareB, v.YbShare)
	}
	for _, tc := range []struct {
		y     []byte
		other []byte
	}{{unhex(t, v.Ya), shareB}, {unhex(t, v.Yb), shareA}} {
		s := ristretto255.NewScalar()
		if err := s.Decode(tc.y); err != nil {
			t.Fatal(err)
		}
		if k := scalarMultVfy(s, tc.other); !bytes.Equal(k, unhex(t, v.K)) {
			t.Fatalf("K = %x, want %s", k, v.K)
		}
	}
	ra, err := a.Finish(shareB)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Finish(shareA)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, v.ISKIR)
	if !bytes.Equal(ra.isk, want) || !bytes.Equal(rb.isk, want) {
		t.Fatalf("ISK_IR = %x / %x, want %x", ra.isk, rb.isk, want)
	}
	sidOut := sha512.Sum512(append([]byte("CPaceSidOutput"), transcriptIR(shareA, adA, shareB, adB)...))
	if !bytes.Equal(sidOut[:], unhex(t, v.SidOutputIR)) {
		t.Fatalf("sid_output_ir = %x", sidOut)
	}
	// Beyond the vectors: the confirmations cross-verify.
	if err := ra.Verify(rb.Confirmation()); err != nil {
		t.Fatal(err)
	}
	if err := rb.Verify(ra.Confirmation()); err != nil {
		t.Fatal(err)
	}
}

func TestScalarMultVfyKAT(t *testing.T) {
	var all struct {
		P struct {
			Valid map[string]string
			Y1    string `json:"Invalid Y1"`
			Y2    string `json:"Invalid Y2"`
		} `json:"G_Coffee25519_points"`
	}
	readJSON(t, "cpace-testvectors.json", &all)
	p := all.P
	s := ristretto255.NewScalar()
	if err := s.Decode(unhex(t, p.Valid["s"])); err != nil {
		t.Fatal(err)
	}
	x := ristretto255.NewElement()
	if err := x.Decode(unhex(t, p.Valid["X"])); err != nil {
		t.Fatal(err)
	}
	if got := ristretto255.NewElement().ScalarMult(s, x).Encode(nil); !bytes.Equal(got, unhex(t, p.Valid["G.scalar_mult(s,decode(X))"])) {
		t.Errorf("scalar_mult = %x", got)
	}
	if got := scalarMultVfy(s, unhex(t, p.Valid["X"])); !bytes.Equal(got, unhex(t, p.Valid["G.scalar_mult_vfy(s,X)"])) {
		t.Errorf("scalar_mult_vfy = %x", got)
	}
	for _, bad := range []string{p.Y1, p.Y2} {
		if bad == "" {
			t.Fatal("invalid point vector missing")
		}
		if got := scalarMultVfy(s, unhex(t, bad)); !isIdentity(got) {
			t.Errorf("scalar_mult_vfy(s, %s) = %x, want G.I", bad, got)
		}
		// In a run, the party must abort on these shares.
		p, _, err := Start(Initiator, Config{Password: []byte("pw")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Finish(unhex(t, bad)); err == nil {
			t.Errorf("Finish accepted invalid share %s", bad)
		}
	}
}
