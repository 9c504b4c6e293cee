package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// benchConn returns an established connection whose segments go to a sink,
// driven by hand from the "peer" side.
func benchConn(b *testing.B) (*Protocol, *Conn, *stack.NIC, netip.Addr, netip.Addr) {
	return handConn(b, &sinkIP{}, Options{})
}

// handConn is benchConn with its segments going to ip and options o.
func handConn(b testing.TB, ip stack.NetworkProtocol, o Options) (*Protocol, *Conn, *stack.NIC, netip.Addr, netip.Addr) {
	return handConnOver(b, ip, o, "10.0.0.2/24", "10.0.0.1")
}

// handConnOver is handConn between local (a prefix of the NIC) and remote,
// IPv4 or IPv6 (ip must write that family).
func handConnOver(b testing.TB, ip stack.NetworkProtocol, o Options, localPrefix, remoteAddr string) (*Protocol, *Conn, *stack.NIC, netip.Addr, netip.Addr) {
	return handConnClock(b, ip, o, nil, localPrefix, remoteAddr)
}

// handConnClock is handConnOver on a stack whose timers run on clock
// (nil: the wall clock).
func handConnClock(b testing.TB, ip stack.NetworkProtocol, o Options, clock stack.Clock, localPrefix, remoteAddr string) (*Protocol, *Conn, *stack.NIC, netip.Addr, netip.Addr) {
	s := stack.New(stack.Options{Clock: clock})
	s.RegisterNetwork(ip)
	p, err := Register(s, o)
	if err != nil {
		b.Fatal(err)
	}
	nic, _ := s.AddNIC("eth0", nullLink{1500})
	nic.AddAddress(netip.MustParsePrefix(localPrefix))
	remote, local := netip.MustParseAddr(remoteAddr), netip.MustParsePrefix(localPrefix).Addr()
	r, _ := s.FindRoute(remote, local)
	e := newEndpoint(p, tuple{netip.AddrPortFrom(local, 81), netip.AddrPortFrom(remote, 40000)}, r)
	now := time.Now()
	e.mu.Lock()
	// SACK as from any modern peer, so that the send path runs RACK's
	// per-segment records (rack.go).
	e.c.acceptSyn(now, &segment{seq: 1, flags: FlagSYN, wnd: 65535, opts: SegmentOptions{HasMSS: true, MSS: 1460, SACKPermitted: true}})
	e.c.handleSegment(now, &segment{seq: 2, ack: e.c.iss + 1, flags: FlagACK, wnd: 65535})
	e.dropQueued()
	e.c.takeEvents()
	e.mu.Unlock()
	p.addConn(e)
	b.Cleanup(func() { s.Close() })
	return p, &Conn{e: e}, nic, remote, local
}

func BenchmarkReceiveDataSegment(b *testing.B) {
	benchReceive(b, benchConn, 0)
}

// BenchmarkReceiveDataSegmentBatched is BenchmarkReceiveDataSegment with
// the segments in batches of four (batch.go): one ACK per batch, still 0
// allocs/op.
func BenchmarkReceiveDataSegmentBatched(b *testing.B) {
	benchReceive(b, benchConn, 4)
}

// BenchmarkReceiveDataSegmentIPv6 is BenchmarkReceiveDataSegment over IPv6
// (issue 14: 0 allocs/op).
func BenchmarkReceiveDataSegmentIPv6(b *testing.B) {
	benchReceive(b, benchConn6, 0)
}

// benchConn6 is benchConn between fd00::2 and fd00::1.
func benchConn6(b *testing.B) (*Protocol, *Conn, *stack.NIC, netip.Addr, netip.Addr) {
	return handConnOver(b, &sinkIP6{}, Options{}, "fd00::2/64", "fd00::1")
}

// sinkIP6 is sinkIP for IPv6.
type sinkIP6 struct{ sinkIP }

func (*sinkIP6) EtherType() uint16 { return stack.EtherTypeIPv6 }

