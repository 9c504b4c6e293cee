package main

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/host"
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
		{"unknown flag", with("--frobnicate"), "unknown flag --frobnicate for up (see tapstack up --help)"},
		{"flag without value", []string{"up", "--tap"}, "flag --tap needs a value"},
		{"stray argument", with("extra"), `unexpected argument "extra"`},
		{"missing tap", []string{"up", "--addr", "10.0.0.2/24"}, "needs --tap"},
		{"missing addr", []string{"up", "--tap", "tap0"}, "needs --addr"},
		{"tap name too long", []string{"up", "--tap", "abcdefghijklmnopq", "--addr", "10.0.0.2/24"}, "too long"},
		{"tap name with slash", []string{"up", "--tap", "a/b", "--addr", "10.0.0.2/24"}, "not a valid interface name"},
		{"cidr without prefix", []string{"up", "--tap", "tap0", "--addr", "10.0.0.2"}, `malformed --addr "10.0.0.2"`},
		{"cidr garbage", []string{"up", "--tap", "tap0", "--addr", "ten.0.0.2/24"}, "malformed --addr"},
		{"cidr bad length", []string{"up", "--tap", "tap0", "--addr", "10.0.0.2/33"}, "malformed --addr"},
		{"cidr ipv4-mapped", []string{"up", "--tap", "tap0", "--addr", "::ffff:10.0.0.2/120"}, "malformed --addr"},
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
		{"cc unknown", with("--cc", "vegas"), `unknown --cc "vegas": want one of bbrlite, cubic, reno`},

		// A TUN.
		{"tun and tap", []string{"up", "--tun", "tun0", "--tap", "tap0", "--addr", "10.0.0.2/24"}, "--tun and --tap exclude each other"},
		{"tun with bridge", []string{"up", "--tun", "tun0", "--bridge", "br0", "--addr", "10.0.0.2/24"}, "--bridge does not go with --tun"},
		{"tun with dhcp", []string{"up", "--tun", "tun0", "--dhcp"}, "--dhcp needs Ethernet"},
		{"tun with vlan", []string{"up", "--tun", "tun0", "--vlan", "10:10.0.10.2/24"}, "--vlan does not go with --tun"},
		{"tun without addr", []string{"up", "--tun", "tun0"}, "up needs --addr"},

		// Several interfaces, routes, forwarding.
		{"nic without addr", []string{"up", "--nic", "tap1,bridge=br1"}, "needs addr=CIDR"},
		{"nic bad key", []string{"up", "--nic", "tap1,addr=10.0.1.1/24,colour=red"}, `unknown key "colour"`},
		{"nic not key=value", []string{"up", "--nic", "tap1,10.0.1.1/24"}, "is not KEY=VALUE"},
		{"nic empty value", []string{"up", "--nic", "tap1,addr="}, "is not KEY=VALUE"},
		{"nic key twice", []string{"up", "--nic", "tap1,addr=10.0.1.1/24,mtu=1500,mtu=1400"}, "mtu given twice"},
		{"nic same addr twice", []string{"up", "--nic", "tap1,addr=fd00::1/64,addr=fd00::1/64"}, "the address is given twice"},
		{"nic bad tap", []string{"up", "--nic", ",addr=10.0.1.1/24"}, "empty interface name"},
		{"nic bad addr", []string{"up", "--nic", "tap1,addr=10.0.1.1"}, "malformed --nic tap1,addr=10.0.1.1: addr"},
		{"nic bad mtu", []string{"up", "--nic", "tap1,addr=10.0.1.1/24,mtu=9"}, "out of range"},
		{"nic bad mac", []string{"up", "--nic", "tap1,addr=10.0.1.1/24,mac=01:00:00:00:00:01"}, "not a unicast address"},
		{"nic bad vlan", []string{"up", "--nic", "tap1,addr=10.0.1.1/24,vlan=4095"}, "not a VLAN ID in 1..4094"},
		{"nic bad pcp", []string{"up", "--nic", "tap1,addr=10.0.1.1/24,vlan=10:8"}, "priority"},
		{"nic bridge is tap", []string{"up", "--nic", "tap1,bridge=tap1,addr=10.0.1.1/24"}, "both"},
		{"two untagged on one tap", []string{"up", "--nic", "tap1,addr=10.0.1.1/24", "--nic", "tap1,addr=10.0.2.1/24"}, "two untagged interfaces"},
		{"vlan twice", []string{"up", "--nic", "t,addr=10.0.1.1/24,vlan=10", "--nic", "t,addr=10.0.2.1/24,vlan=10"}, "configured twice"},
		{"tap bridges disagree", []string{"up", "--nic", "t,bridge=a,addr=10.0.1.1/24", "--nic", "t,bridge=b,addr=10.0.2.1/24,vlan=2"}, "given bridges a and b"},
		{"tap mtus disagree", []string{"up", "--nic", "t,mtu=1400,addr=10.0.1.1/24", "--nic", "t,mtu=1500,addr=10.0.2.1/24,vlan=2"}, "given MTUs"},
		{"same address twice", []string{"up", "--nic", "t1,addr=10.0.1.1/24", "--nic", "t2,addr=10.0.1.1/16"}, "is on both t1 and t2"},
		{"bridge flag with nic only", []string{"up", "--nic", "t1,addr=10.0.1.1/24", "--bridge", "br0"}, "--bridge goes with --tap"},
		{"gateway off every subnet", []string{"up", "--nic", "t1,addr=10.0.1.1/24", "--nic", "t2,addr=10.0.2.1/24", "--gateway", "10.0.3.1"}, "not inside the subnet of any interface (10.0.1.0/24, 10.0.2.0/24)"},
		{"route garbage prefix", with("--route", "10.1.0.0,via=10.0.0.1"), `malformed --route "10.1.0.0,via=10.0.0.1"`},
		{"route host bits", with("--route", "10.1.0.1/16,via=10.0.0.1"), "has host bits set (did you mean 10.1.0.0/16?)"},
		{"route no via", with("--route", "10.1.0.0/16"), "needs via=IP"},
		{"route bad via", with("--route", "default,via=10.0.0"), `via "10.0.0" is not an address of the prefix's family (IPv4)`},
		{"route via off subnet", with("--route", "default,via=10.9.0.1"), "10.9.0.1 is not inside the subnet of any interface"},
		{"route via self", with("--route", "default,via=10.0.0.2"), "own address"},
		{"route unknown dev", with("--route", "default,via=10.0.0.1,dev=eth9"), `no interface "eth9" (interfaces: tap0)`},
		{"route unknown key", with("--route", "default,gw=10.0.0.1"), `unknown key "gw"`},
		{"route twice", with("--route", "default,via=10.0.0.1", "--route", "default,via=10.0.0.1"), "given twice"},
		{"route repeats gateway", with("--gateway", "10.0.0.1", "--route", "default,via=10.0.0.1"), "repeats --gateway"},
		{"forward with value", with("--forward=yes"), "malformed boolean"},

		// VLANs and ARP.
		{"vlan garbage", with("--vlan", "ten:10.0.10.2/24"), "malformed --vlan"},
		{"vlan bad address", with("--vlan", "10:10.0.10.0/24"), "network or broadcast"},
		{"vlan without tap", []string{"up", "--nic", "t1,addr=10.0.1.1/24", "--vlan", "10:10.0.10.2/24"}, "--vlan goes with --tap"},
		{"arp garbage", with("--arp", "10.0.0.7"), "malformed --arp"},
		{"arp bad mac", with("--arp", "10.0.0.7=ff:ff:ff:ff:ff:ff"), "malformed --arp"},
		{"arp off subnet", with("--arp", "10.9.0.7=02:00:00:00:00:07"), "not inside any interface's subnet"},
		{"arp-proxy garbage", with("--arp-proxy", "10.0.0/24"), "malformed --arp-proxy"},
		{"pcap with two taps", []string{"up", "--nic", "t1,addr=10.0.1.1/24", "--nic", "t2,addr=10.0.2.1/24", "--pcap", "x.pcap"}, "--pcap captures one TAP"},

		// The table commands.
		{"route stray argument", []string{"route", "x"}, `unexpected argument "x" to route`},
		{"route unknown flag", []string{"route", "--all"}, "unknown flag --all for route"},
		{"route both families", []string{"route", "-4", "-6"}, "route: -4 and -6 exclude each other"},
		{"neigh both families", []string{"neigh", "-6", "-4"}, "neigh: -4 and -6 exclude each other"},
		{"neigh stray argument", []string{"neigh", "fd00::1"}, `unexpected argument "fd00::1" to neigh`},
		{"arp bad -d", []string{"arp", "--tap", "tap0", "-d", "10.0.0"}, `malformed arp -d "10.0.0"`},
		{"arp -d and flush", []string{"arp", "--tap", "tap0", "-d", "10.0.0.1", "--flush"}, "exclude each other"},
		{"arp bad tap", []string{"arp", "--tap", "a/b"}, "not a valid interface name"},
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
		Taps:    []tapConfig{{Name: "tap0", Bridge: "br0", MAC: stack.MAC{2, 0xaa, 0xbb, 0, 0, 1}, MTU: 9000}},
		NICs:    []nicConfig{{Tap: "tap0", Addr: netip.MustParsePrefix("10.0.0.2/24")}},
		Gateway: netip.MustParseAddr("10.0.0.1"),
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	cfg, err = parseUp([]string{"--tap", "t", "--addr", "192.168.1.1/32"})
	if err != nil || cfg.Taps[0].MTU != 1500 || cfg.Gateway.IsValid() || !cfg.Taps[0].MAC.IsZero() || cfg.Forward || cfg.NoDAD {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
}

