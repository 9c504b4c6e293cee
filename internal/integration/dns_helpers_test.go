package integration

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/dns"
)

// resolverFor is the resolver a DHCP-configured host uses: the lease's DNS
// servers on port 53, queries sent over the stack.
func resolverFor(l dhcp.Lease, h *bareHost) *dns.Resolver {
	r := &dns.Resolver{Dial: h.DialContext, Timeout: 5 * time.Second}
	for _, a := range l.DNS {
		r.Servers = append(r.Servers, netip.AddrPortFrom(a, 53))
	}
	return r
}
