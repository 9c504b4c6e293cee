package host

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// WriteRoutes6 writes the IPv6 route table like `ip -6 route` (iproute2
// 6.x, checked against Linux 6 with radvd on the link): one line per
// route in address order, default routes last, e.g.
//
//	fd00:1::/64 dev tap0 proto kernel metric 256 expires 86395sec pref medium
//	fe80::/64 dev tap0 proto kernel metric 256 pref medium
//	default via fe80::1 dev tap0 proto ra metric 1024 expires 25sec hoplimit 64 pref medium
//
// Connected routes and on-link prefixes say "proto kernel metric 256"
// (those learnt from router advertisements with the seconds until their
// lifetime ends, as Linux adds them), default routes learnt from router
// advertisements "proto ra metric 1024" with their expiry and the
// advertised hop limit, static routes "metric 1024".
func (h *Host) WriteRoutes6(w io.Writer) error {
	now := h.s.Clock().Now()
	type key struct {
		dst netip.Prefix
		gw  netip.Addr
		nic string
	}
	ra := map[key]RouteOrigin6{} // learnt routes
	for _, r := range h.ndp.Routers() {
		o := RouteOrigin6{Learnt: true, Expires: r.Expires}
		if nic := h.s.NIC(r.NIC); nic != nil {
			o.HopLimit = h.ndp.HopLimit(nic)
		}
		ra[key{netip.PrefixFrom(netip.IPv6Unspecified(), 0), r.Addr.WithZone(""), r.NIC}] = o
	}
	for _, p := range h.ndp.Prefixes() {
		if p.OnLink {
			ra[key{p.Prefix.Masked(), netip.Addr{}, p.NIC}] = RouteOrigin6{Learnt: true, Expires: p.OnLinkExpires}
		}
	}
	var b, defaults strings.Builder
	var routes []stack.RouteEntry
	for _, r := range h.s.Routes() {
		if r.Dst.Addr().Is6() {
			routes = append(routes, r)
		}
	}
	// Linux walks its tree in address order: fd00::/64 before fe80::/64.
	slices.SortStableFunc(routes, func(a, b stack.RouteEntry) int {
		if c := a.Dst.Addr().Compare(b.Dst.Addr()); c != 0 {
			return c
		}
		return b.Dst.Bits() - a.Dst.Bits()
	})
	for _, r := range routes {
		name := ""
		if r.NIC != nil {
			name = r.NIC.Name()
		}
		line := FormatRoute6(r, ra[key{r.Dst, r.Gateway, name}], now)
		if r.Dst.Bits() == 0 {
			defaults.WriteString(line + "\n")
		} else {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString(defaults.String())
	_, err := io.WriteString(w, b.String())
	return err
}

// RouteOrigin6 says where an IPv6 route came from, for FormatRoute6.
type RouteOrigin6 struct {
	// Learnt says it came from a router advertisement (a default router
	// or an on-link prefix).
	Learnt bool
	// Expires is when its lifetime ends (zero: never).
	Expires time.Time
	// HopLimit is the hop limit the router advertised (0: none); Linux
	// shows it on learnt default routes.
	HopLimit uint8
}

// FormatRoute6 formats one IPv6 route the way `ip -6 route` prints it;
// o says whether it was learnt from a router advertisement, as seen at
// now.
func FormatRoute6(r stack.RouteEntry, o RouteOrigin6, now time.Time) string {
	var b strings.Builder
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Gateway.IsValid() {
		b.WriteString(" via " + r.Gateway.String())
	}
	if r.NIC != nil {
		b.WriteString(" dev " + r.NIC.Name())
	}
	expires := func() {
		if o.Learnt && !o.Expires.IsZero() {
			fmt.Fprintf(&b, " expires %dsec", max(0, int(o.Expires.Sub(now).Seconds())))
		}
	}
	switch {
	case o.Learnt && r.Gateway.IsValid():
		b.WriteString(" proto ra metric 1024")
		expires()
		if o.HopLimit != 0 {
			fmt.Fprintf(&b, " hoplimit %d", o.HopLimit)
		}
	case o.Learnt || connected(r):
		// Linux adds on-link prefixes of advertisements as kernel routes
		// (addrconf_prefix_route), with their valid lifetime.
		b.WriteString(" proto kernel metric 256")
		expires()
	default:
		b.WriteString(" metric 1024")
	}
	b.WriteString(" pref medium")
	return b.String()
}
