package gateway

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
)

// fakeICMP is an ICMP datagram socket: echoes to up are answered (with
// the kernel's own identifier, as a ping socket's are), to noRoute
// refused at once (ENETUNREACH), to the others never.
type fakeICMP struct {
	up, noRoute netip.Addr
	replies     chan []byte
	once        sync.Once
	closed      chan struct{}
}

func newFakeICMP(up, noRoute netip.Addr) *fakeICMP {
	return &fakeICMP{up: up, noRoute: noRoute, replies: make(chan []byte, 16), closed: make(chan struct{})}
}

func (f *fakeICMP) WriteTo(b []byte, to net.Addr) (int, error) {
	a, _ := netip.AddrFromSlice(to.(*net.UDPAddr).IP)
	switch a.Unmap() {
	case f.noRoute:
		return 0, &net.OpError{Op: "write", Err: os.NewSyscallError("sendto", syscall.ENETUNREACH)}
	case f.up:
		m := ipv4.ICMP(b)
		r := make([]byte, len(b))
		(&ipv4.ICMPFields{Type: ipv4.ICMPEchoReply, Rest: ipv4.EchoRest(999, m.Seq()), Payload: m.Payload()}).Encode(r)
		if m.Type() == ipv6.ICMPEchoRequest {
			r[0] = ipv6.ICMPEchoReply
		}
		f.replies <- r
	}
	return len(b), nil
}

func (f *fakeICMP) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case r := <-f.replies:
		return copy(b, r), &net.UDPAddr{IP: f.up.AsSlice()}, nil
	case <-f.closed:
		return 0, nil, net.ErrClosed
	}
}

func (f *fakeICMP) Close() error                     { f.once.Do(func() { close(f.closed) }); return nil }
func (f *fakeICMP) LocalAddr() net.Addr              { return &net.UDPAddr{} }
func (f *fakeICMP) SetDeadline(time.Time) error      { return nil }
func (f *fakeICMP) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeICMP) SetWriteDeadline(time.Time) error { return nil }

// sentICMP is a message the Pinger sent to a guest.
type sentICMP struct {
	from, to netip.Addr
	f        ipv4.ICMPFields
}

// RFC 792: the echo reply carries the request's identifier, sequence
// number and data; the relay's reply comes from the pinged address with
// the guest's identifier and sequence (not the socket's), every echo is
// answered (the first too), an echo the kernel cannot route gets
// destination unreachable from the router quoting the guest's echo, and
// one with no reply gets none.
func TestPingRelayRFC792(t *testing.T) {
	guest := netip.MustParseAddr("10.0.2.15")
	router := netip.MustParseAddr("10.0.2.2")
	up := netip.MustParseAddr("192.0.2.1")
	noRoute := netip.MustParseAddr("203.0.113.1")
	silent := netip.MustParseAddr("192.0.2.9")
	conn := newFakeICMP(up, noRoute)
	sent := make(chan sentICMP, 16)
	p := &Pinger{Listen: func(network string) (net.PacketConn, bool, error) {
		if network != "ip4" {
			t.Errorf("socket of %s opened with no IPv6 router", network)
		}
		return conn, false, nil
	}}
	cs := &stack.Counters{}
	p.start(cs, [2]pingFamily{{router: router, send: func(from, to netip.Addr, m icmpMsg) error {
		sent <- sentICMP{from, to, ipv4.ICMPFields{Type: m.typ, Code: m.code, Rest: m.rest, Payload: append([]byte(nil), m.payload...)}}
		return nil
	}}})
	defer p.stop()
	s4 := p.socks[0]
	echo := func(id, seq uint16, data string) ipv4.ICMP {
		m := make([]byte, 8+len(data))
		(&ipv4.ICMPFields{Type: ipv4.ICMPEcho, Rest: ipv4.EchoRest(id, seq), Payload: []byte(data)}).Encode(m)
		return m
	}
	wait := func() sentICMP {
		t.Helper()
		select {
		case s := <-sent:
			return s
		case <-time.After(10 * time.Second): // failure guard only
			t.Fatal("nothing sent to the guest")
			return sentICMP{}
		}
	}
	for seq := uint16(1); seq <= 3; seq++ {
		p.relay(s4, guest, up, echo(0x4242, seq, "hello"))
		s := wait()
		if s.from != up || s.to != guest || s.f.Type != ipv4.ICMPEchoReply || s.f.Rest != ipv4.EchoRest(0x4242, seq) || string(s.f.Payload) != "hello" {
			t.Fatalf("echo %d: sent %+v", seq, s)
		}
	}
	p.relay(s4, guest, noRoute, echo(7, 8, "x"))
	s := wait()
	q := ipv4.Header(s.f.Payload)
	if s.from != router || s.f.Type != ipv4.ICMPDestUnreach || s.f.Code != ipv4.CodeNetUnreachable ||
		len(q) != 28 || q.Src() != guest || q.Dst() != noRoute || ipv4.ICMP(q[20:]).ID() != 7 || ipv4.ICMP(q[20:]).Seq() != 8 {
		t.Fatalf("unroutable: sent %+v", s)
	}
	p.relay(s4, guest, silent, echo(7, 9, "x"))
	p.relay(s4, guest, up, echo(7, 10, "after")) // a later echo still answered
	if s := wait(); s.from != up || s.f.Rest != ipv4.EchoRest(7, 10) {
		t.Fatalf("after a silent destination: sent %+v", s)
	}
	// The relay's own echo to silent (relay sequence 4: after three to up
	// and one to noRoute), routed back into the gateway by the host, is
	// recognised by the socket's identifier and not relayed again.
	if !p.looped(s4, silent, echo(s4.ident, 4, "x")) || p.looped(s4, up, echo(s4.ident, 4, "x")) || p.looped(s4, silent, echo(s4.ident+1, 4, "x")) {
		t.Error("the loop check does not tell the relay's own pending echo from others")
	}
	if r, u := cs.Value("gateway.ping.replies"), cs.Value("gateway.ping.unreachable"); r != 4 || u != 1 {
		t.Errorf("replies %d unreachable %d, want 4 and 1", r, u)
	}
}

