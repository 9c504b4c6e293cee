package tcp

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// nullLink is a LinkEndpoint that only exists so a NIC can hold addresses.
type nullLink struct{ mtu int }

func (l nullLink) MTU() int                     { return l.mtu }
func (nullLink) LinkAddress() stack.MAC         { return stack.MAC{2, 0, 0, 0, 0, 1} }
func (nullLink) Attach(stack.NetworkDispatcher) {}
func (nullLink) Close() error                   { return nil }
func (nullLink) WritePacket(_ stack.MAC, _ uint16, p *stack.Packet) error {
	p.Release()
	return nil
}

// linkFaults describes seeded misbehaviour of a fake wire direction.
type linkFaults struct {
	seed    uint64
	loss    float64 // probability of dropping a packet
	reorder float64 // probability of holding a packet back behind the next
	// reorderDepth, when above 1, holds a reordered packet back behind
	// that many later ones (or 1ms of a quiet wire) instead of one: deep
	// enough, reordering looks like a loss to the sender, as a held-back
	// TSO super-segment does on a real link.
	reorderDepth int
	// offload gives the sender's NIC a device that completes checksums
	// (any value but 0) and segments super-segments of up to offload
	// bytes (> 0), like an offloading TAP; the wire then checks and cuts
	// what the sender wrote (see segmentingWire).
	offload int
	// ce is the probability of marking an ECN-capable packet Congestion
	// Experienced.
	ce float64
	// batch delivers like a TAP reader that batches (stack.BatchEnder):
	// packets marked Batched, and the receiving stack's EndBatch when the
	// wire has nothing more queued or after batchMax packets.
	batch bool
	// delay holds every packet that long before the peer sees it (a
	// delay line, FIFO); with a synctest bubble's virtual clock it gives
	// the connection a round trip that a loaded machine cannot stretch.
	delay time.Duration
	// settle, set on A's side, has runBulk's B close its side only
	// that long after A's data is in, so that A, still open, takes what
	// the wire held for it (the D-SACKs of late duplicates) before
	// runBulk reads A's counters and window. Only in a synctest bubble,
	// whose clock is virtual: on the real clock a wait is no
	// synchronisation.
	settle time.Duration
	// drop, when set, loses every segment it reports true for (a test's
	// loss of particular segments: seg is the TCP header and payload).
	drop func(seg []byte) bool
}

// batchMax bounds a batch of a batching fake wire.
const batchMax = 16

// fakeIP is a network protocol and IPWriter that hands every transport
// packet to the peer stack's TCP from its own goroutine, like a wire. The
// queue is unbounded: a blocking wire could deadlock the two endpoint locks.
type fakeIP struct {
	// etherType is the family the fake speaks: EtherTypeIPv4 or
	// EtherTypeIPv6 (the stack routes each family to its own writer).
	etherType uint16
	peer      *fakeIP
	tcp       *Protocol
	nic       *stack.NIC
	faults    linkFaults
	rng       *rand.Rand
	wire      segmentingWire // with faults.offload
	// onWrite, when set, is called at every WritePacket (before the
	// faults), on the writing goroutine.
	onWrite func()

	mu     sync.Mutex
	cond   sync.Cond
	q      []*stack.Packet
	qAt    []time.Time // with faults.delay: when q[i] may be delivered
	held   *stack.Packet
	behind int // packets queued after held
	closed bool
	done   chan struct{}
}

func newFakeIP(f linkFaults) *fakeIP {
	n := &fakeIP{etherType: stack.EtherTypeIPv4, faults: f, rng: rand.New(rand.NewPCG(f.seed, 99)), done: make(chan struct{})}
	n.cond.L = &n.mu
	return n
}

func (n *fakeIP) EtherType() uint16            { return n.etherType }
func (n *fakeIP) HandlePacket(p *stack.Packet) { p.Release() }

