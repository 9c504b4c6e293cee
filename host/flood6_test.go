package host

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// The heap bound of the flood tests: generous (the tables' caps are
// asserted directly), yet far below what remembering every flooded
// source would take.
const flHeapBound = 4 << 20

// TestNSFloodRandomSources: 20,000 neighbour solicitations for our
// address from random sources (each creates a STALE entry, RFC 4861
// 7.2.3) keep the neighbour cache at ndp's CacheSize, evicting the oldest
// (ndp.cache.evicted), answer every one, and leave memory as it was.
func TestNSFloodRandomSources(t *testing.T) {
	const n = 20000
	f := newFlHost(t, false)
	base := flMeasure()
	sol := stack.SolicitedNodeAddress(fz6Ours0)
	na := f.counter("ndp.tx.na")
	for i := range n {
		mac := f.randMAC()
		f.send(t, fzIP6(fzMAC0, mac, f.randAddr(netip.MustParsePrefix("fd00::/64")), sol, 255, nil, stack.ProtocolICMPv6,
			fzNS6(fz6Ours0, fzLLA6(1, mac))))
		if i%1000 == 999 {
			if e := len(f.h.NDP().Entries()); e > ndp.DefaultCacheSize {
				t.Fatalf("%d neighbour entries after %d solicitations, cap %d", e, i+1, ndp.DefaultCacheSize)
			}
		}
	}
	entries := len(f.h.NDP().Entries())
	if entries != ndp.DefaultCacheSize {
		t.Errorf("%d neighbour entries, want the cap %d", entries, ndp.DefaultCacheSize)
	}
	if got := f.counter("ndp.tx.na") - na; got != n {
		t.Errorf("answered %d of %d solicitations", got, n)
	}
	if ev := f.counter("ndp.cache.evicted"); ev < n-ndp.DefaultCacheSize {
		t.Errorf("ndp.cache.evicted = %d, want at least %d", ev, n-ndp.DefaultCacheSize)
	}
	f.clk.Advance(2 * time.Minute) // STALE entries age out
	growth := checkMemory(t, base, flHeapBound)
	f.checkAnswers(t)
	t.Logf("%d NS: %d entries (cap %d), heap %+d KiB;%s", n, entries, ndp.DefaultCacheSize, growth>>10,
		f.counters("ndp.rx.ns", "ndp.tx.na", "ndp.cache.evicted"))
}

// TestRAFloodRandomRouters: 20,000 router advertisements from random
// link-local routers, each with a random autonomous /64 (random lifetimes,
// some short so that prefixes and their addresses churn), an MTU option
// (sometimes out of range) and an RDNSS server, to an autoconfiguring
// host: the default router, prefix and DNS lists stay within ndp's
// MaxRouters, MaxPrefixes and MaxDNSServers (counted as ndp.ra.*_full),
// the interface never holds more than its static and link-local
// addresses plus MaxPrefixes SLAAC ones (Linux caps them at 16 too,
// max_addresses), the routes within the learnt routers and prefixes, the link MTU stays within [1280, 1500], the neighbour
// cache within CacheSize, and memory and the answers are as before.
func TestRAFloodRandomRouters(t *testing.T) {
	const n = 20000
	f := newFlHost(t, true)
	base := flMeasure()
	maxAddrs := 3 + ndp.DefaultMaxPrefixes // 10.0.0.2, fd00::2, link-local
	mtus := []uint32{1280, 1400, 1500, 9000, 68, 0}
	most, mostRoutes, baseRoutes := 0, 0, len(f.h.Stack().Routes())
	for i := range n {
		mac := f.randMAC()
		src := f.randAddr(netip.MustParsePrefix("fe80::/64"))
		pfx := netip.PrefixFrom(f.randAddr(netip.MustParsePrefix("fd00::/8")), 64).Masked()
		valid := uint32(1 + f.rng.IntN(120))
		ra := fzRA6(uint16(f.rng.IntN(9000)), fzLLA6(1, mac), fzMTU6(mtus[i%len(mtus)]),
			fzPrefix6(pfx, 0xc0, valid, valid/2), fzRDNSS6(uint32(f.rng.IntN(3600)), f.randAddr(pfx)))
		f.send(t, fzIP6(fzMAC0, mac, src, fz6All, 255, nil, stack.ProtocolICMPv6, ra))
		if i%100 == 99 {
			f.clk.Advance(time.Second) // DAD of the SLAAC addresses, expiries
			r, p, d := len(f.h.NDP().Routers()), len(f.h.NDP().Prefixes()), len(f.h.NDP().DNSServers())
			a, e, rt := len(f.nic.Addresses()), len(f.h.NDP().Entries()), len(f.h.Stack().Routes())
			most, mostRoutes = max(most, a), max(mostRoutes, rt)
			if r > ndp.DefaultMaxRouters || p > ndp.DefaultMaxPrefixes || d > ndp.DefaultMaxDNSServers || a > maxAddrs ||
				e > ndp.DefaultCacheSize || rt > baseRoutes+ndp.DefaultMaxRouters+ndp.DefaultMaxPrefixes {
				t.Fatalf("after %d advertisements: %d routers, %d prefixes, %d DNS servers, %d addresses, %d neighbours, %d routes",
					i+1, r, p, d, a, e, rt)
			}
			if mtu := f.h.NDP().LinkMTU(f.nic); mtu != 0 && (mtu < 1280 || mtu > 1500) {
				t.Fatalf("link MTU %d from an advertisement", mtu)
			}
		}
	}
	r, p, d := len(f.h.NDP().Routers()), len(f.h.NDP().Prefixes()), len(f.h.NDP().DNSServers())
	for _, c := range []string{"ndp.ra.routers_full", "ndp.ra.prefixes_full", "ndp.ra.dns_full", "ndp.slaac.expired"} {
		if f.counter(c) == 0 {
			t.Errorf("%s did not move", c)
		}
	}
	if f.counter("ndp.slaac.added") <= ndp.DefaultMaxPrefixes {
		t.Errorf("ndp.slaac.added = %d: the prefixes did not churn", f.counter("ndp.slaac.added"))
	}
	f.clk.Advance(3 * time.Hour) // every learnt lifetime ends
	if a := len(f.nic.Addresses()); a != 3 || len(f.h.NDP().Prefixes()) != 0 || len(f.h.NDP().Routers()) != 0 {
		t.Errorf("after every lifetime ended: %d addresses %v, %d prefixes, %d routers", a, f.nic.Addresses(),
			len(f.h.NDP().Prefixes()), len(f.h.NDP().Routers()))
	}
	growth := checkMemory(t, base, flHeapBound)
	f.checkAnswers(t)
	t.Logf("%d RA: at most %d addresses (cap %d), %d routes (%d before); %d routers, %d prefixes, %d DNS servers at the end; heap %+d KiB;%s",
		n, most, maxAddrs, mostRoutes, baseRoutes, r, p, d, growth>>10,
		f.counters("ndp.rx.ra", "ndp.ra.routers_full", "ndp.ra.prefixes_full", "ndp.ra.dns_full", "ndp.slaac.added", "ndp.slaac.expired", "ndp.cache.evicted"))
}