// benchReceive delivers full segments and reads them; with batch > 0 they
// come marked Batched, with an EndBatch after every batch of them.
func benchReceive(b *testing.B, mk func(*testing.B) (*Protocol, *Conn, *stack.NIC, netip.Addr, netip.Addr), batch int) {
	p, c, nic, remote, local := mk(b)
	c.e.mu.Lock()
	payload := make([]byte, c.e.c.mss)
	c.e.mu.Unlock()
	buf := make([]byte, 2048)
	seq := seqnum.Value(2)
	c.e.mu.Lock()
	ackNo := uint32(c.e.c.sndNxt)
	c.e.mu.Unlock()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pkt := stack.NewPacket(stack.Headroom, HeaderLen+len(payload))
		bb := pkt.Bytes()
		f := Fields{SrcPort: 40000, DstPort: 81, Seq: uint32(seq), Ack: ackNo, Flags: FlagACK | FlagPSH, Window: 65535}
		f.Encode(bb)
		copy(bb[HeaderLen:], payload)
		pkt.Src, pkt.Dst, pkt.NIC, pkt.ChecksumOK = remote, local, nic, true
		pkt.Batched = batch > 0
		p.HandlePacket(pkt)
		if n, err := c.Read(buf); n != len(payload) || err != nil {
			b.Fatal(n, err)
		}
		seq = seq.Add(seqnum.Size(len(payload)))
		if i++; batch > 0 && i%batch == 0 {
			p.EndBatch()
		}
	}
}

func BenchmarkSendDataSegment(b *testing.B) {
	benchSend(b, benchConn)
}

// BenchmarkSendDataSegmentIPv6 is BenchmarkSendDataSegment over IPv6
// (issue 14: 0 allocs/op).
func BenchmarkSendDataSegmentIPv6(b *testing.B) {
	benchSend(b, benchConn6)
}

func benchSend(b *testing.B, mk func(*testing.B) (*Protocol, *Conn, *stack.NIC, netip.Addr, netip.Addr)) {
	_, c, _, _, _ := mk(b)
	e := c.e
	e.mu.Lock()
	msg := make([]byte, e.c.mss) // 1460 over IPv4, 1440 over IPv6
	e.mu.Unlock()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		before := e.p.ctr.txSegments.Load()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		// The segment is sent by the protocol's sender or, whichever
		// comes first, by the delivery of the ACK that covers it.
		e.mu.Lock()
		a := segment{seq: e.c.rcvNxt, ack: e.c.sndNxt, flags: FlagACK, wnd: 65535}
		e.mu.Unlock()
		e.deliver(&a, nil)
		if e.p.ctr.txSegments.Load() != before+1 {
			b.Fatal("Write did not produce exactly one segment")
		}
	}
}

// BenchmarkSendBurst writes 32 segments' worth at once and acknowledges
// them all, as a server sending a large answer to a fast client does: the
// connection goes idle between bursts (everything acknowledged, nothing
// due), so each burst starts without RACK records (shedIdle) and grows
// them to 32 again. 0 allocs/op: grown record rings come from and go back
// to pools by size.
func BenchmarkSendBurst(b *testing.B) {
	_, c, _, _, _ := benchConn(b)
	e := c.e
	e.mu.Lock()
	msg := make([]byte, 32*e.c.mss)
	e.mu.Unlock()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		// ACK what was sent until everything is: the first bursts
		// are limited by the congestion window.
		for i := 0; ; i++ {
			e.mu.Lock()
			a := segment{seq: e.c.rcvNxt, ack: e.c.sndNxt, flags: FlagACK, wnd: 65535}
			done := e.c.sndUna == e.c.sndNxt && e.c.snd.n == 0
			e.mu.Unlock()
			if done {
				break
			}
			if i > 1000 {
				b.Fatal("the burst was not sent and acknowledged in 1000 ACKs")
			}
			e.deliver(&a, nil)
		}
	}
}

// TestDataSegmentsAllocateNothing runs the send and receive benchmarks
// of a data segment in make test, which runs no benchmark, and fails if
// either allocates: a route unpacked on the stack for the IP layer's
// interface call escaped and cost an allocation per packet sent, which
// only these benchmarks showed.
func TestDataSegmentsAllocateNothing(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("the race detector allocates; -short")
	}
	for name, f := range map[string]func(*testing.B){
		"send":         func(b *testing.B) { benchSend(b, benchConn) },
		"send IPv6":    func(b *testing.B) { benchSend(b, benchConn6) },
		"receive":      BenchmarkReceiveDataSegment,
		"receive IPv6": BenchmarkReceiveDataSegmentIPv6,
	} {
		if r := testing.Benchmark(f); r.N == 0 || r.AllocsPerOp() != 0 {
			t.Errorf("%s: %d allocations per segment over %d segments, want 0", name, r.AllocsPerOp(), r.N)
		}
	}
}
