package gateway

import (
	"net/netip"
	"testing"
)

// The IPv6 address plan mirrors slirp's IPv4 one: Router6 is the host's
// loopback, DNS6:53 the upstream, the rest of the guests' /64 and
// addresses that never leave a link (RFC 4291 2.5.6 link-local, 2.7
// multicast, 2.5.2-3 unspecified and loopback) are not relayed; IPv6 is
// off without Subnet6.
func TestTarget6RFC4291Scopes(t *testing.T) {
	c := Config{Subnet: netip.MustParsePrefix("10.0.2.0/24"), Subnet6: netip.MustParsePrefix("fd00:10:0:2::/64"),
		DNSUpstream: netip.MustParseAddrPort("192.0.2.53:53")}
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	if c.Router6.String() != "fd00:10:0:2::2" || c.DNS6.String() != "fd00:10:0:2::3" || c.Loopback6 != netip.IPv6Loopback() {
		t.Fatalf("defaults %v %v %v", c.Router6, c.DNS6, c.Loopback6)
	}
	g := &Gateway{cfg: c}
	for _, tc := range []struct {
		dst, want string // want "": refused
	}{
		{"[2001:db8::1]:80", "[2001:db8::1]:80"},
		{"[fd00:10:0:2::2]:8080", "[::1]:8080"},
		{"[fd00:10:0:2::3]:53", "192.0.2.53:53"},
		{"[fd00:10:0:2::3]:80", ""},
		{"[fd00:10:0:2::99]:80", ""},
		{"[fe80::1]:80", ""},
		{"[ff02::1]:80", ""},
		{"[::]:80", ""},
		{"[::1]:80", ""},
	} {
		got, ok := g.target(netip.MustParseAddrPort(tc.dst))
		if (tc.want == "") != !ok || (ok && got.String() != tc.want) {
			t.Errorf("target(%s) = %v %v, want %q", tc.dst, got, ok, tc.want)
		}
	}
	if !g.guest(netip.MustParseAddr("fd00:10:0:2::1234")) {
		t.Error("an address of Subnet6 is not a guest")
	}
	g4 := &Gateway{cfg: Config{Subnet: c.Subnet}}
	if _, ok := g4.target(netip.MustParseAddrPort("[2001:db8::1]:80")); ok {
		t.Error("IPv6 relayed without Subnet6")
	}
	bad := Config{Subnet: c.Subnet, Subnet6: netip.MustParsePrefix("fd00::/48")}
	if err := bad.fill(); err == nil {
		t.Error("a /48 Subnet6 accepted")
	}
}
