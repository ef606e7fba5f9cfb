package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/config"
)

// palyrad's log masks the shapes of credentials, in text and JSON, in the
// message and in attributes.
func TestLoggerRedacts(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log := newLogger(config.Daemon{LogLevel: "info", LogFormat: format}, &buf)
		log.Info("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 seen",
			"dir", "/tmp/sk-abcdefghijklmnopqrstuvwx",
			"err", errors.New("Authorization: Bearer abcdefghijklmnop"))
		out := buf.String()
		for _, leak := range []string{"ghp_", "sk-abc", "abcdefghijklmnop"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s log holds %q: %s", format, leak, out)
			}
		}
		for _, want := range []string{"[redacted:github]", "[redacted:openai]", "Bearer [redacted:bearer]"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s log lacks %q: %s", format, want, out)
			}
		}
	}
}