// TestFragmentFlood: 20,000 first fragments of as many datagrams from
// random sources (1232 bytes each, never completed), then 5,000 pairs of
// overlapping fragments (RFC 5722) and 5,000 duplicated atomic-looking
// fragments: reassembly holds at most ReassemblyDatagrams datagrams and
// ReassemblyMemory bytes (evicting the oldest, ipv6.frag.evicted), drops
// overlapping datagrams (ipv6.frag.overlap), times the rest out
// (ipv6.frag.timeout) and gives every pooled packet back.
func TestFragmentFlood(t *testing.T) {
	const n, pairs = 20000, 5000
	f := newFlHost(t, false)
	base := flMeasure()
	chunk := make([]byte, 1232)
	for range n {
		src := f.randAddr(netip.MustParsePrefix("fd00:99::/64"))
		f.send(t, fzIP6(fzMAC0, fzPeer05, src, fz6Ours0, 64, []fzExt6{fzFragHdr6(0, true, f.rng.Uint32())}, stack.ProtocolUDP, chunk))
	}
	for range pairs {
		src, id := f.randAddr(netip.MustParsePrefix("fd00:99::/64")), f.rng.Uint32()
		f.send(t, fzIP6(fzMAC0, fzPeer05, src, fz6Ours0, 64, []fzExt6{fzFragHdr6(0, true, id)}, stack.ProtocolUDP, chunk[:64]))
		f.send(t, fzIP6(fzMAC0, fzPeer05, src, fz6Ours0, 64, []fzExt6{fzFragHdr6(32, false, id)}, stack.ProtocolUDP, chunk[:64]))
	}
	if ev, ov := f.counter("ipv6.frag.evicted"), f.counter("ipv6.frag.overlap"); ev < n-1024 || ov != pairs {
		t.Errorf("ipv6.frag.evicted = %d (want at least %d), ipv6.frag.overlap = %d (want %d)", ev, n-1024, ov, pairs)
	}
	f.clk.Advance(61 * time.Second) // the reassembly timeout
	f.clk.Advance(10 * time.Second) // resolutions of the time exceeded errors fail
	if f.counter("ipv6.frag.timeout") == 0 {
		t.Error("no reassembly timed out")
	}
	growth := checkMemory(t, base, flHeapBound)
	f.checkAnswers(t)
	t.Logf("%d first fragments, %d overlapping pairs: heap %+d KiB;%s", n, pairs, growth>>10,
		f.counters("ipv6.frag.fragments", "ipv6.frag.evicted", "ipv6.frag.overlap", "ipv6.frag.timeout", "ndp.cache.evicted", "ndp.tx.rate_limited"))
}

