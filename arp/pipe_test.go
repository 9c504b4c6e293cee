package arp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// TestOverEthernetPipe resolves and sends between two stacks joined by the
// real Ethernet framing over link.Pipe (asynchronous delivery, frames padded
// to the Ethernet minimum), on the wall clock.
func TestOverEthernetPipe(t *testing.T) {
	start := stack.LivePackets()
	da, db := link.Pipe(1500)
	type host struct {
		s   *stack.Stack
		arp *arp.Protocol
		ip  *fakeIPv4
		nic *stack.NIC
	}
	mk := func(d link.Device, mac stack.MAC, addr string) host {
		h := host{s: stack.New(stack.Options{}), ip: &fakeIPv4{rx: make(chan []byte, 4)}}
		var err error
		if h.arp, err = arp.Register(h.s, arp.Options{}); err != nil {
			t.Fatal(err)
		}
		if err := h.s.RegisterNetwork(h.ip); err != nil {
			t.Fatal(err)
		}
		if h.nic, err = h.s.AddNIC("eth0", link.NewEthernet(d, mac)); err != nil {
			t.Fatal(err)
		}
		if err := h.nic.AddAddress(netip.MustParsePrefix(addr)); err != nil {
			t.Fatal(err)
		}
		return h
	}
	a := mk(da, ourMAC, "10.0.0.2/24")
	b := mk(db, peerMAC, "10.0.0.1/24")

	if err := a.nic.WritePacket(peerIP, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("hello b"))); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-b.ip.rx:
		if string(got) != "hello b" {
			t.Fatalf("b received %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("b never received the packet")
	}
	// b's own announcement may reach a after a's entry was created and
	// resolve it first (STALE, by the merge rule); b's reply then makes it
	// REACHABLE, possibly after this point. Either way it is resolved.
	if e := a.arp.Entries(); len(e) != 1 || e[0].Addr != peerIP || e[0].MAC != peerMAC ||
		(e[0].State != arp.Reachable && e[0].State != arp.Stale) {
		t.Fatalf("a's cache %+v", e)
	}
	// b learnt a from its request, so b's answer needs no resolution.
	if err := b.nic.WritePacket(ourIP, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("hello a"))); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-a.ip.rx:
		if string(got) != "hello a" {
			t.Fatalf("a received %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a never received the packet")
	}
	// b normally learnt a from a's request and sends only its
	// announcement. But a's WriteTo sends its request after unlocking, and
	// b's announcement, arriving in that window, resolves a's entry and
	// flushes "hello b" onto the wire ahead of the request (about 0.5% of
	// runs); b then sends to a before it has learnt it and resolves a
	// itself. So: the announcement plus at most that one request.
	if got := b.s.Counters().Value("arp.tx.requests"); got < 1 || got > 2 {
		t.Fatalf("b sent %d requests, want the gratuitous ARP and at most one resolution", got)
	}
	a.s.Close()
	b.s.Close()
	if n := stack.LivePackets() - start; n != 0 {
		t.Fatalf("%d packets leaked", n)
	}
}
