package link

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

// tagged builds a frame with the given tags (TPID, TCI pairs) before the
// EtherType, and payload bytes 0, 1, 2...
func tagged(dst stack.MAC, tags [][2]uint16, et uint16, payload int) *stack.Packet {
	n := EthernetHeaderLen + VLANTagLen*len(tags) + payload
	p := stack.NewPacket(stack.Headroom, n)
	b := p.Bytes()
	EthernetFields{Dst: dst, Src: macB}.Encode(b)
	off := 12
	for _, tg := range tags {
		b[off], b[off+1], b[off+2], b[off+3] = byte(tg[0]>>8), byte(tg[0]), byte(tg[1]>>8), byte(tg[1])
		off += VLANTagLen
	}
	b[off], b[off+1] = byte(et>>8), byte(et)
	for i := range b[off+2:] {
		b[off+2+i] = byte(i)
	}
	return p
}

// cut returns a copy of p's first n bytes and releases p.
func cut(p *stack.Packet, n int) *stack.Packet {
	q := stack.NewPacketFrom(p.Bytes()[:n])
	p.Release()
	return q
}

// trunkFixture is a trunk on a frameDev with a native endpoint and VLANs
// 10 (PCP 5) and 20, each attached to its own sink, counting privately.
type trunkFixture struct {
	dev               *frameDev
	tr                *Trunk
	native, v10, v20  stack.LinkEndpoint
	sNative, s10, s20 *netSink
}

func newTrunkFixture(t testing.TB, native bool) *trunkFixture {
	t.Helper()
	f := &trunkFixture{dev: &frameDev{mtu: 1500}, sNative: &netSink{}, s10: &netSink{}, s20: &netSink{}}
	f.tr = NewTrunk(f.dev, macA)
	var err error
	if f.v10, err = f.tr.VLAN(10, 5); err != nil {
		t.Fatal(err)
	}
	if f.v20, err = f.tr.VLAN(20, 0); err != nil {
		t.Fatal(err)
	}
	f.v10.Attach(f.s10)
	f.v20.Attach(f.s20)
	if native {
		f.native = f.tr.Native()
		f.native.Attach(f.sNative)
	}
	return f
}

func (f *trunkFixture) release() {
	f.sNative.release()
	f.s10.release()
	f.s20.release()
	f.dev.release()
}

