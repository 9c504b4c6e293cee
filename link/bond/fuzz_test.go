package bond

import (
	"testing"

	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/stack"
)

// FuzzSlaveDeliver: whatever a slave receives (Slow Protocols frames of
// any content, short frames, data), the bond neither panics nor leaks
// a packet.
func FuzzSlaveDeliver(f *testing.F) {
	pdu := make([]byte, 14+lacp.PDULen)
	copy(pdu, lacp.SlowProtocolsMAC[:])
	pdu[12], pdu[13] = 0x88, 0x09
	lacp.LACPDUFields{Actor: lacp.Info{Port: 1, State: lacp.StateSync}}.Encode(pdu[14:])
	f.Add(pdu)
	m := append([]byte(nil), pdu...)
	lacp.MarkerFields{Type: lacp.MarkerInfo, Port: 1}.Encode(m[14:])
	f.Add(m)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		live := stack.LivePackets()
		p := newLACPPair(t, Layer34)
		for _, s := range p.a.slaves {
			s.DeliverFrame(stack.NewPacketFrom(b))
		}
		p.a.Close()
		p.b.Close()
		if n := stack.LivePackets() - live; n != 0 {
			t.Fatalf("%d packets leaked", n)
		}
	})
}
