package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/palyra/palyra/internal/peer"
)

// The worked examples of docs/audit-format.md. TestVectors recomputes them
// and checks that the document shows exactly these bytes.
var (
	// Format 2: records 1-3 of a new journal.
	vectorEntries = []Entry{{
		Time:        time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		Principal:   `Device::"01JGZ5Q3T8M9X2V7K4N6P0R1S3"`,
		Action:      "vault.write",
		Resource:    `Secret::"global/openai_api_key"`,
		Decision:    DecisionAllow,
		Policies:    []string{"admin-full-access"},
		Obligations: []string{"approval=required"},
		Transport:   peer.TCP,
		Reason:      "permitted",
	}, {
		Time:        time.Date(2026, 1, 2, 3, 4, 5, 200000000, time.UTC),
		Kind:        KindOutcome,
		DecisionSeq: 1,
		Outcome:     OutcomeOK,
		Version:     7,
	}, {
		Time:      time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Principal: "anonymous",
		Action:    "vault.read",
		Resource:  `Secret::"global/openai_api_key"`,
		Decision:  DecisionDeny,
		Transport: peer.QUIC,
		Reason:    "no permit",
	}}
	vectorHashes = []string{
		"54b209bd7836417ed8f5e551785a95f888bcfb74a55f2561f704df73b72648ae",
		"8b5be7a031f3b932e5cc1434f1ff5799db2e0da375fbd8aa43436b7621c8e0f5",
		"d882ed54d151a2bf4ed0a1bc317e71f7610b9c2637299684934eb71c3577c01e",
	}
	vectorNote = "palyra/example\n3\n2ILtVNFRor9O0KG8MX5x92ELnCY3KZaEk063HDV3wB4=\n\n" +
		"— palyra/example 6NdwubPrv3xfcabOUrWIbYi72aCx/J5l/v4ipDrA+hl44bGTloBe3qTtpH9/GbV6V1lDYBzkAwjCd827QLj+UfEMrgw=\n"

	// Format 1: records 1-2 of a journal written before format 2.
	vectorV1 = []v1Fields{{
		timeText:  "2026-01-02T03:04:05.123456789Z",
		principal: `User::"admin"`,
		action:    "vault.read",
		resource:  `Secret::"global/openai_api_key"`,
		decision:  "allow",
		policies:  []string{"baseline-admin", "user-vault-read"},
		transport: "unix",
		reason:    "ok",
	}, {
		timeText:  "2026-01-02T03:04:06.000000000Z",
		principal: "anonymous",
		action:    "vault.read",
		resource:  `Secret::"global/openai_api_key"`,
		decision:  "deny",
		transport: "tcp",
		reason:    "no_client_certificate",
	}}
	vectorV1Hashes = []string{
		"96049bc0c11a0cda26673eaa63786745ec81e0c493304b5b4fd4ad33cf04084b",
		"8af34e20fe1b912f708a39ad879adab3f3e29f3d909047ca444a46a702a0fb10",
	}
	vectorV1Note = "palyra/example\n2\nivNOIP4bkS9wijmth5ras/Pinz2QkEfKREpGpwKg+xA=\n\n" +
		"— palyra/example 6NdwueZ/Q7x+8XndTWVHufnuGmcbbO+PGfIpdiHz0EhdNc8iiFjd+JMb2UlrJe0336IHXTgF4YVNNh/kDOtxfyrHGQ8=\n"

	vectorOrigin  = "palyra/example"
	vectorKeySeed = sha256.Sum256([]byte("palyra audit example key"))
)

// annotator renders an encoding one field per line, a comment line then
// the field's bytes in hex, as docs/audit-format.md shows it.
type annotator struct{ strings.Builder }

func (a *annotator) field(comment string, data []byte) {
	fmt.Fprintf(a, "# %s\n%s\n", comment, hex.EncodeToString(data))
}

func (a *annotator) str(name, s string) {
	a.field(fmt.Sprintf("%s %q (%d bytes)", name, s, len(s)), appendString(nil, s))
}

func (a *annotator) list(name string, l []string) {
	a.field(fmt.Sprintf("%s count %d", name, len(l)), binary.BigEndian.AppendUint32(nil, uint32(len(l))))
	for i, p := range l {
		a.str(name+" "+strconv.Itoa(i), p)
	}
}

