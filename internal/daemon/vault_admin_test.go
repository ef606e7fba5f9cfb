package daemon

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/vault"
)

// TestVaultVersionsHistoryRotate drives the new VaultService procedures
// through the guarded path: Get by version, History with the writer's
// principal, Delete of one version, Status and RotateKEK.
func TestVaultVersionsHistoryRotate(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	v := td.admin.Vault
	for _, val := range []string{"one", "two", "three"} {
		if _, err := v.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/k", Value: []byte(val)})); err != nil {
			t.Fatal(err)
		}
	}
	r, err := v.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/k#2"}))
	if err != nil || string(r.Msg.Value) != "two" || r.Msg.Version != 2 {
		t.Fatalf("Get #2 = (%v, %v)", r, err)
	}
	if r, err := v.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/k"})); err != nil || r.Msg.Version != 3 {
		t.Fatalf("Get latest = (%v, %v)", r, err)
	}
	h, err := v.History(ctx, connect.NewRequest(&palyrav1.VaultHistoryRequest{Ref: "global/k"}))
	if err != nil || len(h.Msg.Versions) != 3 {
		t.Fatalf("History = (%v, %v)", h, err)
	}
	for i, sv := range h.Msg.Versions {
		if sv.Version != int64(i+1) || sv.Principal == "" || sv.Size != int64(len([]string{"one", "two", "three"}[i])) {
			t.Fatalf("History[%d] = %v", i, sv)
		}
	}
	if d, err := v.Delete(ctx, connect.NewRequest(&palyrav1.VaultDeleteRequest{Ref: "global/k", Version: 2})); err != nil || d.Msg.Removed != 1 {
		t.Fatalf("Delete #2 = (%v, %v)", d, err)
	}
	if _, err := v.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/k#2"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("Get #2 after delete = %v, want NotFound", err)
	}
	rot, err := v.RotateKEK(ctx, connect.NewRequest(&palyrav1.VaultRotateKEKRequest{}))
	if err != nil || rot.Msg.KekId != vaultKEKID+":2" || rot.Msg.Rewrapped != 2 || len(rot.Msg.Retired) != 1 || rot.Msg.Retired[0] != vaultKEKID {
		t.Fatalf("RotateKEK = (%v, %v)", rot, err)
	}
	st, err := v.Status(ctx, connect.NewRequest(&palyrav1.VaultStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if st.Msg.Provider != "file" || st.Msg.Retention != config.DefaultRetention || st.Msg.Secrets != 1 || st.Msg.Versions != 2 ||
		st.Msg.RotationInProgress || len(st.Msg.Keks) != 1 || st.Msg.Keks[0].KekId != vaultKEKID+":2" || !st.Msg.Keks[0].Active || st.Msg.Keks[0].Envelopes != 2 {
		t.Fatalf("Status = %v", st.Msg)
	}
	if r, err := v.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/k"})); err != nil || string(r.Msg.Value) != "three" {
		t.Fatalf("Get after rotation = (%v, %v)", r, err)
	}
	if _, err := v.Delete(ctx, connect.NewRequest(&palyrav1.VaultDeleteRequest{Ref: "global/k", Version: -1})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("Delete version -1 = %v, want InvalidArgument", err)
	}
}

// The configuration may not allow a retention the vault would refuse.
func TestRetentionBoundsAgree(t *testing.T) {
	if config.MaxRetention != vault.MaxRetention || config.DefaultRetention != vault.DefaultRetention {
		t.Fatal("config and vault retention bounds differ")
	}
}