// TestMalformedExtensionFlood: 20,000 packets whose extension chains are
// random bytes (hop-by-hop, destination options, routing or fragment
// first, random lengths and next headers, random options), plus chains of
// 40 destination options headers, are each dropped with a named counter
// or answered within the ICMPv6 error rate limit, and leave memory and
// the answers as before.
func TestMalformedExtensionFlood(t *testing.T) {
	const n = 20000
	f := newFlHost(t, false)
	f.checkAnswers(t) // fd00::1 resolved, so errors to it go out
	base := flMeasure()
	first := []uint8{0, 60, 43, 44}
	in := f.counter("ipv6.rx.packets")
	before := f.snapshot()
	for i := range n {
		body := make([]byte, 8+f.rng.IntN(200))
		for j := range body {
			body[j] = byte(f.rng.Uint32())
		}
		b := fzIP6(fzMAC0, fzPeer01, netip.MustParseAddr("fd00::1"), fz6Ours0, 64, nil, first[i%4], body)
		if i%2 == 0 { // lengths that fit, so the chain itself is judged
			p := b[14+40:]
			p[1] = byte(f.rng.IntN(len(p) / 8))
		}
		f.send(t, b)
	}
	var long []fzExt6
	for range 40 {
		long = append(long, fzOpts6(60, 0x1e, 0))
	}
	for range 100 {
		f.send(t, fzIP6(fzMAC0, fzPeer01, netip.MustParseAddr("fd00::1"), fz6Ours0, 64, long, stack.ProtocolICMPv6, fzEcho6(1, 1, nil)))
	}
	if got := f.counter("ipv6.rx.packets") - in; got != n+100 {
		t.Errorf("ipv6.rx.packets moved by %d, want %d", got, n+100)
	}
	for _, c := range []string{"ipv6.rx.bad_ext_header", "ipv6.rx.ext_chain_too_long", "ipv6.rx.option_discard", "ipv6.rx.param_problem"} {
		if f.counter(c) == 0 {
			t.Errorf("%s did not move", c)
		}
	}
	// Every packet is accounted for by a named counter: dropped for its
	// chain, taken by reassembly, or delivered (an atomic fragment counts
	// twice).
	moved := f.moved(before)
	var accounted uint64
	for _, c := range []string{"ipv6.rx.bad_ext_header", "ipv6.rx.ext_chain_too_long", "ipv6.rx.option_discard", "ipv6.rx.param_problem",
		"ipv6.rx.unknown_protocol", "ipv6.rx.bad_payload_length", "ipv6.rx.too_short", "ipv6.frag.fragments", "ipv6.rx.delivered"} {
		accounted += moved[c]
	}
	if accounted < n+100 {
		t.Errorf("%d of %d packets accounted for by a counter: %v", accounted, n+100, moved)
	}
	f.clk.Advance(time.Minute)
	growth := checkMemory(t, base, flHeapBound)
	f.checkAnswers(t)
	t.Logf("%d malformed chains: heap %+d KiB, %d frames written; counters moved: %v", n, growth>>10, f.dev.frames, moved)
}

// TestMLDQueryFlood: 20,000 MLD queries from random link-local routers,
// general and specific to our groups with up to 100 random sources each,
// are answered within the response delays (a bounded number of reports,
// not one per query), counted (mld.rx.queries), and leave memory and the
// answers as before.
func TestMLDQueryFlood(t *testing.T) {
	const n = 20000
	f := newFlHost(t, false)
	base := flMeasure()
	groups := []netip.Addr{netip.IPv6Unspecified(), stack.SolicitedNodeAddress(fz6Ours0), stack.SolicitedNodeAddress(ndp.LinkLocal(fzMAC0).Addr())}
	framesBefore := f.dev.frames
	for i := range n {
		g := groups[i%len(groups)]
		dst := fz6All
		if g.IsValid() && !g.IsUnspecified() {
			dst = g
		}
		var srcs []netip.Addr
		if i%2 == 1 && !g.IsUnspecified() {
			for range f.rng.IntN(100) {
				srcs = append(srcs, f.randAddr(netip.MustParsePrefix("fd00::/16")))
			}
		}
		f.send(t, fzIP6(fzMAC0, f.randMAC(), f.randAddr(netip.MustParsePrefix("fe80::/64")), dst, 1, []fzExt6{fzRouterAlert6()},
			stack.ProtocolICMPv6, fzMLDQuery6(g, srcs...)))
		if i%1000 == 999 {
			f.clk.Advance(time.Second)
		}
	}
	f.clk.Advance(time.Minute)
	reports := f.dev.frames - framesBefore
	if q := f.counter("mld.rx.queries"); q != n {
		t.Errorf("mld.rx.queries = %d, want %d", q, n)
	}
	// A report per group per second at most (20 s of queries, 3 groups,
	// each report at most one interval late): far fewer than the queries.
	if reports > 3*2*(n/1000+60) {
		t.Errorf("%d frames written for %d queries", reports, n)
	}
	growth := checkMemory(t, base, flHeapBound)
	f.checkAnswers(t)
	t.Logf("%d MLD queries: %d frames written; heap %+d KiB;%s", n, reports, growth>>10,
		f.counters("mld.rx.queries", "mld.tx.reports", "mld.rx.bad_query"))
}
