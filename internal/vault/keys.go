package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/palyra/palyra/internal/sqlitedb"
	"github.com/palyra/palyra/internal/vault/envelope"
)

// Retention bounds (Options.Retention, the [vault] retention setting).
const (
	// DefaultRetention is the number of versions kept per secret by default.
	DefaultRetention = 10
	// MaxRetention is the largest retention.
	MaxRetention = 1000
)

// DefaultRewrapBatch is the number of envelopes RotateKEK re-wraps per
// transaction.
const DefaultRewrapBatch = 500

// ErrNoKEK means the KEK of a generation the vault needs cannot be derived
// (Open was given one KEK and the vault has been rotated past it, or a
// rotation was asked of a vault opened with a single KEK).
var ErrNoKEK = errors.New("KEK not available")

// Options configure OpenWith.
type Options struct {
	// Derive returns the 32-byte KEK of a generation (>= 1); the vault
	// copies it and clears the returned slice. The daemon derives generation
	// 1 with the HKDF label "vault-kek" and generation N > 1 with
	// "vault-kek/N" (masterkey.Key.Derive).
	Derive func(generation int64) ([]byte, error)
	// Retention is the number of versions Put keeps per secret: 0 keeps
	// every version, otherwise 1..MaxRetention.
	Retention int
	// RewrapBatch is the number of envelopes re-wrapped per transaction by
	// a rotation; 0 means DefaultRewrapBatch.
	RewrapBatch int
	// AfterBatch, if set, runs after each committed re-wrap batch with the
	// number re-wrapped so far by this rotation (for tests).
	AfterBatch func(rewrapped int64)
}

// KEKID returns the KEK id of a generation: baseID for generation 1 (so
// vaults created before rotation existed keep theirs), baseID + ":" + N
// after.
func KEKID(baseID string, generation int64) string {
	if generation == 1 {
		return baseID
	}
	return baseID + ":" + strconv.FormatInt(generation, 10)
}

// keyring is an immutable set of the KEKs not retired.
type keyring struct {
	active    *envelope.KEK
	activeGen int64
	byID      map[string]*envelope.KEK
}

// forEnvelope returns the KEK an envelope names.
func (k *keyring) forEnvelope(env []byte) (*envelope.KEK, error) {
	if k == nil {
		return nil, ErrClosed
	}
	e, err := envelope.Parse(env)
	if err != nil {
		return nil, err
	}
	kek, ok := k.byID[e.KEKID]
	if !ok {
		return nil, fmt.Errorf("%w: envelope names KEK %q, which this vault does not hold", envelope.ErrWrongKEK, e.KEKID)
	}
	return kek, nil
}

// newKEK derives generation gen's KEK, clearing the derived bytes.
func (v *Vault) newKEK(gen int64) (*envelope.KEK, error) {
	key, err := v.derive(gen)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return envelope.NewKEK(KEKID(v.baseID, gen), key)
}

// OpenWith opens or creates the vault database at path like Open, with the
// KEKs of every generation the vault uses coming from opts.Derive; baseID is
// the KEK id of generation 1. Each KEK not retired is derived and checked
// against its check envelope, so a wrong master key fails at once with
// ErrIntegrity. If a rotation was interrupted (more than one KEK is not
// retired), OpenWith finishes it before returning.
func OpenWith(ctx context.Context, path, baseID string, opts Options) (*Vault, error) {
	if err := envelope.ValidKEKID(KEKID(baseID, MaxRetention)); err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", path, err)
	}
	if opts.Derive == nil {
		return nil, fmt.Errorf("vault: open %s: no KEK source", path)
	}
	if opts.Retention < 0 || opts.Retention > MaxRetention {
		return nil, fmt.Errorf("vault: open %s: retention %d out of range [0, %d]", path, opts.Retention, MaxRetention)
	}
	db, err := sqlitedb.Open(ctx, path, migrations)
	if err != nil {
		return nil, fmt.Errorf("vault: open: %w", err)
	}
	v := &Vault{db: db, now: time.Now, baseID: baseID, derive: opts.Derive, retention: opts.Retention,
		batch: opts.RewrapBatch, afterBatch: opts.AfterBatch}
	if v.batch <= 0 {
		v.batch = DefaultRewrapBatch
	}
	if err := v.loadKeys(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("vault: open %s: %w", path, err)
	}
	if err := v.stmts.prepare(ctx, db); err != nil {
		v.stmts.close()
		db.Close()
		return nil, fmt.Errorf("vault: open %s: prepare: %w", path, err)
	}
	if len(v.keys.Load().byID) > 1 {
		if _, err := v.RotateKEK(ctx); err != nil {
			v.Close()
			return nil, fmt.Errorf("vault: open %s: resume rotation: %w", path, err)
		}
	}
	return v, nil
}

