package server

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/stack"
)

// RFC 2131 4.3.1 and RFC 2132: an OFFER carries the address, the subnet
// mask, router, DNS servers, lease time with T1 = 0.5 and T2 = 0.875 of
// it (4.4.5), the server identifier, and echoes the hostname and the
// client identifier (RFC 6842).
func TestRFC2131_4_3_1_OfferCarriesConfiguration(t *testing.T) {
	c := newCore(t, func(c *Config) { c.Domain = "guest.test" })
	out := c.Handle(t0, msg(dhcp.Discover, macA, func(f *dhcp.Fields) {
		f.Hostname = "vm1"
		f.ClientID = []byte{1, 2, 3}
	}))
	f := reply(t, out, dhcp.Offer)
	if f.YIAddr != first || f.SubnetMask != 24 || len(f.Router) != 1 || f.Router[0] != router ||
		len(f.DNS) != 1 || f.DNS[0] != dnsAddr || f.XID != 0x1234 || f.CHAddr != macA {
		t.Fatalf("offer %+v", f)
	}
	if f.LeaseTime != time.Hour || f.T1 != 30*time.Minute || f.T2 != 52*time.Minute+30*time.Second {
		t.Fatalf("lease %v T1 %v T2 %v, want 1h 30m 52m30s", f.LeaseTime, f.T1, f.T2)
	}
	if f.Hostname != "vm1" || string(f.ClientID) != "\x01\x02\x03" {
		t.Fatalf("hostname %q client id %x not echoed", f.Hostname, f.ClientID)
	}
	var domain string
	for _, o := range f.Extra {
		if o.Code == dhcp.OptDomainName {
			domain = string(o.Data)
		}
	}
	if domain != "guest.test" {
		t.Fatalf("domain option %q, want guest.test", domain)
	}
	if l, ok := stateOf(c, t0, first); !ok || l.State != Offered || l.Expires != t0.Add(DefaultOfferHold) {
		t.Fatalf("table entry %+v, want offered until +%v", l, DefaultOfferHold)
	}
}

// RFC 2131 4.3.1: the address offered is the client's current binding,
// else its previous one, else the requested one if free, else a free one.
func TestRFC2131_4_3_1_AddressSelection(t *testing.T) {
	t.Run("current binding", func(t *testing.T) {
		c := newCore(t, nil)
		a := lease(t, c, t0, macA)
		f := reply(t, c.Handle(t0.Add(time.Minute), msg(dhcp.Discover, macA, withRequested(last))), dhcp.Offer)
		if f.YIAddr != a {
			t.Fatalf("offered %v to a client bound to %v", f.YIAddr, a)
		}
		if l, _ := stateOf(c, t0, a); l.State != Bound {
			t.Fatalf("a DISCOVER from a bound client demoted its lease to %v", l.State)
		}
	})
	t.Run("previous binding after expiry", func(t *testing.T) {
		c := newCore(t, nil)
		lease(t, c, t0, macA) // .15
		b := lease(t, c, t0, macB)
		later := t0.Add(2 * time.Hour) // both expired
		f := reply(t, c.Handle(later, msg(dhcp.Discover, macB)), dhcp.Offer)
		if f.YIAddr != b {
			t.Fatalf("returning client offered %v, had %v", f.YIAddr, b)
		}
	})
	t.Run("requested address", func(t *testing.T) {
		c := newCore(t, nil)
		f := reply(t, c.Handle(t0, msg(dhcp.Discover, macA, withRequested(last))), dhcp.Offer)
		if f.YIAddr != last {
			t.Fatalf("offered %v, requested free %v", f.YIAddr, last)
		}
	})
	t.Run("requested address held by another", func(t *testing.T) {
		c := newCore(t, nil)
		a := lease(t, c, t0, macA)
		f := reply(t, c.Handle(t0, msg(dhcp.Discover, macB, withRequested(a))), dhcp.Offer)
		if f.YIAddr == a {
			t.Fatalf("offered %v, bound to another client", a)
		}
	})
	t.Run("reserved addresses skipped", func(t *testing.T) {
		c := newCore(t, func(c *Config) { c.RangeStart = netip.MustParseAddr("10.0.2.1") })
		for _, want := range []string{"10.0.2.1", "10.0.2.4"} { // .2 router, .3 DNS
			f := reply(t, c.Handle(t0, msg(dhcp.Discover, stack.MAC{2, 0, 0, 0, 0, want[len(want)-1]})), dhcp.Offer)
			if f.YIAddr.String() != want {
				t.Fatalf("offered %v, want %v", f.YIAddr, want)
			}
		}
	})
}

