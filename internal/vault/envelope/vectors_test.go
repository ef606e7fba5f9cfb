package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors_v1.json and the fuzz seed corpora")

const vectorsFile = "testdata/vectors_v1.json"

// vector is one known-answer test: open Envelope with (KEKID, KEK) for the
// binding; expect Value, or the error named by Error.
type vector struct {
	Name          string `json:"name"`
	KEKID         string `json:"kek_id"`
	KEK           string `json:"kek"` // hex
	Scope         string `json:"scope"`
	Key           string `json:"key"`
	SecretVersion int64  `json:"secret_version"`
	Envelope      string `json:"envelope"` // hex
	Value         string `json:"value,omitempty"`
	Error         string `json:"error,omitempty"` // "malformed", "wrong_kek" or "authentication"
}

var vectorErrors = map[string]error{
	"malformed":      ErrMalformed,
	"wrong_kek":      ErrWrongKEK,
	"authentication": ErrAuthentication,
}

// TestVectors opens the committed envelopes. They pin format version 1: a
// change that breaks them breaks every vault on disk.
func TestVectors(t *testing.T) {
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			k := mustKEK(t, v.KEKID, mustHex(t, v.KEK))
			env := mustHex(t, v.Envelope)
			got, err := k.Open(Binding{v.Scope, v.Key, v.SecretVersion}, env)
			if v.Error != "" {
				want, ok := vectorErrors[v.Error]
				if !ok {
					t.Fatalf("unknown error kind %q", v.Error)
				}
				if !errors.Is(err, want) || got != nil {
					t.Fatalf("Open = (%x, %v), want %v", got, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if want := mustHex(t, v.Value); !bytes.Equal(got, want) {
				t.Fatalf("Open = %x, want %x", got, want)
			}
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUpdateTestdata regenerates the vectors and fuzz seeds when run with
// -update. Sealing is randomized, so regenerating changes the bytes; only do
// it when the format version changes (and keep the old vectors then).
func TestUpdateTestdata(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata")
	}
	k1 := testKEK(t)
	k2 := mustKEK(t, "kek-2", otherKEKBytes())
	seal := func(k *KEK, b Binding, value []byte) []byte {
		env, err := k.Seal(b, value)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	flip := func(env []byte, i int) []byte {
		env = bytes.Clone(env)
		env[(i+len(env))%len(env)] ^= 1
		return env
	}
	alice := Binding{Scope: "user:alice", Key: "gh_token", SecretVersion: 7}
	hunter2 := seal(k1, testBinding, []byte("hunter2"))
	empty := seal(k1, testBinding, nil)
	block := seal(k1, alice, bytes.Repeat([]byte{0x5a}, PadBlockBytes))
	binary := seal(k1, alice, []byte("ab\x80\x00"))
	rewrapped, err := Rewrap(k1, k2, alice, binary)
	if err != nil {
		t.Fatal(err)
	}

	mk := func(name string, k *KEK, key []byte, b Binding, env []byte, value []byte, errKind string) vector {
		v := vector{
			Name: name, KEKID: k.id, KEK: hex.EncodeToString(key),
			Scope: b.Scope, Key: b.Key, SecretVersion: b.SecretVersion,
			Envelope: hex.EncodeToString(env), Error: errKind,
		}
		if errKind == "" {
			v.Value = hex.EncodeToString(value)
		}
		return v
	}
	vs := []vector{
		mk("empty value", k1, testKEKBytes, testBinding, empty, nil, ""),
		mk("short value", k1, testKEKBytes, testBinding, hunter2, []byte("hunter2"), ""),
		mk("one full block needs a second", k1, testKEKBytes, alice, block, bytes.Repeat([]byte{0x5a}, PadBlockBytes), ""),
		mk("value ending like padding", k1, testKEKBytes, alice, binary, []byte("ab\x80\x00"), ""),
		mk("rewrapped under kek-2", k2, otherKEKBytes(), alice, rewrapped, []byte("ab\x80\x00"), ""),
		mk("other secret version", k1, testKEKBytes, Binding{"global", "openai_api_key", 2}, hunter2, nil, "authentication"),
		mk("other key", k1, testKEKBytes, Binding{"global", "openai_api_kez", 1}, hunter2, nil, "authentication"),
		mk("other KEK bytes", mustKEK(t, testKEKID, otherKEKBytes()), otherKEKBytes(), testBinding, hunter2, nil, "authentication"),
		mk("other KEK id", mustKEK(t, "test-kek.2", testKEKBytes), testKEKBytes, testBinding, hunter2, nil, "wrong_kek"),
		mk("flipped DEK tag", k1, testKEKBytes, testBinding, flip(hunter2, headerSize(testKEKID)-NonceSize-1), nil, "authentication"),
		mk("flipped value tag", k1, testKEKBytes, testBinding, flip(hunter2, -1), nil, "authentication"),
		mk("format version 2", k1, testKEKBytes, testBinding, append([]byte{2}, hunter2[1:]...), nil, "malformed"),
		mk("truncated", k1, testKEKBytes, testBinding, hunter2[:len(hunter2)-1], nil, "malformed"),
	}
	data, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}

	writeSeeds(t, "FuzzParse", map[string][]any{
		"valid-short":          {hunter2},
		"valid-rewrapped":      {rewrapped},
		"empty":                {[]byte{}},
		"version-only":         {[]byte{FormatV1}},
		"zeros-min-size":       {make([]byte, MinSize)},
		"format-2":             {append([]byte{2}, hunter2[1:]...)},
		"kek-id-len-0":         {append([]byte{FormatV1, 0}, hunter2[2:]...)},
		"kek-id-len-255":       {append([]byte{FormatV1, 0xff}, hunter2[2:]...)},
		"sealed-value-unalign": {hunter2[:len(hunter2)-1]},
	})
	writeSeeds(t, "FuzzOpen", map[string][]any{
		"valid-short":        {hunter2},
		"valid-empty":        {empty},
		"flipped-value-tag":  {flip(hunter2, -1)},
		"flipped-wrap-nonce": {flip(hunter2, 2+len(testKEKID))},
		"other-binding":      {block},
		"other-kek":          {rewrapped},
		"garbage":            {[]byte("vault://global/openai_api_key")},
	})
	writeSeeds(t, "FuzzSealOpen", map[string][]any{
		"global":            {"global", "openai_api_key", int64(1), []byte("sk-test")},
		"boundary":          {"a", "bc", int64(1), []byte{}},
		"max-version":       {"user:alice", "gh_token", int64(1<<63 - 1), []byte("ab\x80\x00")},
		"one-block":         {"tool:http.fetch", "key", int64(3), bytes.Repeat([]byte{0}, PadBlockBytes)},
		"invalid-version-0": {"global", "k", int64(0), []byte("v")},
		"invalid-empty-key": {"global", "", int64(1), []byte("v")},
	})
}

// writeSeeds writes a seed corpus in the "go test fuzz v1" file format,
// replacing whatever was there.
func writeSeeds(t *testing.T, target string, seeds map[string][]any) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, args := range seeds {
		var buf bytes.Buffer
		buf.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case []byte:
				fmt.Fprintf(&buf, "[]byte(%s)\n", strconv.Quote(string(a)))
			case string:
				fmt.Fprintf(&buf, "string(%s)\n", strconv.Quote(a))
			case int64:
				fmt.Fprintf(&buf, "int64(%d)\n", a)
			default:
				t.Fatalf("seed type %T", a)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