func (a *annotator) u64(comment string, v uint64) {
	a.field(comment, binary.BigEndian.AppendUint64(nil, v))
}

func annotateV1(seq int64, f *v1Fields, prev [32]byte) string {
	var a annotator
	a.str("label", recordLabel)
	a.field("format version 1", binary.BigEndian.AppendUint32(nil, formatV1))
	a.u64(fmt.Sprintf("seq %d", seq), uint64(seq))
	a.str("time", f.timeText)
	a.str("principal", f.principal)
	a.str("action", f.action)
	a.str("resource", f.resource)
	a.str("decision", f.decision)
	a.list("policy", f.policies)
	a.str("transport", f.transport)
	a.str("reason", f.reason)
	a.field("prev_hash", prev[:])
	return a.String()
}

func annotateV2(seq int64, e *Entry, prev [32]byte) string {
	var a annotator
	a.str("label", recordLabel)
	a.field("format version 2", binary.BigEndian.AppendUint32(nil, formatV2))
	a.u64(fmt.Sprintf("seq %d", seq), uint64(seq))
	a.u64(fmt.Sprintf("time %d (%s)", e.Time.UnixNano(), e.Time.UTC().Format(time.RFC3339Nano)), uint64(e.Time.UnixNano()))
	a.field(fmt.Sprintf("kind %d (%s)", e.Kind, e.Kind), []byte{byte(e.Kind)})
	a.str("principal", e.Principal)
	a.str("action", e.Action)
	a.str("resource", e.Resource)
	a.str("decision", e.Decision)
	a.list("policy", e.Policies)
	a.list("obligation", e.Obligations)
	a.str("transport", e.Transport.String())
	a.str("reason", e.Reason)
	a.u64(fmt.Sprintf("decision seq %d", e.DecisionSeq), uint64(e.DecisionSeq))
	a.str("outcome", e.Outcome)
	a.u64(fmt.Sprintf("version %d", e.Version), uint64(e.Version))
	a.field("prev_hash", prev[:])
	return a.String()
}

// checkAnnotation fails unless ann is enc, field by field, and the
// document shows ann and the hash.
func checkAnnotation(t *testing.T, doc []byte, name string, enc []byte, ann, wantHash string) [32]byte {
	t.Helper()
	var joined strings.Builder
	for _, line := range strings.Split(ann, "\n") {
		if !strings.HasPrefix(line, "#") {
			joined.WriteString(line)
		}
	}
	if joined.String() != hex.EncodeToString(enc) {
		t.Fatalf("%s: annotated encoding differs from the encoding", name)
	}
	h := sha256.Sum256(enc)
	if got := hex.EncodeToString(h[:]); got != wantHash {
		t.Errorf("%s hash = %s, want %s", name, got, wantHash)
	}
	if !bytes.Contains(doc, []byte(ann)) {
		t.Errorf("docs/audit-format.md does not show %s's encoding (%d bytes); want:\n%s", name, len(enc), ann)
	}
	if !bytes.Contains(doc, []byte(wantHash)) {
		t.Errorf("docs/audit-format.md does not show %s's hash %s", name, wantHash)
	}
	return h
}

