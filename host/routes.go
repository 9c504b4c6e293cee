package host

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

// AddRoute adds a static route, IPv4 or IPv6. A route with a Gateway but
// no Interface goes out of the interface whose subnet holds the gateway;
// an IPv6 link-local gateway needs the interface (Interface, or its zone:
// fe80::1%eth0); a route without a Gateway (a device route) needs an
// Interface.
func (h *Host) AddRoute(r Route) error {
	if !r.Dst.IsValid() || r.Dst.Addr().Is4In6() {
		return fmt.Errorf("host: route %v: destination is not a prefix like 10.1.0.0/16 or fd00:1::/64", r.Dst)
	}
	e := stack.RouteEntry{Dst: r.Dst.Masked(), Gateway: r.Gateway.WithZone("")}
	ifname := r.Interface
	if ifname == "" {
		ifname = r.Gateway.Zone()
	}
	if ifname != "" {
		if e.NIC = h.s.NIC(ifname); e.NIC == nil {
			return fmt.Errorf("host: route %v: no interface %q", r.Dst, ifname)
		}
	}
	if gw := e.Gateway; gw.IsValid() {
		if gw.Is4() != r.Dst.Addr().Is4() {
			return fmt.Errorf("host: route %v: gateway %v is not of the destination's family", r.Dst, gw)
		}
		if h.s.IsLocalAddress(gw) {
			return fmt.Errorf("host: route %v: gateway %v is one of our own addresses", r.Dst, gw)
		}
		if gw.IsLinkLocalUnicast() && gw.Is6() {
			if e.NIC == nil {
				return fmt.Errorf("host: route %v: link-local gateway %v needs its interface, e.g. %v%%eth0", r.Dst, gw, gw)
			}
		} else if !h.onLink(gw, e.NIC) {
			where := "any interface's subnet"
			if e.NIC != nil {
				where = "the subnet of " + e.NIC.Name()
			}
			return fmt.Errorf("host: route %v: gateway %v is not inside %s", r.Dst, gw, where)
		}
	} else if e.NIC == nil {
		return fmt.Errorf("host: route %v needs a gateway or an interface", r.Dst)
	}
	if err := h.s.AddRoute(e); err != nil {
		return fmt.Errorf("host: route %v: %w", r.Dst, err)
	}
	return nil
}

// onLink reports whether gw is inside a connected subnet (of nic, when
// not nil).
func (h *Host) onLink(gw netip.Addr, nic *stack.NIC) bool {
	for _, n := range h.s.NICs() {
		if nic != nil && n != nic {
			continue
		}
		for _, a := range n.Addresses() {
			if a.Contains(gw) {
				return true
			}
		}
	}
	return false
}

// nicFor returns the interface called name, or when name is empty the one
// whose subnet holds (overlap: overlaps) p, else, with overlap, the first.
func (h *Host) nicFor(name string, p netip.Prefix, overlap bool) (*stack.NIC, error) {
	if name != "" {
		if n := h.s.NIC(name); n != nil {
			return n, nil
		}
		return nil, fmt.Errorf("no interface %q", name)
	}
	nics := h.s.NICs()
	for _, n := range nics {
		for _, a := range n.Addresses() {
			if a.Contains(p.Addr()) || (overlap && a.Overlaps(p)) {
				return n, nil
			}
		}
	}
	if overlap && len(nics) > 0 {
		return nics[0], nil
	}
	return nil, fmt.Errorf("%v is not inside any interface's subnet: name the interface", p.Addr())
}

// probeAll runs conflict detection for every static interface address at
// once, ARP probes for IPv4 and DAD for IPv6 (the link-local address
// included), and returns the first conflict (or other failure).
func (h *Host) probeAll(ifcs []Interface, nics []*stack.NIC) error {
	type probe struct {
		nic  *stack.NIC
		addr netip.Addr
	}
	var ps []probe
	for i, ifc := range ifcs {
		for _, a := range addrsOf(ifc) {
			ps = append(ps, probe{nics[i], a.Addr()})
		}
		if ll, ok := linkLocalOf(nics[i]); ok {
			ps = append(ps, probe{nics[i], ll.Addr()})
		}
	}
	errs := make(chan error, len(ps))
	for _, p := range ps {
		go func() {
			if p.addr.Is4() {
				errs <- h.arp.Probe(context.Background(), p.nic, p.addr)
			} else {
				errs <- h.ndp.Probe(context.Background(), p.nic, p.addr)
			}
		}()
	}
	var first error
	for range ps {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("host: %w", first)
	}
	return nil
}

// WriteRoutes writes the IPv4 route table like `ip route`: one line per
// route, longest prefixes first, e.g.
//
//	10.0.0.0/24 dev tap0 proto kernel scope link src 10.0.0.2
//	default via 10.0.0.1 dev tap0
//
// Connected routes (added with an interface address) say "proto kernel
// scope link src ADDR"; static device routes say "scope link".
func (h *Host) WriteRoutes(w io.Writer) error {
	var b strings.Builder
	for _, r := range h.s.Routes() {
		if r.Dst.Addr().Is4() {
			b.WriteString(FormatRoute(r))
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FormatRoute formats one route table entry the way `ip route` prints it.
func FormatRoute(r stack.RouteEntry) string {
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
	if !r.Gateway.IsValid() {
		if connected(r) {
			b.WriteString(" proto kernel")
		}
		b.WriteString(" scope link")
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	return b.String()
}

// connected reports whether r is the connected route of one of its
// interface's addresses.
func connected(r stack.RouteEntry) bool {
	if r.NIC == nil || r.Gateway.IsValid() {
		return false
	}
	for _, a := range r.NIC.Addresses() {
		if a.Masked() == r.Dst {
			return true
		}
	}
	return false
}

// WriteARP writes the ARP cache and the published entries in the column
// layout of the Linux `arp -n` command (arp.FormatTable); nothing when
// there are no entries.
func (h *Host) WriteARP(w io.Writer) error {
	return arp.FormatTable(w, h.arp.Entries())
}

// DeleteARP removes the ARP entries for ip on every interface, like
// `arp -d IP`; it fails (wrapping arp.ErrNoEntry) when there is none.
func (h *Host) DeleteARP(ip netip.Addr) error {
	return h.arp.Delete(nil, ip)
}

// FlushARP removes every learned ARP entry (static and published entries
// stay), like `ip neigh flush all`, and returns how many it removed.
func (h *Host) FlushARP() int {
	return h.arp.Flush(nil)
}
