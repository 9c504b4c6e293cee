package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// The IPv6 side of `up`: router advertisements with --forward, the one
// line of an address conflict, the addresses of the up line, and the
// lines that tell what SLAAC learns later.

// labAdvertise is the router advertisement configuration of --forward,
// suited to a lab rather than radvd's defaults (every 200 to 600 s): a
// host started after the router configures itself within 30 s even if it
// sends no router solicitation, and a router that dies without its final
// advertisement is dropped after 90 s (3 × MaxInterval, radvd's
// AdvDefaultLifetime rule). Prefixes keep radvd's lifetimes (valid 1 day,
// preferred 4 hours), the MTU option is the interface's, the hop limit 64.
func labAdvertise() *ndp.AdvertiseConfig {
	return &ndp.AdvertiseConfig{
		MaxInterval:    30 * time.Second,
		MinInterval:    10 * time.Second,
		RouterLifetime: 90,
	}
}

// conflictLine turns an address conflict found at start (ARP for IPv4,
// duplicate address detection for IPv6) into one line for the operator;
// other errors pass through.
func conflictLine(cfg upConfig, err error) error {
	var (
		addr netip.Addr
		mac  stack.MAC
		nic  string
	)
	var ace *arp.ConflictError
	var nce *ndp.ConflictError
	switch {
	case errors.As(err, &ace):
		addr, mac, nic = ace.Addr, ace.MAC, ace.NIC
	case errors.As(err, &nce):
		addr, mac, nic = nce.Addr, nce.MAC, nce.NIC
	default:
		return err
	}
	where := nic
	if n := cfg.nic(nic); n != nil {
		if t := cfg.tap(n.Tap); t != nil && t.Bridge != "" {
			where = t.Bridge
			if n.VLAN != 0 {
				where += fmt.Sprintf(" (VLAN %d)", n.VLAN)
			}
		}
	}
	if addr.Is6() && addr.IsLinkLocalUnicast() {
		// The link-local address is made from the MAC (EUI-64).
		return fmt.Errorf("%v is already in use on %s by %v; choose another --mac (the link-local address is made from it)", addr, where, mac)
	}
	return fmt.Errorf("%v is already in use on %s by %v; choose another address", addr, where, mac)
}

// addrList is the address part of an interface's up line, like `ip -br
// addr`: IPv4 addresses, global IPv6 ones, then link-local ones; the
// DHCP address says where it came from.
func addrList(nic *stack.NIC, n nicConfig, lease dhcp.Lease) string {
	var as []netip.Prefix
	if nic != nil {
		as = nic.Addresses()
	} else {
		as = n.addrs()
	}
	rank := func(p netip.Prefix) int {
		switch {
		case p.Addr().Is4():
			return 0
		case !p.Addr().IsLinkLocalUnicast():
			return 1
		}
		return 2
	}
	as = slices.Clone(as)
	slices.SortStableFunc(as, func(a, b netip.Prefix) int { return rank(a) - rank(b) })
	var out []string
	dhcpShown := false
	for _, a := range as {
		s := a.String()
		if n.DHCP && lease.Addr.IsValid() && a.Addr() == lease.Addr.Addr() {
			s += fmt.Sprintf(" (DHCP from %v)", lease.Server)
			dhcpShown = true
		}
		out = append(out, s)
	}
	if n.DHCP && lease.Addr.IsValid() && !dhcpShown {
		out = append([]string{fmt.Sprintf("%v (DHCP from %v)", lease.Addr, lease.Server)}, out...)
	}
	return strings.Join(out, " ")
}

// slaacWatch prints one line when SLAAC adds or removes an address or a
// default route after the up line. It wakes when an address comes or
// goes (a stack observer) and once a second for routers, which have no
// observer.
type slaacWatch struct {
	h    *host.Host
	w    io.Writer
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once

	addrs   map[nicAddr]netip.Prefix // SLAAC addresses told
	routers map[nicAddr]bool         // default routers told
}

// nicAddr is an address on an interface.
type nicAddr struct {
	nic  string
	addr netip.Addr
}

// slaacPoll is how often the watch looks for new default routers.
const slaacPoll = time.Second

// watchSLAAC starts the watch of h's autoconfiguration, writing to w; the
// function it returns stops it (and may be called more than once).
func watchSLAAC(h *host.Host, w io.Writer) func() {
	sw := &slaacWatch{
		h: h, w: w,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		addrs:   map[nicAddr]netip.Prefix{},
		routers: map[nicAddr]bool{},
	}
	// Addresses assigned before the up line are on it already.
	for _, p := range h.NDP().Prefixes() {
		if p.Assigned {
			sw.addrs[nicAddr{p.NIC, p.Addr}] = netip.PrefixFrom(p.Addr, p.Prefix.Bits())
		}
	}
	h.Stack().AddObserver(sw)
	go sw.run()
	return func() {
		sw.once.Do(func() {
			close(sw.stop)
			<-sw.done
		})
	}
}

