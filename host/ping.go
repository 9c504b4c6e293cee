package host

import (
	"context"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/ping"
)

// Ping sends an ICMP echo request (ICMPv6 for an IPv6 address) to addr
// through the host's stack and waits for the reply, returning the
// round-trip time. ctx bounds the wait: without a reply Ping returns an
// error wrapping ctx's. The host's ping.Pinger (ping.Of) matches replies
// by identifier, sequence number, source and a random cookie and bounds
// the requests waiting at once (ping.DefaultMaxOutstanding).
func (h *Host) Ping(ctx context.Context, addr netip.Addr) (time.Duration, error) {
	p, err := ping.Of(h.Stack())
	if err != nil {
		return 0, err
	}
	return p.Ping(ctx, addr)
}
