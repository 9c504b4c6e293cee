package ping

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// stepClock is the wall clock for timers, but Now advances by a
// millisecond at every call, so that a round trip always takes time.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *stepClock) AfterFunc(d time.Duration, f func()) stack.Timer {
	return time.AfterFunc(d, f)
}

// fixedResolver sends every unicast packet to the peer's MAC.
type fixedResolver struct{ mac stack.MAC }

func (r fixedResolver) WriteTo(nic *stack.NIC, _ netip.Addr, et uint16, p *stack.Packet) error {
	return nic.WriteLinkPacket(r.mac, et, p)
}

// side is one of the two stacks of pingPair.
type side struct {
	s    *stack.Stack
	ip4  *ipv4.Protocol
	ip6  *ipv6.Protocol
	addr [2]netip.Addr // IPv4, IPv6
}

// pingPair returns two dual-stack stacks joined by link.Pipe with the
// real ipv4 and ipv6 layers (no ARP or NDP: fixed resolvers): A is
// 10.0.0.1 and fd00::1 and routes everything else through B, 10.0.0.2 and
// fd00::2.
func pingPair(t testing.TB) (a, b *side) {
	t.Helper()
	da, db := link.Pipe(1500)
	macA, macB := stack.MAC{2, 0, 0, 0, 0, 1}, stack.MAC{2, 0, 0, 0, 0, 2}
	mk := func(d link.Device, mac, peer stack.MAC, v4, v6 string) *side {
		s := stack.New(stack.Options{Clock: &stepClock{now: time.Unix(1e9, 0)}})
		t.Cleanup(func() { s.Close() })
		ip4, err := ipv4.Register(s, ipv4.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ip6, err := ipv6.Register(s, ipv6.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.SetResolver(stack.EtherTypeIPv4, fixedResolver{peer})
		s.SetResolver(stack.EtherTypeIPv6, fixedResolver{peer})
		nic, err := s.AddNIC("eth0", link.NewEthernet(d, mac))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{v4, v6} {
			if err := nic.AddAddress(netip.MustParsePrefix(p)); err != nil {
				t.Fatal(err)
			}
		}
		return &side{s: s, ip4: ip4, ip6: ip6, addr: [2]netip.Addr{netip.MustParsePrefix(v4).Addr(), netip.MustParsePrefix(v6).Addr()}}
	}
	a = mk(da, macA, macB, "10.0.0.1/24", "fd00::1/64")
	b = mk(db, macB, macA, "10.0.0.2/24", "fd00::2/64")
	for _, p := range []string{"0.0.0.0/0", "::/0"} {
		if err := a.s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix(p), NIC: a.s.NICs()[0]}); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestPingRoundTrip (issue 15 item 3): a ping to the peer over IPv4 and
// IPv6 gets its reply, with the RTT measured on the stack's clock.
func TestPingRoundTrip(t *testing.T) {
	a, b := pingPair(t)
	p, err := Of(a.s)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := Of(a.s); q != p {
		t.Fatal("Of installed a second Pinger")
	}
	for i, dst := range b.addr {
		rtt, err := p.Ping(ctxT(t, 20*time.Second), dst)
		if err != nil {
			t.Fatalf("ping %v: %v", dst, err)
		}
		if rtt <= 0 {
			t.Errorf("ping %v: RTT %v, want > 0 on the stepping clock", dst, rtt)
		}
		if n := a.s.Counters().Value("ping.rx.replies"); n != uint64(i+1) {
			t.Errorf("ping.rx.replies %d", n)
		}
	}
}

// reply builds an echo reply packet from src with the given identifier,
// sequence number and cookie, as ipv4 or ipv6 hand it over.
func reply(src netip.Addr, id, seq uint16, cookie []byte) *stack.Packet {
	b := make([]byte, 8+DefaultSize)
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], cookie)
	pkt := stack.NewPacketFrom(b)
	pkt.Src = src
	return pkt
}

