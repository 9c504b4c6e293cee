package dns

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
)

// NetResolver returns a Go *net.Resolver that uses the pure-Go resolver
// (PreferGo) with its connections opened by r.Dial to r's servers: the
// address Go takes from /etc/resolv.conf is replaced by one of r.Servers,
// in turn. Go's resolver still reads /etc/hosts first and takes its search
// list, ndots, timeout and attempts from /etc/resolv.conf; use r.LookupHost
// or r.DialContext for lookups that depend on nothing of the machine's.
func (r *Resolver) NetResolver() *net.Resolver {
	var next atomic.Uint32
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			if len(r.Servers) == 0 {
				return nil, &net.DNSError{Err: "no DNS servers configured"}
			}
			srv := r.Servers[int(next.Add(1)-1)%len(r.Servers)]
			switch network {
			case "udp", "udp4", "udp6":
				network = "udp"
			default:
				network = "tcp"
			}
			return r.dial(ctx, network, srv.String())
		},
	}
}

// DialContext wraps dial (a tapstack host's DialContext, say) so that it
// accepts host names: the host part of addr is looked up with LookupNetIP
// (both families for "tcp" and "udp", one for "tcp4", "udp6" and the
// like). TCP addresses are dialled the Happy Eyeballs way
// (DialHappyEyeballs on r.Clock: IPv6 first, the next address after 250
// ms or a failure, the first connection wins); UDP ones, which connect
// without a handshake, in the same order until one dial succeeds. Plug it
// into http.Transport.DialContext to fetch http://name:port/ over the
// stack.
func (r *Resolver) DialContext(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return dial(ctx, network, addr)
		}
		pn, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		ipnet := "ip"
		if strings.HasSuffix(network, "4") || strings.HasSuffix(network, "6") {
			ipnet += network[len(network)-1:]
		}
		addrs, err := r.LookupNetIP(ctx, ipnet, host)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		dialAP := func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
			return dial(ctx, network, ap.String())
		}
		if strings.HasPrefix(network, "tcp") {
			return DialHappyEyeballs(ctx, r.Clock, addrs, uint16(pn), dialAP)
		}
		var first error
		for _, a := range InterleaveFamilies(addrs) {
			c, err := dialAP(ctx, netip.AddrPortFrom(a, uint16(pn)))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, first
	}
}
