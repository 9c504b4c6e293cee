package dhcp

import (
	"math/rand/v2"
	"testing"
	"time"
)

// FuzzMessage feeds arbitrary bytes to the parser and to a machine in every
// receiving state: nothing may panic, and a message that validates must
// survive a decode/encode/decode round trip.
func FuzzMessage(f *testing.F) {
	f.Add(fullFields().Marshal())
	f.Add(Fields{Op: OpReply, MessageType: Nak}.Marshal())
	f.Add(Fields{Op: OpReply, MessageType: Ack, YIAddr: offered, ServerID: serverB}.Marshal())
	f.Add(Fields{Op: OpReply, MessageType: Ack, YIAddr: offered}.Marshal()) // no server identifier
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := Message(b)
		if m.Validate() == nil {
			fl := m.Fields()
			_ = m.MessageType()
			b2 := fl.Marshal()
			if err := Message(b2).Validate(); err != nil {
				t.Fatalf("re-encoded message does not validate: %v", err)
			}
			f2 := Message(b2).Fields()
			if f2.XID != fl.XID || f2.MessageType != fl.MessageType || f2.YIAddr != fl.YIAddr || f2.ServerID != fl.ServerID {
				t.Fatalf("round trip changed the message: %+v -> %+v", fl, f2)
			}
		}
		// A machine in each receiving state survives the input; make the
		// xid and chaddr match so the state logic runs.
		if len(b) >= MinLen {
			for _, probe := range []bool{false, true} {
				mc := NewMachine(Config{MAC: macA, Probe: probe, Rand: rand.New(rand.NewPCG(1, 1))})
				out := mc.Start(t0)
				x := append([]byte(nil), b...)
				fx := Fields{XID: out.Send.XID, CHAddr: macA}
				hdr := fx.Marshal()
				copy(x[4:8], hdr[4:8])
				copy(x[28:34], hdr[28:34])
				x[0] = OpReply
				for range 4 {
					mc.Receive(t0.Add(time.Second), x)
					copy(x[4:8], Fields{XID: mc.XID()}.Marshal()[4:8])
				}
			}
		}
	})
}
