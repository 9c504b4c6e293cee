package channel_test

import (
	"io"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/link/channel"
	"github.com/tapstack/tapstack/stack"
)

// discard is a network protocol that releases what it is given.
type discard uint16

func (d discard) EtherType() uint16          { return uint16(d) }
func (discard) HandlePacket(p *stack.Packet) { p.Release() }

// benchPath is a channel as a NIC of a stack whose IPv4 discards, with
// batch buffers of 64 packets of 1400 bytes each way.
type benchPath struct {
	ch    *channel.Channel
	nic   *stack.NIC
	bufs  [][]byte
	pkts  [][]byte
	sizes []int
	pkt   []byte
	hop   netip.Addr
}

const benchBatch = 64

func newBenchPath(tb testing.TB) *benchPath {
	ch, _ := channel.New(channel.Config{})
	s := stack.New(stack.Options{})
	s.RegisterNetwork(discard(stack.EtherTypeIPv4))
	nic, err := s.AddNIC("vpn0", ch)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	bp := &benchPath{ch: ch, nic: nic, sizes: make([]int, benchBatch), pkt: make([]byte, 1400), hop: netip.MustParseAddr("10.9.0.2")}
	bp.pkt[0] = 0x45
	for range benchBatch {
		bp.bufs = append(bp.bufs, make([]byte, 1500))
		bp.pkts = append(bp.pkts, bp.pkt)
	}
	return bp
}

// out sends a batch from the stack through the NIC and reads it.
func (bp *benchPath) out(tb testing.TB) {
	for range benchBatch {
		p := stack.NewPacket(stack.Headroom, len(bp.pkt))
		copy(p.Bytes(), bp.pkt)
		if err := bp.nic.WritePacket(bp.hop, stack.EtherTypeIPv4, p); err != nil {
			tb.Fatal(err)
		}
	}
	for got := 0; got < benchBatch; {
		n, err := bp.ch.Read(bp.bufs, bp.sizes, 0)
		if err != nil {
			tb.Fatal(err)
		}
		got += n
	}
}

// in writes a batch into the stack.
func (bp *benchPath) in(tb testing.TB) {
	if _, err := bp.ch.Write(bp.pkts, 0); err != nil {
		tb.Fatal(err)
	}
}

// The packet path through a channel allocates nothing, either way.
func TestPacketPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	bp := newBenchPath(t)
	if a := testing.AllocsPerRun(100, func() { bp.out(t) }); a != 0 {
		t.Errorf("stack -> Read: %v allocs per batch, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { bp.in(t) }); a != 0 {
		t.Errorf("Write -> stack: %v allocs per batch, want 0", a)
	}
}

// BenchmarkStackToRead: one op is one 1400-byte packet sent by the stack
// and read by the tunnel side, in batches of 64.
func BenchmarkStackToRead(b *testing.B) {
	bp := newBenchPath(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(bp.pkt)))
	for i := 0; i < b.N; i += benchBatch {
		bp.out(b)
	}
}

// BenchmarkWriteToStack: one op is one 1400-byte packet written by the
// tunnel side and handed to the stack's IPv4, in batches of 64.
func BenchmarkWriteToStack(b *testing.B) {
	bp := newBenchPath(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(bp.pkt)))
	for i := 0; i < b.N; i += benchBatch {
		bp.in(b)
	}
}

// BenchmarkTCPOverChannels: bulk TCP between two hosts whose channels are
// pumped into each other (MTU 1420, as a WireGuard tunnel); one op is one
// 64 KiB write.
func BenchmarkTCPOverChannels(b *testing.B) {
	a, h := tunnel(b, 1420)
	l, err := h.Listen("tcp", ":9000")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan int64)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		done <- n
	}()
	c, err := a.Dial("tcp", "10.9.0.2:9000")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	if n := <-done; n != int64(b.N*len(buf)) {
		b.Fatalf("received %d bytes, want %d", n, b.N*len(buf))
	}
}