// RFC 2131 4.1: where replies go.
func TestRFC2131_4_1_ReplyDestination(t *testing.T) {
	c := newCore(t, nil)
	a := lease(t, c, t0, macA)
	for _, tc := range []struct {
		name  string
		m     []byte
		to    netip.Addr
		toMAC stack.MAC
	}{
		{"BROADCAST bit set: broadcast", msg(dhcp.Discover, macB, withBroadcast), bcast, stack.BroadcastMAC},
		{"no BROADCAST bit, no ciaddr: unicast to yiaddr at chaddr", msg(dhcp.Discover, macB), second, macB},
		{"ciaddr set: unicast to ciaddr", msg(dhcp.Request, macA, withCIAddr(a)), a, macA},
		{"ciaddr set wins over the BROADCAST bit", msg(dhcp.Request, macA, withCIAddr(a), withBroadcast), a, macA},
		{"NAK is always broadcast", msg(dhcp.Request, macB, withRequested(a)), bcast, stack.BroadcastMAC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := c.Handle(t0, tc.m)
			if out.Reply == nil || out.To != tc.to || out.ToMAC != tc.toMAC {
				t.Fatalf("reply %v to %v at %v (drop %q), want %v at %v", out.Type, out.To, out.ToMAC, out.Drop, tc.to, tc.toMAC)
			}
		})
	}
}

// RFC 2131 4.3.2: a DHCPREQUEST in each client state.
func TestRFC2131_4_3_2_Request(t *testing.T) {
	outside := netip.MustParseAddr("192.168.1.50")
	for _, tc := range []struct {
		name string
		// setup runs first; then req is handled at t0+1m.
		setup func(t *testing.T, c *Core)
		req   []byte
		want  dhcp.MessageType // 0: no reply
		drop  Reason
		yi    netip.Addr
	}{
		{"SELECTING: server identifier ours, requested = offered: ACK",
			func(t *testing.T, c *Core) { c.Handle(t0, msg(dhcp.Discover, macA)) },
			msg(dhcp.Request, macA, withServer(router), withRequested(first)), dhcp.Ack, "", first},
		{"SELECTING: requested differs from the offer: NAK",
			func(t *testing.T, c *Core) { c.Handle(t0, msg(dhcp.Discover, macA)) },
			msg(dhcp.Request, macA, withServer(router), withRequested(last)), dhcp.Nak, "", netip.Addr{}},
		{"SELECTING: no offer was made: NAK",
			func(t *testing.T, c *Core) {},
			msg(dhcp.Request, macA, withServer(router), withRequested(first)), dhcp.Nak, "", netip.Addr{}},
		{"SELECTING another server: silent, offer withdrawn",
			func(t *testing.T, c *Core) { c.Handle(t0, msg(dhcp.Discover, macA)) },
			msg(dhcp.Request, macA, withServer(other), withRequested(first)), 0, DropOtherServer, netip.Addr{}},
		{"INIT-REBOOT: the client's own address: ACK",
			func(t *testing.T, c *Core) { lease(t, c, t0, macA) },
			msg(dhcp.Request, macA, withRequested(first)), dhcp.Ack, "", first},
		{"INIT-REBOOT: address off the subnet (client moved): NAK",
			func(t *testing.T, c *Core) { lease(t, c, t0, macA) },
			msg(dhcp.Request, macA, withRequested(outside)), dhcp.Nak, "", netip.Addr{}},
		{"INIT-REBOOT: another client's address: NAK",
			func(t *testing.T, c *Core) { lease(t, c, t0, macB) },
			msg(dhcp.Request, macA, withRequested(first)), dhcp.Nak, "", netip.Addr{}},
		{"INIT-REBOOT: unknown client, free address of the range: ACK (authoritative)",
			func(t *testing.T, c *Core) {},
			msg(dhcp.Request, macA, withRequested(last)), dhcp.Ack, "", last},
		{"INIT-REBOOT: subnet address outside the range: NAK",
			func(t *testing.T, c *Core) {},
			msg(dhcp.Request, macA, withRequested(netip.MustParseAddr("10.0.2.100"))), dhcp.Nak, "", netip.Addr{}},
		{"RENEWING: ciaddr is the client's lease: ACK",
			func(t *testing.T, c *Core) { lease(t, c, t0, macA) },
			msg(dhcp.Request, macA, withCIAddr(first)), dhcp.Ack, "", first},
		{"REBINDING: broadcast with ciaddr: ACK",
			func(t *testing.T, c *Core) { lease(t, c, t0, macA) },
			msg(dhcp.Request, macA, withCIAddr(first), withBroadcast), dhcp.Ack, "", first},
		{"RENEWING another client's address: NAK",
			func(t *testing.T, c *Core) { lease(t, c, t0, macB) },
			msg(dhcp.Request, macA, withCIAddr(first)), dhcp.Nak, "", netip.Addr{}},
		{"no server identifier, no requested address, no ciaddr: dropped",
			func(t *testing.T, c *Core) {},
			msg(dhcp.Request, macA), 0, DropBadRequest, netip.Addr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore(t, nil)
			tc.setup(t, c)
			now := t0.Add(time.Minute)
			out := c.Handle(now, tc.req)
			if tc.want == 0 {
				if out.Reply != nil || out.Drop != tc.drop {
					t.Fatalf("got %v (drop %q), want no reply and drop %q", out.Type, out.Drop, tc.drop)
				}
				return
			}
			f := reply(t, out, tc.want)
			if f.YIAddr != tc.yi && tc.want == dhcp.Ack {
				t.Fatalf("ACK for %v, want %v", f.YIAddr, tc.yi)
			}
			if tc.want == dhcp.Ack {
				l, ok := stateOf(c, now, tc.yi)
				if !ok || l.State != Bound || l.Expires != now.Add(time.Hour) || l.MAC != macA {
					t.Fatalf("table entry %+v, want bound to %v until %v", l, macA, now.Add(time.Hour))
				}
			}
			if tc.want == dhcp.Nak && (f.YIAddr.IsValid() && !f.YIAddr.IsUnspecified() || f.LeaseTime != 0) {
				t.Fatalf("NAK carries yiaddr %v lease %v", f.YIAddr, f.LeaseTime)
			}
		})
	}
}

