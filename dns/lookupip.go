package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"
)

// LookupNetIP returns the addresses of host for network "ip" (both
// families), "ip4" (A records) or "ip6" (AAAA records), like
// net.Resolver.LookupNetIP. Under "ip" the AAAA and A queries go out in
// parallel (RFC 8305 section 3) and the IPv6 addresses come first, then
// the IPv4 ones, each in the order of its answer; the lookup fails only
// when both do (IsNotFound when neither family has an address). An IP
// literal is returned as it is (an IPv4-mapped one as IPv4) if the network
// allows its family; "localhost" is ::1 and 127.0.0.1.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	want4, want6 := true, true
	switch network {
	case "ip":
	case "ip4":
		want6 = false
	case "ip6":
		want4 = false
	default:
		return nil, &net.DNSError{Err: "unknown network " + network + " (want ip, ip4 or ip6)", Name: host}
	}
	keep := func(as []netip.Addr) []netip.Addr {
		var out []netip.Addr
		for _, a := range as {
			if (a.Is4() && want4) || (a.Is6() && want6) {
				out = append(out, a)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if out := keep([]netip.Addr{a.Unmap()}); out != nil {
			return out, nil
		}
		return nil, &net.DNSError{Err: "address of the wrong family for " + network, Name: host, IsNotFound: true}
	}
	if n := strings.TrimSuffix(strings.ToLower(host), "."); n == "localhost" || strings.HasSuffix(n, ".localhost") {
		return keep([]netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})}), nil
	}
	switch {
	case !want6:
		return r.LookupA(ctx, host)
	case !want4:
		return r.LookupAAAA(ctx, host)
	}
	type result struct {
		addrs []netip.Addr
		err   error
	}
	aaaa := make(chan result, 1)
	go func() {
		as, err := r.LookupAAAA(ctx, host)
		aaaa <- result{as, err}
	}()
	v4, err4 := r.LookupA(ctx, host)
	res := <-aaaa
	v6, err6 := res.addrs, res.err
	switch {
	case err6 == nil && err4 == nil:
		return append(v6, v4...), nil
	case err6 == nil:
		return v6, nil
	case err4 == nil:
		return v4, nil
	}
	// Both failed: a not-found answer says less than a failure does.
	if de, ok := err4.(*net.DNSError); ok && de.IsNotFound {
		if de6, ok := err6.(*net.DNSError); !ok || !de6.IsNotFound {
			return nil, err6
		}
	}
	return nil, err4
}
