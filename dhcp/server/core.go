package server

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/stack"
)

// Reason says why a message got no reply; the runner counts it as
// "dhcpd.rx.<reason>".
type Reason string

// Reasons a message is dropped or not answered.
const (
	DropRateGlobal    Reason = "rate_global"    // the global token bucket is empty
	DropRateClient    Reason = "rate_client"    // the client's token bucket is empty
	DropMalformed     Reason = "malformed"      // fails dhcp.Message.Validate
	DropNotRequest    Reason = "not_request"    // op is not BOOTREQUEST
	DropBadHardware   Reason = "bad_hardware"   // not Ethernet (htype 1, hlen 6)
	DropBOOTP         Reason = "bootp"          // no message type: plain BOOTP, not served
	DropRelayed       Reason = "relayed"        // giaddr set: relays are not served
	DropPoolExhausted Reason = "pool_exhausted" // no address left to offer
	DropOtherServer   Reason = "other_server"   // a REQUEST selecting another server (our offer is withdrawn)
	DropWrongServer   Reason = "wrong_server"   // DECLINE or RELEASE for another server
	DropNotBound      Reason = "not_bound"      // DECLINE or RELEASE of an address the client does not hold
	DropBadRequest    Reason = "bad_request"    // a REQUEST or INFORM in no state of RFC 2131 4.3.2
	DropUnexpected    Reason = "unexpected"     // a server's message type (OFFER, ACK, NAK) or an unknown one
)

// Output is what Core.Handle decided.
type Output struct {
	// Reply is the encoded reply, nil when there is none.
	Reply []byte
	// Type is the reply's message type.
	Type dhcp.MessageType
	// To is the reply's IP destination and ToMAC its link destination
	// (stack.BroadcastMAC for a broadcast), chosen by RFC 2131 4.1.
	To    netip.Addr
	ToMAC stack.MAC
	// Drop is why there is no reply; empty for a reply, and for a DECLINE
	// or RELEASE that was acted on (they get none).
	Drop Reason
}

// Core is the sans-IO DHCP server: it keeps the lease table and rate
// limits and answers messages given the time. It is not safe for
// concurrent use.
type Core struct {
	cfg     Config
	pool    *pool
	global  bucket
	clients clientLimiter
	mask    int
}

// NewCore returns a server core for cfg (see Config for defaults). The
// error says which setting is wrong.
func NewCore(cfg Config) (*Core, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Core{
		cfg:     cfg,
		pool:    newPool(cfg),
		clients: clientLimiter{rate: cfg.ClientRate, burst: cfg.ClientBurst, max: cfg.MaxClients, m: map[stack.MAC]bucket{}},
		mask:    cfg.Subnet.Bits(),
	}, nil
}

// Config returns the configuration in effect, defaults filled in.
func (c *Core) Config() Config { return c.cfg }

// Leases returns the lease table (every address offered, bound, expired
// but remembered, or declined) in address order.
func (c *Core) Leases(now time.Time) []Lease { return c.pool.leases(now) }

// request is what Handle needs of an incoming message.
type request struct {
	m        dhcp.Message
	typ      dhcp.MessageType
	key      string
	mac      stack.MAC
	clientID []byte
	hostname string
}

// Handle processes one message from a client (the UDP payload) at now.
func (c *Core) Handle(now time.Time, b []byte) Output {
	if !c.global.allow(now, c.cfg.GlobalRate, c.cfg.GlobalBurst) {
		return Output{Drop: DropRateGlobal}
	}
	m := dhcp.Message(b)
	if m.Validate() != nil {
		return Output{Drop: DropMalformed}
	}
	if m.Op() != dhcp.OpRequest {
		return Output{Drop: DropNotRequest}
	}
	if m.HType() != 1 || m.HLen() != 6 {
		return Output{Drop: DropBadHardware}
	}
	if m.GIAddr() != (netip.AddrFrom4([4]byte{})) {
		return Output{Drop: DropRelayed}
	}
	typ := m.MessageType()
	if typ == 0 {
		return Output{Drop: DropBOOTP}
	}
	if !c.clients.allow(m.CHAddr(), now) {
		return Output{Drop: DropRateClient}
	}
	r := request{m: m, typ: typ, key: m.ClientKey(), mac: m.CHAddr()}
	if id, ok := m.Option(dhcp.OptClientID); ok && len(id) > 0 {
		r.clientID = append([]byte(nil), id...)
	}
	if h, ok := m.Option(dhcp.OptHostname); ok {
		r.hostname = string(h)
	}
	switch typ {
	case dhcp.Discover:
		return c.discover(now, &r)
	case dhcp.Request:
		return c.request(now, &r)
	case dhcp.Decline:
		return c.decline(now, &r)
	case dhcp.Release:
		return c.release(now, &r)
	case dhcp.Inform:
		return c.inform(&r)
	}
	return Output{Drop: DropUnexpected}
}

