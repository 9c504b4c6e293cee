package forward

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/tapstack/tapstack/dns"
)

// Record types and EDNS handled here besides package dns's.
const (
	typePTR = 12
	typeOPT = 41
	typeANY = 255
)

// Reason says why a query got no normal answer; the runner counts it as
// "dnsfwd.rx.<reason>".
type Reason string

// Reasons. The first four get no reply at all (a TCP connection over
// the limit is closed); the others an error reply
// with the rcode in their comment.
const (
	DropMalformed Reason = "malformed" // shorter than a header: no reply
	DropResponse  Reason = "response"  // QR set: never answered (no loops)
	DropRate      Reason = "rate"      // the source's token bucket is empty
	TCPBusy       Reason = "tcp_busy"  // MaxTCPConns connections open: the new one is closed
	FormErr       Reason = "formerr"   // unparsable, or not exactly one question: FORMERR
	NotImp        Reason = "notimp"    // opcode not QUERY, class not IN, or a type not served: NOTIMP
	Busy          Reason = "busy"      // MaxInFlight lookups running: SERVFAIL at once
	Timeout       Reason = "timeout"   // the lookup took over Timeout: SERVFAIL
	ServFail      Reason = "servfail"  // the resolver failed otherwise: SERVFAIL
)

// answerer turns one query into one reply. It is the sans-IO part of the
// forwarder: everything but the resolver call is a pure function of the
// query.
type answerer struct {
	cfg   Config
	hosts map[string][]netip.Addr // lower-case, no trailing dot
	rev   map[netip.Addr]string   // address → first name in cfg.Hosts
}

func newAnswerer(cfg Config) *answerer {
	a := &answerer{cfg: cfg, hosts: map[string][]netip.Addr{}, rev: map[netip.Addr]string{}}
	for name, addrs := range cfg.Hosts {
		n := strings.ToLower(strings.TrimSuffix(name, "."))
		a.hosts[n] = addrs
		for _, ad := range addrs {
			if old, ok := a.rev[ad.Unmap()]; !ok || n < old {
				a.rev[ad.Unmap()] = n
			}
		}
	}
	return a
}

// answer builds the reply to query b; tcp says the reply goes over TCP
// (no 512-byte limit). lookup runs the resolver; the caller bounds it.
func (a *answerer) answer(ctx context.Context, b []byte, tcp bool) ([]byte, Reason) {
	h := dns.Header(b)
	if h.Validate() != nil {
		return nil, DropMalformed
	}
	if h.Response() {
		return nil, DropResponse
	}
	hf := h.Fields()
	rep := dns.HeaderFields{ID: hf.ID, Response: true, Opcode: hf.Opcode, RecursionDesired: hf.RecursionDesired, RecursionAvailable: true}
	m, err := dns.Parse(b)
	if err != nil || len(m.Questions) != 1 {
		rep.Rcode = dns.RcodeFormatError
		return a.build(rep, nil, nil, tcp, 512), FormErr
	}
	q := m.Questions[0]
	if hf.Opcode != 0 {
		rep.Rcode = dns.RcodeNotImplemented
		return a.build(rep, nil, nil, tcp, 512), NotImp
	}
	max := udpSize(m)
	if q.Class != dns.ClassINET {
		rep.Rcode = dns.RcodeNotImplemented
		return a.build(rep, &q, nil, tcp, max), NotImp
	}
	var rrs []dns.Resource
	var why Reason
	switch q.Type {
	case dns.TypeA, dns.TypeAAAA:
		rrs, rep.Rcode, why = a.lookupIP(ctx, q)
	case typePTR:
		rrs, rep.Rcode, why = a.lookupPTR(ctx, q)
	default:
		rep.Rcode, why = dns.RcodeNotImplemented, NotImp
	}
	return a.build(rep, &q, rrs, tcp, max), why
}

