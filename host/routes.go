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

// AddRoute adds a static route. A route with a Gateway but no Interface
// goes out of the interface whose subnet holds the gateway; a route
// without a Gateway (a device route) needs an Interface.
func (h *Host) AddRoute(r Route) error {
	if !r.Dst.IsValid() || !r.Dst.Addr().Is4() {
		return fmt.Errorf("host: route %v: destination is not an IPv4 prefix", r.Dst)
	}
	e := stack.RouteEntry{Dst: r.Dst.Masked(), Gateway: r.Gateway}
	if r.Interface != "" {
		if e.NIC = h.s.NIC(r.Interface); e.NIC == nil {
			return fmt.Errorf("host: route %v: no interface %q", r.Dst, r.Interface)
		}
	}
	if r.Gateway.IsValid() {
		if !r.Gateway.Is4() {
			return fmt.Errorf("host: route %v: gateway %v is not an IPv4 address", r.Dst, r.Gateway)
		}
		if h.s.IsLocalAddress(r.Gateway) {
			return fmt.Errorf("host: route %v: gateway %v is one of our own addresses", r.Dst, r.Gateway)
		}
		// The gateway must be on-link: inside a connected subnet (of the
		// named interface, when there is one).
		onLink := false
		for _, n := range h.s.NICs() {
			if e.NIC != nil && n != e.NIC {
				continue
			}
			for _, a := range n.Addresses() {
				if a.Contains(r.Gateway) {
					onLink = true
				}
			}
		}
		if !onLink {
			where := "any interface's subnet"
			if e.NIC != nil {
				where = "the subnet of " + e.NIC.Name()
			}
			return fmt.Errorf("host: route %v: gateway %v is not inside %s", r.Dst, r.Gateway, where)
		}
	} else if e.NIC == nil {
		return fmt.Errorf("host: route %v needs a gateway or an interface", r.Dst)
	}
	if err := h.s.AddRoute(e); err != nil {
		return fmt.Errorf("host: route %v: %w", r.Dst, err)
	}
	return nil
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

// probeAll runs ARP conflict detection for every interface address at
// once and returns the first conflict (or other failure).
func (h *Host) probeAll(ifcs []Interface, nics []*stack.NIC) error {
	errs := make(chan error, len(ifcs))
	for i, ifc := range ifcs {
		go func() {
			if ifc.DHCP { // the DHCP client probes what it is offered
				errs <- nil
				return
			}
			errs <- h.arp.Probe(context.Background(), nics[i], ifc.Addr.Addr())
		}()
	}
	var first error
	for range ifcs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("host: %w", first)
	}
	return nil
}

// WriteRoutes writes the route table like `ip route`: one line per route,
// longest prefixes first, e.g.
//
//	10.0.0.0/24 dev tap0 proto kernel scope link src 10.0.0.2
//	default via 10.0.0.1 dev tap0
//
// Connected routes (added with an interface address) say "proto kernel
// scope link src ADDR"; static device routes say "scope link".
func (h *Host) WriteRoutes(w io.Writer) error {
	var b strings.Builder
	for _, r := range h.s.Routes() {
		b.WriteString(FormatRoute(r))
		b.WriteByte('\n')
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
