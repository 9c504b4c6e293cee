package link

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

func TestEthernetDeliverFrame(t *testing.T) {
	start := stack.LivePackets()
	tests := []struct {
		name    string
		frame   func() *stack.Packet
		deliver bool
		counter string
	}{
		{"unicast for us", func() *stack.Packet { return frame(macA, macB, stack.EtherTypeIPv4, 20) }, true, ""},
		{"broadcast", func() *stack.Packet { return frame(stack.BroadcastMAC, macB, stack.EtherTypeARP, 28) }, true, ""},
		{"multicast", func() *stack.Packet {
			return frame(stack.MAC{0x01, 0x00, 0x5e, 0, 0, 1}, macB, stack.EtherTypeIPv4, 20)
		}, true, ""},
		{"header only", func() *stack.Packet { return frame(macA, macB, stack.EtherTypeIPv4, 0) }, true, ""},
		{"other unicast", func() *stack.Packet { return frame(macB, macA, stack.EtherTypeIPv4, 20) }, false, CounterRxNotForUs},
		{"runt", func() *stack.Packet { return stack.NewPacketFrom([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 8}) }, false, CounterRxMalformed},
		{"empty", func() *stack.Packet { return stack.NewPacket(stack.Headroom, 0) }, false, CounterRxMalformed},
		{"vlan tagged", func() *stack.Packet {
			p := frame(macA, macB, stack.EtherTypeVLAN, 24)
			VLANFields{VID: 5}.Encode(p.Bytes()[12:])
			return p
		}, false, CounterRxVLANDropped},
		{"qinq tagged", func() *stack.Packet { return frame(macA, macB, stack.EtherTypeQinQ, 24) }, false, CounterRxVLANDropped},
		{"tag cut short", func() *stack.Packet { return frame(macA, macB, stack.EtherTypeVLAN, 3) }, false, CounterRxMalformed},
		{"priority tag before a c-tag", func() *stack.Packet {
			p := frame(macA, macB, stack.EtherTypeVLAN, 24)
			VLANFields{VID: 0}.Encode(p.Bytes()[12:])
			VLANFields{VID: 7}.Encode(p.Bytes()[16:])
			return p
		}, false, CounterRxVLANDropped},
		{"802.3 llc", func() *stack.Packet { return frame(stack.MAC{0x01, 0x80, 0xc2, 0, 0, 0}, macB, 0x0026, 38) }, false, CounterRxNotEthernetII},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := &frameDev{mtu: 1500}
			e := NewEthernet(dev, macA)
			sink := &netSink{}
			e.Attach(sink)
			if dev.d != e {
				t.Fatal("Attach did not attach the device")
			}
			p := tt.frame()
			want := append([]byte(nil), p.Bytes()...)
			dev.d.DeliverFrame(p)
			defer sink.release()
			if !tt.deliver {
				if len(sink.got) != 0 {
					t.Fatalf("delivered %d packets, want none", len(sink.got))
				}
				if v := e.Counters().Value(tt.counter); v != 1 {
					t.Errorf("%s = %d, want 1", tt.counter, v)
				}
				return
			}
			if len(sink.got) != 1 {
				t.Fatalf("delivered %d packets, want 1", len(sink.got))
			}
			q := sink.got[0]
			h := EthernetHeader(want)
			if q.LinkDst != h.Dst() || q.LinkSrc != h.Src() || q.EtherType != h.EtherType() {
				t.Errorf("metadata %v > %v %#04x, want %v > %v %#04x", q.LinkSrc, q.LinkDst, q.EtherType, h.Src(), h.Dst(), h.EtherType())
			}
			if !bytes.Equal(q.Bytes(), want[EthernetHeaderLen:]) {
				t.Errorf("payload % x, want % x", q.Bytes(), want[EthernetHeaderLen:])
			}
			for _, c := range e.Counters().Snapshot() {
				if c.Value != 0 {
					t.Errorf("counter %s = %d on a good frame", c.Name, c.Value)
				}
			}
		})
	}
	checkLive(t, start)
}

func TestEthernetBeforeAttachReleases(t *testing.T) {
	start := stack.LivePackets()
	e := NewEthernet(&frameDev{mtu: 1500}, macA)
	e.DeliverFrame(frame(macA, macB, stack.EtherTypeIPv4, 20))
	checkLive(t, start)
}

