package main

import (
	"strings"
	"testing"
)

// TestUpTraceFlag: --trace takes a filter ("all" for everything) and a
// malformed one is a usage error naming the word.
func TestUpTraceFlag(t *testing.T) {
	base := []string{"--tap", "tap0", "--addr", "10.0.0.2/24"}
	cfg, err := parseUp(base)
	if err != nil || cfg.Trace != nil {
		t.Fatalf("no --trace: %v %v", cfg.Trace, err)
	}
	for flag, want := range map[string]string{"tcp port 80": "tcp port 80", "all": "", "": ""} {
		cfg, err := parseUp(append(base, "--trace", flag))
		if err != nil || cfg.Trace == nil || cfg.Trace.String() != want {
			t.Errorf("--trace %q: %v, %v", flag, cfg.Trace, err)
		}
	}
	_, err = parseUp(append(base, "--trace", "tcp prot 80"))
	if err == nil || !strings.Contains(err.Error(), `"prot"`) {
		t.Errorf("--trace 'tcp prot 80': %v", err)
	}
	if err := runTrace([]string{"tcp and"}, nil, nil); err == nil || !strings.Contains(err.Error(), "too early") {
		t.Errorf("trace 'tcp and': %v", err)
	}
}