// serverID returns option 54 of m, or the zero Addr.
func serverID(m dhcp.Message) netip.Addr {
	if b, ok := m.Option(dhcp.OptServerID); ok {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.Addr{}
}

// requestedIP returns option 50 of m, or the zero Addr.
func requestedIP(m dhcp.Message) netip.Addr {
	if b, ok := m.Option(dhcp.OptRequestedIP); ok {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.Addr{}
}

func unspecified(a netip.Addr) bool { return !a.IsValid() || a.IsUnspecified() }

// discover answers a DHCPDISCOVER with an offer (RFC 2131 4.3.1),
// reserving the address for OfferHold. A client that holds a lease is
// offered its address and keeps the lease.
func (c *Core) discover(now time.Time, r *request) Output {
	i, ok := c.pool.choose(r.key, requestedIP(r.m), now)
	if !ok {
		return Output{Drop: DropPoolExhausted}
	}
	sl := &c.pool.slots[i]
	if sl.state == Bound && sl.key == r.key {
		sl.mac, sl.hostname = r.mac, r.hostname
	} else {
		c.pool.assign(i, r.key, r.mac, r.clientID, r.hostname, Offered, now.Add(c.cfg.OfferHold))
	}
	return c.reply(r, dhcp.Offer, c.pool.addr(i), true)
}

// request answers a DHCPREQUEST in each client state of RFC 2131 4.3.2.
func (c *Core) request(now time.Time, r *request) Output {
	sid, req, ciaddr := serverID(r.m), requestedIP(r.m), r.m.CIAddr()
	switch {
	case sid.IsValid():
		// SELECTING: the client chose a server.
		if sid != c.cfg.ServerID {
			if i, ok := c.pool.lookup(r.key, now); ok && c.pool.slots[i].state == Offered {
				c.pool.slots[i].state = Expired // withdraw our offer
			}
			return Output{Drop: DropOtherServer}
		}
		if i, ok := c.pool.lookup(r.key, now); ok && c.pool.addr(i) == req {
			return c.bind(now, r, i)
		}
		return c.nak(r, "requested address was not offered")
	case req.IsValid() && unspecified(ciaddr):
		// INIT-REBOOT: the client checks the address it remembers.
		return c.confirm(now, r, req)
	case !req.IsValid() && !unspecified(ciaddr):
		// RENEWING (unicast) or REBINDING (broadcast): extend ciaddr.
		return c.confirm(now, r, ciaddr)
	}
	return Output{Drop: DropBadRequest}
}

// confirm ACKs a lease of a for the client if a is its lease or free in
// the range (the server is authoritative), and NAKs it otherwise.
func (c *Core) confirm(now time.Time, r *request, a netip.Addr) Output {
	if !c.cfg.Subnet.Contains(a) {
		return c.nak(r, "address is not on this subnet")
	}
	i, ok := c.pool.index(a)
	if !ok || !c.pool.available(i, r.key, now) {
		return c.nak(r, "address is not yours")
	}
	return c.bind(now, r, i)
}

// bind leases slot i to the client for LeaseTime and ACKs.
func (c *Core) bind(now time.Time, r *request, i int) Output {
	c.pool.assign(i, r.key, r.mac, r.clientID, r.hostname, Bound, now.Add(c.cfg.LeaseTime))
	return c.reply(r, dhcp.Ack, c.pool.addr(i), true)
}

// decline takes the address a client found in use out of the pool for
// DeclineHold (RFC 2131 4.3.3).
func (c *Core) decline(now time.Time, r *request) Output {
	if serverID(r.m) != c.cfg.ServerID {
		return Output{Drop: DropWrongServer}
	}
	i, ok := c.pool.index(requestedIP(r.m))
	if !ok || c.pool.slots[i].key != r.key {
		return Output{Drop: DropNotBound}
	}
	c.pool.unfile(i, Declined, now.Add(c.cfg.DeclineHold))
	return Output{}
}

// release ends the client's lease at once (RFC 2131 4.3.4); the address
// stays remembered for it.
func (c *Core) release(now time.Time, r *request) Output {
	if serverID(r.m) != c.cfg.ServerID {
		return Output{Drop: DropWrongServer}
	}
	i, ok := c.pool.index(r.m.CIAddr())
	if !ok || c.pool.slots[i].key != r.key {
		return Output{Drop: DropNotBound}
	}
	sl := &c.pool.slots[i]
	sl.state, sl.expires = Expired, now
	return Output{}
}

// inform answers a DHCPINFORM with the configuration and no lease (RFC
// 2131 4.3.5).
func (c *Core) inform(r *request) Output {
	if unspecified(r.m.CIAddr()) {
		return Output{Drop: DropBadRequest}
	}
	return c.reply(r, dhcp.Ack, netip.Addr{}, false)
}

// reply builds an OFFER or ACK for yiaddr; lease says whether it carries
// the lease time options.
func (c *Core) reply(r *request, typ dhcp.MessageType, yiaddr netip.Addr, lease bool) Output {
	f := dhcp.Fields{
		Op: dhcp.OpReply, XID: r.m.XID(), Flags: r.m.Flags(), CHAddr: r.mac, YIAddr: yiaddr,
		MessageType: typ, ServerID: c.cfg.ServerID, SubnetMask: c.mask,
		Router: []netip.Addr{c.cfg.Router}, DNS: c.cfg.DNS, Hostname: r.hostname, ClientID: r.clientID,
	}
	if typ == dhcp.Ack && !lease {
		f.CIAddr = r.m.CIAddr() // RFC 2131 table 3: ciaddr of a DHCPINFORM's ACK
	}
	if lease {
		f.LeaseTime, f.T1, f.T2 = c.cfg.LeaseTime, c.cfg.LeaseTime/2, c.cfg.LeaseTime*7/8
	}
	if c.cfg.Domain != "" {
		f.Extra = []dhcp.Option{{Code: dhcp.OptDomainName, Data: []byte(c.cfg.Domain)}}
	}
	out := Output{Reply: f.Marshal(), Type: typ}
	// RFC 2131 4.1: to ciaddr if set; else broadcast if the client asks;
	// else unicast to yiaddr at chaddr.
	switch ciaddr := r.m.CIAddr(); {
	case !unspecified(ciaddr):
		out.To, out.ToMAC = ciaddr, r.mac
	case r.m.Flags()&dhcp.FlagBroadcast != 0:
		out.To, out.ToMAC = netip.AddrFrom4([4]byte{255, 255, 255, 255}), stack.BroadcastMAC
	default:
		out.To, out.ToMAC = yiaddr, r.mac
	}
	return out
}

// nak builds a DHCPNAK, broadcast (RFC 2131 4.1).
func (c *Core) nak(r *request, why string) Output {
	f := dhcp.Fields{
		Op: dhcp.OpReply, XID: r.m.XID(), Flags: r.m.Flags(), CHAddr: r.mac,
		MessageType: dhcp.Nak, ServerID: c.cfg.ServerID, Message: why, ClientID: r.clientID,
	}
	return Output{Reply: f.Marshal(), Type: dhcp.Nak, To: netip.AddrFrom4([4]byte{255, 255, 255, 255}), ToMAC: stack.BroadcastMAC}
}
