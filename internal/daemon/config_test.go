package daemon

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	good := `
listen = "127.0.0.1:9000"
server_names = ["palyra.home.arpa", "10.0.0.5"]
server_cert_ttl = "12h"
client_cert_ttl = "1h"
log_level = "debug"
log_format = "json"
`
	cfg, err := ParseConfig([]byte(good), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || time.Duration(cfg.ServerCertTTL) != 12*time.Hour || len(cfg.ServerNames) != 2 || cfg.LogFormat != "json" {
		t.Fatalf("parsed %+v", cfg)
	}
	for name, bad := range map[string]string{
		"unknown key":      `lisen = "127.0.0.1:1"`,
		"case variant key": `Listen = "127.0.0.1:1"`,
		"duplicate key":    "listen = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"",
		"wrong type":       `listen = 5`,
		"bad duration":     `server_cert_ttl = "forever"`,
		"ttl too long":     `client_cert_ttl = "10000h"`,
		"ttl too short":    `server_cert_ttl = "1ms"`,
		"bad listen":       `listen = "nope"`,
		"bad level":        `log_level = "loud"`,
		"bad name":         `server_names = ["a b"]`,
		"nested unknown":   "[vault]\nkey = 1",
	} {
		if _, err := ParseConfig([]byte(bad), Defaults()); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
	if _, err := ParseConfig([]byte(strings.Repeat("#", MaxConfigBytes+1)), Defaults()); err == nil {
		t.Error("accepted an oversized config")
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, ":1": false, "192.168.1.2:1": false} {
		c := Defaults()
		c.Listen = addr
		if got := c.loopbackOnly(); got != want {
			t.Errorf("%s: loopbackOnly = %v", addr, got)
		}
	}
}

// FuzzParseConfig: any input is either a config that validates or an
// error; never a panic, never an accepted invalid config.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("listen = \"127.0.0.1:0\"\nserver_cert_ttl = \"2s\"\n"))
	f.Add([]byte("server_names = [\"a\", \"::1\"]\nlog_format = \"json\"\n"))
	f.Add([]byte("[x]\ny = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, Defaults())
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("accepted a config that does not validate: %v", verr)
			}
		}
	})
}
