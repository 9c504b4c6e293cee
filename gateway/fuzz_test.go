package gateway

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
)

// FuzzQuotedEcho: the quote of an ICMP error a raw socket reads (any
// bytes from the network) never panics, and what it accepts is an echo
// of the relay's identifier.
func FuzzQuotedEcho(f *testing.F) {
	var q4 [ipv4.HeaderLen + 8]byte
	(&ipv4.Fields{TotalLength: 28, TTL: 64, Protocol: stack.ProtocolICMP, Src: netip.MustParseAddr("10.0.2.2"), Dst: netip.MustParseAddr("192.0.2.1")}).Encode(q4[:20])
	q4[20], q4[24], q4[25], q4[27] = ipv4.ICMPEcho, relayID>>8, relayID&0xff, 9
	f.Add(false, q4[:])
	var q6 [ipv6.HeaderLen + 8]byte
	(&ipv6.Fields{PayloadLength: 8, NextHeader: 58, HopLimit: 64, Src: netip.MustParseAddr("fd00::2"), Dst: netip.MustParseAddr("2001:db8::1")}).Encode(q6[:40])
	q6[40], q6[44], q6[45], q6[47] = ipv6.ICMPEchoRequest, relayID>>8, relayID&0xff, 9
	f.Add(true, q6[:])
	f.Add(false, []byte{0x4f})
	f.Fuzz(func(t *testing.T, v6 bool, q []byte) {
		dst, seq, ok := quotedEcho(v6, q)
		if !ok {
			return
		}
		if v6 != dst.Is6() {
			t.Fatalf("family of %v for v6=%v", dst, v6)
		}
		_ = seq
	})
}
