package host

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// TestWriteNeighLikeIPNeigh checks the `ip neigh` layout (lines as Linux
// printed them for the same entries, without iproute2's trailing blank):
// IPv4 first, then IPv6, with the NUD state; published (proxy ARP)
// entries left out as ip does; -4 and -6 pick one family.
func TestWriteNeighLikeIPNeigh(t *testing.T) {
	a, b := link.Pipe(1500)
	defer b.Close()
	mac := stack.MAC{2, 0, 0, 0, 0, 0x50}
	h, err := New(Config{
		Interfaces: []Interface{{Name: "vb", Device: a, Addr: netip.MustParsePrefix("10.9.0.2/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("fd00:9::2/64")}}},
		StaticARP:  []StaticARP{{Addr: netip.MustParseAddr("10.9.0.50"), MAC: mac}},
		ProxyARP:   []ProxyARP{{Prefix: netip.MustParsePrefix("10.9.0.60/32")}},
		NoSLAAC:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.NDP().AddStatic(h.Stack().NIC("vb"), netip.MustParseAddr("fd00:9::50"), mac); err != nil {
		t.Fatal(err)
	}
	v4 := "10.9.0.50 dev vb lladdr 02:00:00:00:00:50 PERMANENT\n"
	v6 := "fd00:9::50 dev vb lladdr 02:00:00:00:00:50 PERMANENT\n"
	for _, tc := range []struct {
		v4, v6 bool
		want   string
	}{{true, true, v4 + v6}, {true, false, v4}, {false, true, v6}} {
		var sb strings.Builder
		if err := h.WriteNeigh(&sb, tc.v4, tc.v6); err != nil {
			t.Fatal(err)
		}
		if sb.String() != tc.want {
			t.Errorf("WriteNeigh(%v, %v):\n%s\nwant\n%s", tc.v4, tc.v6, sb.String(), tc.want)
		}
	}
}
