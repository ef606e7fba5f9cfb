package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/vault/envelope"
)

// bulkPut stores version 1 of each ref (none may exist yet) in one
// transaction, writing exactly the rows Put writes (sealed envelope, bound
// to the ref and version 1) without one commit per secret.
func bulkPut(tb testing.TB, v *Vault, refs []Ref) {
	tb.Helper()
	ctx := context.Background()
	v.mu.RLock()
	defer v.mu.RUnlock()
	err := v.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, sqlInsertVersion)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, ref := range refs {
			kek := v.keys.Load().active
			env, err := kek.Seal(envelope.Binding{Scope: ref.Scope, Key: ref.Key, SecretVersion: 1}, []byte(ref.String()))
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, ref.Scope, ref.Key, 1, int64(i), env, "", kek.ID()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// manyRefs returns n refs spread over scopes of 1000 keys each, in List
// order.
func manyRefs(n int) []Ref {
	refs := make([]Ref, n)
	for i := range refs {
		refs[i] = Ref{Scope: fmt.Sprintf("user:u%05d", i/1000), Key: fmt.Sprintf("k%05d", i%1000)}
	}
	return refs
}

// listAll pages through List with opts until a short page, checking every
// page's size, and returns the concatenation.
func listAll(t *testing.T, v *Vault, opts ListOptions) []Ref {
	t.Helper()
	limit := opts.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	var all []Ref
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("paging does not terminate")
		}
		page, err := v.List(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d entries, limit %d", len(page), limit)
		}
		for _, e := range page {
			all = append(all, e.Ref)
		}
		if len(page) < limit {
			return all
		}
		opts.After = page[len(page)-1].Ref
	}
}

func refStrings(refs []Ref) []string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return s
}

func TestListPaging(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	names := []string{
		"user:bob/b", "global/z", "user:alice/a", "global/A", "tool:x/k", "global/a",
		"connector:slack/bot", "device:01JABCDEFGHJKMNPQRSTVWXYZ0/k", "user:alice/B", "user:alice/c", "user:alice/d",
		"user:alice/e", "user:alice.x/a", "user:bo/z", "global/m", "global/n",
	}
	var want []Ref
	for _, n := range names {
		r := mustRef(t, n)
		mustPut(t, v, r, "v")
		want = append(want, r)
	}
	mustPut(t, v, mustRef(t, "global/z"), "v2") // a second version lists once
	slices.SortFunc(want, func(a, b Ref) int {
		if c := strings.Compare(a.Scope, b.Scope); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})

	for _, limit := range []int{1, 2, 3, 5, len(want) - 1, len(want), len(want) + 1, 0, MaxListLimit} {
		got := listAll(t, v, ListOptions{Limit: limit})
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: pages give\n%v\nwant\n%v", limit, refStrings(got), refStrings(want))
		}
	}

	var alice []Ref
	for _, r := range want {
		if r.Scope == "user:alice" {
			alice = append(alice, r)
		}
	}
	for _, limit := range []int{1, 2, 4, 5, 6} {
		got := listAll(t, v, ListOptions{Scope: "user:alice", Limit: limit})
		if !slices.Equal(got, alice) {
			t.Fatalf("scope user:alice, limit %d: pages give %v, want %v", limit, refStrings(got), refStrings(alice))
		}
	}

	// After is exclusive and positional: it need not exist.
	for _, tc := range []struct {
		opts ListOptions
		want []string
	}{
		{ListOptions{After: Ref{"global", "a"}, Limit: 2}, []string{"global/m", "global/n"}},
		{ListOptions{After: Ref{"global", "b"}, Limit: 2}, []string{"global/m", "global/n"}},
		{ListOptions{After: Ref{"global", "z"}, Limit: 1}, []string{"tool:x/k"}},
		{ListOptions{After: Ref{"device:00000000000000000000000000", "zzz"}, Limit: 1}, []string{"device:01JABCDEFGHJKMNPQRSTVWXYZ0/k"}},
		{ListOptions{After: Ref{"user:bob", "b"}}, []string{}},
		{ListOptions{After: Ref{"user:zzz", "a"}}, []string{}},
		{ListOptions{Scope: "user:alice", After: Ref{"user:alice", "c"}}, []string{"user:alice/d", "user:alice/e"}},
		{ListOptions{Scope: "user:alice", After: Ref{"user:alice", "cc"}, Limit: 1}, []string{"user:alice/d"}},
		{ListOptions{Scope: "user:alice", After: Ref{"user:alice", "e"}}, []string{}},
		// Scope filters exactly: not a prefix match.
		{ListOptions{Scope: "user:bo"}, []string{"user:bo/z"}},
		{ListOptions{Scope: "user:alice.x"}, []string{"user:alice.x/a"}},
		{ListOptions{Scope: "user:carol"}, []string{}},
	} {
		page, err := v.List(ctx, tc.opts)
		if err != nil {
			t.Errorf("List(%+v): %v", tc.opts, err)
			continue
		}
		if page == nil {
			t.Errorf("List(%+v) = nil, want an empty page", tc.opts)
		}
		got := []string{}
		for _, e := range page {
			got = append(got, e.Ref.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.opts, got, tc.want)
		}
	}

	// The latest version, listed on every page size.
	page, err := v.List(ctx, ListOptions{After: Ref{"global", "n"}, Limit: 1})
	if err != nil || len(page) != 1 || page[0].Ref != (Ref{"global", "z"}) || page[0].Version != 2 {
		t.Errorf("List after global/n = %+v, %v; want global/z version 2", page, err)
	}

	// A cursor survives the deletion of the secret it names.
	if err := v.Delete(ctx, Ref{"user:alice", "c"}); err != nil {
		t.Fatal(err)
	}
	page, err = v.List(ctx, ListOptions{Scope: "user:alice", After: Ref{"user:alice", "c"}, Limit: 1})
	if err != nil || len(page) != 1 || page[0].Ref.Key != "d" {
		t.Errorf("List after a deleted cursor = %+v, %v", page, err)
	}
}

