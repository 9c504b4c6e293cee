package main

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestDHCPUsageErrors: --dhcp, --dns, --hostname and --no-offload mistakes
// are one line and exit status 2.
func TestDHCPUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"dhcp and addr", []string{"up", "--tap", "tap0", "--dhcp", "--addr", "10.0.0.2/24"}, "--dhcp and --addr 10.0.0.2/24 exclude each other"},
		{"dhcp with nic only", []string{"up", "--nic", "tap0,addr=10.0.0.2/24", "--dhcp"}, "--dhcp goes with --tap"},
		{"dhcp and gateway", []string{"up", "--tap", "tap0", "--dhcp", "--gateway", "10.0.0.1"}, "--gateway 10.0.0.1 and --dhcp exclude each other"},
		{"no addr nor dhcp", []string{"up", "--tap", "tap0"}, "needs --addr CIDR (the host's address, e.g. 10.0.0.2/24 or fd00::2/64), --dhcp or --vlan"},
		{"dns garbage", []string{"up", "--tap", "tap0", "--dhcp", "--dns", "ten"}, `malformed --dns "ten"`},
		{"dns multicast", []string{"up", "--tap", "tap0", "--dhcp", "--dns", "ff02::1"}, `malformed --dns "ff02::1"`},
		{"dns unspecified", []string{"up", "--tap", "tap0", "--dhcp", "--dns", "0.0.0.0"}, "malformed --dns"},
		{"dns twice", []string{"up", "--tap", "tap0", "--dhcp", "--dns", "10.0.0.1", "--dns", "10.0.0.1"}, "--dns 10.0.0.1 is given twice"},
		{"dns without value", []string{"up", "--tap", "tap0", "--dhcp", "--dns"}, "flag --dns needs a value"},
		{"hostname without dhcp", []string{"up", "--tap", "tap0", "--addr", "10.0.0.2/24", "--hostname", "vm1"}, "--hostname is sent to the DHCP server"},
		{"hostname with dot", []string{"up", "--tap", "tap0", "--dhcp", "--hostname", "vm1.lan"}, "malformed --hostname"},
		{"no-offload with value", []string{"up", "--tap", "tap0", "--dhcp", "--no-offload=maybe"}, "malformed boolean"},
		{"dhcp-wait negative", []string{"up", "--tap", "tap0", "--dhcp", "--dhcp-wait", "-1s"}, "cannot be negative"},
		{"dhcp-wait garbage", []string{"up", "--tap", "tap0", "--dhcp", "--dhcp-wait", "soon"}, "malformed duration"},
		{"resolve without name", []string{"resolve"}, "resolve needs a host name"},
		{"resolve with flag last", []string{"resolve", "--tap"}, "resolve needs a host name"},
		{"resolve extra argument", []string{"resolve", "a", "b"}, `unexpected argument "a" to resolve`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr, nil); code != exitUsage {
				t.Errorf("exit status %d, want %d (stderr %q)", code, exitUsage, stderr.String())
			}
			oneLine(t, stderr.String(), tt.want)
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

func TestParseUpDHCP(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want upConfig
	}{
		{"dhcp", []string{"--tap", "tap0", "--bridge", "br0", "--dhcp"}, upConfig{
			Taps: []tapConfig{{Name: "tap0", Bridge: "br0", MTU: 1500}},
			NICs: []nicConfig{{Tap: "tap0", DHCP: true}},
		}},
		{"dhcp with dns, hostname, no offload, test knobs", []string{"--tap", "tap0", "--dhcp", "--dns", "10.0.0.1", "--dns=192.0.2.53", "--hostname", "vm1", "--no-offload", "--dhcp-wait", "3s", "--dhcp-renew", "2s"}, upConfig{
			Taps:      []tapConfig{{Name: "tap0", MTU: 1500}},
			NICs:      []nicConfig{{Tap: "tap0", DHCP: true}},
			DNS:       []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.53")},
			Hostname:  "vm1",
			NoOffload: true,
			DHCPWait:  3 * time.Second,
			DHCPRenew: 2 * time.Second,
		}},
		{"dhcp and a static VLAN", []string{"--tap", "tap0", "--dhcp", "--vlan", "10:10.0.10.2/24"}, upConfig{
			Taps: []tapConfig{{Name: "tap0", MTU: 1500}},
			NICs: []nicConfig{{Tap: "tap0", DHCP: true}, {Tap: "tap0", VLAN: 10, Addr: netip.MustParsePrefix("10.0.10.2/24")}},
		}},
		{"static address with dns", []string{"--tap", "tap0", "--addr", "10.0.0.2/24", "--dns", "10.0.0.1"}, upConfig{
			Taps: []tapConfig{{Name: "tap0", MTU: 1500}},
			NICs: []nicConfig{{Tap: "tap0", Addr: netip.MustParsePrefix("10.0.0.2/24")}},
			DNS:  []netip.Addr{netip.MustParseAddr("10.0.0.1")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseUp(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", cfg, tt.want)
			}
		})
	}
}
