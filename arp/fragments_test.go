package arp_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
)

// TestFragmentsWaitForResolution sends an 8000-byte datagram through the
// real IPv4 layer to an unresolved neighbour: its 6 fragments all wait in
// the entry's queue (bounded by bytes, as in Linux, not by 3 packets) and
// all go out, in order, when the reply arrives.
func TestFragmentsWaitForResolution(t *testing.T) {
	start := stack.LivePackets()
	clk := newClock()
	s := stack.New(stack.Options{Clock: clk})
	a, err := arp.Register(s, arp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ipv4.Register(s, ipv4.Options{}); err != nil {
		t.Fatal(err)
	}
	l := newLink(ourMAC)
	nic, err := s.AddNIC("eth0", l)
	if err != nil {
		t.Fatal(err)
	}
	if err := nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	l.Take() // the gratuitous ARP

	r, err := s.FindRoute(peerIP, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	const size = 8000
	p := stack.NewPacket(stack.Headroom, size)
	for i := range p.Bytes() {
		p.Bytes()[i] = byte(i)
	}
	if err := r.WritePacket(stack.NetworkParams{Protocol: 17}, p); err != nil {
		t.Fatal(err)
	}
	if frames := l.Take(); len(frames) != 1 || decodeARP(t, frames[0]).TargetIP != peerIP {
		t.Fatalf("sent %d frames, want one ARP request", len(frames))
	}
	var e arp.Entry
	for _, x := range a.Entries() {
		if x.Addr == peerIP {
			e = x
		}
	}
	if e.State != arp.Incomplete || e.Queued != 6 || e.QueuedBytes != size+6*20 {
		t.Fatalf("entry %+v, want INCOMPLETE with 6 fragments (%d bytes) queued", e, size+6*20)
	}

	reply := make([]byte, 46)
	rf := arp.Fields{Op: arp.OpReply, SenderMAC: peerMAC, SenderIP: peerIP, TargetMAC: ourMAC, TargetIP: ourIP}
	rf.Encode(reply)
	in := stack.NewPacketFrom(reply)
	in.LinkSrc, in.LinkDst, in.EtherType = peerMAC, ourMAC, stack.EtherTypeARP
	nic.DeliverNetworkPacket(in)

	frames := l.Take()
	if len(frames) != 6 {
		t.Fatalf("%d frames sent after the reply, want 6 fragments", len(frames))
	}
	next := 0
	for i, fr := range frames {
		h := fr.Data
		if fr.Dst != peerMAC || fr.EtherType != stack.EtherTypeIPv4 || len(h) < 20 {
			t.Fatalf("fragment %d: to %v type %#04x, %d bytes", i, fr.Dst, fr.EtherType, len(h))
		}
		flags := binary.BigEndian.Uint16(h[6:])
		off, mf := int(flags&0x1fff)*8, flags&0x2000 != 0
		payload := h[20:binary.BigEndian.Uint16(h[2:])]
		if off != next || mf != (i < 5) {
			t.Fatalf("fragment %d: offset %d MF %v, want offset %d MF %v", i, off, mf, next, i < 5)
		}
		for j, b := range payload {
			if b != byte(off+j) {
				t.Fatalf("fragment %d: byte %d corrupted", i, j)
			}
		}
		next += len(payload)
	}
	if next != size {
		t.Errorf("fragments carry %d bytes, want %d", next, size)
	}
	if n := s.Counters().Value("arp.tx.queue_overflow"); n != 0 {
		t.Errorf("arp.tx.queue_overflow = %d, want 0", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := stack.LivePackets() - start; n != 0 {
		t.Errorf("%d packets leaked", n)
	}
}
