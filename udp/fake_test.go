package udp_test

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// dropLink is a link endpoint at mac that drops everything; the fake IP
// layer below never sends through it.
func dropLink(mac stack.MAC) *stacktest.Link {
	l := stacktest.NewLink(mac, 1500)
	l.SetDiscard(true)
	return l
}

// fakeIP stands in for ipv4: as the IPWriter of one stack it hands each
// transport packet to the UDP protocol of the peer stack (or its own for a
// local route) on a goroutine, through a channel, as a receive path would.
type fakeIP struct {
	nic  *stack.NIC
	udp  *udp.Protocol
	peer *fakeIP

	// mangle, if set, runs on each datagram before delivery.
	mangle func(b []byte)
	// unreachable is signalled when HandlePacket returns false.
	unreachable chan netip.AddrPort

	mu     sync.RWMutex
	closed bool
	ch     chan *stack.Packet
	done   chan struct{}
	wg     sync.WaitGroup
}

func newFakeIP() *fakeIP {
	f := &fakeIP{
		ch:          make(chan *stack.Packet, 256),
		done:        make(chan struct{}),
		unreachable: make(chan netip.AddrPort, 16),
	}
	f.wg.Add(1)
	go f.run()
	return f
}

func (f *fakeIP) EtherType() uint16 { return stack.EtherTypeIPv4 }

// fakeIP6 registers the same fake as the stack's IPv6 writer, so that
// IPv6 routes reach the peer the same way.
type fakeIP6 struct{ *fakeIP }

func (fakeIP6) EtherType() uint16              { return stack.EtherTypeIPv6 }
func (f *fakeIP) HandlePacket(p *stack.Packet) { p.Release() }

func (f *fakeIP) WritePacket(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	if params.Protocol != stack.ProtocolUDP {
		p.Release()
		return stack.ErrInvalid
	}
	t := f.peer
	if r.Local {
		t = f
	}
	p.Src, p.Dst, p.NIC, p.Protocol = r.LocalAddr, r.RemoteAddr, t.nic, params.Protocol
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		p.Release()
		return stack.ErrClosed
	}
	select {
	case t.ch <- p:
		return nil
	case <-t.done:
		p.Release()
		return stack.ErrClosed
	}
}

func (f *fakeIP) run() {
	defer f.wg.Done()
	for {
		select {
		case p := <-f.ch:
			f.deliver(p)
		case <-f.done:
			return
		}
	}
}

func (f *fakeIP) deliver(p *stack.Packet) {
	if f.mangle != nil {
		f.mangle(p.Bytes())
	}
	h := udp.Header(p.Bytes())
	var dst netip.AddrPort
	if h.Validate() == nil {
		dst = netip.AddrPortFrom(p.Dst, h.DstPort())
	}
	if !f.udp.HandlePacket(p) {
		p.Release()
		select {
		case f.unreachable <- dst:
		default:
		}
	}
}

func (f *fakeIP) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	close(f.done)
	f.wg.Wait()
	for {
		select {
		case p := <-f.ch:
			p.Release()
		default:
			return nil
		}
	}
}

// host is one stack with a NIC, the fake IP layer and UDP.
type host struct {
	s   *stack.Stack
	nic *stack.NIC
	ip  *fakeIP
	udp *udp.Protocol
	// addr is the host's first address.
	addr netip.Addr
}

