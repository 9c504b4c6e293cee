// Package dns is tapstack's stub resolver: the DNS wire format (RFC 1035:
// header, question, resource records, name compression; AAAA records, RFC
// 3596) and Resolver, which sends A and AAAA queries over UDP with a
// random ID and source port to IPv4 or IPv6 servers, retries per server
// with a timeout, falls back to TCP when an answer is truncated, follows
// CNAME chains and reports errors as Go's *net.DNSError (IsNotFound for
// NXDOMAIN). LookupNetIP returns both families; DialHappyEyeballs
// connects to them the RFC 8305 way (IPv6 first, the next attempt after
// 250 ms on the stack's clock, the first connection wins).
//
// Queries travel over whatever Resolver.Dial returns: give it a tapstack
// host's DialContext and the resolver speaks through the virtual stack.
//
//	r := &dns.Resolver{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:53")}, Dial: h.DialContext}
//	addrs, err := r.LookupHost(ctx, "web.test")
//
// Two ways let net/http (or any Go code) use names over the stack:
//
//	// 1. Resolve in the dialer: names are looked up with r, then dialled.
//	tr := &http.Transport{DialContext: r.DialContext(h.DialContext)}
//
//	// 2. A *net.Resolver whose queries go through tapstack, for code that
//	// takes one (net.Dialer.Resolver and the like).
//	nr := r.NetResolver()
//	ips, err := nr.LookupHost(ctx, "web.test")
package dns
