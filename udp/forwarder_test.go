package udp_test

import (
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// SendPortUnreachable makes the fake IP layer an ICMP error sender, as
// ipv4 and ipv6 are: a refused forwarded flow is reported on unreachable.
func (f *fakeIP) SendPortUnreachable(p *stack.Packet) {
	h := udp.Header(p.TransportHeader())
	select {
	case f.unreachable <- netip.AddrPortFrom(p.Dst, h.DstPort()):
	default:
	}
}

// fwdPair is pair with a default route on a through b, so that a can send
// to addresses that are not b's.
func fwdPair(t *testing.T, clock stack.Clock) (a, b *host) {
	t.Helper()
	a, b = pairDual(t, clock, udp.Options{})
	for _, p := range []string{"0.0.0.0/0", "::/0"} {
		if err := a.s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix(p), NIC: a.nic}); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// echoFlows accepts every flow and echoes its datagrams until it closes.
func echoFlows(t *testing.T, s *stack.Stack, opts udp.ForwarderOptions, ids chan<- udp.ForwarderID) *udp.Forwarder {
	f, err := udp.NewForwarder(s, opts, func(r *udp.ForwarderRequest) {
		c, err := r.Accept()
		if err != nil {
			return // the test checks what the client sees
		}
		if ids != nil {
			ids <- r.ID()
		}
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			c.Write(buf[:n])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestForwarderFlowAnyDestination (issue 15 item 2): the first datagram
// of a flow to an address that is not the stack's reaches the callback
// with the four-tuple; the accepted Conn reads it and later ones, and its
// replies leave from the original destination (a connected client only
// takes datagrams from the address it sent to), over IPv4 and IPv6.
func TestForwarderFlowAnyDestination(t *testing.T) {
	for _, dst := range []string{"192.0.2.53:53", "[2001:db8::53]:5353"} {
		t.Run(dst, func(t *testing.T) {
			a, b := fwdPair(t, nil)
			ids := make(chan udp.ForwarderID, 1)
			f := echoFlows(t, b.s, udp.ForwarderOptions{}, ids)
			c := mustDial(t, a.s, dst)
			for i, msg := range []string{"first", "second"} {
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 64)
				c.SetReadDeadline(time.Now().Add(guard))
				n, err := c.Read(buf)
				if err != nil || string(buf[:n]) != msg {
					t.Fatalf("echo %d: %q %v", i, buf[:n], err)
				}
			}
			id := <-ids
			if id.Local.String() != dst || id.Remote != c.LocalAddrPort() {
				t.Errorf("ID %+v, want local %s remote %v", id, dst, c.LocalAddrPort())
			}
			if f.Flows() != 1 || counter(b.s, "udp.fwd.requests") != 1 || counter(b.s, "udp.fwd.accepted") != 1 {
				t.Errorf("flows %d requests %d accepted %d", f.Flows(), counter(b.s, "udp.fwd.requests"), counter(b.s, "udp.fwd.accepted"))
			}
		})
	}
}

// TestForwarderFlowLocalAddr: the accepted Conn reports the original
// destination as LocalAddr and the client as RemoteAddr.
func TestForwarderFlowLocalAddr(t *testing.T) {
	a, b := fwdPair(t, nil)
	got := make(chan [2]string, 1)
	if _, err := udp.NewForwarder(b.s, udp.ForwarderOptions{}, func(r *udp.ForwarderRequest) {
		c, err := r.Accept()
		if err != nil {
			return // the test checks what the client sees
		}
		got <- [2]string{c.LocalAddr().String(), c.RemoteAddr().String()}
		c.Close()
	}); err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, a.s, "198.51.100.1:4500")
	c.Write([]byte("x"))
	if g := <-got; g[0] != "198.51.100.1:4500" || g[1] != c.LocalAddr().String() {
		t.Fatalf("LocalAddr, RemoteAddr = %v", g)
	}
}

// TestForwarderFlowRefusedIsPortUnreachable: a refused flow is answered
// with port unreachable about its first datagram, as a closed port is;
// so is one the callback returns from without deciding. Its datagrams are
// dropped and the flow leaves the table.
func TestForwarderFlowRefusedIsPortUnreachable(t *testing.T) {
	for _, explicit := range []bool{true, false} {
		a, b := fwdPair(t, nil)
		f, err := udp.NewForwarder(b.s, udp.ForwarderOptions{}, func(r *udp.ForwarderRequest) {
			if explicit {
				r.Refuse()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		c := mustDial(t, a.s, "192.0.2.7:9")
		c.Write([]byte("x"))
		select {
		case got := <-b.ip.unreachable:
			if got.String() != "192.0.2.7:9" {
				t.Errorf("port unreachable about %v", got)
			}
		case <-time.After(guard):
			t.Fatal("no port unreachable")
		}
		// The port unreachable leaves before the callback's goroutine
		// releases the request: wait for that (bounded; only a guard).
		for limit := time.Now().Add(guard); (f.Flows() != 0 || f.Pending() != 0) && time.Now().Before(limit); {
			runtime.Gosched()
		}
		if counter(b.s, "udp.fwd.refused") != 1 || f.Flows() != 0 || f.Pending() != 0 {
			t.Errorf("explicit=%v: refused %d flows %d pending %d", explicit, counter(b.s, "udp.fwd.refused"), f.Flows(), f.Pending())
		}
	}
}

// TestForwarderEndpointWins: an endpoint bound on the stack keeps its
// datagrams; a wildcard endpoint does not take other addresses' ones.
func TestForwarderEndpointWins(t *testing.T) {
	a, b := fwdPair(t, nil)
	ids := make(chan udp.ForwarderID, 4)
	echoFlows(t, b.s, udp.ForwarderOptions{}, ids)
	ln := mustListen(t, b.s, "0.0.0.0:53")
	c := mustDial(t, a.s, "10.0.0.2:53")
	c.Write([]byte("to the listener"))
	buf := make([]byte, 64)
	ln.SetReadDeadline(time.Now().Add(guard))
	if n, _, err := ln.ReadFrom(buf); err != nil || string(buf[:n]) != "to the listener" {
		t.Fatalf("listener read %q %v", buf[:n], err)
	}
	c2 := mustDial(t, a.s, "192.0.2.53:53")
	c2.Write([]byte("to the forwarder"))
	if id := <-ids; id.Local.String() != "192.0.2.53:53" {
		t.Fatalf("forwarder got %v", id)
	}
	if len(ids) != 0 {
		t.Fatal("forwarder saw the listener's datagram")
	}
}

// TestForwarderFlowIdleExpiry: an accepted flow closes after IdleTimeout
// without a datagram either way (udp.fwd.expired), and traffic keeps it
// alive; a later datagram of the same four-tuple is a new flow.
func TestForwarderFlowIdleExpiry(t *testing.T) {
	clock := newClock()
	_, b := fwdPair(t, clock)
	accepted := make(chan *udp.Conn, 2)
	f, err := udp.NewForwarder(b.s, udp.ForwarderOptions{IdleTimeout: 30 * time.Second}, func(r *udp.ForwarderRequest) {
		c, err := r.Accept()
		if err != nil {
			return // the test checks what the client sees
		}
		accepted <- c
	})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("192.0.2.1:443")
	send := func() { b.udp.HandlePacket(datagram(b.nic, src, dst, []byte("q"), -1)) }
	send()
	c := <-accepted
	clock.Advance(20 * time.Second)
	send() // traffic at t=20s: alive until t=50s
	clock.Advance(20 * time.Second)
	if f.Flows() != 1 || counter(b.s, "udp.fwd.expired") != 0 {
		t.Fatalf("t=40s: flows %d expired %d, want the flow alive", f.Flows(), counter(b.s, "udp.fwd.expired"))
	}
	clock.Advance(11 * time.Second)
	if f.Flows() != 0 || counter(b.s, "udp.fwd.expired") != 1 {
		t.Fatalf("t=51s: flows %d expired %d, want the flow expired", f.Flows(), counter(b.s, "udp.fwd.expired"))
	}
	buf := make([]byte, 8)
	for {
		if _, err := c.Read(buf); err != nil {
			if !isClosed(err) {
				t.Fatalf("read after expiry: %v", err)
			}
			break
		}
	}
	send()
	c2 := <-accepted
	c2.Close()
	if counter(b.s, "udp.fwd.requests") != 2 {
		t.Errorf("requests %d, want a new flow after expiry", counter(b.s, "udp.fwd.requests"))
	}
}

func isClosed(err error) bool {
	var op *net.OpError
	return err == io.EOF || (asOpError(err, &op) && op.Err == net.ErrClosed)
}

func asOpError(err error, op **net.OpError) bool {
	o, ok := err.(*net.OpError)
	*op = o
	return ok
}

// TestForwarderUDPFloodBounded (issue 15 acceptance 4): a flood of
// datagrams to random addresses and ports, half refused and half never
// answered, leaves the flow table and the pending count at their caps
// with every drop counted (udp.fwd.table_full when the table binds,
// udp.fwd.pending_full when the pending count does), and an accepted flow
// unaffected.
func TestForwarderUDPFloodBounded(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		maxFlows, maxPending int
		want                 string
	}{
		{"table binds", 128, 256, "udp.fwd.table_full"},
		{"pending binds", 4096, 32, "udp.fwd.pending_full"},
	} {
		t.Run(tc.name, func(t *testing.T) { udpFlood(t, tc.maxFlows, tc.maxPending, tc.want) })
	}
}

func udpFlood(t *testing.T, maxFlows, maxPending int, want string) {
	a, b := fwdPair(t, nil)
	const n = 10000
	blackhole := netip.MustParseAddr("203.0.113.1")
	release := make(chan struct{})
	f, err := udp.NewForwarder(b.s, udp.ForwarderOptions{MaxFlows: maxFlows, MaxPending: maxPending}, func(r *udp.ForwarderRequest) {
		switch r.ID().Local.Addr() {
		case blackhole:
			<-release // a proxy that never hears from the destination
			r.Refuse()
		case netip.MustParseAddr("192.0.2.53"):
			c, err := r.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			for {
				m, err := c.Read(buf)
				if err != nil {
					return
				}
				c.Write(buf[:m])
			}
		default:
			r.Refuse()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, a.s, "192.0.2.53:53")
	echo := func(msg string) {
		t.Helper()
		c.Write([]byte(msg))
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(guard))
		m, err := c.Read(buf)
		if err != nil || string(buf[:m]) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf[:m], err)
		}
	}
	echo("before")
	src := netip.MustParseAddr("10.0.0.9")
	for i := range n {
		dst := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		if i%2 == 0 {
			dst = blackhole
		}
		b.udp.HandlePacket(datagram(b.nic, netip.AddrPortFrom(src, uint16(1024+i)), netip.AddrPortFrom(dst, uint16(i)), []byte("flood"), -1))
	}
	if f.Flows() > maxFlows || f.Pending() > maxPending {
		t.Errorf("flows %d (cap %d), pending %d (cap %d)", f.Flows(), maxFlows, f.Pending(), maxPending)
	}
	req, tf, pf := counter(b.s, "udp.fwd.requests"), counter(b.s, "udp.fwd.table_full"), counter(b.s, "udp.fwd.pending_full")
	if counter(b.s, want) == 0 || req+tf+pf != n+1 {
		t.Errorf("requests %d + table_full %d + pending_full %d != %d new flows, or no %s", req, tf, pf, n+1, want)
	}
	echo("after")
	close(release)
	// The blocked callbacks refuse now; wait (bounded) until no request
	// holds a datagram, for the leak check.
	for limit := time.Now().Add(guard); f.Pending() > 0 && time.Now().Before(limit); {
		runtime.Gosched()
	}
}
