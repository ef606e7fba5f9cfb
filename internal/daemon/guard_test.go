package daemon

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

// waitRecord waits until the journal holds a record with Seq > after that
// match accepts, and returns it.
func waitRecord(t *testing.T, j *audit.Journal, after int64, match func(audit.Record) bool) audit.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		recs, err := j.List(ctx, audit.Filter{AfterSeq: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if match(r) {
				return r
			}
			after = r.Seq
		}
		if err := j.Wait(ctx, after); err != nil {
			t.Fatalf("no matching record: %v", err)
		}
	}
}

// TestDecisionsAndOutcomesAreJournaled: a get is a decision and then its
// outcome; a get of a missing secret has outcome not_found; a denied call
// is a deny with no outcome.
func TestDecisionsAndOutcomesAreJournaled(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	b := td.enroll(t, "laptop")
	if _, err := td.admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/k", Value: []byte("v")})); err != nil {
		t.Fatal(err)
	}
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	start := td.audit.Head()
	device := `Device::"` + b.Identity.DeviceID.String() + `"`

	if _, err := dev.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/k"})); err != nil {
		t.Fatal(err)
	}
	dec := waitRecord(t, td.audit, start, func(r audit.Record) bool { return r.Kind == audit.KindDecision })
	if dec.Principal != device || dec.Action != "vault.read" || dec.Resource != `Secret::"global/k"` || dec.Decision != "allow" ||
		!slices.Equal(dec.Policies, []string{"admin-full-access"}) || dec.Transport != peer.TCP {
		t.Fatalf("decision %+v", dec)
	}
	out := waitRecord(t, td.audit, dec.Seq, func(r audit.Record) bool { return r.Kind == audit.KindOutcome && r.DecisionSeq == dec.Seq })
	if out.Outcome != audit.OutcomeOK {
		t.Fatalf("outcome %+v", out)
	}

	_, err := dev.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/missing"}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("missing get: %v", err)
	}
	miss := waitRecord(t, td.audit, out.Seq, func(r audit.Record) bool {
		return r.Kind == audit.KindDecision && r.Resource == `Secret::"global/missing"`
	})
	mo := waitRecord(t, td.audit, miss.Seq, func(r audit.Record) bool { return r.Kind == audit.KindOutcome && r.DecisionSeq == miss.Seq })
	if miss.Decision != "allow" || mo.Outcome != audit.OutcomeNotFound {
		t.Fatalf("missing get: decision %+v outcome %+v", miss, mo)
	}

	// A device may not revoke: a deny, and no outcome. The put after it
	// has its outcome journaled after any outcome of the deny would be.
	_, err = dev.Devices.Revoke(ctx, connect.NewRequest(&palyrav1.RevokeDeviceRequest{DeviceId: b.Identity.DeviceID.String()}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("device revoke: %v", err)
	}
	if _, err := dev.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/k", Value: []byte("w")})); err != nil {
		t.Fatal(err)
	}
	deny := waitRecord(t, td.audit, mo.Seq, func(r audit.Record) bool { return r.Kind == audit.KindDecision && r.Action == "device.revoke" })
	if deny.Decision != "deny" || !slices.Equal(deny.Policies, []string{"device-admin-local-only"}) || deny.Reason != "forbidden" {
		t.Fatalf("deny %+v", deny)
	}
	put := waitRecord(t, td.audit, deny.Seq, func(r audit.Record) bool { return r.Kind == audit.KindDecision && r.Action == "vault.write" })
	putOut := waitRecord(t, td.audit, put.Seq, func(r audit.Record) bool { return r.Kind == audit.KindOutcome && r.DecisionSeq == put.Seq })
	if putOut.Version != 2 {
		t.Fatalf("put outcome %+v: want version 2", putOut)
	}
	recs, err := td.audit.List(ctx, audit.Filter{AfterSeq: deny.Seq, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind == audit.KindOutcome && r.DecisionSeq == deny.Seq {
			t.Fatalf("a denied call has an outcome: %+v", r)
		}
	}

	// The API shows the same, with the decision's outcome beside it.
	g, err := td.admin.Audit.Get(ctx, connect.NewRequest(&palyrav1.AuditGetRequest{Seq: dec.Seq}))
	if err != nil {
		t.Fatal(err)
	}
	if g.Msg.Record.GetDecision() != "allow" || g.Msg.Outcome.GetOutcome() != "ok" || g.Msg.Outcome.GetDecisionSeq() != dec.Seq {
		t.Fatalf("audit get: %v", g.Msg)
	}
	l, err := td.admin.Audit.List(ctx, connect.NewRequest(&palyrav1.AuditListRequest{Principal: device, Action: "device.revoke"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Msg.Records) != 1 || l.Msg.Records[0].Seq != deny.Seq {
		t.Fatalf("audit list filtered: %v", l.Msg.Records)
	}
}

// TestHealthIsOpenAndReflectionNeedsACertificate: grpc.health.v1 answers
// anyone on both TLS transports, reflection lists the services to an
// enrolled device only, and nothing else answers an anonymous caller.
func TestHealthIsOpenAndReflectionNeedsACertificate(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	b := td.enroll(t, "laptop")
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		anon := dialForcing(tr, td.addrs, nil, b.Roots())
		res, err := anon.Health.Check(ctx, &grpchealth.CheckRequest{})
		if err != nil || res.Status != grpchealth.StatusServing {
			t.Fatalf("%v: anonymous health: %v %v", tr, res, err)
		}
		anon.Close()
	}
	// What grpcurl does with a bundle: cert.pem plus the exported key PEM.
	keyPath := filepath.Join(t.TempDir(), "key.pem")
	if err := b.ExportKeyPEM(keyPath); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("exported key: %v %v", fi.Mode(), err)
	}
	if err := b.ExportKeyPEM(keyPath); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second export over the first: %v", err)
	}
	certPath := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certPath, pki.EncodeCertPEM(b.Cert.Certificate[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	hc, closeFn := client.TCPHTTPClient(&pair, b.Roots())
	defer closeFn()
	rc := grpcreflect.NewClient(hc, "https://"+td.addrs.TCP, connect.WithGRPC())
	stream := rc.NewStream(ctx)
	names, err := stream.ListServices()
	stream.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, n := range names {
		got = append(got, string(n))
	}
	slices.Sort(got)
	want := slices.Clone(services)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("reflection lists %v, want %v", got, want)
	}

	anonHC, anonClose := client.TCPHTTPClient(nil, b.Roots())
	defer anonClose()
	// Without a certificate, reflection knows the health service only.
	as := grpcreflect.NewClient(anonHC, "https://"+td.addrs.TCP, connect.WithGRPC()).NewStream(ctx)
	names, err = as.ListServices()
	if err != nil || len(names) != 1 || names[0] != grpchealth.HealthV1ServiceName {
		t.Fatalf("anonymous reflection lists %v, %v", names, err)
	}
	if _, err := as.FileContainingSymbol("grpc.health.v1.Health"); err != nil {
		t.Fatalf("anonymous reflection of the health service: %v", err)
	}
	if _, err := as.FileContainingSymbol("palyra.v1.VaultService"); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("anonymous reflection of palyra.v1.VaultService: %v, want not found", err)
	}
	as.Close()
	// Health's Watch stream is not served to anyone.
	if _, err := anonPost(t, anonHC, "https://"+td.addrs.TCP+"/grpc.health.v1.Health/Watch", nil); err == nil {
		t.Fatal("health watch answered")
	}
}

