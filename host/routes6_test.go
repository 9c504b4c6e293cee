package host

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// TestFormatRoute6LikeLinux checks each kind of IPv6 route against the
// line `ip -6 route` printed for it on Linux 6 (iproute2 6.x) with radvd
// advertising fd00:9::/64 on the link (AdvCurHopLimit 64).
func TestFormatRoute6LikeLinux(t *testing.T) {
	a, b := link.Pipe(1500)
	defer b.Close()
	h, err := New(Config{Interfaces: []Interface{{Name: "vb", Device: a, Addr: netip.MustParsePrefix("fd00:9::2/64")}}, NoSLAAC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nic := h.Stack().NIC("vb")
	now := time.Unix(1000, 0)
	p := netip.MustParsePrefix
	gw := netip.MustParseAddr("fe80::2c5e:38ff:fe00:3ab")
	for _, tc := range []struct {
		name string
		r    stack.RouteEntry
		o    RouteOrigin6
		want string
	}{
		{"connected", stack.RouteEntry{Dst: p("fe80::/64"), NIC: nic}, RouteOrigin6{},
			"fe80::/64 dev vb proto kernel metric 256 pref medium"},
		{"SLAAC prefix (addrconf_prefix_route)", stack.RouteEntry{Dst: p("fd00:9::/64"), NIC: nic}, RouteOrigin6{Learnt: true, Expires: now.Add(86395 * time.Second)},
			"fd00:9::/64 dev vb proto kernel metric 256 expires 86395sec pref medium"},
		{"on-link prefix without address", stack.RouteEntry{Dst: p("fd00:7::/64"), NIC: nic}, RouteOrigin6{Learnt: true, Expires: now.Add(100 * time.Second)},
			"fd00:7::/64 dev vb proto kernel metric 256 expires 100sec pref medium"},
		{"RA default (rt6_add_dflt_router)", stack.RouteEntry{Dst: p("::/0"), Gateway: gw, NIC: nic}, RouteOrigin6{Learnt: true, Expires: now.Add(25 * time.Second), HopLimit: 64},
			"default via fe80::2c5e:38ff:fe00:3ab dev vb proto ra metric 1024 expires 25sec hoplimit 64 pref medium"},
		{"static route", stack.RouteEntry{Dst: p("fd00:5::/64"), Gateway: netip.MustParseAddr("fd00:9::1"), NIC: nic}, RouteOrigin6{},
			"fd00:5::/64 via fd00:9::1 dev vb metric 1024 pref medium"},
		{"static default", stack.RouteEntry{Dst: p("::/0"), Gateway: netip.MustParseAddr("fd00:9::1"), NIC: nic}, RouteOrigin6{},
			"default via fd00:9::1 dev vb metric 1024 pref medium"},
	} {
		if got := FormatRoute6(tc.r, tc.o, now); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestWriteRoutes6Order: routes come in address order with the default
// routes last, as `ip -6 route` walks Linux's tree (fd00:9::/64 before
// fe80::/64 on the Linux host above).
func TestWriteRoutes6Order(t *testing.T) {
	a, b := link.Pipe(1500)
	defer b.Close()
	h, err := New(Config{
		Interfaces: []Interface{{Name: "vb", Device: a, Addr: netip.MustParsePrefix("fd00:9::2/64")}},
		Gateway:    netip.MustParseAddr("fd00:9::1"),
		Routes:     []Route{{Dst: netip.MustParsePrefix("fd00:5::/64"), Gateway: netip.MustParseAddr("fd00:9::1")}},
		NoSLAAC:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var sb strings.Builder
	h.WriteRoutes6(&sb)
	want := "fd00:5::/64 via fd00:9::1 dev vb metric 1024 pref medium\n" +
		"fd00:9::/64 dev vb proto kernel metric 256 pref medium\n" +
		"fe80::/64 dev vb proto kernel metric 256 pref medium\n" +
		"default via fd00:9::1 dev vb metric 1024 pref medium\n"
	if sb.String() != want {
		t.Errorf("WriteRoutes6:\n%s\nwant\n%s", sb.String(), want)
	}
}
