package ipv6

import (
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// FuzzInput feeds arbitrary packets through HandlePacket of a stack with a
// fake link, a transport and a router NIC: nothing may panic or leak a
// packet (newEnv's cleanup checks), and the reassembly stays bounded.
func FuzzInput(f *testing.F) {
	f.Add(ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: ourAddr}, udpish("hi")), false)
	f.Add(icmpPacket(peerAddr, ourAddr, ICMPEchoRequest, 0, EchoRest(1, 1), []byte("ping")), false)
	f.Add(icmpPacket(peerAddr, ourAddr, ICMPPacketTooBig, 0, 1280, sentUDP(farAddr, 40)), false)
	f.Add(frag(1, 17, 0, true, pattern(16)), false)
	f.Add(frag(1, 17, 8, false, pattern(8)), true)
	f.Add(ipPacket(Fields{NextHeader: ProtoHopByHop, Src: peerAddr, Dst: ourAddr}, cat(ext(ProtoRouting, 0x9e, 4, 0, 0, 0, 0), ext(17, 0, 1, 0, 0, 0, 0), udpish(""))), false)
	f.Add(ipPacket(Fields{NextHeader: 17, HopLimit: 1, Src: peerAddr, Dst: lan2Host}, udpish("fwd")), true)
	f.Fuzz(func(t *testing.T, b []byte, forwarding bool) {
		e := newEnv(t, Options{Forwarding: forwarding, ReassemblyMemory: 64 << 10})
		e.udp.SetDiscard(true)
		e.link.SetDiscard(true)
		if forwarding {
			nic2, err := e.s.AddNIC("eth1", discardLink(1400))
			if err != nil {
				t.Fatal(err)
			}
			if err := nic2.AddAddress(lan2Us); err != nil {
				t.Fatal(err)
			}
		}
		if len(b) > stack.MaxPacketSize-stack.Headroom {
			return
		}
		e.inject(b, ourMAC)
		e.inject(b, stack.MulticastMAC(peerAddr))
		// Fragments may be waiting: expire them (the error path runs).
		e.clock.Advance(DefaultReassemblyTimeout)
		if n, m := e.pr.ReassemblyPending(); n != 0 || m != 0 {
			t.Fatalf("pending %d/%d after the timeout", n, m)
		}
	})
}

// FuzzHeader checks that Validate and the accessors never panic and that
// Fields round-trips a valid header.
func FuzzHeader(f *testing.F) {
	f.Add(ipPacket(Fields{TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: 17, Src: peerAddr, Dst: ourAddr}, udpish("hi")))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := Header(b)
		if h.Validate() != nil {
			return
		}
		fl := Fields{TrafficClass: h.TrafficClass(), FlowLabel: h.FlowLabel(), PayloadLength: h.PayloadLength(),
			NextHeader: h.NextHeader(), HopLimit: h.HopLimit(), Src: h.Src(), Dst: h.Dst()}
		_ = h.Payload()
		out := make([]byte, HeaderLen)
		fl.Encode(out)
		if string(out) != string(b[:HeaderLen]) {
			t.Fatalf("re-encode\n% x\n% x", b[:HeaderLen], out)
		}
	})
}

// FuzzICMP checks the ICMPv6 view and the checksum round trip.
func FuzzICMP(f *testing.F) {
	f.Add(icmpMsg(peerAddr, ourAddr, ICMPEchoRequest, 0, EchoRest(1, 2), []byte("ping")))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ICMP(b)
		if len(b) > 0xffff || m.Validate(peerAddr, ourAddr) == ErrICMPTooShort {
			return
		}
		_, _, _, _, _, _, _ = m.Type(), m.Code(), m.Rest(), m.ID(), m.Seq(), m.MTU(), m.Pointer()
		out := make([]byte, len(b))
		fl := ICMPFields{Type: m.Type(), Code: m.Code(), Rest: m.Rest(), Payload: m.Payload()}
		fl.Encode(out, peerAddr, ourAddr)
		if ICMP(out).Validate(peerAddr, ourAddr) != nil {
			t.Fatalf("re-encoded message does not validate: % x", out)
		}
	})
}
