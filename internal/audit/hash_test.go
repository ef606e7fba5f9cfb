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
)

// The worked example of docs/audit-format.md. The test recomputes it and
// checks that the document shows exactly these bytes.
var (
	vectorEntries = []Entry{{
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		Principal: `User::"admin"`,
		Action:    "vault.read",
		Resource:  `Secret::"global/openai_api_key"`,
		Decision:  "allow",
		Policies:  []string{"baseline-admin", "user-vault-read"},
		Transport: "unix",
		Reason:    "ok",
	}, {
		Time:      time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Principal: "anonymous",
		Action:    "vault.read",
		Resource:  `Secret::"global/openai_api_key"`,
		Decision:  "deny",
		Transport: "tcp",
		Reason:    "no_client_certificate",
	}}
	vectorHashes = []string{
		"96049bc0c11a0cda26673eaa63786745ec81e0c493304b5b4fd4ad33cf04084b",
		"8af34e20fe1b912f708a39ad879adab3f3e29f3d909047ca444a46a702a0fb10",
	}
	vectorOrigin  = "palyra/example"
	vectorKeySeed = sha256.Sum256([]byte("palyra audit example key"))
	vectorNote    = "palyra/example\n2\nivNOIP4bkS9wijmth5ras/Pinz2QkEfKREpGpwKg+xA=\n\n" +
		"— palyra/example 6NdwueZ/Q7x+8XndTWVHufnuGmcbbO+PGfIpdiHz0EhdNc8iiFjd+JMb2UlrJe0336IHXTgF4YVNNh/kDOtxfyrHGQ8=\n"
)

// annotate renders a record's encoding one field per line, a comment line
// then the field's bytes in hex, as docs/audit-format.md shows it.
func annotate(seq int64, e *Entry, prev [32]byte) string {
	var b strings.Builder
	field := func(comment string, data []byte) {
		fmt.Fprintf(&b, "# %s\n%s\n", comment, hex.EncodeToString(data))
	}
	str := func(name, s string) {
		field(fmt.Sprintf("%s %q (%d bytes)", name, s, len(s)), appendString(nil, s))
	}
	str("label", recordLabel)
	field(fmt.Sprintf("format version %d", formatVersion), binary.BigEndian.AppendUint32(nil, formatVersion))
	field(fmt.Sprintf("seq %d", seq), binary.BigEndian.AppendUint64(nil, uint64(seq)))
	str("time", formatTime(e.Time))
	str("principal", e.Principal)
	str("action", e.Action)
	str("resource", e.Resource)
	str("decision", e.Decision)
	field(fmt.Sprintf("policy count %d", len(e.Policies)), binary.BigEndian.AppendUint32(nil, uint32(len(e.Policies))))
	for i, p := range e.Policies {
		str("policy "+strconv.Itoa(i), p)
	}
	str("transport", e.Transport)
	str("reason", e.Reason)
	field("prev_hash", prev[:])
	return b.String()
}

func TestVectors(t *testing.T) {
	doc, err := os.ReadFile("../../docs/audit-format.md")
	if err != nil {
		t.Fatal(err)
	}
	var prev [32]byte
	for i, e := range vectorEntries {
		seq := int64(i + 1)
		enc := appendRecordEncoding(nil, seq, formatTime(e.Time), &e, &prev)
		ann := annotate(seq, &e, prev)
		// The annotated form is the encoding, field by field.
		var joined strings.Builder
		for _, line := range strings.Split(ann, "\n") {
			if !strings.HasPrefix(line, "#") {
				joined.WriteString(line)
			}
		}
		if joined.String() != hex.EncodeToString(enc) {
			t.Fatalf("record %d: annotated encoding differs from appendRecordEncoding", seq)
		}
		h := sha256.Sum256(enc)
		if got := hex.EncodeToString(h[:]); got != vectorHashes[i] {
			t.Errorf("record %d hash = %s, want %s", seq, got, vectorHashes[i])
		}
		if !bytes.Contains(doc, []byte(ann)) {
			t.Errorf("docs/audit-format.md does not show record %d's encoding; want:\n%s", seq, ann)
		}
		if !bytes.Contains(doc, []byte(vectorHashes[i])) {
			t.Errorf("docs/audit-format.md does not show record %d's hash %s", seq, vectorHashes[i])
		}
		prev = h
	}

	k := ed25519.NewKeyFromSeed(vectorKeySeed[:])
	s, err := newSigner(k, vectorOrigin)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.sign(Checkpoint{Origin: vectorOrigin, Count: int64(len(vectorEntries)), Head: prev})
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != vectorNote {
		t.Errorf("checkpoint note =\n%s\nwant\n%s", msg, vectorNote)
	}
	if !bytes.Contains(doc, msg) {
		t.Errorf("docs/audit-format.md does not show the checkpoint note")
	}
	if !bytes.Contains(doc, []byte(hex.EncodeToString(vectorKeySeed[:]))) {
		t.Errorf("docs/audit-format.md does not show the example key seed")
	}
	vkey, err := note.NewEd25519VerifierKey(vectorOrigin, k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{vkey, hex.EncodeToString(k.Public().(ed25519.PublicKey))} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("docs/audit-format.md does not show %s", want)
		}
	}
	if _, err := ParseCheckpoint(msg, k.Public().(ed25519.PublicKey), vectorOrigin); err != nil {
		t.Fatal(err)
	}
}

