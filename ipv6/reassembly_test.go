package ipv6

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

// frag builds one fragment from peerAddr to ourAddr: the fixed header, a
// fragment header (next, offset, M, id) and data.
func frag(id uint32, next uint8, off int, more bool, data []byte) []byte {
	fh := make([]byte, FragmentHeaderLen)
	EncodeFragmentHeader(fh, next, off, more, id)
	return ipPacket(Fields{NextHeader: ProtoFragment, Src: peerAddr, Dst: ourAddr}, cat(fh, data))
}

// pattern returns n bytes of a recognisable pattern.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestReassembly(t *testing.T) {
	dgram := cat(udpish(""), pattern(3000-8)) // 3000 bytes of "UDP"
	tests := []struct {
		name  string
		order []int // fragment offsets in 1000-byte steps
	}{
		{"in order", []int{0, 1, 2}},
		{"reverse", []int{2, 1, 0}},
		{"first last", []int{1, 2, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			for _, i := range tc.order {
				e.inject(frag(7, 17, i*1000, i < 2, dgram[i*1000:(i+1)*1000]), ourMAC)
			}
			got := e.udp.TakePackets()
			if len(got) != 1 || !bytes.Equal(got[0].Data, dgram) || got[0].Protocol != 17 || got[0].Src != peerAddr {
				t.Fatalf("delivered %d packets", len(got))
			}
			if n, b := e.pr.ReassemblyPending(); n != 0 || b != 0 {
				t.Errorf("pending %d datagrams, %d bytes after completion", n, b)
			}
			if e.count("ipv6.frag.ok") != 1 {
				t.Errorf("ipv6.frag.ok = %d", e.count("ipv6.frag.ok"))
			}
		})
	}
}

func TestReassemblyKeepsExtensionHeadersBeforeFragment(t *testing.T) {
	// A destination options header in the unfragmentable part: the
	// reassembled datagram keeps it, with its next header patched.
	e := newEnv(t, Options{})
	dgram := cat(udpish(""), pattern(2000-8))
	dst := ext(ProtoFragment, 1, 4, 0, 0, 0, 0)
	mk := func(off int, more bool, data []byte) []byte {
		fh := make([]byte, 8)
		EncodeFragmentHeader(fh, 17, off, more, 9)
		return ipPacket(Fields{NextHeader: ProtoDestOptions, Src: peerAddr, Dst: ourAddr}, cat(dst, fh, data))
	}
	e.inject(mk(1000, false, dgram[1000:]), ourMAC)
	e.inject(mk(0, true, dgram[:1000]), ourMAC)
	got := e.udp.TakePackets()
	if len(got) != 1 || !bytes.Equal(got[0].Data, dgram) {
		t.Fatalf("delivered %d packets", len(got))
	}
}

func TestRFC5722OverlapDiscardsDatagram(t *testing.T) {
	e := newEnv(t, Options{})
	d := pattern(2400)
	e.inject(frag(1, 17, 0, true, d[:1200]), ourMAC)
	e.inject(frag(1, 17, 1192, true, d[1192:1600]), ourMAC) // overlaps by 8
	e.inject(frag(1, 17, 1200, false, d[1200:]), ourMAC)
	if e.count("ipv6.frag.overlap") != 1 {
		t.Errorf("ipv6.frag.overlap = %d", e.count("ipv6.frag.overlap"))
	}
	if got := e.udp.TakePackets(); len(got) != 0 {
		t.Errorf("overlapping datagram delivered")
	}
	// The rest of the datagram (the last fragment) started a new one that
	// never completes.
	if n, _ := e.pr.ReassemblyPending(); n != 1 {
		t.Errorf("pending %d", n)
	}
}

func TestRFC8200ExactDuplicateIgnored(t *testing.T) {
	e := newEnv(t, Options{})
	d := cat(udpish(""), pattern(2400-8))
	e.inject(frag(1, 17, 0, true, d[:1200]), ourMAC)
	e.inject(frag(1, 17, 0, true, d[:1200]), ourMAC)
	e.inject(frag(1, 17, 1200, false, d[1200:]), ourMAC)
	if got := e.udp.TakePackets(); len(got) != 1 || !bytes.Equal(got[0].Data, d) {
		t.Fatalf("delivered %d", len(got))
	}
	if e.count("ipv6.frag.duplicate") != 1 {
		t.Errorf("duplicate not counted")
	}
}