// WritePacket "sends" p to the peer: it is queued for the peer's delivery
// goroutine with the addresses an IP layer would set.
func (n *fakeIP) WritePacket(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	if n.onWrite != nil {
		n.onWrite()
	}
	if n.faults.offload == 0 {
		return n.put(r, params, p)
	}
	var err error
	for _, q := range n.wire.cut(r, p) {
		if e := n.put(r, params, q); e != nil {
			err = e
		}
	}
	return err
}

// put queues one packet for the peer, through the faults, with the TOS
// byte (or traffic class) in Packet.TOS as ipv4 and ipv6 set it, so the
// receiver sees ECN marks.
func (n *fakeIP) put(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	peer := n.peer
	tos := params.TOS
	if n.faults.ce > 0 && tos&3 != 0 {
		peer.mu.Lock()
		if peer.rng.Float64() < n.faults.ce {
			tos |= 3
		}
		peer.mu.Unlock()
	}
	p.Src, p.Dst, p.Protocol, p.NIC, p.TOS = r.LocalAddr, r.RemoteAddr, stack.ProtocolTCP, peer.nic, tos
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if peer.closed {
		p.Release()
		return stack.ErrClosed
	}
	if n.faults.loss > 0 && peer.rng.Float64() < n.faults.loss || n.faults.drop != nil && n.faults.drop(p.Bytes()) {
		p.Release()
		return nil
	}
	if n.faults.reorder > 0 && peer.held == nil && peer.rng.Float64() < n.faults.reorder {
		peer.held, peer.behind = p, 0
		if n.faults.reorderDepth > 1 {
			time.AfterFunc(time.Millisecond, func() { peer.release(p) })
		}
		return nil
	}
	peer.enqueue(p)
	if peer.held != nil {
		if peer.behind++; peer.behind >= n.faults.reorderDepth {
			peer.enqueue(peer.held)
			peer.held = nil
		}
	}
	peer.cond.Signal()
	return nil
}

// release delivers p if it is still held back.
func (n *fakeIP) release(p *stack.Packet) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.held == p && !n.closed {
		n.enqueue(p)
		n.held = nil
		n.cond.Signal()
	}
}

// enqueue appends p to the delivery queue, due after the sender's delay
// (the peer's faults.delay is the sender's: put queues on the peer). The
// caller holds n.mu.
func (n *fakeIP) enqueue(p *stack.Packet) {
	n.q = append(n.q, p)
	if d := n.peer.faults.delay; d > 0 {
		n.qAt = append(n.qAt, time.Now().Add(d))
	}
}

func (n *fakeIP) run() {
	defer close(n.done)
	batch := 0
	for {
		n.mu.Lock()
		for len(n.q) == 0 && !n.closed {
			if batch > 0 {
				n.mu.Unlock()
				n.nic.Stack().EndBatch()
				batch = 0
				n.mu.Lock()
				continue
			}
			n.cond.Wait()
		}
		if n.closed {
			n.mu.Unlock()
			return
		}
		if len(n.qAt) > 0 {
			if wait := time.Until(n.qAt[0]); wait > 0 {
				n.mu.Unlock()
				time.Sleep(wait)
				continue
			}
			n.qAt = n.qAt[1:]
		}
		p := n.q[0]
		n.q[0] = nil
		n.q = n.q[1:]
		n.mu.Unlock()
		p.Batched = n.faults.batch
		if !n.tcp.HandlePacket(p) {
			p.Release()
		}
		if n.faults.batch {
			if batch++; batch >= batchMax {
				n.nic.Stack().EndBatch()
				batch = 0
			}
		}
	}
}

func (n *fakeIP) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, p := range n.q {
		p.Release()
	}
	n.q, n.qAt = nil, nil
	if n.held != nil {
		n.held.Release()
		n.held = nil
	}
	n.cond.Broadcast()
	n.mu.Unlock()
	<-n.done
	return nil
}

// testNet is two stacks, A (10.0.0.1) and B (10.0.0.2), joined by fake
// wires; or, from newTestNetFamilies, over IPv6 (fd00::1, fd00::2) or both.
type testNet struct {
	a, b   *stack.Stack
	pa, pb *Protocol
	// ipA and ipB are the addresses of the first family; ipA6 and ipB6
	// the IPv6 ones when the net has both.
	ipA, ipB   netip.Addr
	ipA6, ipB6 netip.Addr
	// wireA and wireB are what A's and B's offloading wires saw.
	wireA, wireB *segmentingWire
	// fipA and fipB are A's and B's wires.
	fipA, fipB *fakeIP
}