func TestEthernetWritePacket(t *testing.T) {
	start := stack.LivePackets()
	dev := &frameDev{mtu: 100}
	e := NewEthernet(dev, macA)
	e.Attach(&netSink{})
	if e.MTU() != 100 || e.LinkAddress() != macA {
		t.Fatalf("MTU %d LinkAddress %v", e.MTU(), e.LinkAddress())
	}

	p := stack.NewPacketFrom([]byte("hello, network"))
	if err := e.WritePacket(macB, stack.EtherTypeIPv4, p); err != nil {
		t.Fatal(err)
	}
	if len(dev.written) != 1 {
		t.Fatalf("%d frames written", len(dev.written))
	}
	want := append([]byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00}, "hello, network"...)
	if got := dev.written[0].Bytes(); !bytes.Equal(got, want) {
		t.Errorf("frame % x, want % x", got, want)
	}
	dev.release()

	// Exactly MTU is fine, one more byte is refused and released.
	if err := e.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 100)); err != nil {
		t.Errorf("MTU-sized packet: %v", err)
	}
	dev.release()
	err := e.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 101))
	if !errors.Is(err, stack.ErrMessageTooLong) {
		t.Errorf("oversized packet: err %v, want ErrMessageTooLong", err)
	}
	if v := e.Counters().Value(CounterTxTooBig); v != 1 {
		t.Errorf("%s = %d, want 1", CounterTxTooBig, v)
	}

	// Device errors are returned and counted.
	dev.err = errors.New("boom")
	if err := e.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 10)); err != dev.err {
		t.Errorf("err %v, want the device's", err)
	}
	if v := e.Counters().Value(CounterTxError); v != 1 {
		t.Errorf("%s = %d, want 1", CounterTxError, v)
	}
	if err := e.Close(); err != nil || !dev.closed {
		t.Errorf("Close: %v, device closed %v", err, dev.closed)
	}
	checkLive(t, start)
}

// TestEthernetUsesStackCounters attaches through a real NIC: the endpoint
// counts into the stack's registry.
func TestEthernetUsesStackCounters(t *testing.T) {
	s := stack.New(stack.Options{})
	defer s.Close()
	dev := &frameDev{mtu: 1500}
	e := NewEthernet(dev, macA)
	if _, err := s.AddNIC("eth0", e); err != nil {
		t.Fatal(err)
	}
	if e.Counters() != s.Counters() {
		t.Fatal("endpoint does not use the stack's counters")
	}
	dev.d.DeliverFrame(stack.NewPacketFrom([]byte{1, 2, 3}))
	dev.d.DeliverFrame(frame(macB, macA, stack.EtherTypeIPv4, 20))
	// No protocol is registered: the NIC counts the unknown EtherType.
	dev.d.DeliverFrame(frame(macA, macB, 0x88b5, 20))
	for name, want := range map[string]uint64{CounterRxMalformed: 1, CounterRxNotForUs: 1, "link.rx.unknown_ethertype": 1} {
		if v := s.Counters().Value(name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
}

func TestEthernetZeroAllocs(t *testing.T) {
	dev := &frameDev{mtu: 1500}
	e := NewEthernet(dev, macA)
	drop := dispatcherFunc(func(p *stack.Packet) { p.Release() })
	e.Attach(drop)
	in := frame(macA, macB, stack.EtherTypeIPv4, 1500).Bytes()
	if n := testing.AllocsPerRun(1000, func() {
		p := stack.NewPacket(stack.Headroom, len(in))
		copy(p.Bytes(), in)
		e.DeliverFrame(p)
	}); n != 0 {
		t.Errorf("DeliverFrame: %v allocs per frame", n)
	}
	dev.written = make([]*stack.Packet, 0, 1)
	if n := testing.AllocsPerRun(1000, func() {
		_ = e.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 1000))
		dev.release()
	}); n != 0 {
		t.Errorf("WritePacket: %v allocs per packet", n)
	}
}

type dispatcherFunc func(p *stack.Packet)

func (f dispatcherFunc) DeliverNetworkPacket(p *stack.Packet) { f(p) }

func BenchmarkEthernetDeliverFrame(b *testing.B) {
	e := NewEthernet(&frameDev{mtu: 1500}, macA)
	e.Attach(dispatcherFunc(func(p *stack.Packet) { p.Release() }))
	in := frame(macA, macB, stack.EtherTypeIPv4, 1500)
	defer in.Release()
	b.ReportAllocs()
	b.SetBytes(int64(in.Len()))
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, in.Len())
		copy(p.Bytes(), in.Bytes())
		e.DeliverFrame(p)
	}
}

func BenchmarkEthernetWritePacket(b *testing.B) {
	dev := &frameDev{mtu: 1500, written: make([]*stack.Packet, 0, 1)}
	e := NewEthernet(dev, macA)
	e.Attach(&netSink{})
	b.ReportAllocs()
	for b.Loop() {
		_ = e.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 1500))
		dev.release()
	}
}

func FuzzEthernetDeliverFrame(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x08, 0x00, 0x45})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0xb, 0x81, 0x00, 0, 1, 8, 6})
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x81, 0x00, 0xc0, 0, 8, 0, 0x45}) // priority tag
	f.Add([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x88, 0xa8, 0, 0, 0x81, 0, 0, 5}) // priority tag, then a C-tag
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		start := stack.LivePackets()
		dev := &frameDev{mtu: 1500}
		e := NewEthernet(dev, macA)
		sink := &netSink{}
		e.Attach(sink)
		e.DeliverFrame(stack.NewPacketFrom(b))
		if len(sink.got) == 1 {
			q := sink.got[0]
			hl := EthernetHeaderLen
			if IsVLANTPID(EthernetHeader(b).EtherType()) {
				hl += VLANTagLen // a priority tag, stripped
			}
			if q.Len() != len(b)-hl || q.EtherType < MinEtherType || IsVLANTPID(q.EtherType) {
				t.Fatalf("delivered len %d type %#04x from % x", q.Len(), q.EtherType, b)
			}
		}
		sink.release()
		checkLive(t, start)
	})
}