func TestTrunkDeliverFrame(t *testing.T) {
	const (
		q  = stack.EtherTypeVLAN
		ad = stack.EtherTypeQinQ
	)
	tests := []struct {
		name    string
		native  bool
		frame   func() *stack.Packet
		to      string // "native", "10", "20" or "" (dropped)
		et      uint16
		payload int
		counter string
	}{
		{"untagged to native", true, func() *stack.Packet { return tagged(macA, nil, 0x0800, 40) }, "native", 0x0800, 40, ""},
		{"untagged broadcast to native", true, func() *stack.Packet { return tagged(stack.BroadcastMAC, nil, 0x0806, 28) }, "native", 0x0806, 28, ""},
		{"untagged without native", false, func() *stack.Packet { return tagged(macA, nil, 0x0800, 40) }, "", 0, 0, CounterRxNoNative},
		{"priority tag to native", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 6 << 13}}, 0x0800, 40) }, "native", 0x0800, 40, ""},
		{"priority tag without native", false, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 0}}, 0x0800, 40) }, "", 0, 0, CounterRxNoNative},
		// IEEE 802.1Q: VID 0 is a priority tag only; Linux takes an
		// 802.1ad tag with VID 0 the same way, and strips a priority
		// tag before a C-tag to demultiplex the C-tag.
		{"802.1ad priority tag to native", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{ad, 5 << 13}}, 0x0800, 40) }, "native", 0x0800, 40, ""},
		{"priority tag before vid 10", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 3 << 13}, {q, 10}}, 0x0800, 40) }, "10", 0x0800, 40, ""},
		{"802.1ad priority tag before vid 20", false, func() *stack.Packet { return tagged(macA, [][2]uint16{{ad, 0}, {q, 20}}, 0x0806, 28) }, "20", 0x0806, 28, ""},
		{"priority tag before an s-tag", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 0}, {ad, 10}}, 0x0800, 40) }, "", 0, 0, CounterRxQinQDropped},
		{"priority tag before stacked tags", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 0}, {q, 10}, {q, 20}}, 0x0800, 40) }, "", 0, 0, CounterRxQinQDropped},
		{"priority tag before an unknown vid", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 0}, {q, 30}}, 0x0800, 40) }, "", 0, 0, CounterRxVLANUnknown},
		{"priority tag, inner tag cut short", true, func() *stack.Packet {
			return cut(tagged(macA, [][2]uint16{{q, 0}, {q, 10}}, 0x0800, 0), 20)
		}, "", 0, 0, CounterRxMalformed},
		{"vid 10", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 10}}, 0x0800, 40) }, "10", 0x0800, 40, ""},
		{"vid 20 pcp 7 dei broadcast", false, func() *stack.Packet { return tagged(stack.BroadcastMAC, [][2]uint16{{q, 0xf000 | 20}}, 0x0806, 46) }, "20", 0x0806, 46, ""},
		{"unknown vid", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 30}}, 0x0800, 40) }, "", 0, 0, CounterRxVLANUnknown},
		{"reserved vid 4095", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 4095}}, 0x0800, 40) }, "", 0, 0, CounterRxVLANUnknown},
		{"802.1ad s-tag", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{ad, 100}, {q, 10}}, 0x0800, 40) }, "", 0, 0, CounterRxQinQDropped},
		{"802.1ad alone", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{ad, 10}}, 0x0800, 40) }, "", 0, 0, CounterRxQinQDropped},
		{"stacked 802.1q", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 10}, {q, 20}}, 0x0800, 40) }, "", 0, 0, CounterRxQinQDropped},
		{"tag cut short", true, func() *stack.Packet {
			return cut(tagged(macA, [][2]uint16{{q, 10}}, 0x0800, 0), 16)
		}, "", 0, 0, CounterRxMalformed},
		{"short", true, func() *stack.Packet { return stack.NewPacketFrom(make([]byte, 13)) }, "", 0, 0, CounterRxMalformed},
		{"not for us", true, func() *stack.Packet { return tagged(macB, [][2]uint16{{q, 10}}, 0x0800, 40) }, "", 0, 0, CounterRxNotForUs},
		{"llc in vlan", true, func() *stack.Packet { return tagged(macA, [][2]uint16{{q, 10}}, 0x0026, 40) }, "", 0, 0, CounterRxNotEthernetII},
		{"llc untagged", true, func() *stack.Packet { return tagged(macA, nil, 0x0026, 40) }, "", 0, 0, CounterRxNotEthernetII},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := stack.LivePackets()
			f := newTrunkFixture(t, tt.native)
			f.dev.d.DeliverFrame(tt.frame())
			sinks := map[string]*netSink{"native": f.sNative, "10": f.s10, "20": f.s20}
			for name, s := range sinks {
				want := 0
				if name == tt.to {
					want = 1
				}
				if len(s.got) != want {
					t.Fatalf("endpoint %s got %d packets, want %d", name, len(s.got), want)
				}
			}
			if tt.to != "" {
				p := sinks[tt.to].got[0]
				if p.EtherType != tt.et || p.Len() != tt.payload || p.LinkSrc != macB {
					t.Errorf("delivered type %#04x len %d src %v, want %#04x %d %v", p.EtherType, p.Len(), p.LinkSrc, tt.et, tt.payload, macB)
				}
				if b := p.Bytes(); len(b) > 2 && (b[0] != 0 || b[1] != 1) {
					t.Errorf("payload starts % x, want 00 01 (tag not stripped?)", b[:2])
				}
			}
			for _, name := range []string{CounterRxNoNative, CounterRxVLANUnknown, CounterRxQinQDropped, CounterRxMalformed, CounterRxNotForUs, CounterRxNotEthernetII} {
				want := uint64(0)
				if name == tt.counter {
					want = 1
				}
				if v := f.tr.Counters().Value(name); v != want {
					t.Errorf("%s = %d, want %d", name, v, want)
				}
			}
			f.release()
			checkLive(t, start)
		})
	}
}