func newTestNet(t testing.TB, opts Options, ab, ba linkFaults) *testNet {
	t.Helper()
	return newTestNetFamilies(t, opts, ab, ba, 4)
}

// newTestNetFamilies is newTestNet over IP versions fams (4, 6 or both,
// the first one giving ipA and ipB), each with its own fake wire.
func newTestNetFamilies(t testing.TB, opts Options, ab, ba linkFaults, fams ...int) *testNet {
	t.Helper()
	addrs := map[int][2]netip.Prefix{
		4: {netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("10.0.0.2/24")},
		6: {netip.MustParsePrefix("fd00::1/64"), netip.MustParsePrefix("fd00::2/64")},
	}
	tn := &testNet{ipA: addrs[fams[0]][0].Addr(), ipB: addrs[fams[0]][1].Addr()}
	if len(fams) > 1 {
		tn.ipA6, tn.ipB6 = addrs[6][0].Addr(), addrs[6][1].Addr()
	}
	mk := func(side int, f linkFaults) (*stack.Stack, *Protocol, []*fakeIP) {
		s := stack.New(stack.Options{})
		var ips []*fakeIP
		for _, fam := range fams {
			ip := newFakeIP(f)
			if fam == 6 {
				ip.etherType = stack.EtherTypeIPv6
			}
			if err := s.RegisterNetwork(ip); err != nil {
				t.Fatal(err)
			}
			ips = append(ips, ip)
		}
		p, err := Register(s, opts)
		if err != nil {
			t.Fatal(err)
		}
		var ep stack.LinkEndpoint = nullLink{1500}
		if f.offload != 0 {
			ep = offloadLink{nullLink{1500}, max(f.offload, 0)}
		}
		nic, err := s.AddNIC("eth0", ep)
		if err != nil {
			t.Fatal(err)
		}
		for i, ip := range ips {
			if err := nic.AddAddress(addrs[fams[i]][side]); err != nil {
				t.Fatal(err)
			}
			ip.tcp, ip.nic = p, nic
		}
		return s, p, ips
	}
	var ipa, ipb []*fakeIP
	tn.a, tn.pa, ipa = mk(0, ab)
	tn.b, tn.pb, ipb = mk(1, ba)
	tn.wireA, tn.wireB = &ipa[0].wire, &ipb[0].wire
	tn.fipA, tn.fipB = ipa[0], ipb[0]
	for i := range ipa {
		ipa[i].peer, ipb[i].peer = ipb[i], ipa[i]
		go ipa[i].run()
		go ipb[i].run()
	}
	t.Cleanup(func() { tn.close() })
	return tn
}

func (tn *testNet) close() {
	tn.a.Close()
	tn.b.Close()
}

// checkNoLeaks closes the network and checks that no goroutine and no
// packet is left behind. The poll loop is only a guard for goroutines
// that are on their way out after Close returned.
func checkNoLeaks(t *testing.T, tn *testNet, goroutinesBefore int, packetsBefore int64) {
	t.Helper()
	tn.close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutinesBefore && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goroutinesBefore {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after\n%s", goroutinesBefore, g, buf[:runtime.Stack(buf, true)])
	}
	// A leak is a packet more than at the start; fewer means one an
	// earlier test's goroutine held then was released meanwhile.
	for stack.LivePackets() > packetsBefore && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := stack.LivePackets(); n > packetsBefore {
		t.Errorf("live packets: %d before, %d after", packetsBefore, n)
	}
}

func (e *endpoint) rcondWaiters() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int(e.readers)
}

// serveEach accepts the connections of ln until it is closed, each served
// by handle on a goroutine of its own, which closes the connection when
// handle returns.
func serveEach(ln *Listener, handle func(c *Conn)) {
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}
