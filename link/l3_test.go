package link

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// An L3 endpoint writes IP packets as they are (no Ethernet header, dst
// and EtherType ignored) and hands inbound IPv4 and IPv6 packets up with
// their EtherType from the version nibble, counting anything else.
func TestL3Endpoint(t *testing.T) {
	dev := &frameDev{mtu: 100}
	e := NewL3(dev)
	sink := &netSink{}
	e.Attach(sink)
	defer sink.release()
	defer dev.release()
	if !e.IsL3() || !stack.IsL3(e) || e.LinkAddress() != (stack.MAC{}) || e.MTU() != 100 {
		t.Fatalf("IsL3 %v, MAC %v, MTU %d", e.IsL3(), e.LinkAddress(), e.MTU())
	}
	pkt := []byte{0x45, 1, 2, 3}
	if err := e.WritePacket(stack.BroadcastMAC, stack.EtherTypeARP, stack.NewPacketFrom(pkt)); err != nil {
		t.Fatal(err)
	}
	if len(dev.written) != 1 || !bytes.Equal(dev.written[0].Bytes(), pkt) {
		t.Fatalf("device got %d frames, want the bare packet % x", len(dev.written), pkt)
	}
	if err := e.WritePacket(stack.MAC{}, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 101)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("packet over the MTU: %v, want EMSGSIZE", err)
	}
	for _, b := range [][]byte{{0x45, 0}, {0x60, 0}, {0x00}, {}, {0x70}} {
		dev.d.DeliverFrame(stack.NewPacketFrom(b))
	}
	if len(sink.got) != 2 || sink.got[0].EtherType != stack.EtherTypeIPv4 || sink.got[1].EtherType != stack.EtherTypeIPv6 {
		t.Fatalf("delivered %d packets", len(sink.got))
	}
	if n := e.Counters().Value(CounterRxNotIP); n != 3 {
		t.Errorf("%s = %d, want 3", CounterRxNotIP, n)
	}
	if n := e.Counters().Value(CounterTxTooBig); n != 1 {
		t.Errorf("%s = %d, want 1", CounterTxTooBig, n)
	}
}