// TestJournalMatchesVectors appends the example entries to a real journal
// and checks it stores the documented hashes.
func TestJournalMatchesVectors(t *testing.T) {
	j, _ := openTemp(t)
	for i, e := range vectorEntries {
		r, err := j.Append(t.Context(), e)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(r.Hash[:]); got != vectorHashes[i] {
			t.Fatalf("record %d hash = %s, want %s", r.Seq, got, vectorHashes[i])
		}
	}
}

// decodeRecordEncoding inverts appendRecordEncoding. It exists to show that
// the encoding is unambiguous: decode(encode(x)) == x for every x.
func decodeRecordEncoding(b []byte) (seq int64, timeText string, e Entry, prev [32]byte, err error) {
	fail := func(what string) error { return fmt.Errorf("decode: %s", what) }
	u32 := func() (uint32, bool) {
		if len(b) < 4 {
			return 0, false
		}
		v := binary.BigEndian.Uint32(b)
		b = b[4:]
		return v, true
	}
	str := func() (string, bool) {
		n, ok := u32()
		if !ok || uint64(len(b)) < uint64(n) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	if l, ok := str(); !ok || l != recordLabel {
		return 0, "", e, prev, fail("label")
	}
	if v, ok := u32(); !ok || v != formatVersion {
		return 0, "", e, prev, fail("version")
	}
	if len(b) < 8 {
		return 0, "", e, prev, fail("seq")
	}
	seq = int64(binary.BigEndian.Uint64(b))
	b = b[8:]
	var ok bool
	for _, p := range []*string{&timeText, &e.Principal, &e.Action, &e.Resource, &e.Decision} {
		if *p, ok = str(); !ok {
			return 0, "", e, prev, fail("string")
		}
	}
	n, ok := u32()
	if !ok {
		return 0, "", e, prev, fail("policy count")
	}
	for range n {
		p, ok := str()
		if !ok {
			return 0, "", e, prev, fail("policy")
		}
		e.Policies = append(e.Policies, p)
	}
	for _, p := range []*string{&e.Transport, &e.Reason} {
		if *p, ok = str(); !ok {
			return 0, "", e, prev, fail("string")
		}
	}
	if len(b) != len(prev) {
		return 0, "", e, prev, fail("prev_hash")
	}
	copy(prev[:], b)
	return seq, timeText, e, prev, nil
}

// FuzzRecordEncoding checks that the record encoding is injective by
// decoding it back: two records that differ in any field, including how a
// string is split between neighbouring fields or policies, never share an
// encoding and so never share a hash input.
func FuzzRecordEncoding(f *testing.F) {
	f.Add(int64(1), "2026-01-02T03:04:05.123456789Z", `User::"admin"`, "vault.read", `Secret::"x"`, "allow", "a\x00b", "unix", "ok", []byte{1})
	f.Add(int64(2), "", "", "", "", "", "", "", "", []byte{})
	f.Add(int64(-1), "t", "ab", "c", "", "deny", "\x00\x00", "", "r", bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, seq int64, timeText, principal, action, resource, decision, policies, transport, reason string, prevIn []byte) {
		e := Entry{Principal: principal, Action: action, Resource: resource, Decision: decision, Transport: transport, Reason: reason}
		if policies != "" {
			// NUL separates the fuzzer's policies; an empty string means
			// none, "\x00" means two empty ids.
			e.Policies = strings.Split(policies, "\x00")
		}
		var prev [32]byte
		copy(prev[:], prevIn)
		enc := appendRecordEncoding(nil, seq, timeText, &e, &prev)
		seq2, time2, e2, prev2, err := decodeRecordEncoding(enc)
		if err != nil {
			t.Fatal(err)
		}
		if seq2 != seq || time2 != timeText || prev2 != prev || !reflect.DeepEqual(e2, e) {
			t.Fatalf("decode(encode(x)) != x:\n got %d %q %+v\nwant %d %q %+v", seq2, time2, e2, seq, timeText, e)
		}
	})
}