func TestParseUpRouter(t *testing.T) {
	cfg, err := parseUp([]string{
		"--nic", "tap1,bridge=br1,addr=10.0.1.254/24",
		"--nic", "tap2,bridge=br2,addr=10.0.2.254/24,mtu=1400,mac=02:00:00:00:02:54",
		"--route", "default,via=10.0.1.1", "--route", "10.9.0.0/16,via=10.0.2.9,dev=tap2", "--route", "10.8.0.0/16,dev=tap1",
		"--forward", "--no-dad",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := upConfig{
		Taps: []tapConfig{{Name: "tap1", Bridge: "br1", MTU: 1500}, {Name: "tap2", Bridge: "br2", MTU: 1400, MAC: stack.MAC{2, 0, 0, 0, 2, 0x54}}},
		NICs: []nicConfig{{Tap: "tap1", Addr: netip.MustParsePrefix("10.0.1.254/24")}, {Tap: "tap2", Addr: netip.MustParsePrefix("10.0.2.254/24")}},
		Routes: []host.Route{
			{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.1.1")},
			{Dst: netip.MustParsePrefix("10.9.0.0/16"), Gateway: netip.MustParseAddr("10.0.2.9"), Interface: "tap2"},
			{Dst: netip.MustParsePrefix("10.8.0.0/16"), Interface: "tap1"},
		},
		Forward: true, NoDAD: true,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
}

func TestParseUpVLANsAndARP(t *testing.T) {
	cfg, err := parseUp([]string{"--tap", "tap0", "--bridge", "br0", "--vlan", "10:10.0.10.2/24", "--vlan", "20:10.0.20.2/24:5",
		"--arp", "10.0.10.7=02:00:00:00:00:07", "--arp-proxy", "10.0.20.128/25", "--arp-proxy", "10.0.10.9=02:00:00:00:00:09"})
	if err != nil {
		t.Fatal(err)
	}
	want := upConfig{
		Taps:      []tapConfig{{Name: "tap0", Bridge: "br0", MTU: 1500}},
		NICs:      []nicConfig{{Tap: "tap0", VLAN: 10, Addr: netip.MustParsePrefix("10.0.10.2/24")}, {Tap: "tap0", VLAN: 20, PCP: 5, Addr: netip.MustParsePrefix("10.0.20.2/24")}},
		StaticARP: []host.StaticARP{{Addr: netip.MustParseAddr("10.0.10.7"), MAC: stack.MAC{2, 0, 0, 0, 0, 7}}},
		ProxyARP: []host.ProxyARP{
			{Prefix: netip.MustParsePrefix("10.0.20.128/25")},
			{Prefix: netip.MustParsePrefix("10.0.10.9/32"), MAC: stack.MAC{2, 0, 0, 0, 0, 9}},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
	if got := cfg.NICs[1].Name(); got != "tap0.20" {
		t.Errorf("VLAN interface name %q, want tap0.20", got)
	}
	// Router on a stick: one trunk TAP, two VLAN interfaces via --nic.
	cfg, err = parseUp([]string{"--nic", "tap0,bridge=br0,addr=10.0.10.1/24,vlan=10", "--nic", "tap0,addr=10.0.20.1/24,vlan=20", "--forward"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Taps) != 1 || cfg.Taps[0].Bridge != "br0" || len(cfg.NICs) != 2 || cfg.NICs[1].VLAN != 20 {
		t.Fatalf("router on a stick: %+v", cfg)
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
