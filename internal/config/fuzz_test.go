package config

import (
	"reflect"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// FuzzParse checks, for any input: Parse never panics; on error it returns
// the zero Config; an accepted config validates; and an accepted config
// encoded again with toml.Marshal parses back to the same Config, whether
// over Defaults or over the zero Config (the encoding is complete). The
// seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, Defaults())
		if err != nil {
			if !reflect.DeepEqual(cfg, Config{}) {
				t.Fatalf("error %v came with a non-zero Config %+v", err, cfg)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted a config that does not validate: %v", err)
		}
		out, err := toml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal %+v: %v", cfg, err)
		}
		for _, base := range []Config{Defaults(), {}} {
			back, err := Parse(out, base)
			if err != nil {
				t.Fatalf("re-encoded config rejected: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, cfg) {
				t.Fatalf("round trip changed the config:\n%+v\n%s\n%+v", cfg, out, back)
			}
		}
	})
}
