package arp_test

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

// manualClock is a virtual stack.Clock: timers fire, synchronously and in
// deadline order, only when the test calls Advance.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	active map[*manualTimer]struct{}
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Unix(1_700_000_000, 0), active: make(map[*manualTimer]struct{})}
}

type manualTimer struct {
	c    *manualClock
	when time.Time
	seq  uint64 // order of arming, to break ties
	f    func()
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) stack.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, f: f}
	t.arm(d)
	return t
}

// arm schedules t; c.mu must be held.
func (t *manualTimer) arm(d time.Duration) {
	t.c.seq++
	t.when, t.seq = t.c.now.Add(d), t.c.seq
	t.c.active[t] = struct{}{}
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.active[t]
	delete(t.c.active, t)
	return ok
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.active[t]
	t.arm(d)
	return ok
}

// runNext advances to the earliest armed timer and fires it (and any due
// at the same instant); it reports false when none is armed.
func (c *manualClock) runNext() bool {
	c.mu.Lock()
	var next *manualTimer
	for t := range c.active {
		if next == nil || t.when.Before(next.when) {
			next = t
		}
	}
	c.mu.Unlock()
	if next == nil {
		return false
	}
	c.Advance(next.when.Sub(c.Now()))
	return true
}

// Pending reports how many timers are armed.
func (c *manualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.active)
}

// Advance moves time forward by d, firing every timer due on the way at its
// own deadline, in order, on the calling goroutine.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var next *manualTimer
		for t := range c.active {
			if t.when.After(end) {
				continue
			}
			if next == nil || t.when.Before(next.when) || (t.when.Equal(next.when) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		delete(c.active, next)
		c.now = next.when
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
}

// frame is one packet a fakeLink was asked to write.
type frame struct {
	dst       stack.MAC
	etherType uint16
	data      []byte
}

// fakeLink is a stack.LinkEndpoint that records what it is asked to send.
// If peer is set, it also delivers every frame synchronously to the peer's
// dispatcher, like a wire with no delay (and re-entrant calls).
type fakeLink struct {
	mac stack.MAC

	mu      sync.Mutex
	frames  []frame
	discard bool // count, do not record
	written int
	d       stack.NetworkDispatcher
	peer    *fakeLink
	// hook, if set, is called with each frame after it is recorded,
	// outside the lock (it may deliver frames back, re-entrantly).
	hook func(frame)
}

func (l *fakeLink) MTU() int                         { return 1500 }
func (l *fakeLink) LinkAddress() stack.MAC           { return l.mac }
func (l *fakeLink) Attach(d stack.NetworkDispatcher) { l.mu.Lock(); l.d = d; l.mu.Unlock() }
func (l *fakeLink) Close() error                     { return nil }

func (l *fakeLink) WritePacket(dst stack.MAC, etherType uint16, p *stack.Packet) error {
	l.mu.Lock()
	l.written++
	if !l.discard {
		l.frames = append(l.frames, frame{dst, etherType, append([]byte(nil), p.Bytes()...)})
	}
	peer, hook := l.peer, l.hook
	l.mu.Unlock()
	if hook != nil {
		hook(frame{dst, etherType, append([]byte(nil), p.Bytes()...)})
	}
	if peer != nil && (dst == peer.mac || dst.IsBroadcast()) {
		q := stack.NewPacketFrom(p.Bytes())
		q.LinkSrc, q.LinkDst, q.EtherType = l.mac, dst, etherType
		peer.mu.Lock()
		d := peer.d
		peer.mu.Unlock()
		p.Release()
		d.DeliverNetworkPacket(q)
		return nil
	}
	p.Release()
	return nil
}

// take returns and forgets the recorded frames.
func (l *fakeLink) take() []frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.frames
	l.frames = nil
	return f
}

// failure is one packet handed to Stack.ResolutionFailed.
type failure struct {
	nextHop netip.Addr
	data    []byte
}

// fakeIPv4 stands in for the ipv4 package at EtherType 0x0800: it drops
// inbound packets and records resolution failures.
type fakeIPv4 struct {
	mu       sync.Mutex
	failures []failure
	notify   chan struct{} // if set, receives a value per failure
	rx       chan []byte   // if set, receives a copy of each inbound packet
}

func (f *fakeIPv4) EtherType() uint16 { return stack.EtherTypeIPv4 }

func (f *fakeIPv4) HandlePacket(p *stack.Packet) {
	if f.rx != nil {
		f.rx <- append([]byte(nil), p.Bytes()...)
	}
	p.Release()
}

func (f *fakeIPv4) HandleResolutionFailure(nic *stack.NIC, nextHop netip.Addr, p *stack.Packet) {
	f.mu.Lock()
	f.failures = append(f.failures, failure{nextHop, append([]byte(nil), p.Bytes()...)})
	notify := f.notify
	f.mu.Unlock()
	p.Release()
	if notify != nil {
		notify <- struct{}{}
	}
}

