package authz

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	exptypes "github.com/cedar-policy/cedar-go/x/exp/types"
)

// corpusCase is one test of the Cedar corpus shipped in the cedar-go module
// (corpus-tests.tar.gz): a schema, policies, entities and requests with the
// expected answers of the Rust reference implementation.
type corpusCase struct {
	Schema   string `json:"schema"`
	Policies string `json:"policies"`
	Entities string `json:"entities"`
	Requests []struct {
		Desc      string           `json:"description"`
		Principal *types.EntityUID `json:"principal"`
		Action    *types.EntityUID `json:"action"`
		Resource  *types.EntityUID `json:"resource"`
		Context   types.Record     `json:"context"`
		Decision  cedar.Decision   `json:"decision"`
		Reasons   []cedar.PolicyID `json:"reason"`
		Errors    []cedar.PolicyID `json:"errors"`
	} `json:"requests"`
}

// corpusArchive returns the path of corpus-tests.tar.gz in the cedar-go
// module the build uses.
func corpusArchive(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cedar-policy/cedar-go").Output()
	if err != nil {
		t.Fatalf("locate the cedar-go module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "corpus-tests.tar.gz")
}

// readTarGz returns the regular files of a .tar.gz archive by name.
func readTarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

// TestIndexMatchesPlainCorpus runs every request of the Cedar corpus
// against the corpus case's own schema, entities and policies, evaluated
// plainly and through the index. Plain evaluation must give the corpus's
// expected decision, reasons and erroring policies (so the case was loaded
// as cedar-go's own corpus test loads it), and the index must give exactly
// the plain outcome, error messages and positions included. Then each
// request runs again against its case's policies mixed with other cases'.
func TestIndexMatchesPlainCorpus(t *testing.T) {
	files := readTarGz(t, corpusArchive(t))
	var names []string
	for name := range files {
		if strings.HasSuffix(name, ".json") && !strings.HasSuffix(name, ".entities.json") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) < 1000 {
		t.Fatalf("the corpus has %d cases; expected thousands", len(names))
	}
	// loaded keeps each case's policies, entities and requests for the
	// mixed sets below.
	type loadedCase struct {
		ps   *cedar.PolicySet
		ents types.EntityMap
		reqs []cedar.Request
	}
	var loaded []loadedCase
	cases, requests, evaluated, total := 0, 0, 0, 0
	for _, name := range names {
		var c corpusCase
		if err := json.Unmarshal(files[name], &c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var s schema.Schema
		s.SetFilename("corpus.cedarschema")
		if err := s.UnmarshalCedar(files[c.Schema]); err != nil {
			t.Fatalf("%s: schema: %v", name, err)
		}
		rs, err := s.Resolve()
		if err != nil {
			t.Fatalf("%s: resolve schema: %v", name, err)
		}
		var ents exptypes.EntityMap
		if err := ents.UnmarshalJSONWithSchema(files[c.Entities], rs); err != nil {
			t.Fatalf("%s: entities: %v", name, err)
		}
		ps, err := cedar.NewPolicySetFromBytes("policy.cedar", files[c.Policies])
		if err != nil {
			t.Fatalf("%s: policies: %v", name, err)
		}
		ix := newPolicyIndex(ps)
		n := 0
		for range ps.All() {
			n++
		}
		cases++
		lc := loadedCase{ps: ps, ents: types.EntityMap(ents)}
		for _, r := range c.Requests {
			req := cedar.Request{Context: r.Context}
			for _, f := range []struct {
				dst *types.EntityUID
				src *types.EntityUID
			}{{&req.Principal, r.Principal}, {&req.Action, r.Action}, {&req.Resource, r.Resource}} {
				if f.src != nil {
					*f.dst = *f.src
				}
			}
			plain := authorize(ps, types.EntityMap(ents), req)
			var reasons, errs []cedar.PolicyID
			for _, x := range plain.Reasons {
				reasons = append(reasons, x.PolicyID)
			}
			for _, x := range plain.Errors {
				errs = append(errs, x.PolicyID)
			}
			slices.Sort(r.Reasons)
			slices.Sort(r.Errors)
			if plain.Decision != r.Decision || !slices.Equal(reasons, r.Reasons) || !slices.Equal(errs, r.Errors) {
				t.Fatalf("%s %s: plain evaluation gives %v %q %q, the corpus expects %v %q %q",
					name, r.Desc, plain.Decision, reasons, errs, r.Decision, r.Reasons, r.Errors)
			}
			if diff := differ(ps, ix, types.EntityMap(ents), req, &evaluated); diff != "" {
				t.Fatalf("%s %s: %s\npolicies:\n%s", name, r.Desc, diff, files[c.Policies])
			}
			requests++
			total += n
			lc.reqs = append(lc.reqs, req)
		}
		loaded = append(loaded, lc)
	}
	t.Logf("%d corpus cases, %d requests: indexed and plain identical, and plain as the corpus expects; the index evaluated %d of %d policies",
		cases, requests, evaluated, total)

	// Each corpus case holds one or two policies, so the index has little
	// to leave out. Run every request again against a larger set: its own
	// policies plus those of the next mixWith cases, whose scopes name
	// other entity types, hierarchies and actions (15 cases, or 63 with
	// PALYRA_LONG_TESTS=1).
	mixWith := 15
	if longTests() {
		mixWith = 63
	}
	mixed, evaluated, total := 0, 0, 0
	for i, lc := range loaded {
		ps := cedar.NewPolicySet()
		for j := i; j <= i+mixWith; j++ {
			for id, p := range loaded[j%len(loaded)].ps.All() {
				ps.Add(cedar.PolicyID(fmt.Sprintf("case%d.%s", j%len(loaded), id)), p)
			}
		}
		ix := newPolicyIndex(ps)
		n := len(ix.policies)
		for _, req := range lc.reqs {
			if diff := differ(ps, ix, lc.ents, req, &evaluated); diff != "" {
				t.Fatalf("%s mixed with the next %d cases: %s", names[i], mixWith, diff)
			}
			mixed++
			total += n
		}
	}
	t.Logf("%d requests against their case's policies and the next %d cases': indexed and plain identical; the index evaluated %d of %d policies",
		mixed, mixWith, evaluated, total)
}