func TestListEmptyVault(t *testing.T) {
	v, _, _ := openTestVault(t)
	for _, opts := range []ListOptions{{}, {Scope: "global"}, {After: Ref{"global", "k"}}, {Limit: 1}} {
		page, err := v.List(context.Background(), opts)
		if err != nil || page == nil || len(page) != 0 {
			t.Errorf("List(%+v) of an empty vault = %#v, %v; want an empty page", opts, page, err)
		}
	}
}

func TestListLimit(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	bulkPut(t, v, manyRefs(MaxListLimit+1))
	for _, tc := range []struct{ limit, want int }{
		{0, DefaultListLimit},
		{1, 1},
		{DefaultListLimit + 1, DefaultListLimit + 1},
		{MaxListLimit, MaxListLimit},
	} {
		page, err := v.List(ctx, ListOptions{Limit: tc.limit})
		if err != nil || len(page) != tc.want {
			t.Errorf("List(Limit: %d) = %d entries, %v; want %d", tc.limit, len(page), err, tc.want)
		}
	}
	for _, limit := range []int{-1, MaxListLimit + 1, int(^uint(0) >> 1), -int(^uint(0)>>1) - 1} {
		if page, err := v.List(ctx, ListOptions{Limit: limit}); !errors.Is(err, ErrInvalidLimit) || page != nil {
			t.Errorf("List(Limit: %d) = %d entries, %v; want ErrInvalidLimit", limit, len(page), err)
		}
	}
	if DefaultListLimit < 1 || DefaultListLimit > MaxListLimit {
		t.Errorf("DefaultListLimit %d outside 1..MaxListLimit %d", DefaultListLimit, MaxListLimit)
	}
	// The entries are the bulk-inserted ones, each readable as Put left it.
	page, err := v.List(ctx, ListOptions{Scope: "user:u00001", Limit: 1})
	if err != nil || len(page) != 1 || page[0].Ref != (Ref{"user:u00001", "k00000"}) {
		t.Fatalf("List(user:u00001) = %+v, %v", page, err)
	}
	if got, err := v.Get(ctx, page[0].Ref); err != nil || string(got) != "user:u00001/k00000" {
		t.Errorf("Get(%s) = %q, %v", page[0].Ref, got, err)
	}
}

func TestListRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	mustPut(t, v, Ref{"global", "k"}, "v")
	for _, opts := range []ListOptions{
		{Scope: "user"},
		{Scope: "User:alice"},
		{Scope: "user:alice/a"},
		{Scope: " global"},
		{After: Ref{Scope: "global"}},                 // key missing
		{After: Ref{Key: "k"}},                        // scope missing
		{After: Ref{"global", "a/b"}},                 // not a valid key
		{After: Ref{"Global", "k"}},                   // not a valid scope
		{Scope: "global", After: Ref{"user:a", "k"}},  // cursor outside the scope
		{Scope: "user:a", After: Ref{"user:ab", "k"}}, // nor a longer one
		{Scope: "global", After: Ref{"global", "k "}}, // invalid key in scope
	} {
		if page, err := v.List(ctx, opts); !errors.Is(err, ErrInvalidRef) || page != nil {
			t.Errorf("List(%+v) = %+v, %v; want ErrInvalidRef", opts, page, err)
		}
	}
}

// TestListQueryPlans pins what keeps a page fast however many secrets are
// stored: both list queries seek into the primary key with a range on
// (scope, key), read rows in index order (no sort), and answer each
// correlated subquery with a primary-key seek.
func TestListQueryPlans(t *testing.T) {
	_, path, _ := openTestVault(t)
	db := rawDB(t, path)
	for _, tc := range []struct {
		query string
		args  []any
		want  string
	}{
		{sqlListAll, []any{"global", "k", 10}, "SEARCH v USING PRIMARY KEY ((scope,key)>(?,?))"},
		{sqlListScope, []any{"global", "k", 10}, "SEARCH v USING PRIMARY KEY (scope=? AND key>?)"},
	} {
		rows, err := db.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if !slices.Contains(plan, tc.want) {
			t.Errorf("plan lacks %q:\n%s", tc.want, text)
		}
		for _, bad := range []string{"SCAN", "TEMP B-TREE", "AUTOMATIC"} {
			if strings.Contains(text, bad) {
				t.Errorf("plan contains %s:\n%s", bad, text)
			}
		}
	}
}

// BenchmarkListPage lists one page of DefaultListLimit entries from a vault
// of 100,000 secrets (100 scopes of 1,000 keys, one version each): from the
// start, from the middle across all scopes, and from the middle of one
// scope.
func BenchmarkListPage(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	v, _, _ := openTestVault(b)
	refs := manyRefs(n)
	bulkPut(b, v, refs)
	mid := refs[n/2]
	for _, bc := range []struct {
		name string
		opts ListOptions
	}{
		{"first", ListOptions{}},
		{"after", ListOptions{After: mid}},
		{"scope", ListOptions{Scope: mid.Scope, After: mid}},
		{"scope-first", ListOptions{Scope: mid.Scope}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := v.List(ctx, bc.opts)
				if err != nil || len(page) != DefaultListLimit {
					b.Fatalf("%d entries, %v", len(page), err)
				}
			}
		})
	}
}