func (f *fakeIPv4) take() []failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.failures
	f.failures = nil
	return r
}

var (
	ourMAC   = stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	peerMAC  = stack.MAC{0x02, 0, 0, 0, 0, 0x01}
	otherMAC = stack.MAC{0x02, 0, 0, 0, 0, 0x03}
	ourIP    = netip.MustParseAddr("10.0.0.2")
	peerIP   = netip.MustParseAddr("10.0.0.1")
	otherIP  = netip.MustParseAddr("10.0.0.3")
)

// fixture is a stack with ARP, a fake IPv4 and one NIC eth0 at 10.0.0.2/24
// on a recording fake link, driven by a manual clock.
type fixture struct {
	t     testing.TB
	clk   *manualClock
	s     *stack.Stack
	arp   *arp.Protocol
	ip    *fakeIPv4
	link  *fakeLink
	nic   *stack.NIC
	start int64
}

func newFixture(t testing.TB, opts arp.Options) *fixture {
	t.Helper()
	if opts.Rand == nil {
		// Deterministic: ReachableTime exactly, probe delays mid-range.
		opts.Rand = func() float64 { return 0.5 }
	}
	f := &fixture{t: t, clk: newManualClock(), ip: &fakeIPv4{}, link: &fakeLink{mac: ourMAC}, start: stack.LivePackets()}
	f.s = stack.New(stack.Options{Clock: f.clk})
	var err error
	if f.arp, err = arp.Register(f.s, opts); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RegisterNetwork(f.ip); err != nil {
		t.Fatal(err)
	}
	if f.nic, err = f.s.AddNIC("eth0", f.link); err != nil {
		t.Fatal(err)
	}
	if err := f.nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	if got := f.link.take(); len(got) != 1 {
		t.Fatalf("adding an address sent %d frames, want 1 gratuitous ARP", len(got))
	}
	t.Cleanup(func() {
		if t.Failed() {
			// The failure may be a deadlock that Close would join.
			return
		}
		if err := f.s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if n := stack.LivePackets() - f.start; n != 0 {
			t.Errorf("%d packets leaked", n)
		}
	})
	return f
}

// deliver hands an ARP packet with fields a, padded to the Ethernet
// minimum, to eth0 as if it arrived from a.SenderMAC for linkDst.
func (f *fixture) deliver(a arp.Fields, linkDst stack.MAC) {
	b := make([]byte, 46)
	a.Encode(b)
	f.deliverRaw(b, a.SenderMAC, linkDst)
}

func (f *fixture) deliverRaw(b []byte, linkSrc, linkDst stack.MAC) {
	p := stack.NewPacketFrom(b)
	p.LinkSrc, p.LinkDst, p.EtherType = linkSrc, linkDst, stack.EtherTypeARP
	f.nic.DeliverNetworkPacket(p)
}

// reply delivers a unicast reply from ip at mac to us.
func (f *fixture) reply(ip netip.Addr, mac stack.MAC) {
	f.deliver(arp.Fields{Op: arp.OpReply, SenderMAC: mac, SenderIP: ip, TargetMAC: ourMAC, TargetIP: ourIP}, ourMAC)
}

// request delivers a broadcast request from ip at mac for target.
func (f *fixture) request(ip netip.Addr, mac stack.MAC, target netip.Addr) {
	f.deliver(arp.Fields{Op: arp.OpRequest, SenderMAC: mac, SenderIP: ip, TargetIP: target}, stack.BroadcastMAC)
}

// send writes an IPv4-typed packet holding payload to nextHop through ARP.
func (f *fixture) send(nextHop netip.Addr, payload string) error {
	return f.arp.WriteTo(f.nic, nextHop, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte(payload)))
}

func (f *fixture) counter(name string) uint64 { return f.s.Counters().Value(name) }

// entry returns the cache entry for addr and whether there is one.
func (f *fixture) entry(addr netip.Addr) (arp.Entry, bool) {
	for _, e := range f.arp.Entries() {
		if e.Addr == addr {
			return e, true
		}
	}
	return arp.Entry{}, false
}

// decodeARP validates a recorded frame as ARP and returns its fields.
func decodeARP(t testing.TB, fr frame) arp.Fields {
	t.Helper()
	if fr.etherType != stack.EtherTypeARP {
		t.Fatalf("frame EtherType %#04x, want ARP", fr.etherType)
	}
	h := arp.Header(fr.data)
	if err := h.Validate(); err != nil {
		t.Fatalf("we sent an invalid ARP packet: %v", err)
	}
	if len(fr.data) != arp.Len {
		t.Fatalf("ARP packet is %d bytes, want %d", len(fr.data), arp.Len)
	}
	return h.Fields()
}