func TestTrunkWritePacket(t *testing.T) {
	start := stack.LivePackets()
	f := newTrunkFixture(t, true)
	payload := []byte("an IPv4 packet, honestly")
	for _, ep := range []stack.LinkEndpoint{f.v10, f.v20, f.native} {
		if err := ep.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacketFrom(payload)); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.dev.written) != 3 {
		t.Fatalf("%d frames written, want 3", len(f.dev.written))
	}
	want := []struct {
		tagged   bool
		vid      uint16
		priority uint8
	}{{true, 10, 5}, {true, 20, 0}, {false, 0, 0}}
	for i, w := range want {
		b := f.dev.written[i].Bytes()
		// Our own parser.
		fr, err := ParseFrame(b)
		if err != nil {
			t.Fatal(err)
		}
		if fr.Dst != macB || fr.Src != macA || fr.EtherType != stack.EtherTypeIPv4 || !bytes.Equal(b[fr.HeaderLen:], payload) {
			t.Errorf("frame %d parsed %+v", i, fr)
		}
		// gopacket as the independent oracle.
		pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
		dq, _ := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if !w.tagged {
			if dq != nil || fr.NumTags != 0 {
				t.Errorf("native frame is tagged: %v", pkt)
			}
			continue
		}
		if dq == nil {
			t.Fatalf("gopacket found no Dot1Q layer in frame %d: %v", i, pkt)
		}
		if dq.VLANIdentifier != w.vid || dq.Priority != w.priority || dq.DropEligible || dq.Type != layers.EthernetTypeIPv4 {
			t.Errorf("frame %d tag %+v, want VID %d PCP %d", i, dq, w.vid, w.priority)
		}
	}
	f.dev.release()

	// The tag does not reduce the MTU: a full 1500-byte packet fits.
	if f.v10.MTU() != 1500 {
		t.Errorf("VLAN MTU %d, want 1500", f.v10.MTU())
	}
	if err := f.v10.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 1500)); err != nil {
		t.Fatal(err)
	}
	if n := f.dev.written[0].Len(); n != 1518 {
		t.Errorf("full VLAN frame is %d bytes, want 1518", n)
	}
	f.dev.release()
	if err := f.v10.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 1501)); !errors.Is(err, stack.ErrMessageTooLong) {
		t.Errorf("1501 bytes: %v, want ErrMessageTooLong", err)
	}
	f.dev.err = errors.New("device gone")
	if err := f.v20.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 10)); err == nil {
		t.Error("device error not returned")
	}
	for name, want := range map[string]uint64{CounterTxTooBig: 1, CounterTxError: 1} {
		if v := f.tr.Counters().Value(name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
	f.release()
	checkLive(t, start)
}

func TestTrunkVLANErrors(t *testing.T) {
	tr := NewTrunk(&frameDev{mtu: 1500}, macA)
	if _, err := tr.VLAN(7, 0); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		vid  uint16
		pcp  uint8
		want error
	}{
		{0, 0, stack.ErrInvalid},
		{4095, 0, stack.ErrInvalid},
		{4094, 8, stack.ErrInvalid},
		{7, 1, stack.ErrAddressInUse},
	} {
		if _, err := tr.VLAN(tt.vid, tt.pcp); !errors.Is(err, tt.want) {
			t.Errorf("VLAN(%d, %d) = %v, want %v", tt.vid, tt.pcp, err, tt.want)
		}
	}
	if _, err := tr.VLAN(4094, 7); err != nil {
		t.Errorf("VLAN(4094, 7): %v", err)
	}
	if tr.Native() != tr.Native() {
		t.Error("Native returns a new endpoint each call")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.VLAN(8, 0); !errors.Is(err, stack.ErrClosed) {
		t.Errorf("VLAN after Close = %v, want ErrClosed", err)
	}
}

func TestTrunkAttachAndClose(t *testing.T) {
	dev := &frameDev{mtu: 1500}
	tr := NewTrunk(dev, macA)
	v1, _ := tr.VLAN(1, 0)
	v2, _ := tr.VLAN(2, 0)
	if dev.d != nil {
		t.Fatal("device attached before any endpoint")
	}
	// A frame for a created but unattached endpoint is dropped, counted.
	v1.Attach(&netSink{})
	if dev.d != tr {
		t.Fatal("device not attached to the trunk by the first endpoint")
	}
	dev.d.DeliverFrame(tagged(macA, [][2]uint16{{stack.EtherTypeVLAN, 2}}, 0x0800, 10))
	if v := tr.Counters().Value(CounterRxPortDown); v != 1 {
		t.Errorf("%s = %d, want 1", CounterRxPortDown, v)
	}
	v2.Attach(&netSink{})
	if err := v1.Close(); err != nil || dev.closed {
		t.Fatalf("closing one endpoint of two: err %v, device closed %v", err, dev.closed)
	}
	// VLAN 1's frames are now unknown.
	dev.d.DeliverFrame(tagged(macA, [][2]uint16{{stack.EtherTypeVLAN, 1}}, 0x0800, 10))
	if v := tr.Counters().Value(CounterRxVLANUnknown); v != 1 {
		t.Errorf("%s = %d, want 1", CounterRxVLANUnknown, v)
	}
	if err := v2.Close(); err != nil || !dev.closed {
		t.Fatalf("closing the last endpoint: err %v, device closed %v", err, dev.closed)
	}
	if err := v2.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestTrunkZeroAllocs(t *testing.T) {
	f := newTrunkFixture(t, true)
	drop := dispatcherFunc(func(p *stack.Packet) { p.Release() })
	tr := NewTrunk(f.dev, macA)
	v, _ := tr.VLAN(10, 3)
	v.Attach(drop)
	in := tagged(macA, [][2]uint16{{stack.EtherTypeVLAN, 10}}, stack.EtherTypeIPv4, 1500)
	defer in.Release()
	if n := testing.AllocsPerRun(1000, func() {
		p := stack.NewPacket(stack.Headroom, in.Len())
		copy(p.Bytes(), in.Bytes())
		tr.DeliverFrame(p)
	}); n != 0 {
		t.Errorf("DeliverFrame: %v allocs per frame", n)
	}
	f.dev.written = make([]*stack.Packet, 0, 1)
	if n := testing.AllocsPerRun(1000, func() {
		_ = v.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 1000))
		f.dev.release()
	}); n != 0 {
		t.Errorf("WritePacket: %v allocs per packet", n)
	}
}