// TestPingMatchesIdentifierSequenceSourceCookie: a reply completes a
// waiting request only when identifier, sequence number, source and cookie
// all match; the others are counted (ping.rx.unmatched).
func TestPingMatchesIdentifierSequenceSourceCookie(t *testing.T) {
	a, _ := pingPair(t)
	p, err := New(a.s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("10.0.0.2")
	w := &waiter{reply: make(chan time.Time, 1)}
	p.waiting[key{dst, 7}] = w
	for name, pkt := range map[string]*stack.Packet{
		"identifier": reply(dst, p.id+1, 7, p.cookie[:]),
		"sequence":   reply(dst, p.id, 8, p.cookie[:]),
		"source":     reply(netip.MustParseAddr("10.0.0.3"), p.id, 7, p.cookie[:]),
		"cookie":     reply(dst, p.id, 7, []byte("badcooki")),
	} {
		p.HandleEchoReply(pkt)
		if len(w.reply) != 0 {
			t.Fatalf("a reply with the wrong %s matched", name)
		}
	}
	if n := a.s.Counters().Value("ping.rx.unmatched"); n != 4 {
		t.Errorf("ping.rx.unmatched %d, want 4", n)
	}
	p.HandleICMPv6(reply(dst, p.id, 7, p.cookie[:]))
	if len(w.reply) != 1 {
		t.Fatal("the matching reply did not complete the request")
	}
}

// TestPingBoundedOutstanding: beyond MaxOutstanding waiting requests Ping
// fails at once with ErrTooManyOutstanding.
func TestPingBoundedOutstanding(t *testing.T) {
	a, b := pingPair(t)
	p, err := New(a.s, Options{MaxOutstanding: 1})
	if err != nil {
		t.Fatal(err)
	}
	p.waiting[key{netip.MustParseAddr("192.0.2.1"), 999}] = &waiter{reply: make(chan time.Time, 1)}
	if _, err := p.Ping(ctxT(t, 20*time.Second), b.addr[0]); !errors.Is(err, ErrTooManyOutstanding) {
		t.Fatalf("Ping: %v, want ErrTooManyOutstanding", err)
	}
}

// TestPingForwardedEcho (issue 15 acceptance 3, second half): in the
// accept-any-destination mode a ping to an address that is not the
// stack's is answered from that address when the echo filter allows it,
// and not answered otherwise, over IPv4 and IPv6.
func TestPingForwardedEcho(t *testing.T) {
	a, b := pingPair(t)
	allowed := map[netip.Addr]bool{netip.MustParseAddr("192.0.2.1"): true, netip.MustParseAddr("2001:db8::1"): true}
	allow := func(_, dst netip.Addr) bool { return allowed[dst] }
	b.ip4.SetAcceptAnyDestination(true)
	b.ip6.SetAcceptAnyDestination(true)
	b.ip4.SetForwardedEcho(allow)
	b.ip6.SetForwardedEcho(allow)
	p, err := Of(a.s)
	if err != nil {
		t.Fatal(err)
	}
	for dst := range allowed {
		if _, err := p.Ping(ctxT(t, 20*time.Second), dst); err != nil {
			t.Errorf("ping %v: %v", dst, err)
		}
	}
	for _, dst := range []string{"192.0.2.2", "2001:db8::2"} {
		_, err := p.Ping(ctxT(t, 300*time.Millisecond), netip.MustParseAddr(dst))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ping %v (not allowed): %v, want no reply", dst, err)
		}
	}
	cs := b.s.Counters()
	if cs.Value("icmp.rx.echo_broadcast_ignored") != 1 || cs.Value("icmpv6.rx.echo_not_answered") != 1 {
		t.Errorf("unanswered echoes: ipv4 %d ipv6 %d", cs.Value("icmp.rx.echo_broadcast_ignored"), cs.Value("icmpv6.rx.echo_not_answered"))
	}
}