// TestAnonymousCompressedBodyIsRefused: an open route never inflates a
// body for a caller without a certificate.
func TestAnonymousCompressedBodyIsRefused(t *testing.T) {
	td := startDaemon(t, nil)
	b := td.enroll(t, "laptop")
	hc, closeFn := client.TCPHTTPClient(nil, b.Roots())
	defer closeFn()
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	zw.Write(bytes.Repeat([]byte{0}, 1<<20))
	zw.Close()
	h := http.Header{"Content-Encoding": {"gzip"}}
	code, _ := anonPost(t, hc, "https://"+td.addrs.TCP+HealthCheckProcedure, h, body.Bytes()...)
	if code == http.StatusOK || code == 0 {
		t.Fatalf("compressed anonymous health: status %d, want a refusal", code)
	}
	// The same request uncompressed is answered.
	if code, err := anonPost(t, hc, "https://"+td.addrs.TCP+HealthCheckProcedure, nil, []byte("{}")...); code != http.StatusOK {
		t.Fatalf("anonymous health: status %d, %v", code, err)
	}
}

// anonPost posts a Connect-protocol JSON request and returns the status.
func anonPost(t *testing.T, hc *http.Client, url string, h http.Header, body ...byte) (int, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, &httpError{resp.StatusCode}
	}
	return resp.StatusCode, nil
}

type httpError struct{ code int }

func (e *httpError) Error() string { return http.StatusText(e.code) }

// TestResponsesCarryTheCheckpoint: every authenticated response carries a
// checkpoint that verifies with the key it names; an anonymous one does not.
func TestResponsesCarryTheCheckpoint(t *testing.T) {
	td := startDaemon(t, func(c *config.Config) { c.Audit.CheckpointEvery = 1 })
	ctx := context.Background()
	if _, err := td.admin.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{})); err != nil {
		t.Fatal(err)
	}
	// The first status's decision is checkpointed by the time the second
	// answers (checkpoint_every = 1).
	r, err := td.admin.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	cp, key := r.Header().Get(guard.HeaderCheckpoint), r.Header().Get(guard.HeaderCheckpointKey)
	if cp == "" || !strings.HasPrefix(key, "palyra/"+td.id.DeviceID.String()+"+") {
		t.Fatalf("checkpoint %q key %q", cp, key)
	}
	// An anonymous health check is answered without it.
	b := td.enroll(t, "laptop")
	hc, closeFn := client.TCPHTTPClient(nil, b.Roots())
	defer closeFn()
	req, _ := http.NewRequest(http.MethodPost, "https://"+td.addrs.TCP+HealthCheckProcedure, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(guard.HeaderCheckpoint) != "" {
		t.Fatalf("anonymous health: status %d, checkpoint header %q", resp.StatusCode, resp.Header.Get(guard.HeaderCheckpoint))
	}
	w := client.NewWitness(t.TempDir() + "/witness.json")
	c := client.DialUnix(td.addrs.Socket, connect.WithInterceptors(w))
	defer c.Close()
	for range 3 {
		if _, err := c.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{})); err != nil {
			t.Fatal(err)
		}
	}
}