// Without an ICMP socket a family's echoes are answered by the gateway
// itself (counted), the other family's still relayed.
func TestPingLocalFallback(t *testing.T) {
	up6 := netip.MustParseAddr("2001:db8::1")
	p := &Pinger{Listen: func(network string) (net.PacketConn, bool, error) {
		if network == "ip4" {
			return nil, false, syscall.EACCES
		}
		return newFakeICMP(up6, netip.Addr{}), false, nil
	}}
	cs := &stack.Counters{}
	sent := make(chan icmpMsg, 1)
	p.start(cs, [2]pingFamily{{router: netip.MustParseAddr("10.0.2.2")}, {router: netip.MustParseAddr("fd00::2"), send: func(from, to netip.Addr, m icmpMsg) error {
		if from != up6 || to != netip.MustParseAddr("fd00::15") {
			t.Errorf("IPv6 reply %v -> %v", from, to)
		}
		sent <- icmpMsg{typ: m.typ, rest: m.rest}
		return nil
	}}})
	defer p.stop()
	if p.Relaying(netip.MustParseAddr("192.0.2.1")) || !p.Relaying(up6) || cs.Value("gateway.ping.no_socket_ip4") != 1 {
		t.Fatalf("relaying v4 %v v6 %v, no_socket_ip4 %d", p.Relaying(netip.MustParseAddr("192.0.2.1")), p.Relaying(up6), cs.Value("gateway.ping.no_socket_ip4"))
	}
	m := make([]byte, 12)
	(&ipv6.ICMPFields{Type: ipv6.ICMPEchoRequest, Rest: ipv6.EchoRest(3, 4), Payload: []byte("data")}).Encode(m, netip.MustParseAddr("fd00::15"), up6)
	p.relay(p.socks[1], netip.MustParseAddr("fd00::15"), up6, m)
	select {
	case got := <-sent:
		if got.typ != ipv6.ICMPEchoReply || got.rest != ipv6.EchoRest(3, 4) {
			t.Errorf("IPv6 reply type %d rest %#x", got.typ, got.rest)
		}
	case <-time.After(10 * time.Second): // failure guard
		t.Fatal("no IPv6 reply")
	}
}

// The packet-path half of the ping relay (the IP layer's hook: a slot, a
// pooled message, the queue) allocates nothing in steady state.
func BenchmarkPingRelayHook(b *testing.B) {
	p := &Pinger{}
	p.start(&stack.Counters{}, [2]pingFamily{}) // no sockets: the queue is drained here
	s := &pingSock{ident: relayID, out: make(chan *echoOut, 1)}
	guest, dst := netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("192.0.2.1")
	m := make([]byte, 8+56)
	(&ipv4.ICMPFields{Type: ipv4.ICMPEcho, Rest: ipv4.EchoRest(1, 1)}).Encode(m)
	b.ReportAllocs()
	for b.Loop() {
		if p.looped(s, dst, m) {
			b.Fatal("looped")
		}
		p.relay(s, guest, dst, m)
		o := <-s.out
		if _, ok := p.take(o.seq, dst); !ok {
			b.Fatal("no slot")
		}
		p.pool.Put(o)
	}
}