// loadKeys sets up the KEK generations in one immediate transaction: a new
// vault gets generation 1 and its check record; a vault from before
// generations existed has its kek_check record adopted as generation 1 and
// its envelopes labelled; otherwise every KEK not retired is derived and
// checked.
func (v *Vault) loadKeys(ctx context.Context) error {
	return v.write(ctx, func(tx *sql.Tx) error {
		var base string
		err := tx.QueryRowContext(ctx, sqlSelectBaseKEK).Scan(&base)
		if errors.Is(err, sql.ErrNoRows) {
			return v.initKeys(ctx, tx)
		}
		if err != nil {
			return err
		}
		if base != v.baseID {
			return fmt.Errorf("%w: the vault was created under KEK id %q, not %q", ErrIntegrity, base, v.baseID)
		}
		rows, err := tx.QueryContext(ctx, sqlSelectKEKs)
		if err != nil {
			return err
		}
		defer rows.Close()
		ring := &keyring{byID: map[string]*envelope.KEK{}}
		for rows.Next() {
			var gen int64
			var id string
			var check []byte
			if err := rows.Scan(&gen, &id, &check); err != nil {
				return err
			}
			if id != KEKID(v.baseID, gen) {
				return fmt.Errorf("%w: KEK generation %d is named %q", ErrIntegrity, gen, id)
			}
			kek, err := v.newKEK(gen)
			if err != nil {
				return err
			}
			if gen == 1 {
				// Generation 1's check is the vault's original record.
				if err := tx.QueryRowContext(ctx, sqlSelectKEKCheck).Scan(&check); err != nil {
					return fmt.Errorf("%w: KEK check record: %w", ErrIntegrity, err)
				}
			}
			if _, err := kek.Open(kekCheckBinding, check); err != nil {
				return fmt.Errorf("%w: the KEK %s does not open its check record: %w", ErrIntegrity, id, err)
			}
			ring.byID[id] = kek
			ring.active, ring.activeGen = kek, gen
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if ring.active == nil {
			return fmt.Errorf("%w: every KEK is retired", ErrIntegrity)
		}
		v.keys.Store(ring)
		return nil
	})
}

// initKeys records generation 1 (see loadKeys).
func (v *Vault) initKeys(ctx context.Context, tx *sql.Tx) error {
	kek, err := v.newKEK(1)
	if err != nil {
		return err
	}
	var check []byte
	err = tx.QueryRowContext(ctx, sqlSelectKEKCheck).Scan(&check)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if check, err = kek.Seal(kekCheckBinding, nil); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlInsertKEKCheck, check); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if _, err := kek.Open(kekCheckBinding, check); err != nil {
			if errors.Is(err, envelope.ErrWrongKEK) {
				return fmt.Errorf("%w: the vault was created under another KEK id: %w", ErrIntegrity, err)
			}
			return fmt.Errorf("%w: the KEK does not open this vault's KEK check: %w", ErrIntegrity, err)
		}
	}
	if _, err := tx.ExecContext(ctx, sqlInsertKEK, 1, kek.ID(), v.now().UnixNano(), nil); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, sqlFillKEKIDs, kek.ID()); err != nil {
		return err
	}
	v.keys.Store(&keyring{active: kek, activeGen: 1, byID: map[string]*envelope.KEK{kek.ID(): kek}})
	return nil
}

// RotateResult reports a rotation.
type RotateResult struct {
	// KEKID is the active KEK after the rotation.
	KEKID string
	// Rewrapped is the number of DEKs this call re-wrapped.
	Rewrapped int64
	// Retired are the KEK ids no envelope uses any more, retired by this call.
	Retired []string
}