// lookupIP answers A or AAAA: Config.Hosts, else the resolver. Both
// families are asked for so that a name with addresses of the other
// family only gets NODATA, not NXDOMAIN.
func (a *answerer) lookupIP(ctx context.Context, q dns.Question) ([]dns.Resource, int, Reason) {
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	addrs, ok := a.hosts[name]
	if !ok {
		var err error
		addrs, err = a.cfg.Resolver.LookupNetIP(ctx, "ip", q.Name)
		if err != nil {
			rcode, why := rcodeOf(ctx, err)
			return nil, rcode, why
		}
	}
	var rrs []dns.Resource
	for _, ad := range addrs {
		ad = ad.Unmap()
		if (q.Type == dns.TypeA) == ad.Is4() && len(rrs) < 64 {
			rrs = append(rrs, dns.Resource{Name: q.Name, Type: q.Type, Class: dns.ClassINET, TTL: a.cfg.TTL, A: ad.WithZone("")})
		}
	}
	return rrs, dns.RcodeSuccess, ""
}

// lookupPTR answers a reverse query: Config.Hosts, else the resolver.
func (a *answerer) lookupPTR(ctx context.Context, q dns.Question) ([]dns.Resource, int, Reason) {
	ad, ok := reverseAddr(q.Name)
	if !ok {
		return nil, dns.RcodeNameError, ""
	}
	var names []string
	if n, ok := a.rev[ad]; ok {
		names = []string{n}
	} else {
		var err error
		names, err = a.cfg.Resolver.LookupAddr(ctx, ad.String())
		if err != nil {
			rcode, why := rcodeOf(ctx, err)
			return nil, rcode, why
		}
	}
	var rrs []dns.Resource
	for _, n := range names {
		data, ok := encodeName(n)
		if ok && len(rrs) < 16 {
			rrs = append(rrs, dns.Resource{Name: q.Name, Type: typePTR, Class: dns.ClassINET, TTL: a.cfg.TTL, Data: data})
		}
	}
	return rrs, dns.RcodeSuccess, ""
}

// rcodeOf maps a resolver error to an rcode: not found is NXDOMAIN, a
// name with no address of the family NOERROR, everything else SERVFAIL.
func rcodeOf(ctx context.Context, err error) (int, Reason) {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return dns.RcodeNameError, ""
		}
		if de.IsTimeout {
			return dns.RcodeServerFailure, Timeout
		}
	}
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return dns.RcodeSuccess, "" // "no suitable address": NODATA
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return dns.RcodeServerFailure, Timeout
	}
	return dns.RcodeServerFailure, ServFail
}

// build encodes the reply; when it exceeds max it is sent truncated (TC,
// no records).
func (a *answerer) build(h dns.HeaderFields, q *dns.Question, rrs []dns.Resource, tcp bool, max int) []byte {
	if tcp {
		max = 65535
	}
	enc := func(h dns.HeaderFields, rrs []dns.Resource) []byte {
		bl := dns.NewBuilder(h)
		if q != nil {
			if bl.Question(*q) != nil {
				h.Rcode = dns.RcodeFormatError
				return dns.NewBuilder(h).Bytes()
			}
		}
		for _, r := range rrs {
			if bl.Answer(r) != nil {
				break
			}
		}
		return bl.Bytes()
	}
	out := enc(h, rrs)
	if len(out) > max {
		h.Truncated = true
		out = enc(h, nil)
	}
	return out
}

// udpSize is the reply size the client takes over UDP: 512, or its
// EDNS(0) payload size (RFC 6891) up to 4096.
func udpSize(m *dns.Msg) int {
	for _, r := range m.Additional {
		if r.Type == typeOPT {
			return min(max(int(r.Class), 512), 4096)
		}
	}
	return 512
}

// encodeName writes a dotted name as uncompressed labels.
func encodeName(name string) ([]byte, bool) {
	name = strings.TrimSuffix(name, ".")
	var b []byte
	if name != "" {
		for label := range strings.SplitSeq(name, ".") {
			if label == "" || len(label) > 63 {
				return nil, false
			}
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	b = append(b, 0)
	return b, len(b) <= 255
}

// reverseAddr parses "4.3.2.1.in-addr.arpa." or the 32 nibbles of an
// ip6.arpa name.
func reverseAddr(name string) (netip.Addr, bool) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if rest, ok := strings.CutSuffix(n, ".in-addr.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		ad, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
		return ad, err == nil
	}
	if rest, ok := strings.CutSuffix(n, ".ip6.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, p := range parts {
			if len(p) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", p[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			j := 31 - i
			b[j/2] |= byte(v) << (4 * (1 - j%2))
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
