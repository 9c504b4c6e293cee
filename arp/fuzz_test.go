package arp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

// FuzzHandlePacket feeds arbitrary bytes through the whole inbound path of
// a NIC (the ARP layer and the cache) and, between them, a send; nothing may
// panic, every reply must be valid ARP, and no packet may leak.
func FuzzHandlePacket(f *testing.F) {
	f.Add(validARP(), false)
	f.Add(validARP()[:arp.Len], true)
	f.Add([]byte{0, 1, 8, 0, 6, 4, 0, 2}, false)
	reply := make([]byte, arp.Len)
	fl := arp.Fields{Op: arp.OpReply, SenderMAC: peerMAC, SenderIP: peerIP, TargetMAC: ourMAC, TargetIP: ourIP}
	fl.Encode(reply)
	f.Add(reply, true)
	f.Fuzz(func(t *testing.T, b []byte, sendFirst bool) {
		fx := newFixture(t, arp.Options{CacheSize: 4})
		// A static and a published entry, so their paths are fuzzed too.
		if err := fx.arp.AddStatic(fx.nic, otherIP, otherMAC); err != nil {
			t.Fatal(err)
		}
		if err := fx.arp.AddPublished(fx.nic, netip.MustParsePrefix("10.0.0.128/25"), stack.MAC{}); err != nil {
			t.Fatal(err)
		}
		if sendFirst {
			fx.send(peerIP, "queued")
		}
		fx.deliverRaw(b, peerMAC, ourMAC)
		fx.deliverRaw(b, peerMAC, stack.BroadcastMAC)
		fx.send(peerIP, "after")
		for _, fr := range fx.link.Take() {
			if fr.EtherType == stack.EtherTypeARP {
				decodeARP(t, fr)
			}
		}
		if n := len(fx.arp.Entries()); n > 4+1 { // + the published entry
			t.Fatalf("%d entries, limit 4", n)
		}
		if e, ok := fx.entry(otherIP); !ok || e.MAC != otherMAC || e.State != arp.Permanent {
			t.Fatalf("traffic changed the static entry: %+v", e)
		}
		// Time passes: DELAY, PROBE, FAILED and collection run too.
		fx.clk.Advance(2 * time.Minute)
		fx.ip.TakeFailures()
		// Cleanup closes the stack and checks for leaked packets.
	})
}