func TestRFC6946AtomicFragmentProcessedAlone(t *testing.T) {
	e := newEnv(t, Options{})
	d := pattern(2400)
	e.inject(frag(5, 17, 0, true, d[:1200]), ourMAC) // pending, same id
	e.inject(frag(5, 17, 0, false, udpish("atomic")), ourMAC)
	got := e.udp.TakePackets()
	if len(got) != 1 || !bytes.Equal(got[0].Data, udpish("atomic")) {
		t.Fatalf("atomic fragment not delivered alone: %d", len(got))
	}
	if n, _ := e.pr.ReassemblyPending(); n != 1 {
		t.Errorf("atomic fragment touched the pending reassembly: %d pending", n)
	}
	e.inject(frag(5, 17, 1200, false, d[1200:]), ourMAC)
	if got := e.udp.TakePackets(); len(got) != 1 || len(got[0].Data) != 2400 {
		t.Errorf("pending datagram did not complete")
	}
}

func TestRFC8200FragmentNotMultipleOf8(t *testing.T) {
	e := newEnv(t, Options{})
	e.inject(frag(1, 17, 0, true, pattern(1201)), ourMAC)
	_, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeParameterProblem, 0) {
		t.Fatalf("got %v", ic)
	}
	if p := binary.BigEndian.Uint32(ic.Payload); p != 4 {
		t.Errorf("pointer %d, want 4 (payload length)", p)
	}
}

func TestRFC8200FragmentPast65535(t *testing.T) {
	e := newEnv(t, Options{})
	e.inject(frag(1, 17, 65528, false, pattern(16)), ourMAC)
	_, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeParameterProblem, 0) {
		t.Fatalf("got %v", ic)
	}
	if p := binary.BigEndian.Uint32(ic.Payload); p != 42 {
		t.Errorf("pointer %d, want 42 (fragment offset)", p)
	}
}

func TestRFC7112FirstFragmentWithoutWholeChain(t *testing.T) {
	tests := []struct {
		name string
		next uint8
		data []byte
	}{
		{"UDP header cut", 17, []byte{1, 2, 3, 4, 5, 6, 7, 8}[:0]},
		{"TCP header cut at 16 bytes", 6, pattern(16)},
		{"destination options cut", ProtoDestOptions, []byte{17, 4, 1, 2, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			data := append(tc.data, make([]byte, (8-len(tc.data)%8)%8)...)
			if len(data) == 0 {
				data = make([]byte, 0)
			}
			e.inject(frag(1, tc.next, 0, true, data), ourMAC)
			if e.count("ipv6.frag.incomplete_chain")+e.count("ipv6.frag.malformed") != 1 {
				t.Errorf("not dropped: incomplete %d", e.count("ipv6.frag.incomplete_chain"))
			}
			if n, _ := e.pr.ReassemblyPending(); n != 0 {
				t.Errorf("kept")
			}
		})
	}
	// And the RFC 7112 error itself: code 3.
	e := newEnv(t, Options{})
	e.inject(frag(1, 6, 0, true, pattern(16)), ourMAC)
	_, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeParameterProblem, 3) {
		t.Fatalf("got %v", ic)
	}
}

func TestReassemblyTimeoutTimeExceeded(t *testing.T) {
	e := newEnv(t, Options{})
	d := pattern(2400)
	e.inject(frag(1, 17, 0, true, d[:1200]), ourMAC)     // first fragment: error on timeout
	e.inject(frag(2, 17, 1200, false, d[1200:]), ourMAC) // no first fragment: silent
	e.clock.Advance(59 * time.Second)
	if n, _ := e.pr.ReassemblyPending(); n != 2 {
		t.Fatalf("expired before 60 s: %d pending", n)
	}
	e.clock.Advance(time.Second)
	if n, b := e.pr.ReassemblyPending(); n != 0 || b != 0 {
		t.Fatalf("pending %d/%d after 60 s", n, b)
	}
	_, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeTimeExceeded, 1) {
		t.Fatalf("got %v", ic)
	}
	if e.count("ipv6.frag.timeout") != 2 {
		t.Errorf("timeouts %d", e.count("ipv6.frag.timeout"))
	}
}

func TestReassemblyBounded(t *testing.T) {
	e := newEnv(t, Options{ReassemblyMemory: 64 << 10, ReassemblyDatagrams: 16})
	for i := range 200 {
		e.inject(frag(uint32(i), 17, 1200, true, pattern(1200)), ourMAC)
		n, b := e.pr.ReassemblyPending()
		if n > 16 || b > 64<<10 {
			t.Fatalf("after %d fragments: %d datagrams, %d bytes", i+1, n, b)
		}
	}
	if e.count("ipv6.frag.evicted") == 0 {
		t.Errorf("nothing evicted")
	}
	e2 := newEnv(t, Options{ReassemblyMemory: 16 << 10})
	for i := range 200 {
		e2.inject(frag(uint32(i), 17, 1200, true, pattern(1200)), ourMAC)
		if _, b := e2.pr.ReassemblyPending(); b > 16<<10 {
			t.Fatalf("memory %d over the cap", b)
		}
	}
}

