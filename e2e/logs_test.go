package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusalsAreLogged: the daemon logs a refused handshake (a revoked
// device) and a denied decision, naming the device and never its key.
func TestRefusalsAreLogged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	bundle := filepath.Join(t.TempDir(), "laptop")
	d := startDaemon(t, dir)
	must(t, nil, "--state-dir", dir, "devices", "enroll", "--name", "laptop", "--out", bundle)
	var id struct {
		DeviceID string `json:"device_id"`
		Seed     []byte `json:"ed25519_seed"`
	}
	b, err := os.ReadFile(filepath.Join(bundle, "identity.json"))
	if err != nil || json.Unmarshal(b, &id) != nil || id.DeviceID == "" {
		t.Fatalf("bundle identity: %v", err)
	}
	fails(t, 3, "", nil, "--identity", bundle, "devices", "revoke", id.DeviceID) // denied by policy
	must(t, nil, "--state-dir", dir, "devices", "revoke", id.DeviceID)
	fails(t, 3, "", nil, "--identity", bundle, "status") // refused in the handshake
	d.stop(t)
	logs := d.logs.String()
	for _, want := range []string{`msg=denied principal="Device::\"` + id.DeviceID, `msg="refused a client certificate in the TLS handshake" device_id=` + id.DeviceID} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, string(b)) || strings.Contains(strings.ToLower(logs), "seed") {
		t.Error("the log mentions the device's key")
	}
}