func BenchmarkTrunkDeliverFrame(b *testing.B) {
	tr := NewTrunk(&frameDev{mtu: 1500}, macA)
	v, _ := tr.VLAN(10, 0)
	v.Attach(dispatcherFunc(func(p *stack.Packet) { p.Release() }))
	in := tagged(macA, [][2]uint16{{stack.EtherTypeVLAN, 10}}, stack.EtherTypeIPv4, 1500)
	defer in.Release()
	b.ReportAllocs()
	b.SetBytes(int64(in.Len()))
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, in.Len())
		copy(p.Bytes(), in.Bytes())
		tr.DeliverFrame(p)
	}
}

func BenchmarkTrunkWritePacket(b *testing.B) {
	dev := &frameDev{mtu: 1500, written: make([]*stack.Packet, 0, 1)}
	tr := NewTrunk(dev, macA)
	v, _ := tr.VLAN(10, 0)
	v.Attach(&netSink{})
	b.ReportAllocs()
	for b.Loop() {
		_ = v.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 1500))
		dev.release()
	}
}

func FuzzTrunkDeliverFrame(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x08, 0x00, 0x45})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0xb, 0x81, 0x00, 0, 10, 8, 6, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x81, 0x00, 0xa0, 20, 8, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 10, 8, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x81, 0x00})
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x88, 0xa8, 0xe0, 0, 8, 0, 0x45})              // 802.1ad priority tag
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x81, 0x00, 0x20, 0, 0x81, 0x00, 0, 10, 8, 0}) // priority tag, VID 10
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		start := stack.LivePackets()
		f := newTrunkFixture(t, len(b)%2 == 0)
		f.dev.d.DeliverFrame(stack.NewPacketFrom(b))
		got := 0
		for vid, s := range map[uint16]*netSink{0: f.sNative, 10: f.s10, 20: f.s20} {
			for _, q := range s.got {
				got++
				fr, err := ParseFrame(b)
				if err != nil {
					t.Fatalf("delivered a frame ParseFrame rejects (%v): % x", err, b)
				}
				// Untagged, one C-tag, a priority tag (VID 0, either
				// TPID) alone or before one C-tag.
				tags := fr.Tags[:fr.NumTags]
				if len(tags) > 0 && tags[0].VID == 0 && (len(tags) == 1 || tags[1].TPID == stack.EtherTypeVLAN) {
					tags = tags[1:]
				}
				wantVID := uint16(0)
				if len(tags) == 1 {
					wantVID = tags[0].VID
				}
				if len(tags) > 1 || wantVID != vid || (len(tags) == 1 && tags[0].TPID == stack.EtherTypeQinQ) {
					t.Fatalf("frame % x delivered to VID %d", b, vid)
				}
				if q.EtherType != fr.EtherType || q.EtherType < MinEtherType || q.Len() != len(b)-fr.HeaderLen {
					t.Fatalf("delivered type %#04x len %d from % x", q.EtherType, q.Len(), b)
				}
			}
		}
		if got > 1 {
			t.Fatalf("frame delivered %d times", got)
		}
		f.release()
		checkLive(t, start)
	})
}