// RFC 2131 4.3.2: a REQUEST for another server means our offer was not
// taken; the address goes back to the pool at once.
func TestRFC2131_4_3_2_OtherServerFreesOffer(t *testing.T) {
	c := newCore(t, func(c *Config) { c.RangeEnd = first })
	c.Handle(t0, msg(dhcp.Discover, macA))
	if out := c.Handle(t0, msg(dhcp.Discover, macB)); out.Drop != DropPoolExhausted {
		t.Fatalf("pool of one with an offer out: drop %q, want %q", out.Drop, DropPoolExhausted)
	}
	c.Handle(t0, msg(dhcp.Request, macA, withServer(other), withRequested(first)))
	reply(t, c.Handle(t0, msg(dhcp.Discover, macB)), dhcp.Offer)
}

// RFC 2131 4.4.5 / 4.3.2: a renewal extends the same lease, the address
// stays the client's across renewals.
func TestRFC2131_4_4_5_RenewalExtendsSameLease(t *testing.T) {
	c := newCore(t, nil)
	a := lease(t, c, t0, macA)
	for i := 1; i <= 5; i++ {
		now := t0.Add(time.Duration(i) * 30 * time.Minute)
		f := reply(t, c.Handle(now, msg(dhcp.Request, macA, withCIAddr(a))), dhcp.Ack)
		if f.YIAddr != a {
			t.Fatalf("renewal %d gave %v, lease is %v", i, f.YIAddr, a)
		}
		if l, _ := stateOf(c, now, a); l.Expires != now.Add(time.Hour) {
			t.Fatalf("renewal %d: expires %v, want %v", i, l.Expires, now.Add(time.Hour))
		}
	}
}

// RFC 2131 4.3.3: a declined address is marked unusable; it is offered
// again only after DeclineHold.
func TestRFC2131_4_3_3_DeclineMarksAddressBad(t *testing.T) {
	c := newCore(t, func(c *Config) { c.RangeEnd = second })
	a := lease(t, c, t0, macA)
	out := c.Handle(t0, msg(dhcp.Decline, macA, withServer(router), withRequested(a)))
	if out.Reply != nil || out.Drop != "" {
		t.Fatalf("DECLINE: reply %v drop %q, want neither", out.Type, out.Drop)
	}
	if l, _ := stateOf(c, t0, a); l.State != Declined {
		t.Fatalf("declined address is %v", l.State)
	}
	f := reply(t, c.Handle(t0, msg(dhcp.Discover, macA)), dhcp.Offer)
	if f.YIAddr == a {
		t.Fatalf("declined address %v offered again at once", a)
	}
	// The other address is out now; only the declined one would be left.
	c.Handle(t0, msg(dhcp.Request, macA, withServer(router), withRequested(f.YIAddr)))
	if out := c.Handle(t0.Add(time.Minute), msg(dhcp.Discover, macB)); out.Drop != DropPoolExhausted {
		t.Fatalf("during the hold: %v drop %q, want %q", out.Type, out.Drop, DropPoolExhausted)
	}
	f = reply(t, c.Handle(t0.Add(DefaultDeclineHold), msg(dhcp.Discover, macB)), dhcp.Offer)
	if f.YIAddr != a {
		t.Fatalf("after the hold offered %v, want the declined %v back", f.YIAddr, a)
	}
}

