package main

// Parsing of `up`'s --route and --gateway flags and the checks of
// addresses, names, MACs and MTUs they share with --nic and --addr.

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// parseRoute parses --route PREFIX,via=IP[,dev=NAME] (PREFIX may be
// "default"; a route may name dev= without via= for an on-link prefix).
func parseRoute(cfg *upConfig, v string) (host.Route, error) {
	var r host.Route
	parts := strings.Split(v, ",")
	dst := parts[0]
	if dst == "default" {
		// The family of the default route is its gateway's.
		dst = "0.0.0.0/0"
		for _, kv := range parts[1:] {
			if g, ok := strings.CutPrefix(kv, "via="); ok && strings.Contains(g, ":") {
				dst = "::/0"
			}
		}
	}
	p, err := netip.ParsePrefix(dst)
	if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return r, usagef("malformed --route %q: %q is not a prefix like 10.1.0.0/16, fd00:1::/64 or default", v, parts[0])
	}
	if p != p.Masked() {
		return r, usagef("malformed --route %q: %v has host bits set (did you mean %v?)", v, p, p.Masked())
	}
	r.Dst = p
	for _, kv := range parts[1:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || val == "" {
			return r, usagef("malformed --route %q: %q is not KEY=VALUE (keys: via, dev)", v, kv)
		}
		switch k {
		case "via":
			if r.Gateway.IsValid() {
				return r, usagef("malformed --route %q: via given twice", v)
			}
			g, err := netip.ParseAddr(val)
			if err != nil || g.Is4() != p.Addr().Is4() || g.Is4In6() {
				return r, usagef("malformed --route %q: via %q is not an address of the prefix's family (%s)", v, val, family(p.Addr()))
			}
			if g.Zone() != "" {
				return r, usagef("malformed --route %q: write the interface of via %s as dev=%s", v, val, g.Zone())
			}
			r.Gateway = g
		case "dev":
			if r.Interface != "" {
				return r, usagef("malformed --route %q: dev given twice", v)
			}
			if cfg.nic(val) == nil {
				return r, usagef("--route %q: no interface %q (interfaces: %s)", v, val, nicNames(cfg))
			}
			r.Interface = val
		default:
			return r, usagef("malformed --route %q: unknown key %q (keys: via, dev)", v, k)
		}
	}
	switch {
	case r.Gateway.Is6() && r.Gateway.IsLinkLocalUnicast():
		if r.Interface == "" {
			return r, usagef("--route %q: a link-local via needs its interface: add dev=NAME", v)
		}
	case r.Gateway.IsValid():
		if err := checkNextHop(cfg, "--route "+v+": via", r.Gateway, r.Interface); err != nil {
			return r, err
		}
	case r.Interface == "":
		return r, usagef("--route %q needs via=IP (a gateway) or dev=NAME", v)
	}
	for _, o := range cfg.Routes {
		if o.Dst == r.Dst && o.Gateway == r.Gateway && o.Interface == r.Interface {
			return r, usagef("--route %q is given twice", v)
		}
	}
	if r.Dst.Bits() == 0 && r.Gateway.IsValid() && (cfg.Gateway == r.Gateway || cfg.Gateway6.WithZone("") == r.Gateway) {
		return r, usagef("--route %q repeats --gateway", v)
	}
	return r, nil
}

// checkNextHop checks that g is a neighbour: inside a subnet of its
// family of an interface (of dev, when given) and not our own address.
func checkNextHop(cfg *upConfig, what string, g netip.Addr, dev string) error {
	for _, n := range cfg.NICs {
		for _, a := range n.addrs() {
			if a.Addr() == g {
				return usagef("%s %v is the host's own address", what, g)
			}
		}
	}
	if inSubnet(cfg, g, dev) {
		return nil
	}
	if len(cfg.NICs) == 1 && what == "--gateway" {
		if s := subnetsOf(cfg.NICs[:1], g); s != "" {
			return usagef("--gateway %v is not inside --addr subnet %s", g, s)
		}
		return usagef("--gateway %v: the interface has no %s --addr to reach it from", g, family(g))
	}
	if dev != "" {
		n := cfg.nic(dev)
		if s := subnetsOf([]nicConfig{*n}, g); s != "" {
			return usagef("%s %v is not inside the subnet of %s (%s)", what, g, dev, s)
		}
		return usagef("%s %v: %s has no %s address to reach it from", what, g, dev, family(g))
	}
	return usagef("%s %v is not inside the subnet of any interface (%s)", what, g, subnets(cfg))
}

