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
				return vaultPut{ref, m.GetValue()}, t, err
			},
			func(ctx context.Context, _ authn.Caller, p vaultPut) (*palyrav1.VaultPutResponse, error) {
				v, err := d.vault.Put(ctx, p.ref, p.value)
				if err != nil {
					return nil, err
				}
				return &palyrav1.VaultPutResponse{Version: v}, nil
			}),
		guard.Unary(g, palyrav1connect.VaultServiceGetProcedure, authz.ActionVaultRead, guard.Read,
			func(_ authn.Caller, m *palyrav1.VaultGetRequest) (vault.Ref, guard.Target, error) {
				ref, err := vault.ParseRef(m.GetRef())
				return ref, secretTarget(ref), err
			},
			func(ctx context.Context, _ authn.Caller, ref vault.Ref) (*palyrav1.VaultGetResponse, error) {
				val, err := d.vault.Get(ctx, ref)
				if err != nil {
					return nil, err
				}
				return &palyrav1.VaultGetResponse{Value: val}, nil
			}),
		guard.Unary(g, palyrav1connect.VaultServiceDeleteProcedure, authz.ActionVaultDelete, guard.Write,
			func(_ authn.Caller, m *palyrav1.VaultDeleteRequest) (vault.Ref, guard.Target, error) {
				ref, err := vault.ParseRef(m.GetRef())
				return ref, secretTarget(ref), err
			},
			func(ctx context.Context, _ authn.Caller, ref vault.Ref) (*palyrav1.VaultDeleteResponse, error) {
				return &palyrav1.VaultDeleteResponse{}, d.vault.Delete(ctx, ref)
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
