package main

import (
	"bytes"
	"strings"
	"testing"
)

// Operator mistakes on the gateway command line are one line and exit
// status 2.
func TestGatewayUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"gateway"}, "gateway needs --tap NAME"},
		{[]string{"gateway", "--tap", "t0", "--tun", "t1"}, "not both"},
		{[]string{"gateway", "--tun", "t1", "--bridge", "br0"}, "--bridge goes with --tap"},
		{[]string{"gateway", "--tap", "t0", "--subnet", "10.0.2.0/30"}, "at most /29"},
		{[]string{"gateway", "--tap", "t0", "--forward-port", "tcp:80=10.0.3.1:80"}, "not in --subnet"},
		{[]string{"gateway", "--tap", "t0", "--forward-port", "icmp:80=10.0.2.15:80"}, "protocol must be tcp or udp"},
		{[]string{"gateway", "--tap", "t0", "--dns-upstream", "nope"}, "want IP or IP:PORT"},
		{[]string{"gateway", "--tapp", "t0"}, "did you mean --tap?"},
		{[]string{"gateway", "--tap", "t0", "--subnet6", "fd00::/48"}, "want an IPv6 /64"},
		{[]string{"gateway", "--tap", "t0", "--subnet6", "10.0.0.0/8"}, "want an IPv6 /64"},
		{[]string{"gateway", "--tun", "t0", "--subnet6", "fd00::/48"}, "want an IPv6 /64"},
		{[]string{"gateway", "--tun", "t0", "--forward-port", "tcp:80=[fd00:1::15]:80"}, "not in --subnet6"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb, nil); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if s := errb.String(); !strings.Contains(s, tc.want) || strings.Count(s, "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line with %q", tc.args, s, tc.want)
		}
	}
}

func TestGatewayParseDefaults(t *testing.T) {
	c, err := parseGatewayCmd([]string{"--tap", "tap0", "--bridge", "br0", "--forward-port", "tcp:8080=10.0.2.15:80", "--dns-upstream", "192.0.2.53"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Subnet.String() != "10.0.2.0/24" || len(c.Forwards) != 1 || c.DNSUpstream.String() != "192.0.2.53:53" {
		t.Errorf("parsed %+v", c)
	}
	if nthAddr(c.Subnet, 2).String() != "10.0.2.2" || nthAddr(c.Subnet, 3).String() != "10.0.2.3" {
		t.Errorf("router/dns of %v wrong", c.Subnet)
	}
}

// IPv6 is on by default (fd00:10:0:2::/64), on a TUN too (where guests
// set their addresses: no neighbour discovery there), off with --subnet6
// none.
func TestGatewayParseSubnet6(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tap", "tap0"}, "fd00:10:0:2::/64"},
		{[]string{"--tap", "tap0", "--subnet6", "fd00:aa::/64"}, "fd00:aa::/64"},
		{[]string{"--tap", "tap0", "--subnet6", "none"}, "invalid Prefix"},
		{[]string{"--tun", "tun0"}, "fd00:10:0:2::/64"},
		{[]string{"--tun", "tun0", "--subnet6", "none"}, "invalid Prefix"},
	} {
		c, err := parseGatewayCmd(tc.args)
		if err != nil || c.Subnet6.String() != tc.want {
			t.Errorf("%v: subnet6 %v %v, want %s", tc.args, c.Subnet6, err, tc.want)
		}
	}
}

// TestGatewayParseProcs: --procs sets the gateway's GOMAXPROCS, 1 unless
// given; 0 leaves the Go runtime's default; a negative count is refused.
func TestGatewayParseProcs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    int
		wantErr bool
	}{
		{[]string{"--tap", "tap0"}, 1, false},
		{[]string{"--tap", "tap0", "--procs", "0"}, 0, false},
		{[]string{"--tap", "tap0", "--procs", "2"}, 2, false},
		{[]string{"--tap", "tap0", "--procs", "-1"}, 0, true},
	} {
		c, err := parseGatewayCmd(tc.args)
		if (err != nil) != tc.wantErr || (err == nil && c.Procs != tc.want) {
			t.Errorf("%v: procs %d, %v; want %d (error %v)", tc.args, c.Procs, err, tc.want, tc.wantErr)
		}
	}
}