// RotateKEK makes a new KEK generation active and re-wraps every DEK under
// it, DefaultRewrapBatch (Options.RewrapBatch) envelopes per transaction,
// without decrypting any value (envelope.Rewrap). The new generation is
// recorded, with its check record, before the first envelope is re-wrapped,
// and new writes use it at once. If a rotation is already unfinished (more
// than one KEK not retired, after a crash), RotateKEK finishes that one
// instead of starting another. When no envelope names an older KEK, those
// KEKs are retired: they are never derived again.
func (v *Vault) RotateKEK(ctx context.Context) (RotateResult, error) {
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return RotateResult{}, fmt.Errorf("vault: rotate: %w", ErrClosed)
	}
	v.rotating.Store(true)
	defer v.rotating.Store(false)
	var res RotateResult
	if len(v.keys.Load().byID) == 1 {
		if err := v.startRotation(ctx); err != nil {
			return res, fmt.Errorf("vault: rotate: %w", err)
		}
	}
	target := v.keys.Load().active.ID()
	res.KEKID = target
	var after struct {
		scope, key string
		version    int64
	}
	for {
		n, err := v.rewrapBatch(ctx, target, &after.scope, &after.key, &after.version)
		if err != nil {
			return res, fmt.Errorf("vault: rotate: %w", err)
		}
		res.Rewrapped += int64(n)
		if n < v.batch {
			break
		}
		if v.afterBatch != nil {
			v.afterBatch(res.Rewrapped)
		}
	}
	retired, err := v.retire(ctx, target)
	if err != nil {
		return res, fmt.Errorf("vault: rotate: %w", err)
	}
	res.Retired = retired
	return res, nil
}

// startRotation records the next generation and makes it active.
func (v *Vault) startRotation(ctx context.Context) error {
	var kek *envelope.KEK
	var gen int64
	err := v.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, sqlMaxGeneration).Scan(&gen); err != nil {
			return err
		}
		gen++
		var err error
		if kek, err = v.newKEK(gen); err != nil {
			return err
		}
		check, err := kek.Seal(kekCheckBinding, nil)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlInsertKEK, gen, kek.ID(), v.now().UnixNano(), check)
		return err
	})
	if err != nil {
		return err
	}
	old := v.keys.Load()
	ring := &keyring{active: kek, activeGen: gen, byID: map[string]*envelope.KEK{kek.ID(): kek}}
	for id, k := range old.byID {
		ring.byID[id] = k
	}
	v.keys.Store(ring)
	return nil
}

// rewrapBatch re-wraps, in one transaction, up to v.batch envelopes after
// the cursor that do not name target, and moves the cursor.
func (v *Vault) rewrapBatch(ctx context.Context, target string, scope, key *string, version *int64) (int, error) {
	n := 0
	err := v.write(ctx, func(tx *sql.Tx) error {
		n = 0
		ring := v.keys.Load()
		to := ring.byID[target]
		rows, err := tx.QueryContext(ctx, sqlRewrapBatch, *scope, *key, *version, target, v.batch)
		if err != nil {
			return err
		}
		type row struct {
			scope, key, kekID string
			version           int64
			env               []byte
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.scope, &r.key, &r.version, &r.kekID, &r.env); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, r := range batch {
			from, err := ring.forEnvelope(r.env)
			if err != nil {
				return fmt.Errorf("%w: %s/%s version %d: %w", ErrIntegrity, r.scope, r.key, r.version, err)
			}
			env, err := envelope.Rewrap(from, to, envelope.Binding{Scope: r.scope, Key: r.key, SecretVersion: r.version}, r.env)
			if err != nil {
				return fmt.Errorf("%w: %s/%s version %d: %w", ErrIntegrity, r.scope, r.key, r.version, err)
			}
			if _, err := tx.ExecContext(ctx, sqlUpdateEnvelope, env, target, r.scope, r.key, r.version); err != nil {
				return err
			}
		}
		n = len(batch)
		if n > 0 {
			last := batch[n-1]
			*scope, *key, *version = last.scope, last.key, last.version
		}
		return nil
	})
	return n, err
}

