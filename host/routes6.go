package host

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// WriteRoutes6 writes the IPv6 route table like `ip -6 route`: one line
// per route, longest prefixes first and default routes last, e.g.
//
//	fd00::/64 dev tap0 proto kernel metric 256 pref medium
//	fe80::/64 dev tap0 proto kernel metric 256 pref medium
//	default via fe80::1 dev tap0 proto ra metric 1024 expires 1795sec pref medium
//
// Connected routes say "proto kernel metric 256", routes and prefixes
// learnt from router advertisements "proto ra" with the seconds until
// their lifetime ends, static ones "metric 1024".
func (h *Host) WriteRoutes6(w io.Writer) error {
	now := h.s.Clock().Now()
	type key struct {
		dst netip.Prefix
		gw  netip.Addr
		nic string
	}
	ra := map[key]time.Time{} // learnt routes → expiry
	for _, r := range h.ndp.Routers() {
		ra[key{netip.PrefixFrom(netip.IPv6Unspecified(), 0), r.Addr.WithZone(""), r.NIC}] = r.Expires
	}
	for _, p := range h.ndp.Prefixes() {
		if p.OnLink {
			ra[key{p.Prefix.Masked(), netip.Addr{}, p.NIC}] = p.OnLinkExpires
		}
	}
	var b, defaults strings.Builder
	for _, r := range h.s.Routes() {
		if !r.Dst.Addr().Is6() {
			continue
		}
		name := ""
		if r.NIC != nil {
			name = r.NIC.Name()
		}
		exp, learnt := ra[key{r.Dst, r.Gateway, name}]
		line := FormatRoute6(r, learnt, exp, now)
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

// FormatRoute6 formats one IPv6 route the way `ip -6 route` prints it;
// learnt says it came from a router advertisement, expiring at expires
// (zero: never) as seen at now.
func FormatRoute6(r stack.RouteEntry, learnt bool, expires, now time.Time) string {
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
	switch {
	case learnt:
		b.WriteString(" proto ra metric 1024")
		if !expires.IsZero() {
			fmt.Fprintf(&b, " expires %dsec", max(0, int(expires.Sub(now).Seconds())))
		}
	case connected(r):
		b.WriteString(" proto kernel metric 256")
	default:
		b.WriteString(" metric 1024")
	}
	b.WriteString(" pref medium")
	return b.String()
}
