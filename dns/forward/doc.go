// Package forward is tapstack's DNS forwarder for the guests of a gateway:
// a DNS server on a stack address (10.0.2.3:53 in slirp's plan), over UDP
// and TCP, that answers from a Go resolver of the gateway's own namespace
// (net.DefaultResolver: its /etc/hosts, resolv.conf and nsswitch apply),
// not by relaying packets to an upstream server.
//
//	f, err := forward.New(s, forward.Config{
//		Addr:     netip.MustParseAddrPort("10.0.2.3:53"),
//		Resolver: net.DefaultResolver,
//	})
//	err = f.Start()
//	defer f.Close()
//
// It parses and builds messages with package dns's wire code (dns.Parse,
// dns.Builder); it does not use golang.org/x/net/dns/dnsmessage.
//
// What it answers (one question per query, class IN, opcode QUERY):
//   - A and AAAA: Resolver.LookupNetIP with "ip4" or "ip6". A name that
//     resolves but has no address of the family gets an empty NOERROR
//     answer (NODATA); a name that does not exist NXDOMAIN; a timeout or
//     any other failure SERVFAIL.
//   - PTR (in-addr.arpa, ip6.arpa): Config.Hosts first (the gateway's own
//     names), then Resolver.LookupAddr.
//   - Config.Hosts also answers A/AAAA for its names before the resolver.
//   - Any other type (MX, TXT, SRV, ...): NOTIMP. Go's resolver cannot
//     return raw records, and there is no upstream to relay to; NOTIMP
//     says "ask someone else" without claiming the name has no such
//     records.
//
// Answers carry Config.TTL (the Go resolver does not report TTLs). UDP
// answers are limited to 512 bytes, or the size in the query's EDNS(0)
// OPT record (at most 4096); a larger answer is sent with TC set and no
// records, and the client retries over TCP.
//
// Work is bounded: at most MaxInFlight lookups at a time (a query beyond
// that is answered SERVFAIL at once), each lookup ends after Timeout
// (SERVFAIL), a token bucket per source address (a table of at most
// MaxSources) drops floods, and at most MaxTCPConns TCP connections are
// served, each closed after IdleTimeout without a query. Every query not
// answered normally is counted as "dnsfwd.rx.<reason>" (see Reason).
package forward