// retire marks every KEK but target retired once no envelope names one.
func (v *Vault) retire(ctx context.Context, target string) ([]string, error) {
	var retired []string
	ring := v.keys.Load()
	err := v.write(ctx, func(tx *sql.Tx) error {
		counts, err := countByKEK(ctx, tx)
		if err != nil {
			return err
		}
		for id, n := range counts {
			if id != target && n > 0 {
				return fmt.Errorf("%d envelopes still name KEK %s", n, id)
			}
		}
		retired = retired[:0]
		for id := range ring.byID {
			if id != target {
				retired = append(retired, id)
			}
		}
		_, err = tx.ExecContext(ctx, sqlRetireKEKs, v.now().UnixNano(), target)
		return err
	})
	if err != nil {
		return nil, err
	}
	v.keys.Store(&keyring{active: ring.active, activeGen: ring.activeGen, byID: map[string]*envelope.KEK{target: ring.active}})
	sort.Strings(retired)
	// The old wrapped DEKs were overwritten under secure_delete; empty the
	// log of their old frames too.
	v.scrub(ctx)
	return retired, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func countByKEK(ctx context.Context, q querier) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, sqlCountByKEK)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// KEKStatus is one KEK not retired.
type KEKStatus struct {
	ID        string
	Envelopes int64
	Active    bool
}

// Status describes the vault without reading any value.
type Status struct {
	// KEKs are the KEKs not retired, oldest first.
	KEKs []KEKStatus
	// Retention is the number of versions kept per secret (0: all).
	Retention int
	// Secrets and Versions count the stored secrets and their versions.
	Secrets, Versions int64
	// RotationInProgress is true while a rotation runs or is unfinished.
	RotationInProgress bool
}

// Status returns the vault's KEKs and counts. It reads every row's KEK id
// (one table scan) and no envelope.
func (v *Vault) Status(ctx context.Context) (Status, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return Status{}, fmt.Errorf("vault: status: %w", ErrClosed)
	}
	ring := v.keys.Load()
	counts, err := countByKEK(ctx, v.db)
	if err != nil {
		return Status{}, fmt.Errorf("vault: status: %w", err)
	}
	st := Status{Retention: v.retention, RotationInProgress: v.rotating.Load() || len(ring.byID) > 1}
	for gen := int64(1); gen <= ring.activeGen; gen++ {
		id := KEKID(v.baseID, gen)
		if _, ok := ring.byID[id]; !ok {
			continue
		}
		st.KEKs = append(st.KEKs, KEKStatus{ID: id, Envelopes: counts[id], Active: gen == ring.activeGen})
	}
	for _, n := range counts {
		st.Versions += n
	}
	if err := v.db.QueryRowContext(ctx, sqlCountSecrets).Scan(&st.Secrets); err != nil {
		return Status{}, fmt.Errorf("vault: status: %w", err)
	}
	return st, nil
}

// VersionInfo describes one stored version, without its value.
type VersionInfo struct {
	Version   int64
	CreatedAt time.Time
	// Size is the value's length in bytes.
	Size int64
	// Principal is the writer's Cedar UID, "" if not recorded.
	Principal string
}

// History returns the kept versions of ref, oldest first. The size of each
// value is found by opening its envelope (the stored length hides it to a
// 256-byte bucket); the value is cleared at once and never returned. Errors
// wrap ErrInvalidRef, ErrNotFound, ErrIntegrity or ErrClosed.
func (v *Vault) History(ctx context.Context, ref Ref) ([]VersionInfo, error) {
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("vault: history: %w", err)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return nil, fmt.Errorf("vault: history %s: %w", ref, ErrClosed)
	}
	rows, err := v.db.QueryContext(ctx, sqlHistory, ref.Scope, ref.Key)
	if err != nil {
		return nil, fmt.Errorf("vault: history %s: %w", ref, err)
	}
	defer rows.Close()
	var out []VersionInfo
	for rows.Next() {
		var vi VersionInfo
		var created int64
		var env sql.RawBytes
		if err := rows.Scan(&vi.Version, &created, &vi.Principal, &env); err != nil {
			return nil, fmt.Errorf("vault: history %s: %w", ref, err)
		}
		val, err := v.open(ref, vi.Version, env)
		if err != nil {
			return nil, err
		}
		vi.Size = int64(len(val))
		clear(val)
		vi.CreatedAt = time.Unix(0, created).UTC()
		out = append(out, vi)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: history %s: %w", ref, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("vault: history %s: %w", ref, ErrNotFound)
	}
	return out, nil
}
