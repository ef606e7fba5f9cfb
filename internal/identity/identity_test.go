package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFingerprintIsSHA256OfRawPublicKey(t *testing.T) {
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(id.PublicKey())
	if got := id.Fingerprint(); got != hex.EncodeToString(sum[:]) || len(got) != 64 {
		t.Fatalf("fingerprint %q", got)
	}
}

func TestSealedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity.sealed")
	key := bytes.Repeat([]byte{1}, 32)
	id, created, err := LoadOrCreateSealed(path, key)
	if err != nil || !created {
		t.Fatal(err, created)
	}
	again, created, err := LoadOrCreateSealed(path, key)
	if err != nil || created {
		t.Fatal(err, created)
	}
	if again.DeviceID != id.DeviceID || !bytes.Equal(again.SigningKey, id.SigningKey) || !bytes.Equal(again.ExchangeKey.Bytes(), id.ExchangeKey.Bytes()) {
		t.Fatal("identity changed across reload")
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, id.SigningKey.Seed()) || bytes.Contains(raw, []byte(id.DeviceID)) {
		t.Fatal("sealed file exposes key material")
	}
	if _, _, err := LoadOrCreateSealed(path, bytes.Repeat([]byte{2}, 32)); err == nil {
		t.Fatal("opened with the wrong key")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, raw) {
		t.Fatal("failed open replaced the identity file")
	}
}

func TestDeviceURIs(t *testing.T) {
	id, _ := Generate()
	got, err := DeviceIDFromURIs([]*url.URL{DeviceURI(id.DeviceID)})
	if err != nil || got != id.DeviceID {
		t.Fatalf("%q %v", got, err)
	}
	bad := [][]string{
		{},
		{"https://example.com"},
		{"palyra://device/not-a-ulid"},
		{"palyra://user/" + id.DeviceID.String()},
		{"palyra://device/" + id.DeviceID.String(), "palyra://device/" + id.DeviceID.String()},
		{"palyra://device/" + id.DeviceID.String() + "/x"},
		{"palyra://DEVICE/" + id.DeviceID.String()},
		{"palyra://device:1/" + id.DeviceID.String()},
		{"palyra://u@device/" + id.DeviceID.String()},
		{"palyra://device/" + id.DeviceID.String() + "?q"},
		{"palyra://device/" + id.DeviceID.String() + "?"},
		{"palyra://device/" + id.DeviceID.String() + "#f"},
		{"palyra:device/" + id.DeviceID.String()},
		{"palyra://device/%30" + id.DeviceID.String()[1:]},
		{"palyra://device" + id.DeviceID.String()},
	}
	for _, uris := range bad {
		var us []*url.URL
		for _, s := range uris {
			u, _ := url.Parse(s)
			us = append(us, u)
		}
		if _, err := DeviceIDFromURIs(us); err == nil {
			t.Errorf("accepted %v", uris)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	id, _ := Generate()
	b, _ := id.MarshalBinary()
	f.Add(b)
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := Unmarshal(b)
		if err != nil {
			return
		}
		b2, err := id.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		id2, err := Unmarshal(b2)
		if err != nil || id2.DeviceID != id.DeviceID || !bytes.Equal(id2.SigningKey, id.SigningKey) {
			t.Fatal("re-encoding does not round trip")
		}
	})
}

func TestParseDeviceID(t *testing.T) {
	id := NewDeviceID()
	got, err := ParseDeviceID(id.String())
	if err != nil || got != id {
		t.Fatalf("%q %v", got, err)
	}
	var back DeviceID
	if b, _ := id.MarshalText(); back.UnmarshalText(b) != nil || back != id {
		t.Fatalf("text round trip gave %q", back)
	}
	for _, bad := range []string{"", strings.ToLower(id.String()), id.String() + "0", "01ARZ3NDEKTSV4RRFFQ69G5FAI", "81ARZ3NDEKTSV4RRFFQ69G5FAV", "not-a-ulid"} {
		if _, err := ParseDeviceID(bad); err == nil {
			t.Errorf("ParseDeviceID(%q) accepted", bad)
		}
		if err := back.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
}