// family names the address family of a, for messages.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// inSubnet reports whether a is inside a subnet of an interface (of dev,
// when given).
func inSubnet(cfg *upConfig, a netip.Addr, dev string) bool {
	for _, n := range cfg.NICs {
		if dev != "" && n.Name() != dev {
			continue
		}
		for _, p := range n.addrs() {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// subnetsOf lists the subnets of nics in the family of a.
func subnetsOf(nics []nicConfig, a netip.Addr) string {
	var s []string
	for _, n := range nics {
		for _, p := range n.addrs() {
			if p.Addr().Is4() == a.Is4() {
				s = append(s, p.Masked().String())
			}
		}
	}
	return strings.Join(s, ", ")
}

func nicNames(cfg *upConfig) string {
	var s []string
	for _, n := range cfg.NICs {
		s = append(s, n.Name())
	}
	return strings.Join(s, ", ")
}

func subnets(cfg *upConfig) string {
	var s []string
	for _, n := range cfg.NICs {
		if n.DHCP {
			s = append(s, n.Name()+" from DHCP, unknown yet")
		}
		for _, p := range n.addrs() {
			s = append(s, p.Masked().String())
		}
	}
	return strings.Join(s, ", ")
}

// parseGateway adds one --gateway: a default gateway per family. An IPv6
// link-local router (fe80::1) takes the interface as its zone; without
// one it is the only interface's, or the --tap's untagged one.
func parseGateway(cfg *upConfig, v string, dhcp bool) error {
	g, err := netip.ParseAddr(v)
	if err != nil || g.Is4In6() || g.IsUnspecified() || g.IsMulticast() {
		return usagef("malformed --gateway %q: want a router's address like 10.0.0.1, fd00::1 or fe80::1", v)
	}
	if g.Is4() {
		if dhcp {
			return usagef("--gateway %v and --dhcp exclude each other: the lease gives the IPv4 default router", g)
		}
		if cfg.Gateway.IsValid() {
			return usagef("--gateway is given twice for IPv4 (%v and %v): one default gateway per family", cfg.Gateway, g)
		}
		if err := checkNextHop(cfg, "--gateway", g, ""); err != nil {
			return err
		}
		cfg.Gateway = g
		return nil
	}
	if cfg.Gateway6.IsValid() {
		return usagef("--gateway is given twice for IPv6 (%v and %v): one default gateway per family", cfg.Gateway6, g)
	}
	if !g.IsLinkLocalUnicast() {
		if g.Zone() != "" {
			return usagef("malformed --gateway %q: only a link-local address takes an interface (%%%s)", v, g.Zone())
		}
		if err := checkNextHop(cfg, "--gateway", g, ""); err != nil {
			return err
		}
		cfg.Gateway6 = g
		return nil
	}
	switch zone := g.Zone(); {
	case zone != "":
		if cfg.nic(zone) == nil {
			return usagef("--gateway %v: no interface %q (interfaces: %s)", g, zone, nicNames(cfg))
		}
	case len(cfg.NICs) == 1:
		g = g.WithZone(cfg.NICs[0].Name())
	case len(cfg.Taps) == 1 && cfg.nic(cfg.Taps[0].Name) != nil:
		g = g.WithZone(cfg.Taps[0].Name)
	default:
		return usagef("--gateway %v is link-local: name its interface, e.g. %v%%%s", g, g, cfg.NICs[0].Name())
	}
	cfg.Gateway6 = g
	return nil
}

// checkIfName checks a Linux interface name.
func checkIfName(what, name string) error {
	switch {
	case name == "":
		return usagef("%s: empty interface name", what)
	case len(name) > 15:
		return usagef("%s %q is too long: interface names have at most 15 characters", what, name)
	case strings.ContainsAny(name, "/:=, \t\n") || name == "." || name == "..":
		return usagef("%s %q is not a valid interface name", what, name)
	}
	return nil
}

// parseHostPrefix parses an interface address like 10.0.0.2/24 or
// fd00::2/64.
func parseHostPrefix(what, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() {
		return p, usagef("malformed %s %q: want an address with prefix length like 10.0.0.2/24 or fd00::2/64", what, s)
	}
	return p, checkHostPrefix(what, p)
}

func checkHostPrefix(what string, p netip.Prefix) error {
	if a := p.Addr(); a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return usagef("%s %v cannot be a host address", what, p)
	}
	if p.Addr().Is4() && p.Bits() < 31 && (p.Addr() == p.Masked().Addr() || p.Addr() == stack.DirectedBroadcast(p)) {
		return usagef("%s %v is the network or broadcast address of its subnet", what, p)
	}
	if p.Addr().Is6() && p.Bits() < 127 && p.Addr() == p.Masked().Addr() {
		return usagef("%s %v is the subnet-router anycast address of its prefix (RFC 4291 2.6.1): use another, e.g. %v", what, p, p.Addr().Next())
	}
	return nil
}

func parseMAC(what, s string) (stack.MAC, error) {
	m, err := stack.ParseMAC(s)
	if err != nil {
		return m, usagef("malformed %s %q: want six hex bytes like 02:00:00:00:00:01", what, s)
	}
	if m.IsZero() || m.IsMulticast() {
		return m, usagef("%s %v is not a unicast address: the first byte must be even, e.g. 02:00:00:00:00:01", what, m)
	}
	return m, nil
}

func parseMTU(what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, usagef("malformed %s %q: want a number like 1500", what, s)
	}
	if n < tap.MinMTU || n > tap.MaxMTU {
		return 0, usagef("%s %d is out of range: want %d..%d", what, n, tap.MinMTU, tap.MaxMTU)
	}
	return n, nil
}