// RFC 2131 4.3.3/4.3.4: DECLINE and RELEASE are checked against the
// server identifier and the client's binding.
func TestRFC2131_4_3_3_DeclineReleaseChecks(t *testing.T) {
	c := newCore(t, nil)
	a := lease(t, c, t0, macA)
	for _, tc := range []struct {
		name string
		m    []byte
		drop Reason
	}{
		{"DECLINE for another server", msg(dhcp.Decline, macA, withServer(other), withRequested(a)), DropWrongServer},
		{"DECLINE of an address the client does not hold", msg(dhcp.Decline, macB, withServer(router), withRequested(a)), DropNotBound},
		{"RELEASE for another server", msg(dhcp.Release, macA, withServer(other), withCIAddr(a)), DropWrongServer},
		{"RELEASE by another client", msg(dhcp.Release, macB, withServer(router), withCIAddr(a)), DropNotBound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out := c.Handle(t0, tc.m); out.Drop != tc.drop {
				t.Fatalf("drop %q, want %q", out.Drop, tc.drop)
			}
			if l, _ := stateOf(c, t0, a); l.State != Bound {
				t.Fatalf("lease is %v after a rejected message", l.State)
			}
		})
	}
}

// RFC 2131 4.3.4: RELEASE ends the lease; the address is remembered for
// the client, and others get it only when nothing else is left.
func TestRFC2131_4_3_4_ReleaseEndsLease(t *testing.T) {
	c := newCore(t, func(c *Config) { c.RangeEnd = second })
	a := lease(t, c, t0, macA)
	c.Handle(t0, msg(dhcp.Release, macA, withServer(router), withCIAddr(a)))
	if l, _ := stateOf(c, t0, a); l.State != Expired {
		t.Fatalf("released lease is %v", l.State)
	}
	if f := reply(t, c.Handle(t0, msg(dhcp.Discover, macB)), dhcp.Offer); f.YIAddr == a {
		t.Fatalf("released address %v given to another while a never-used one was free", a)
	}
	c.Handle(t0, msg(dhcp.Request, macB, withServer(router), withRequested(second)))
	f := reply(t, c.Handle(t0, msg(dhcp.Discover, stack.MAC{2, 0, 0, 0, 0, 0xc})), dhcp.Offer)
	if f.YIAddr != a {
		t.Fatalf("pool otherwise full: offered %v, want the released %v", f.YIAddr, a)
	}
}

// RFC 2131 4.3.5: INFORM gets an ACK with the configuration, no yiaddr and
// no lease time, sent to ciaddr.
func TestRFC2131_4_3_5_InformAcksWithoutLease(t *testing.T) {
	c := newCore(t, nil)
	static := netip.MustParseAddr("10.0.2.200")
	out := c.Handle(t0, msg(dhcp.Inform, macA, withCIAddr(static)))
	f := reply(t, out, dhcp.Ack)
	if (f.YIAddr.IsValid() && !f.YIAddr.IsUnspecified()) || f.LeaseTime != 0 || f.T1 != 0 || f.CIAddr != static || len(f.DNS) != 1 {
		t.Fatalf("INFORM's ACK %+v", f)
	}
	if out.To != static || out.ToMAC != macA {
		t.Fatalf("sent to %v at %v, want %v at %v", out.To, out.ToMAC, static, macA)
	}
	if len(c.Leases(t0)) != 0 {
		t.Fatalf("INFORM created a lease: %v", c.Leases(t0))
	}
	if out := c.Handle(t0, msg(dhcp.Inform, macA)); out.Drop != DropBadRequest {
		t.Fatalf("INFORM without ciaddr: drop %q", out.Drop)
	}
}

// Bad input is dropped with its reason.
func TestDropReasons(t *testing.T) {
	good := msg(dhcp.Discover, macA)
	mut := func(f func(b []byte)) []byte { b := append([]byte(nil), good...); f(b); return b }
	for _, tc := range []struct {
		name string
		m    []byte
		drop Reason
	}{
		{"short", good[:100], DropMalformed},
		{"bad cookie", mut(func(b []byte) { b[236] = 0 }), DropMalformed},
		{"BOOTREPLY from a client port", mut(func(b []byte) { b[0] = dhcp.OpReply }), DropNotRequest},
		{"not Ethernet", mut(func(b []byte) { b[1] = 6 }), DropBadHardware},
		{"hlen 16", mut(func(b []byte) { b[2] = 16 }), DropBadHardware},
		{"relayed (giaddr set)", msg(dhcp.Discover, macA, func(f *dhcp.Fields) { f.GIAddr = other }), DropRelayed},
		{"plain BOOTP", msg(0, macA), DropBOOTP},
		{"an OFFER sent to the server", msg(dhcp.Offer, macA), DropUnexpected},
		{"unknown type 42", msg(42, macA), DropUnexpected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore(t, nil)
			if out := c.Handle(t0, tc.m); out.Reply != nil || out.Drop != tc.drop {
				t.Fatalf("reply %v drop %q, want drop %q", out.Type, out.Drop, tc.drop)
			}
		})
	}
}
