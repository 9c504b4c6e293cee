package arp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

// TestRealClockResolutionFailure runs the retransmission timers on the wall
// clock (timer callbacks on their own goroutines) and waits for the outcome
// on a channel; the timeout only guards against a hang.
func TestRealClockResolutionFailure(t *testing.T) {
	start := stack.LivePackets()
	s := stack.New(stack.Options{})
	p, err := arp.Register(s, arp.Options{RetransTime: time.Millisecond, MaxProbes: 2})
	if err != nil {
		t.Fatal(err)
	}
	ip := &fakeIPv4{}
	ip.Notify = make(chan struct{}, 2)
	if err := s.RegisterNetwork(ip); err != nil {
		t.Fatal(err)
	}
	link := newLink(ourMAC)
	nic, err := s.AddNIC("eth0", link)
	if err != nil {
		t.Fatal(err)
	}
	if err := nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	link.Take()

	p.WriteTo(nic, peerIP, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("a")))
	p.WriteTo(nic, peerIP, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("b")))
	for range 2 {
		select {
		case <-ip.Notify:
		case <-time.After(30 * time.Second):
			t.Fatal("resolution never failed")
		}
	}
	fs := ip.TakeFailures()
	if len(fs) != 2 || string(fs[0].Data) != "a" || string(fs[1].Data) != "b" {
		t.Fatalf("failures %+v", fs)
	}
	if got := len(link.Take()); got != 2 {
		t.Fatalf("sent %d requests, want MaxProbes=2", got)
	}
	// Close while a new resolution is in flight on the wall clock.
	p.WriteTo(nic, peerIP, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("c")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := stack.LivePackets() - start; n != 0 {
		t.Fatalf("%d packets leaked", n)
	}
}