// AddressAdded wakes the watch (stack.AddressObserver).
func (sw *slaacWatch) AddressAdded(*stack.NIC, netip.Prefix) { sw.wake() }

// AddressRemoved wakes the watch (stack.AddressRemovalObserver).
func (sw *slaacWatch) AddressRemoved(*stack.NIC, netip.Prefix) { sw.wake() }

func (sw *slaacWatch) wake() {
	select {
	case sw.kick <- struct{}{}:
	default:
	}
}

func (sw *slaacWatch) run() {
	defer close(sw.done)
	t := time.NewTicker(slaacPoll)
	defer t.Stop()
	for {
		select {
		case <-sw.stop:
			return
		case <-sw.kick:
		case <-t.C:
		}
		for _, line := range sw.changes(sw.h.NDP().Prefixes(), sw.h.NDP().Routers(), sw.h.NDP().Entries()) {
			fmt.Fprintln(sw.w, "tapstack: "+line)
		}
	}
}

// changes compares what NDP has learnt with what was told and returns
// the lines to print: a new SLAAC address with the default routers of its
// interface not told yet; a default router alone once no address of its
// interface is waiting for duplicate address detection; what went away.
func (sw *slaacWatch) changes(prefixes []ndp.Prefix, routers []ndp.Router, neigh []ndp.Entry) []string {
	var lines []string
	routersOf := func(nic string) []netip.Addr {
		var as []netip.Addr
		for _, r := range routers {
			if r.NIC == nic {
				as = append(as, r.Addr.WithZone(""))
			}
		}
		return as
	}
	newDefaults := func(nic string) []string {
		var s []string
		for _, a := range routersOf(nic) {
			k := nicAddr{nic, a}
			if !sw.routers[k] {
				sw.routers[k] = true
				s = append(s, "default via "+a.String())
			}
		}
		return s
	}
	now := map[nicAddr]netip.Prefix{}
	pending := map[string]bool{}
	for _, p := range prefixes {
		switch {
		case p.Assigned:
			now[nicAddr{p.NIC, p.Addr}] = netip.PrefixFrom(p.Addr, p.Prefix.Bits())
		case p.Addr.IsValid():
			pending[p.NIC] = true
		}
	}
	var added []nicAddr
	for k := range now {
		if _, ok := sw.addrs[k]; !ok {
			added = append(added, k)
		}
	}
	slices.SortFunc(added, func(a, b nicAddr) int {
		if c := strings.Compare(a.nic, b.nic); c != 0 {
			return c
		}
		return a.addr.Compare(b.addr)
	})
	for _, k := range added {
		sw.addrs[k] = now[k]
		from := "a router advertisement"
		if rs := routersOf(k.nic); len(rs) > 0 {
			from = "router " + rs[0].String()
		} else {
			for _, e := range neigh {
				if e.NIC == k.nic && e.Router && e.Addr.IsLinkLocalUnicast() {
					from = "router " + e.Addr.String()
					break
				}
			}
		}
		line := fmt.Sprintf("%s: %v from %s (SLAAC)", k.nic, now[k], from)
		if d := newDefaults(k.nic); len(d) > 0 {
			line += ", " + strings.Join(d, ", ")
		}
		lines = append(lines, line)
	}
	var gone []string
	for k, p := range sw.addrs {
		if _, ok := now[k]; !ok {
			delete(sw.addrs, k)
			gone = append(gone, fmt.Sprintf("%s: %v removed (its SLAAC lifetime ended)", k.nic, p))
		}
	}
	current := map[nicAddr]bool{}
	for _, r := range routers {
		k := nicAddr{r.NIC, r.Addr.WithZone("")}
		current[k] = true
		if !sw.routers[k] && !pending[r.NIC] {
			sw.routers[k] = true
			lines = append(lines, fmt.Sprintf("%s: default via %v (router advertisement)", r.NIC, k.addr))
		}
	}
	for k := range sw.routers {
		if !current[k] {
			delete(sw.routers, k)
			gone = append(gone, fmt.Sprintf("%s: default via %v removed (its router lifetime ended)", k.nic, k.addr))
		}
	}
	slices.Sort(gone)
	return append(lines, gone...)
}
