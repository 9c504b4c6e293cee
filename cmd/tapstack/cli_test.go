package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// oneLine asserts that s is exactly one line starting with "tapstack: " and
// containing want.
func oneLine(t *testing.T, s, want string) {
	t.Helper()
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("stderr is not exactly one line: %q", s)
	}
	if !strings.HasPrefix(s, "tapstack: ") {
		t.Fatalf("stderr does not start with \"tapstack: \": %q", s)
	}
	if !strings.Contains(s, want) {
		t.Fatalf("stderr %q does not mention %q", s, want)
	}
	if strings.Contains(s, "goroutine ") || strings.Contains(s, "Usage of") {
		t.Fatalf("stderr has a trace or usage dump: %q", s)
	}
}

func TestUsageErrors(t *testing.T) {
	base := []string{"up", "--tap", "tap0", "--addr", "10.0.0.2/24"}
	with := func(extra ...string) []string { return append(append([]string(nil), base...), extra...) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"down"}, `unknown command "down"`},
		{"unknown flag", with("--frobnicate"), "unknown flag -frobnicate"},
		{"flag without value", []string{"up", "--tap"}, "flag -tap needs a value"},
		{"stray argument", with("extra"), `unexpected argument "extra"`},
		{"missing tap", []string{"up", "--addr", "10.0.0.2/24"}, "needs --tap"},
		{"missing addr", []string{"up", "--tap", "tap0"}, "needs --addr"},
		{"tap name too long", []string{"up", "--tap", "abcdefghijklmnopq", "--addr", "10.0.0.2/24"}, "too long"},
		{"tap name with slash", []string{"up", "--tap", "a/b", "--addr", "10.0.0.2/24"}, "not a valid interface name"},
		{"cidr without prefix", []string{"up", "--tap", "tap0", "--addr", "10.0.0.2"}, `malformed --addr "10.0.0.2"`},
		{"cidr garbage", []string{"up", "--tap", "tap0", "--addr", "ten.0.0.2/24"}, "malformed --addr"},
		{"cidr bad length", []string{"up", "--tap", "tap0", "--addr", "10.0.0.2/33"}, "malformed --addr"},
		{"cidr ipv6", []string{"up", "--tap", "tap0", "--addr", "fd00::2/64"}, "malformed --addr"},
		{"cidr network address", []string{"up", "--tap", "tap0", "--addr", "10.0.0.0/24"}, "network or broadcast"},
		{"cidr broadcast address", []string{"up", "--tap", "tap0", "--addr", "10.0.0.255/24"}, "network or broadcast"},
		{"cidr unspecified", []string{"up", "--tap", "tap0", "--addr", "0.0.0.0/0"}, "cannot be a host address"},
		{"gateway garbage", with("--gateway", "10.0.0"), `malformed --gateway "10.0.0"`},
		{"gateway off subnet", with("--gateway", "10.0.1.1"), "not inside --addr subnet 10.0.0.0/24"},
		{"gateway is self", with("--gateway", "10.0.0.2"), "own address"},
		{"mac garbage", with("--mac", "02:00:00:00:00"), `malformed --mac "02:00:00:00:00"`},
		{"mac not hex", with("--mac", "zz:00:00:00:00:01"), "malformed --mac"},
		{"mac multicast", with("--mac", "01:00:5e:00:00:01"), "not a unicast address"},
		{"mac zero", with("--mac", "00:00:00:00:00:00"), "not a unicast address"},
		{"mtu not a number", with("--mtu", "big"), `malformed --mtu "big"`},
		{"mtu too small", with("--mtu", "67"), "out of range"},
		{"mtu too large", with("--mtu", "65522"), "out of range"},
		{"mtu negative", with("--mtu", "-1"), "out of range"},
		{"bridge equals tap", with("--bridge", "tap0"), "both"},
		{"faults unknown name", with("--faults", "explode=5%"), "malformed --faults"},
		{"faults bad rate", with("--faults", "loss=200%"), "malformed --faults"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr, nil)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			oneLine(t, stderr.String(), tt.want)
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

func TestParseUpValid(t *testing.T) {
	cfg, err := parseUp([]string{"--tap", "tap0", "--bridge=br0", "--addr", "10.0.0.2/24", "--gateway", "10.0.0.1", "--mac", "02:AA:bb:00:00:01", "-mtu", "9000"})
	if err != nil {
		t.Fatal(err)
	}
	want := upConfig{
		Tap: "tap0", Bridge: "br0", Addr: netip.MustParsePrefix("10.0.0.2/24"),
		Gateway: netip.MustParseAddr("10.0.0.1"), MAC: stack.MAC{2, 0xaa, 0xbb, 0, 0, 1}, MTU: 9000,
	}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	cfg, err = parseUp([]string{"--tap", "t", "--addr", "192.168.1.1/32"})
	if err != nil || cfg.MTU != 1500 || cfg.Gateway.IsValid() || !cfg.MAC.IsZero() {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"up", "--help"}, {"version"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr, nil); code != exitOK {
			t.Errorf("%v: exit %d", args, code)
		}
		if stderr.Len() != 0 || !strings.Contains(stdout.String(), "tapstack") {
			t.Errorf("%v: stdout %q stderr %q", args, stdout.String(), stderr.String())
		}
	}
}
