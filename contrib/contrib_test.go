package contrib

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var units = []string{"systemd/user/palyrad.service", "systemd/system/palyrad.service"}

// directives returns the unit's non-comment lines, trimmed.
func directives(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, ";") {
			lines = append(lines, l)
		}
	}
	return lines
}

// Both units carry the hardening the project promises, as directives (not
// in comments).
func TestUnitsHardened(t *testing.T) {
	common := []string{
		"LimitCORE=0", "UMask=0077", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "LockPersonality=yes", "MemoryDenyWriteExecute=yes",
		"SystemCallFilter=@system-service", "Restart=on-failure", "StateDirectory=palyra", "StateDirectoryMode=0700",
	}
	extra := map[string][]string{
		"systemd/user/palyrad.service":   {"ProtectHome=read-only", "ReadWritePaths=-%S/palyra", "WantedBy=default.target"},
		"systemd/system/palyrad.service": {"User=palyra", "ProtectHome=yes", "CapabilityBoundingSet=", "ReadWritePaths=/var/lib/palyra", "WantedBy=multi-user.target"},
	}
	for _, u := range units {
		have := directives(t, u)
		for _, want := range append(common, extra[u]...) {
			found := false
			for _, l := range have {
				found = found || l == want
			}
			if !found {
				t.Errorf("%s lacks %q", u, want)
			}
		}
		var exec string
		for _, l := range have {
			if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
				exec = v
			}
		}
		if !regexp.MustCompile(`palyrad --state-dir \S+/state$`).MatchString(exec) {
			t.Errorf("%s: ExecStart=%s; want palyrad --state-dir .../state (a directory of its own to create it in)", u, exec)
		}
	}
}

// systemd itself accepts the units without a warning, when systemd-analyze
// is installed. The binary is replaced by /bin/true, since palyrad is not
// installed where the units expect it.
func TestUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(?m)^ExecStart=\S+`)
		data = re.ReplaceAll(data, []byte("ExecStart=/bin/true"))
		dir := t.TempDir()
		path := filepath.Join(dir, "palyrad.service")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// The system manager's view parses every directive of both units
		// (a user manager may not be available where the tests run).
		cmd := exec.Command(sa, "verify", "--man=no", path)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if len(out) > 0 && strings.Contains(string(out), "Failed to initialize manager") {
			t.Skipf("systemd-analyze cannot run here: %s", out)
		}
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
	}
}

// The launchd agent is a well-formed property list naming palyrad, with a
// 0077 umask and no core files.
func TestLaunchdPlist(t *testing.T) {
	data, err := os.ReadFile("launchd/dev.palyra.palyrad.plist")
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var texts []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("plist: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			if s := strings.TrimSpace(string(cd)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	flat := strings.Join(texts, " ")
	for _, want := range []string{"Label dev.palyra.palyrad", "ProgramArguments /usr/local/bin/palyrad", "Umask 63", "SoftResourceLimits Core 0", "HardResourceLimits Core 0", "SuccessfulExit"} {
		if !strings.Contains(flat, want) {
			t.Errorf("plist lacks %q (has %q)", want, flat)
		}
	}
}
