package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gofrs/flock"
	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/statedir"
)

// vaultProviderCmd is `palyra vault provider`: where the master key is
// kept, and moving it between providers.
func vaultProviderCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "provider", Short: "Move the master key between providers (file, passphrase, keyring, env), with palyrad stopped",
		Example: "  palyra vault provider migrate --to passphrase\n  palyra vault provider migrate --to env --out /run/secrets/palyra-master-key"})
	var to, out string
	migrate := &cobra.Command{
		Use:   "migrate --to KIND",
		Short: "Move the master key to another provider, offline; the data is not touched",
		Long: "Move the state directory's master key to provider KIND (file, passphrase, keyring or env).\n" +
			"palyrad must be stopped: migrate takes its lock (palyrad.lock) and refuses while it is held.\n\n" +
			"Order: (1) the key is loaded from its current provider and checked against state.json;\n" +
			"(2) the new form is written (master.key.sealed, the keyring entry, master.key, or the --out file\n" +
			"for env) and (3) opened again to check that it gives the same key; (4) state.json is updated\n" +
			"atomically: from then on the new provider is the one palyrad expects; (5) the old form is removed.\n" +
			"A failure before (4) leaves the directory as it was; no key is ever kept unsealed in two places by\n" +
			"migrate except with --to env, whose --out file is the key in clear by nature.\n\n" +
			"The passphrase (old or new) is read from PALYRA_PASSPHRASE_FILE, else asked on the terminal;\n" +
			"the env key from PALYRA_MASTER_KEY. Then set [master_key] provider = KIND in palyrad's\n" +
			"configuration: palyrad refuses to start when the two differ, naming both.",
		Example: "  palyra --state-dir ~/.local/state/palyra vault provider migrate --to passphrase\n" +
			"  PALYRA_PASSPHRASE_FILE=pw palyra vault provider migrate --to env --out key.b64\n" +
			"  PALYRA_MASTER_KEY=\"$(cat key.b64)\" palyra vault provider migrate --to file",
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if g.identity != "" {
				return usagef("vault provider migrate works on the local state directory: use --state-dir, not --identity")
			}
			if !masterkey.ValidProvider(to) {
				return usagef("--to %q: want one of %s", to, strings.Join(masterkey.Providers, ", "))
			}
			if (to == masterkey.ProviderEnv) != (out != "") {
				return usagef("--out FILE goes with --to env, and only with it: the file receives the value to give palyrad in %s", masterkey.EnvMasterKey)
			}
			l, err := g.localLayout()
			if err != nil {
				return err
			}
			res, err := migrateKey(c.Context(), l, to, out)
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("moved the master key of %s from provider %s to %s; set in palyrad's configuration:\n  [master_key]\n  provider = %q", l.Dir, res["from"], to, to)
			switch to {
			case masterkey.ProviderEnv:
				msg += fmt.Sprintf("\nand start palyrad with %s set to the content of %s (0600); delete that file once it is stored where your containers get their secrets", masterkey.EnvMasterKey, out)
			case masterkey.ProviderPassphrase:
				msg += fmt.Sprintf("\nand start palyrad with %s naming a 0600 file holding the passphrase, or on a terminal", masterkey.EnvPassphraseFile)
			}
			if res["from"] == masterkey.ProviderEnv {
				msg += fmt.Sprintf("\n%s is no longer needed: remove it from palyrad's environment", masterkey.EnvMasterKey)
			}
			return g.report(res, "%s", msg)
		},
	}
	migrate.Flags().StringVar(&to, "to", "", "provider to move the master key to: file, passphrase, keyring or env")
	migrate.Flags().StringVar(&out, "out", "", "with --to env: a new 0600 file to receive the key (base64), the value of "+masterkey.EnvMasterKey)
	cmd.AddCommand(migrate)
	return cmd
}

// migrateKey moves the master key of l to provider to (see the migrate
// command's help for the order of the steps and why).
func migrateKey(ctx context.Context, l statedir.Layout, to, out string) (map[string]any, error) {
	lk := flock.New(l.Lock, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	locked, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", l.Lock, err)
	}
	if !locked {
		return nil, deniedError{fmt.Sprintf("palyrad is running on %s (it holds palyrad.lock): stop it first; the master key moves only offline", l.Dir)}
	}
	defer lk.Unlock()

	in, err := l.Inspect(ctx)
	if err != nil {
		return nil, err
	}
	if in.State != statedir.Recorded {
		return nil, fmt.Errorf("%s has no %s: start palyrad on it once (with --record-state if it asks) before moving its master key", l.Dir, statedir.ManifestFile)
	}
	if len(in.Problems) > 0 {
		return nil, &statedir.ProblemError{Dir: l.Dir, Problems: in.Problems}
	}
	from := in.KeyProvider
	if from == to {
		return nil, usagef("the master key of %s is already kept with provider %s", l.Dir, to)
	}
	src := masterkey.Source{}.Remember()

	// (1) Load it from where it is, and check it is this directory's key.
	mk, err := masterkey.Open(from, l.Dir, src)
	if err != nil {
		return nil, err
	}
	check := mk.CheckValue()
	if r := in.Manifest.MasterKey; r != nil && r.Check != check {
		return nil, fmt.Errorf("the master key from provider %s is not this state directory's (its check value differs from the one in %s); nothing was changed", from, statedir.ManifestFile)
	}

	// (2) Write the new form, and (3) check that it opens to the same key.
	var got *masterkey.Key
	if to == masterkey.ProviderEnv {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the output path the operator named on the command line
		if err != nil {
			return nil, fmt.Errorf("--out: %w (it must not exist)", err)
		}
		_, werr := f.WriteString(mk.Base64() + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			os.Remove(out)
			return nil, fmt.Errorf("--out: %w", err)
		}
		b, err := os.ReadFile(out) // #nosec G304 -- the output path the operator named on the command line
		if err == nil {
			got, err = masterkey.Open(masterkey.ProviderEnv, l.Dir, masterkey.Source{
				Getenv:   func(string) string { return string(b) },
				Unsetenv: func(string) error { return nil },
			})
			clear(b)
		}
		if err != nil {
			os.Remove(out)
			return nil, err
		}
	} else {
		// The new provider's passphrase, when it is passphrase: the old one
		// was not (from != to), so src has asked for none yet.
		if err := masterkey.Store(mk, to, l.Dir, l.Dir, src); err != nil {
			return nil, err
		}
		got, err = masterkey.Open(to, l.Dir, src)
		if err != nil {
			masterkey.Remove(to, l.Dir, src)
			return nil, fmt.Errorf("the new form does not open; the master key stays with provider %s: %w", from, err)
		}
	}
	if !got.Equal(mk) {
		masterkey.Remove(to, l.Dir, src)
		return nil, fmt.Errorf("the new form opens to another key; the master key stays with provider %s", from)
	}

	// (4) The commit point: state.json names the new provider.
	if err := l.SetKeyProvider(ctx, to, check); err != nil {
		if to != masterkey.ProviderEnv {
			masterkey.Remove(to, l.Dir, src)
		}
		return nil, err
	}
	// (5) Remove the old form.
	if err := masterkey.Remove(from, l.Dir, src); err != nil {
		return nil, fmt.Errorf("moved to provider %s (state.json updated) but the old form could not be removed; remove it by hand: %w", to, err)
	}
	res := map[string]any{"state_dir": l.Dir, "from": from, "to": to, "config": fmt.Sprintf("[master_key] provider = %q", to)}
	if out != "" {
		res["out"] = out
	}
	return res, nil
}
