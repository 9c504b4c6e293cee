package bond

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// nullDev is a slave that drops every frame.
type nullDev struct{}

func (nullDev) MTU() int                         { return 1500 }
func (nullDev) Attach(link.FrameDispatcher)      {}
func (nullDev) WriteFrame(p *stack.Packet) error { p.Release(); return nil }
func (nullDev) Close() error                     { return nil }

// BenchmarkWriteFrameLayer34: choosing a slave by the layer3+4 hash and
// sending allocates nothing.
func BenchmarkWriteFrameLayer34(bb *testing.B) {
	b, err := New(Config{Name: "bond0", Mode: BalanceXOR, Hash: Layer34}, []SlaveConfig{{Name: "a", Dev: nullDev{}}, {Name: "b", Dev: nullDev{}}})
	if err != nil {
		bb.Fatal(err)
	}
	b.Attach(&sink{})
	defer b.Close()
	p := tcpFrame(stack.MAC{1}, stack.MAC{2}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1000, 80)
	defer p.Release()
	bb.ReportAllocs()
	for bb.Loop() {
		b.WriteFrame(p.Ref())
	}
}

// BenchmarkDeliverFrame: a data frame received on an active slave goes
// up without allocating.
func BenchmarkDeliverFrame(bb *testing.B) {
	b, err := New(Config{Name: "bond0", Mode: BalanceXOR}, []SlaveConfig{{Name: "a", Dev: nullDev{}}, {Name: "b", Dev: nullDev{}}})
	if err != nil {
		bb.Fatal(err)
	}
	b.Attach(&sink{})
	defer b.Close()
	s := b.slaves[0]
	f := tcpFrame(stack.MAC{1}, stack.MAC{2}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1000, 80)
	defer f.Release()
	bb.ReportAllocs()
	for bb.Loop() {
		s.DeliverFrame(f.Ref())
	}
}
