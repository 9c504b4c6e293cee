package dns

import (
	"context"
	"net"
	"net/netip"
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
// accepts host names: the host part of addr is looked up with LookupHost
// and each address is dialled in turn until one connects. Plug it into
// http.Transport.DialContext to fetch http://name:port/ over the stack.
func (r *Resolver) DialContext(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return dial(ctx, network, addr)
		}
		addrs, err := r.LookupHost(ctx, host)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		var first error
		for _, a := range addrs {
			c, err := dial(ctx, network, net.JoinHostPort(a.String(), port))
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
