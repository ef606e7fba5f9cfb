package config

import (
	"strings"
	"testing"
)

func TestPolicyDir(t *testing.T) {
	cfg, err := Parse([]byte(`policy_dir = "/etc/palyra/policies"`), Defaults())
	if err != nil || cfg.PolicyDir != "/etc/palyra/policies" {
		t.Fatalf("absolute: %+v, %v", cfg.PolicyDir, err)
	}
	if _, err := Parse([]byte(`policy_dir = "policies"`), Defaults()); err == nil || !strings.Contains(err.Error(), "policy_dir") {
		t.Fatalf("relative: err = %v", err)
	}
	if _, err := Parse([]byte(`Policy_Dir = "/x"`), Defaults()); err == nil || !strings.Contains(err.Error(), "Policy_Dir") {
		t.Fatalf("case variant: err = %v", err)
	}
}