func checkNote(t *testing.T, doc []byte, count int64, head [32]byte, want string) {
	t.Helper()
	k := ed25519.NewKeyFromSeed(vectorKeySeed[:])
	s, err := newSigner(k, vectorOrigin)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.sign(Checkpoint{Origin: vectorOrigin, Count: count, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != want {
		t.Errorf("checkpoint note =\n%s\nwant\n%s", msg, want)
	}
	if !bytes.Contains(doc, msg) {
		t.Errorf("docs/audit-format.md does not show the checkpoint note:\n%s", msg)
	}
	if _, err := ParseCheckpoint(msg, k.Public().(ed25519.PublicKey), vectorOrigin); err != nil {
		t.Fatal(err)
	}
}

func TestVectors(t *testing.T) {
	doc, err := os.ReadFile("../../docs/audit-format.md")
	if err != nil {
		t.Fatal(err)
	}
	var prev [32]byte
	for i, e := range vectorEntries {
		seq := int64(i + 1)
		if err := e.validate(); err != nil {
			t.Fatalf("format 2 record %d: %v", seq, err)
		}
		prev = checkAnnotation(t, doc, fmt.Sprintf("format 2 record %d", seq),
			appendV2Encoding(nil, seq, &e, &prev), annotateV2(seq, &e, prev), vectorHashes[i])
	}
	checkNote(t, doc, int64(len(vectorEntries)), prev, vectorNote)

	prev = [32]byte{}
	for i, f := range vectorV1 {
		seq := int64(i + 1)
		prev = checkAnnotation(t, doc, fmt.Sprintf("format 1 record %d", seq),
			appendV1Encoding(nil, seq, &f, &prev), annotateV1(seq, &f, prev), vectorV1Hashes[i])
	}
	checkNote(t, doc, int64(len(vectorV1)), prev, vectorV1Note)

	k := ed25519.NewKeyFromSeed(vectorKeySeed[:])
	vkey, err := note.NewEd25519VerifierKey(vectorOrigin, k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{vkey, hex.EncodeToString(k.Public().(ed25519.PublicKey)), hex.EncodeToString(vectorKeySeed[:])} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("docs/audit-format.md does not show %s", want)
		}
	}
}

// TestJournalMatchesVectors appends the format 2 example entries to a new
// journal and checks it stores the documented hashes and checkpoint.
func TestJournalMatchesVectors(t *testing.T) {
	path := t.TempDir() + "/audit.db"
	k := ed25519.NewKeyFromSeed(vectorKeySeed[:])
	j, err := Open(t.Context(), path, k, vectorOrigin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i, e := range vectorEntries {
		r, err := j.Append(t.Context(), e)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(r.Hash[:]); got != vectorHashes[i] {
			t.Fatalf("record %d hash = %s, want %s", r.Seq, got, vectorHashes[i])
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, msg, ok := j.Latest(); !ok || string(msg) != vectorNote {
		t.Fatalf("latest checkpoint after Close = %q, want the documented note", msg)
	}
}

// decoder reads an encoding back, to show that it is unambiguous:
// decode(encode(x)) == x for every x.
type decoder struct {
	b  []byte
	ok bool
}

func (d *decoder) take(n int) []byte {
	if !d.ok || len(d.b) < n {
		d.ok = false
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) str() string {
	n := d.u32()
	if uint64(n) > uint64(len(d.b)) {
		d.ok = false
		return ""
	}
	return string(d.take(int(n)))
}

func (d *decoder) list() []string {
	n := d.u32()
	if uint64(n) > uint64(len(d.b))/4 {
		d.ok = false
		return nil
	}
	var l []string
	for range n {
		l = append(l, d.str())
	}
	return l
}

func (d *decoder) header(version uint32) int64 {
	if d.str() != recordLabel || d.u32() != version {
		d.ok = false
	}
	return int64(d.u64())
}

func (d *decoder) prev() (p [32]byte) {
	if len(d.b) != len(p) {
		d.ok = false
	}
	copy(p[:], d.b)
	return p
}

func decodeV1(b []byte) (seq int64, f v1Fields, prev [32]byte, err error) {
	d := decoder{b: b, ok: true}
	seq = d.header(formatV1)
	f.timeText, f.principal, f.action, f.resource, f.decision = d.str(), d.str(), d.str(), d.str(), d.str()
	f.policies = d.list()
	f.transport, f.reason = d.str(), d.str()
	prev = d.prev()
	if !d.ok {
		return 0, f, prev, fmt.Errorf("decode: malformed")
	}
	return seq, f, prev, nil
}

func decodeV2(b []byte) (seq int64, e Entry, prev [32]byte, err error) {
	d := decoder{b: b, ok: true}
	seq = d.header(formatV2)
	e.Time = time.Unix(0, int64(d.u64())).UTC()
	if k := d.take(1); k != nil {
		e.Kind = Kind(k[0])
	}
	e.Principal, e.Action, e.Resource, e.Decision = d.str(), d.str(), d.str(), d.str()
	e.Policies, e.Obligations = d.list(), d.list()
	if e.Transport, err = peer.ParseTransport(d.str()); err != nil {
		d.ok = false
	}
	e.Reason = d.str()
	e.DecisionSeq = int64(d.u64())
	e.Outcome = d.str()
	e.Version = int64(d.u64())
	prev = d.prev()
	if !d.ok {
		return 0, e, prev, fmt.Errorf("decode: malformed")
	}
	return seq, e, prev, nil
}

// splitList turns a fuzzer string into a list: NUL separates items, an
// empty string means none, "\x00" means two empty items.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// FuzzRecordEncoding checks that the format 1 encoding is injective by
// decoding it back: two records that differ in any field, including how a
// string is split between neighbouring fields or policies, never share an
// encoding and so never share a hash input.
func FuzzRecordEncoding(f *testing.F) {
	f.Add(int64(1), "2026-01-02T03:04:05.123456789Z", `User::"admin"`, "vault.read", `Secret::"x"`, "allow", "a\x00b", "unix", "ok", []byte{1})
	f.Add(int64(2), "", "", "", "", "", "", "", "", []byte{})
	f.Add(int64(-1), "t", "ab", "c", "", "deny", "\x00\x00", "", "r", bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, seq int64, timeText, principal, action, resource, decision, policies, transport, reason string, prevIn []byte) {
		in := v1Fields{timeText: timeText, principal: principal, action: action, resource: resource, decision: decision,
			policies: splitList(policies), transport: transport, reason: reason}
		var prev [32]byte
		copy(prev[:], prevIn)
		seq2, out, prev2, err := decodeV1(appendV1Encoding(nil, seq, &in, &prev))
		if err != nil {
			t.Fatal(err)
		}
		if seq2 != seq || prev2 != prev || !reflect.DeepEqual(out, in) {
			t.Fatalf("decode(encode(x)) != x:\n got %d %+v\nwant %d %+v", seq2, out, seq, in)
		}
	})
}

// FuzzRecordEncodingV2 checks the same for format 2, with both kinds and
// every field: the encoding decodes back to exactly the record encoded.
func FuzzRecordEncodingV2(f *testing.F) {
	for i, e := range vectorEntries {
		f.Add(int64(i+1), e.Time.UnixNano(), uint8(e.Kind), e.Principal, e.Action, e.Resource, e.Decision,
			strings.Join(e.Policies, "\x00"), strings.Join(e.Obligations, "\x00"), uint8(e.Transport), e.Reason,
			e.DecisionSeq, e.Outcome, e.Version, []byte{byte(i)})
	}
	f.Add(int64(-1), int64(-1), uint8(255), "a", "", "\x00", "", "\x00\x00", "", uint8(7), "", int64(-1), "x", int64(1<<62), bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, seq, nanos int64, kind uint8, principal, action, resource, decision, policies, obligations string,
		transport uint8, reason string, decisionSeq int64, outcome string, version int64, prevIn []byte) {
		in := Entry{Time: time.Unix(0, nanos).UTC(), Kind: Kind(kind), Principal: principal, Action: action, Resource: resource,
			Decision: decision, Policies: splitList(policies), Obligations: splitList(obligations),
			Transport: peer.Transport(transport % 4), Reason: reason, DecisionSeq: decisionSeq, Outcome: outcome, Version: version}
		var prev [32]byte
		copy(prev[:], prevIn)
		seq2, out, prev2, err := decodeV2(appendV2Encoding(nil, seq, &in, &prev))
		if err != nil {
			t.Fatal(err)
		}
		if seq2 != seq || prev2 != prev || !reflect.DeepEqual(out, in) {
			t.Fatalf("decode(encode(x)) != x:\n got %d %+v\nwant %d %+v", seq2, out, seq, in)
		}
	})
}

// FuzzDecodeList checks the stored list codec: whatever decodeList accepts
// round-trips through encodeList, and encodeList's output always decodes
// to the same list (the fast paths agree with encoding/json).
func FuzzDecodeList(f *testing.F) {
	for _, s := range []string{`[]`, `["a"]`, `["admin-full-access","b"]`, `["a\"b"]`, `["é"]`, `[""]`, `["a",]`, `[`, `{}`, `null`, `["<&>"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := decodeList(s)
		if err != nil {
			return
		}
		l2, err := decodeList(encodeList(l))
		if err != nil || !reflect.DeepEqual(l, l2) {
			t.Fatalf("round trip of %q: %q, %v; want %q", s, l2, err, l)
		}
	})
}