func TestFragmentOutput(t *testing.T) {
	tests := []struct {
		size int
		mtu  int
		want int // fragments
	}{
		{1240, 1280, 1},
		{1241, 1280, 2},
		{4000, 1500, 3},
		{65535, 1500, 46},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.size, "/", tc.mtu), func(t *testing.T) {
			e := newEnvMTU(t, Options{}, tc.mtu)
			r, err := e.s.FindRoute(peerAddr, netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			data := cat(udpish(""), pattern(tc.size-8))
			if err := e.pr.WritePacket(&r, stack.NetworkParams{Protocol: 17}, stack.NewPacketFrom(data)); err != nil {
				t.Fatal(err)
			}
			fs := e.link.Take()
			if len(fs) != tc.want {
				t.Fatalf("%d frames, want %d", len(fs), tc.want)
			}
			if tc.want == 1 {
				return
			}
			// gopacket decodes each fragment; our own input reassembles
			// them on a second stack that owns peerAddr.
			var id uint32
			for i, f := range fs {
				if len(f.Data) > tc.mtu {
					t.Errorf("fragment %d is %d bytes > MTU %d", i, len(f.Data), tc.mtu)
				}
				pkt := gopacket.NewPacket(f.Data, layers.LayerTypeIPv6, gopacket.Default)
				fl, _ := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
				if fl == nil {
					t.Fatalf("fragment %d: gopacket finds no fragment header: %v", i, pkt.ErrorLayer())
				}
				if i == 0 {
					id = fl.Identification
				}
				if fl.Identification != id || fl.MoreFragments != (i < len(fs)-1) || fl.NextHeader != layers.IPProtocolUDP {
					t.Errorf("fragment %d: %+v", i, fl)
				}
				if fl.MoreFragments && len(fl.Payload)%8 != 0 {
					t.Errorf("fragment %d carries %d bytes, not a multiple of 8", i, len(fl.Payload))
				}
			}
			peer := newEnv(t, Options{})
			if err := peer.nic.AddAddress(netip.MustParsePrefix("fd00::1/128")); err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				peer.inject(f.Data, ourMAC)
			}
			got := peer.udp.TakePackets()
			if len(got) != 1 || !bytes.Equal(got[0].Data, data) {
				t.Fatalf("peer reassembled %d datagrams", len(got))
			}
			if e.count("ipv6.tx.fragmented") != 1 || e.count("ipv6.tx.fragments") != uint64(tc.want) {
				t.Errorf("counters %d %d", e.count("ipv6.tx.fragmented"), e.count("ipv6.tx.fragments"))
			}
		})
	}
}

func TestFragmentRefusedWithDontFragmentOrPartialChecksum(t *testing.T) {
	e := newEnv(t, Options{})
	r, _ := e.s.FindRoute(peerAddr, netip.Addr{})
	if err := e.pr.WritePacket(&r, stack.NetworkParams{Protocol: 17, DontFragment: true}, stack.NewPacketFrom(pattern(1461))); err != stack.ErrMessageTooLong {
		t.Errorf("DontFragment: %v", err)
	}
	p := stack.NewPacketFrom(pattern(1461))
	p.ChecksumPartial = true
	if err := e.pr.WritePacket(&r, stack.NetworkParams{Protocol: 6}, p); err != stack.ErrMessageTooLong {
		t.Errorf("ChecksumPartial: %v", err)
	}
	p = stack.NewPacketFrom(pattern(4000))
	p.GSOSize = 1440
	if err := e.pr.WritePacket(&r, stack.NetworkParams{Protocol: 6}, p); err != nil {
		t.Errorf("GSO: %v", err)
	}
	if fs := e.link.Take(); len(fs) != 1 || len(fs[0].Data) != 4040 {
		t.Errorf("GSO super-segment not passed through whole: %d frames", len(fs))
	}
}

func TestRFC7739IdentificationsPerDestination(t *testing.T) {
	// A destination sees its identifications advance only with what we
	// send to it, not with what we send to everyone else (RFC 7739 5.3).
	e := newEnv(t, Options{})
	first := e.pr.ids.next(ourAddr, peerAddr)
	bucket := func(dst netip.Addr) uint64 { return e.pr.ids.hash(ourAddr, dst) % identBuckets }
	for i := range 100 {
		// Destinations sharing peerAddr's counter (1 in identBuckets,
		// RFC 7739 accepts it) would advance it: not the claim here.
		if dst := netip.AddrFrom16([16]byte{0xfd, 15: byte(i + 10)}); bucket(dst) != bucket(peerAddr) {
			e.pr.ids.next(ourAddr, dst)
		}
	}
	if got := e.pr.ids.next(ourAddr, peerAddr); got != first+1 {
		t.Errorf("identification %d after %d: a shared counter", got, first)
	}
	// And two destinations do not share a sequence.
	a, b := e.pr.ids.next(ourAddr, otherAddr), e.pr.ids.next(ourAddr, farAddr)
	if b == a+1 {
		t.Errorf("consecutive identifications %d, %d for two destinations", a, b)
	}
}
