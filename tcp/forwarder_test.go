package tcp

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// fwdNet is a test net whose A routes everything through B, so that A can
// dial addresses that are not B's and B's forwarder takes them.
func fwdNet(t testing.TB, fams ...int) *testNet {
	t.Helper()
	if len(fams) == 0 {
		fams = []int{4}
	}
	tn := newTestNetFamilies(t, Options{}, linkFaults{}, linkFaults{}, fams...)
	for _, r := range []stack.RouteEntry{
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), NIC: tn.a.NICs()[0]},
		{Dst: netip.MustParsePrefix("::/0"), NIC: tn.a.NICs()[0]},
	} {
		if err := tn.a.AddRoute(r); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

// echoForwarder accepts every request and echoes what the client sends,
// reporting each request's ID.
func echoForwarder(t *testing.T, s *stack.Stack, ids chan<- ForwarderID) *Forwarder {
	f, err := NewForwarder(s, ForwarderOptions{}, func(r *ForwarderRequest) {
		if ids != nil {
			ids <- r.ID()
		}
		c, err := r.Accept()
		if err != nil {
			return // the test may have ended and closed the stack
		}
		defer c.Close()
		io.Copy(c, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestForwarderAcceptsAnyDestination (issue 15 item 2): a connection to an
// address that is not the stack's reaches the callback with the original
// four-tuple; the accepted Conn's LocalAddr is that destination and data
// flows both ways, over IPv4 and IPv6.
func TestForwarderAcceptsAnyDestination(t *testing.T) {
	for _, dst := range []string{"192.0.2.80:80", "[2001:db8::80]:443"} {
		t.Run(dst, func(t *testing.T) {
			tn := fwdNet(t, 4, 6)
			ids := make(chan ForwarderID, 1)
			echoForwarder(t, tn.b, ids)
			to := netip.MustParseAddrPort(dst)
			c, err := Dial(ctxT(t), tn.a, to)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			id := <-ids
			if id.Local != to || id.Remote != c.e.id().local {
				t.Errorf("ID %+v, want local %v remote %v", id, to, c.e.id().local)
			}
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
				t.Fatalf("echo %q %v", buf, err)
			}
			if got := c.RemoteAddr().String(); got != to.String() {
				t.Errorf("client RemoteAddr %s, want %s", got, to)
			}
			if n := tn.b.Counters().Value("tcp.fwd.accepted"); n != 1 {
				t.Errorf("tcp.fwd.accepted %d", n)
			}
		})
	}
}

// TestForwarderLocalAddrIsOriginalDestination: the server side of a
// forwarded connection reports the address the client dialled.
func TestForwarderLocalAddrIsOriginalDestination(t *testing.T) {
	tn := fwdNet(t)
	got := make(chan string, 1)
	if _, err := NewForwarder(tn.b, ForwarderOptions{}, func(r *ForwarderRequest) {
		c, err := r.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		got <- c.LocalAddr().String()
		c.Close()
	}); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(ctxT(t), tn.a, netip.MustParseAddrPort("198.51.100.7:8443"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s := <-got; s != "198.51.100.7:8443" {
		t.Fatalf("LocalAddr %s", s)
	}
}

// TestForwarderRefuseIsConnectionRefused: a refused flow is answered as a
// closed port (RST), so the client's connect fails with ECONNREFUSED; so
// is a request the callback returns from without deciding.
func TestForwarderRefuseIsConnectionRefused(t *testing.T) {
	for _, explicit := range []bool{true, false} {
		t.Run(fmt.Sprint("explicit=", explicit), func(t *testing.T) {
			tn := fwdNet(t)
			if _, err := NewForwarder(tn.b, ForwarderOptions{}, func(r *ForwarderRequest) {
				if explicit {
					r.Refuse()
				}
			}); err != nil {
				t.Fatal(err)
			}
			_, err := Dial(ctxT(t), tn.a, netip.MustParseAddrPort("192.0.2.1:22"))
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial: %v, want connection refused", err)
			}
			if n := tn.b.Counters().Value("tcp.fwd.refused"); n != 1 {
				t.Errorf("tcp.fwd.refused %d", n)
			}
		})
	}
}

// TestForwarderListenerWins: a listener on the stack's own address keeps
// its connections; the forwarder sees only the others.
func TestForwarderListenerWins(t *testing.T) {
	tn := fwdNet(t)
	ids := make(chan ForwarderID, 4)
	echoForwarder(t, tn.b, ids)
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:8080"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("L"))
			c.Close()
		}
	}()
	c, err := Dial(ctxT(t), tn.a, netip.AddrPortFrom(tn.ipB, 8080))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "L" {
		t.Fatalf("listener sent %q", b)
	}
	// The wildcard listener does not take port 8080 of other addresses.
	c2, err := Dial(ctxT(t), tn.a, netip.MustParseAddrPort("192.0.2.9:8080"))
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if id := <-ids; id.Local.String() != "192.0.2.9:8080" {
		t.Fatalf("forwarder got %v", id)
	}
	if len(ids) != 0 {
		t.Fatalf("forwarder saw the listener's connection")
	}
}

// injectSyn hands B a SYN from src to dst as its IP layer would.
func injectSyn(tn *testNet, src, dst netip.AddrPort, seq uint32) {
	syn := stack.NewPacket(stack.Headroom, HeaderLen)
	f := Fields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Flags: FlagSYN, Window: 1000}
	f.Encode(syn.Bytes())
	syn.Src, syn.Dst, syn.ChecksumOK, syn.NIC = src.Addr(), dst.Addr(), true, tn.b.NICs()[0]
	tn.pb.HandlePacket(syn)
}

// TestForwarderSynRetransmitOneRequest: SYN retransmits of a pending flow
// do not create a second request (counter tcp.fwd.syn_duplicate).
func TestForwarderSynRetransmitOneRequest(t *testing.T) {
	tn := fwdNet(t)
	release := make(chan struct{})
	calls := make(chan struct{}, 10)
	f, err := NewForwarder(tn.b, ForwarderOptions{}, func(r *ForwarderRequest) {
		calls <- struct{}{}
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort("10.0.0.9:40000"), netip.MustParseAddrPort("192.0.2.1:80")
	for range 3 {
		injectSyn(tn, src, dst, 1000)
	}
	<-calls
	cs := tn.b.Counters()
	if f.Pending() != 1 || cs.Value("tcp.fwd.requests") != 1 || cs.Value("tcp.fwd.syn_duplicate") != 2 {
		t.Fatalf("pending %d requests %d duplicates %d", f.Pending(), cs.Value("tcp.fwd.requests"), cs.Value("tcp.fwd.syn_duplicate"))
	}
	close(release)
}

// TestForwarderSynFloodBounded (issue 15 acceptance 4): 10,000 SYNs to
// refused and never-answered destinations leave the pending table at its
// cap, every excess SYN counted, and an accepted connection unaffected.
func TestForwarderSynFloodBounded(t *testing.T) {
	tn := fwdNet(t)
	const maxPending = 64
	blackhole := netip.MustParseAddr("203.0.113.1")
	release := make(chan struct{})
	f, err := NewForwarder(tn.b, ForwarderOptions{MaxPending: maxPending}, func(r *ForwarderRequest) {
		switch r.ID().Local.Addr() {
		case blackhole:
			// A proxy whose dial to the real destination never returns.
			<-release
			r.Refuse()
		case netip.MustParseAddr("192.0.2.80"):
			c, err := r.Accept()
			if err != nil {
				return // the connection's Dial reports it
			}
			defer c.Close()
			io.Copy(c, c)
		default:
			r.Refuse()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(ctxT(t), tn.a, netip.MustParseAddrPort("192.0.2.80:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 10000
	for i := range n {
		dst := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		if i%2 == 0 {
			dst = blackhole
		}
		injectSyn(tn, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), uint16(1024+i)), netip.AddrPortFrom(dst, uint16(i)), uint32(i))
	}
	cs := tn.b.Counters()
	req, full := cs.Value("tcp.fwd.requests"), cs.Value("tcp.fwd.pending_full")
	if p := f.Pending(); p > maxPending {
		t.Errorf("pending %d > cap %d", p, maxPending)
	}
	if full == 0 || req+full != n+1 {
		t.Errorf("requests %d + pending_full %d != %d SYNs", req, full, n+1)
	}
	// The accepted connection still works.
	if _, err := c.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("echo after flood: %q %v", buf, err)
	}
	close(release)
}
