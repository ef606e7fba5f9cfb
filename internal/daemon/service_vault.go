package daemon

import (
	"context"
	"fmt"

	"github.com/cedar-policy/cedar-go/types"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/vault"
)

// vaultRoutes are the VaultService procedures: each validates its request,
// names the Secret or Vault it acts on, and acts once the guard allowed it.
func (d *Daemon) vaultRoutes(g *guard.Guard) []guard.Route {
	return []guard.Route{
		guard.Unary(g, palyrav1connect.VaultServicePutProcedure, authz.ActionVaultWrite, guard.Write,
			func(_ authn.Caller, m *palyrav1.VaultPutRequest) (vaultPut, guard.Target, error) {
				ref, err := vault.ParseRef(m.GetRef())
				t := secretTarget(ref)
				t.Context = map[string]types.Value{"value_size": types.Long(len(m.GetValue()))}
				// An approval binds the ref and the size, never the value
				// (not even hashed: approvals.db would let a short value
				// be guessed).
				t.Digest = []byte(fmt.Sprintf("%s\x00%d", ref, len(m.GetValue())))
				t.Summary = fmt.Sprintf("vault put %s (%d bytes)", ref, len(m.GetValue()))
				return vaultPut{ref, m.GetValue()}, t, err
			},
			func(ctx context.Context, c authn.Caller, p vaultPut) (*palyrav1.VaultPutResponse, error) {
				v, err := d.vault.PutAs(ctx, p.ref, p.value, c.Principal.String())
				clear(p.value) // the request's copy of the value (the decision saw only its size)
				if err != nil {
					return nil, err
				}
				return &palyrav1.VaultPutResponse{Version: v}, nil
			}),
		guard.Unary(g, palyrav1connect.VaultServiceGetProcedure, authz.ActionVaultRead, guard.Read,
			func(_ authn.Caller, m *palyrav1.VaultGetRequest) (versionedRef, guard.Target, error) {
				ref, version, err := vault.ParseVersionedRef(m.GetRef())
				t := secretTarget(ref)
				t.Digest = []byte(fmt.Sprintf("%s#%d", ref, version)) // #0: the latest
				t.Summary = "vault get " + ref.String()
				if version > 0 {
					t.Summary += fmt.Sprintf("#%d", version)
				} else {
					t.Summary += " (latest version)"
				}
				return versionedRef{ref, version}, t, err
			},
			func(ctx context.Context, _ authn.Caller, r versionedRef) (*palyrav1.VaultGetResponse, error) {
				if r.version == 0 {
					val, version, err := d.vault.GetLatest(ctx, r.ref)
					if err != nil {
						return nil, err
					}
					return &palyrav1.VaultGetResponse{Value: val, Version: version}, nil
				}
				val, err := d.vault.GetVersion(ctx, r.ref, r.version)
				if err != nil {
					return nil, err
				}
				return &palyrav1.VaultGetResponse{Value: val, Version: r.version}, nil
			}),
		guard.Unary(g, palyrav1connect.VaultServiceDeleteProcedure, authz.ActionVaultDelete, guard.Write,
			func(_ authn.Caller, m *palyrav1.VaultDeleteRequest) (versionedRef, guard.Target, error) {
				ref, err := vault.ParseRef(m.GetRef())
				if err == nil && m.GetVersion() < 0 {
					err = fmt.Errorf("vault: delete: %w: version %d < 0", vault.ErrInvalidRef, m.GetVersion())
				}
				return versionedRef{ref, m.GetVersion()}, secretTarget(ref), err
			},
			func(ctx context.Context, _ authn.Caller, r versionedRef) (*palyrav1.VaultDeleteResponse, error) {
				n, err := d.vault.Remove(ctx, r.ref, r.version)
				if err != nil {
					return nil, err
				}
				return &palyrav1.VaultDeleteResponse{Removed: n}, nil
			}),
		guard.Unary(g, palyrav1connect.VaultServiceHistoryProcedure, authz.ActionVaultHistory, guard.Read,
			func(_ authn.Caller, m *palyrav1.VaultHistoryRequest) (vault.Ref, guard.Target, error) {
				ref, err := vault.ParseRef(m.GetRef())
				return ref, secretTarget(ref), err
			},
			func(ctx context.Context, _ authn.Caller, ref vault.Ref) (*palyrav1.VaultHistoryResponse, error) {
				h, err := d.vault.History(ctx, ref)
				if err != nil {
					return nil, err
				}
				out := &palyrav1.VaultHistoryResponse{}
				for _, v := range h {
					out.Versions = append(out.Versions, &palyrav1.SecretVersion{Version: v.Version, CreatedUnix: v.CreatedAt.Unix(), Size: v.Size, Principal: v.Principal})
				}
				return out, nil
			}),
		guard.Unary(g, palyrav1connect.VaultServiceStatusProcedure, authz.ActionVaultAdmin, guard.Read,
			func(_ authn.Caller, _ *palyrav1.VaultStatusRequest) (struct{}, guard.Target, error) {
				return struct{}{}, vaultAdminTarget, nil
			},
			func(ctx context.Context, _ authn.Caller, _ struct{}) (*palyrav1.VaultStatusResponse, error) {
				st, err := d.vault.Status(ctx)
				if err != nil {
					return nil, err
				}
				out := &palyrav1.VaultStatusResponse{Provider: d.keyProvider(), Retention: int32(st.Retention), // #nosec G115 -- retention is validated to 1..vault.MaxRetention (1000)
					Secrets: st.Secrets, Versions: st.Versions, RotationInProgress: st.RotationInProgress}
				for _, k := range st.KEKs {
					out.Keks = append(out.Keks, &palyrav1.KEKStatus{KekId: k.ID, Envelopes: k.Envelopes, Active: k.Active})
				}
				return out, nil
			}),
		guard.Unary(g, palyrav1connect.VaultServiceRotateKEKProcedure, authz.ActionVaultAdmin, guard.Write,
			func(_ authn.Caller, _ *palyrav1.VaultRotateKEKRequest) (struct{}, guard.Target, error) {
				return struct{}{}, vaultAdminTarget, nil
			},
			func(ctx context.Context, _ authn.Caller, _ struct{}) (*palyrav1.VaultRotateKEKResponse, error) {
				res, err := d.vault.RotateKEK(ctx)
				if err != nil {
					return nil, err
				}
				return &palyrav1.VaultRotateKEKResponse{KekId: res.KEKID, Rewrapped: res.Rewrapped, Retired: res.Retired}, nil
			}),
		guard.Unary(g, palyrav1connect.VaultServiceListProcedure, authz.ActionVaultList, guard.Read,
			func(_ authn.Caller, m *palyrav1.VaultListRequest) (vault.ListOptions, guard.Target, error) {
				opts := vault.ListOptions{Scope: m.GetScope(), Limit: int(m.GetLimit())}
				if opts.Limit == 0 {
					opts.Limit = d.cfg.Vault.ListPageDefault
				}
				if opts.Limit < 0 || opts.Limit > vault.MaxListLimit {
					return opts, guard.Target{}, fmt.Errorf("vault: list: %w: %d, want 0 (default) or 1..%d", vault.ErrInvalidLimit, opts.Limit, vault.MaxListLimit)
				}
				if opts.Scope != "" {
					if err := vault.ValidScope(opts.Scope); err != nil {
						return opts, guard.Target{}, err
					}
				}
				if a := m.GetAfter(); a != "" {
					ref, err := vault.ParseRef(a)
					if err != nil {
						return opts, guard.Target{}, err
					}
					opts.After = ref
				}
				id := authz.AllScopes
				if opts.Scope != "" {
					id = opts.Scope
				}
				return opts, guard.Target{Resource: authz.Resource{Type: authz.ResourceVault, ID: id}}, nil
			},
			func(ctx context.Context, _ authn.Caller, opts vault.ListOptions) (*palyrav1.VaultListResponse, error) {
				page, err := d.vault.List(ctx, opts)
				if err != nil {
					return nil, err
				}
				out := &palyrav1.VaultListResponse{}
				if len(page) == opts.Limit {
					out.NextAfter = page[len(page)-1].Ref.String()
				}
				for _, e := range page {
					out.Secrets = append(out.Secrets, &palyrav1.SecretEntry{Ref: e.Ref.String(), Version: e.Version, CreatedUnix: e.CreatedAt.Unix(), UpdatedUnix: e.UpdatedAt.Unix()})
				}
				return out, nil
			}),
	}
}

// vaultAdminTarget is the resource of the vault-wide procedures (Status,
// RotateKEK): Vault::"*".
var vaultAdminTarget = guard.Target{Resource: authz.Resource{Type: authz.ResourceVault, ID: authz.AllScopes}}

// versionedRef is a validated ref with a version: 0 for the latest (Get) or
// every version (Delete).
type versionedRef struct {
	ref     vault.Ref
	version int64
}

// vaultPut is a validated VaultService.Put request.
type vaultPut struct {
	ref   vault.Ref
	value []byte
}

// secretTarget is the Secret resource of ref (the engine puts its scope in
// the context).
func secretTarget(ref vault.Ref) guard.Target {
	return guard.Target{Resource: authz.SecretResource(ref.Scope, ref.Key)}
}
