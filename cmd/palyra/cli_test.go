package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/identity"
)

// Every command's help shows at least one example.
func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRoot(&globals{})
	root.InitDefaultHelpCmd()
	walk(root)
}

// vault get adds a newline on a terminal only, and only when missing.
func TestWriteValue(t *testing.T) {
	for _, tc := range []struct {
		v        string
		terminal bool
		want     string
	}{
		{"sk-1", false, "sk-1"},
		{"sk-1\n", false, "sk-1\n"},
		{"a\tb\n\n", false, "a\tb\n\n"},
		{"sk-1", true, "sk-1\n"},
		{"sk-1\n", true, "sk-1\n"},
	} {
		var b bytes.Buffer
		if err := writeValue(&b, tc.terminal, []byte(tc.v)); err != nil || b.String() != tc.want {
			t.Errorf("writeValue(%q, terminal %v) = %q, %v; want %q", tc.v, tc.terminal, b.String(), err, tc.want)
		}
	}
}

// A refusal of the device's certificate is explained by this clock: past
// NotAfter it expired (with the time and the fix), before NotBefore the
// clocks disagree, in between the daemon refuses the device: revoked.
func TestRefusalExplained(t *testing.T) {
	ca := newTestCA(t, "pinned")
	notBefore := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	notAfter := notBefore.Add(time.Hour)
	cert := ca.issue(t, []string{"device"}, notBefore, notAfter, x509.ExtKeyUsageClientAuth)
	id := &identity.Identity{DeviceID: "01JABCDEFGHJKMNPQRSTVWXYZ0"}
	d := &dialed{bundleDir: "laptop", bundle: &client.Bundle{Identity: id, Cert: tls.Certificate{Leaf: cert.Leaf}}}

	for _, tc := range []struct {
		now        time.Time
		code, want string
	}{
		{notAfter.Add(time.Second), "expired", "refused: this device's certificate (bundle laptop) expired at 2026-11-30T11:00:00Z; enroll the device again: on the daemon's machine, palyra --state-dir DIR devices enroll --name NAME --out NEW_BUNDLE_DIR"},
		{notBefore.Add(-time.Second), "expired", "refused: this device's certificate (bundle laptop) is not valid before 2026-11-30T10:00:00Z; check this machine's clock"},
		{notBefore.Add(time.Minute), "revoked", "refused: this device (01JABCDEFGHJKMNPQRSTVWXYZ0, bundle laptop) is revoked: "},
	} {
		o := classify(d.refusal(tc.now))
		if o.exit != 3 || o.code != tc.code || !strings.HasPrefix(o.line, tc.want) {
			t.Errorf("at %v: %+v, want exit 3, %s, %q", tc.now, o, tc.code, tc.want)
		}
	}
}

// --json failures are one JSON object on one line, with a stable code word.
func TestErrorJSON(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
		exit int
	}{
		{usagef("bad <flag> & \"quotes\""), "usage", 2},
		{connect.NewError(connect.CodeNotFound, errors.New("no such secret\nsecond line?")), "not_found", 4},
		{unreachableError{"no admin socket"}, "unreachable", 5},
		{connect.NewError(connect.CodeUnauthenticated, errors.New("x")), "unauthenticated", 3},
		{connect.NewError(connect.CodePermissionDenied, errors.New("x")), "denied", 3},
		{&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, "refused", 3},
		{errIntegrity, "integrity", 6},
		{errors.New("disk on fire"), "failure", 1},
	} {
		b := errorJSON(classify(tc.err))
		if bytes.Count(b, []byte("\n")) != 1 || b[len(b)-1] != '\n' {
			t.Errorf("%v: not one line: %q", tc.err, b)
		}
		var got struct {
			Error, Code string
			Exit        int
		}
		if err := json.Unmarshal(b, &got); err != nil || got.Code != tc.code || got.Exit != tc.exit || got.Error == "" {
			t.Errorf("%v: %s (%v), want code %s exit %d", tc.err, b, err, tc.code, tc.exit)
		}
	}
}