func newHost(t testing.TB, clock stack.Clock, opts udp.Options, prefixes ...string) *host {
	t.Helper()
	s := stack.New(stack.Options{Clock: clock})
	ip := newFakeIP()
	if err := s.RegisterNetwork(ip); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterNetwork(fakeIP6{ip}); err != nil {
		t.Fatal(err)
	}
	nic, err := s.AddNIC("eth0", dropLink(stack.MAC{2, 0, 0, 0, 0, byte(len(prefixes))}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		if err := nic.AddAddress(netip.MustParsePrefix(p)); err != nil {
			t.Fatal(err)
		}
	}
	u, err := udp.Register(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	ip.nic, ip.udp, ip.peer = nic, u, ip
	h := &host{s: s, nic: nic, ip: ip, udp: u, addr: netip.MustParsePrefix(prefixes[0]).Addr()}
	t.Cleanup(func() { s.Close() })
	return h
}

// pair returns two hosts, 10.0.0.1 and 10.0.0.2 (which also has 10.0.1.3),
// wired to each other, and checks at the end of the test that no packet
// and no goroutine leaked.
func pair(t testing.TB, clock stack.Clock, opts udp.Options) (a, b *host) {
	t.Helper()
	checkLeaks(t)
	a = newHost(t, clock, opts, "10.0.0.1/24")
	b = newHost(t, clock, opts, "10.0.0.2/24", "10.0.1.3/24")
	a.ip.peer, b.ip.peer = b.ip, a.ip
	return a, b
}

// pairDual is pair with IPv6 addresses too: a has fd00::1, b fd00::2.
func pairDual(t testing.TB, clock stack.Clock, opts udp.Options) (a, b *host) {
	t.Helper()
	checkLeaks(t)
	a = newHost(t, clock, opts, "10.0.0.1/24", "fd00::1/64")
	b = newHost(t, clock, opts, "10.0.0.2/24", "10.0.1.3/24", "fd00::2/64")
	a.ip.peer, b.ip.peer = b.ip, a.ip
	return a, b
}

// checkLeaks records the live packets and goroutines now and, when the test
// ends (after later cleanups closed the stacks), checks both are back.
func checkLeaks(t testing.TB) {
	t.Helper()
	packets := stack.LivePackets()
	goroutines := runtime.NumGoroutine()
	t.Cleanup(func() {
		// Goroutines the test started (a forwarder's callbacks, a flow's
		// echo loop) may still hold a datagram while they exit after the
		// stacks closed: wait for them first, then count packets. The
		// deadline is only a failure guard.
		limit := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > goroutines && time.Now().Before(limit) {
			runtime.Gosched()
		}
		if got := runtime.NumGoroutine(); got > goroutines {
			buf := make([]byte, 1<<16)
			t.Errorf("goroutines: %d at start, %d at end\n%s", goroutines, got, buf[:runtime.Stack(buf, true)])
		}
		// A callback's goroutine may have been counted out while a
		// replacement started elsewhere: give the packets the same guard.
		for stack.LivePackets() != packets && time.Now().Before(limit) {
			runtime.Gosched()
		}
		if got := stack.LivePackets(); got != packets {
			t.Errorf("live packets: %d at start, %d at end", packets, got)
		}
	})
}

// newClock is a virtual clock: timers fire, on the goroutine that calls
// Advance and before it returns, only when Advance passes them.
func newClock() *vclock.Clock { return vclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) }

// counter reads a named counter of s.
func counter(s *stack.Stack, name string) uint64 { return s.Counters().Value(name) }

// datagram builds a UDP datagram from src to dst with a correct checksum
// (or the given one when csum >= 0) in a packet ready for HandlePacket.
func datagram(nic *stack.NIC, src, dst netip.AddrPort, payload []byte, csum int) *stack.Packet {
	b := make([]byte, udp.HeaderLen+len(payload))
	copy(b[udp.HeaderLen:], payload)
	udp.Fields{SrcPort: src.Port(), DstPort: dst.Port(), Length: uint16(len(b))}.Encode(b)
	h := udp.Header(b)
	if csum >= 0 {
		h.SetChecksum(uint16(csum))
	} else {
		h.SetChecksum(h.ComputeChecksum(src.Addr(), dst.Addr()))
	}
	p := stack.NewPacketFrom(b)
	p.Src, p.Dst, p.NIC, p.Protocol = src.Addr(), dst.Addr(), nic, stack.ProtocolUDP
	return p
}

func runtimeGosched() { runtime.Gosched() }
