package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// contribSample is the commented sample configuration shipped in contrib/.
var contribSample = filepath.Join("..", "..", "contrib", "config.toml")

// The sample sets every key, to exactly its default, so it cannot drift
// from the code: a new key, a changed default or a misspelt key fails here.
func TestContribSampleIsDefaults(t *testing.T) {
	data, err := os.ReadFile(contribSample)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, Config{})
	if err != nil {
		t.Fatalf("%s: %v", contribSample, err)
	}
	if !reflect.DeepEqual(cfg, Defaults()) {
		t.Errorf("%s is not the defaults:\n%+v\nwant\n%+v", contribSample, cfg, Defaults())
	}
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range tomlKeys(reflect.TypeFor[Config](), "") {
		if !hasKey(raw, strings.Split(key, ".")) {
			t.Errorf("%s does not show key %q", contribSample, key)
		}
	}
}

// tomlKeys lists the dotted keys of every leaf field of t, by toml tag,
// descending into embedded structs (keys at the same level) and tables.
func tomlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		if f.Anonymous {
			keys = append(keys, tomlKeys(f.Type, prefix)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			keys = append(keys, tomlKeys(f.Type, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

func hasKey(m map[string]any, path []string) bool {
	v, ok := m[path[0]]
	if !ok || len(path) == 1 {
		return ok
	}
	sub, ok := v.(map[string]any)
	return ok && hasKey(sub, path[1:])
}
