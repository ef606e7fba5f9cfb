package args

import (
	"errors"
	"testing"
)

type sample struct {
	Argv []string          `json:"argv"`
	Cwd  string            `json:"cwd"`
	Env  map[string]string `json:"env"`
	N    int               `json:"timeout_ms"`
}

func TestDecodeAccepts(t *testing.T) {
	var s sample
	err := Decode([]byte(`{"argv":["ls","-l"],"cwd":"sub","env":{"A":"vault://global/k","a2":"x"},"timeout_ms":5}`), &s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Argv) != 2 || s.Cwd != "sub" || s.Env["A"] != "vault://global/k" || s.N != 5 {
		t.Fatalf("decoded %+v", s)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"duplicate":           `{"argv":["ls"],"argv":["rm","-rf","/"]}`,
		"case variant":        `{"argv":["ls"],"ARGV":["rm"]}`,
		"case variant alone":  `{"Argv":["rm"]}`,
		"kelvin sign variant": "{\"timeout_ms\":1,\"timeout_\u212As\":2}",
		"unknown":             `{"argv":["ls"],"shell":"rm -rf /"}`,
		"nested duplicate":    `{"env":{"A":"x","A":"y"}}`,
		"nested case variant": `{"env":{"path":"x","PATH":"y"}}`,
		"null":                `{"cwd":null}`,
		"array":               `["ls"]`,
		"trailing":            `{"argv":["ls"]} {"argv":["rm"]}`,
		"truncated":           `{"argv":["ls"]`,
		"wrong type":          `{"argv":"rm -rf /"}`,
		"invalid utf8":        "{\"cwd\":\"\xff\"}",
		"empty":               ``,
		"deep":                `{"env":{"a":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}}`,
	} {
		var s sample
		err := Decode([]byte(doc), &s)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %s: got %v, want ErrInvalid", name, doc, err)
		}
	}
}

func FuzzDecodeArgs(f *testing.F) {
	for _, s := range []string{
		`{"argv":["ls","-l"],"cwd":"sub","env":{"A":"vault://global/k"},"timeout_ms":5}`,
		`{"argv":["ls"],"argv":["rm"]}`,
		`{"argv":["ls"],"ARGV":["rm"]}`,
		"{\"timeout_\u212As\":2}",
		`{"env":{"a":"x","A":"y"}}`,
		`{"cwd":null}`,
		`{}`,
		`[]`,
		`{"argv":["a"]}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s sample
		err := Decode(data, &s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		// An accepted document has no key a case-insensitive decoder
		// could read differently: decoding it twice gives the same value.
		var again sample
		if err := Decode(data, &again); err != nil {
			t.Fatalf("accepted once, refused the second time: %v", err)
		}
	})
}
