package ipv4

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

// fragmentsOf splits payload into fragments of at most size bytes (a
// multiple of 8) with the header fields of f; the first fragment carries
// f.Options, the others none.
func fragmentsOf(f Fields, payload []byte, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		g := f
		g.FragOffset = uint16(off)
		end := min(off+size, len(payload))
		g.MF = end < len(payload)
		if off > 0 {
			g.Options = nil
		}
		g.TotalLength = 0
		out = append(out, ipPacket(g, payload[off:end]))
	}
	return out
}

// pattern returns n bytes of a recognisable pattern.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func checkNothingPending(t *testing.T, pr *Protocol) {
	t.Helper()
	if n, mem := pr.ReassemblyPending(); n != 0 || mem != 0 {
		t.Errorf("pending %d datagrams, %d bytes; want none", n, mem)
	}
}

func TestReassembly(t *testing.T) {
	payload := append(udpish(""), pattern(6000)...)
	frags := fragmentsOf(Fields{ID: 0x1234, Protocol: 17, Src: peerAddr, Dst: ourAddr, TTL: 33}, payload, 1480)
	withOpts := fragmentsOf(Fields{ID: 7, Protocol: 17, Src: peerAddr, Dst: ourAddr, TTL: 33, Options: []byte{0x94, 4, 0, 0}}, payload, 1480)
	tiny := fragmentsOf(Fields{ID: 8, Protocol: 17, Src: peerAddr, Dst: ourAddr, TTL: 33}, payload, 8)
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := func(in [][]byte) [][]byte {
		out := append([][]byte(nil), in...)
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	reversed := func(in [][]byte) [][]byte {
		out := make([][]byte, len(in))
		for i := range in {
			out[len(in)-1-i] = in[i]
		}
		return out
	}
	last := len(frags) - 1
	// Duplicates arrive before the datagram is complete (one arriving
	// after completion would start a new datagram, as in Linux).
	dups := append(shuffled(append(append([][]byte(nil), frags[:last]...), frags[2], frags[0], frags[1])), frags[last])
	tests := []struct {
		name  string
		frags [][]byte
		dups  uint64
	}{
		{"in order", frags, 0},
		{"reverse", reversed(frags), 0},
		{"random", shuffled(frags), 0},
		{"random, with duplicates", dups, 3},
		{"duplicate of the first to arrive", append([][]byte{frags[1]}, frags...), 1},
		{"first fragment with options", shuffled(withOpts), 0},
		{"751 fragments of 8 bytes, random", shuffled(tiny), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			for i, f := range tc.frags {
				if got := e.udp.TakePackets(); len(got) != 0 {
					t.Fatalf("delivered after %d of %d fragments", i, len(tc.frags))
				}
				e.inject(f, ourMAC)
			}
			got := e.udp.TakePackets()
			if len(got) != 1 {
				t.Fatalf("transport got %d packets, want 1", len(got))
			}
			if d := got[0]; !bytes.Equal(d.Data, payload) || d.Src != peerAddr || d.Dst != ourAddr || d.TTL != 33 {
				t.Errorf("delivered %d bytes from %v to %v ttl %d", len(d.Data), d.Src, d.Dst, d.TTL)
			}
			if e.count("ipv4.reasm.ok") != 1 || e.count("ipv4.reasm.fragments") != uint64(len(tc.frags)) ||
				e.count("ipv4.reasm.duplicate") != tc.dups {
				t.Errorf("ok %d fragments %d duplicate %d", e.count("ipv4.reasm.ok"), e.count("ipv4.reasm.fragments"), e.count("ipv4.reasm.duplicate"))
			}
			checkNothingPending(t, e.pr)
			// The timer was stopped: nothing happens later.
			e.clock.Advance(time.Minute)
			if f := e.link.Take(); len(f) != 0 || e.count("ipv4.reasm.timeout") != 0 {
				t.Errorf("after completion: %d frames, %d timeouts", len(f), e.count("ipv4.reasm.timeout"))
			}
		})
	}
}

// TestPingLarge is `ping -s 6000` to us: the request arrives in fragments
// and the reply leaves in fragments that gopacket reassembles.
func TestPingLarge(t *testing.T) {
	e := newEnv(t, Options{})
	data := pattern(6000)
	req := icmpMsg(ICMPEcho, 0, EchoRest(77, 3), data)
	for _, f := range fragmentsOf(Fields{ID: 99, Protocol: 1, Src: peerAddr, Dst: ourAddr}, req, 1480) {
		e.inject(f, ourMAC)
	}
	fs := e.link.Take()
	if len(fs) != 5 {
		t.Fatalf("%d reply fragments, want 5", len(fs))
	}
	d := ip4defrag.NewIPv4Defragmenter()
	var whole *layers.IPv4
	for _, f := range fs {
		checkIPChecksum(t, f.Data)
		out, err := d.DefragIPv4(decodeIP(t, f.Data))
		if err != nil {
			t.Fatal(err)
		}
		if out != nil {
			whole = out
		}
	}
	if whole == nil {
		t.Fatal("gopacket did not reassemble the reply")
	}
	m := ICMP(whole.Payload)
	if m.Validate() != nil || m.Type() != ICMPEchoReply || m.ID() != 77 || m.Seq() != 3 || !bytes.Equal(m.Payload(), data) {
		t.Errorf("reply type %d id %d seq %d, %d bytes", m[0], m.ID(), m.Seq(), len(m.Payload()))
	}
}

func TestReassemblyDiscard(t *testing.T) {
	base := Fields{ID: 5, Protocol: 17, Src: peerAddr, Dst: ourAddr}
	frag := func(off int, mf bool, data []byte) []byte {
		f := base
		f.FragOffset, f.MF = uint16(off), mf
		return ipPacket(f, data)
	}
	a16, b16 := pattern(16), bytes.Repeat([]byte{0xee}, 16)
	tests := []struct {
		name    string
		frags   [][]byte
		counter string
		pending int // datagrams left pending
	}{
		{"partial overlap", [][]byte{frag(0, true, a16), frag(8, true, a16), frag(24, false, a16)}, "ipv4.reasm.overlap", 1},
		{"same offset, other data", [][]byte{frag(0, true, a16), frag(0, true, b16), frag(16, false, a16)}, "ipv4.reasm.overlap", 1},
		{"same offset, shorter", [][]byte{frag(0, true, a16), frag(0, true, a16[:8]), frag(16, false, a16)}, "ipv4.reasm.overlap", 1},
		{"inside another", [][]byte{frag(0, true, append(a16, a16...)), frag(8, true, a16[:8]), frag(32, false, a16)}, "ipv4.reasm.overlap", 1},
		{"two different ends", [][]byte{frag(32, false, a16), frag(16, false, a16), frag(0, true, a16)}, "ipv4.reasm.overlap", 1},
		{"data past the end", [][]byte{frag(16, false, a16), frag(32, true, a16), frag(0, true, a16)}, "ipv4.reasm.overlap", 1},
		{"end before data", [][]byte{frag(32, true, a16), frag(16, false, a16), frag(0, true, a16)}, "ipv4.reasm.overlap", 1},
		{"over 65535", [][]byte{frag(0, true, a16), frag(65528, false, a16)}, "ipv4.reasm.too_big", 0},
		{"over 65535 with options in first", [][]byte{frag(65512, false, a16[:3]),
			ipPacket(Fields{ID: 5, Protocol: 17, Src: peerAddr, Dst: ourAddr, MF: true, Options: make([]byte, 40)}, a16)}, "ipv4.reasm.too_big", 0},
		{"MF fragment not a multiple of 8", [][]byte{frag(0, true, a16[:12]), frag(16, false, a16)}, "ipv4.reasm.malformed", 1},
		{"empty MF fragment", [][]byte{frag(8, true, nil), frag(16, false, a16)}, "ipv4.reasm.malformed", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			for _, f := range tc.frags {
				e.inject(f, ourMAC)
			}
			if got := e.udp.TakePackets(); len(got) != 0 {
				t.Errorf("delivered %d packets", len(got))
			}
			if e.count(tc.counter) != 1 {
				t.Errorf("%s = %d, want 1", tc.counter, e.count(tc.counter))
			}
			if n, _ := e.pr.ReassemblyPending(); n != tc.pending {
				t.Errorf("%d datagrams pending, want %d", n, tc.pending)
			}
			// Whatever is left only times out; no ICMP for the
			// discarded set.
			e.clock.Advance(DefaultReassemblyTimeout)
			checkNothingPending(t, e.pr)
		})
	}
}

func TestReassemblyTimeout(t *testing.T) {
	payload := append(udpish(""), pattern(3000)...)
	frags := fragmentsOf(Fields{ID: 42, Protocol: 17, Src: peerAddr, Dst: ourAddr}, payload, 1480)
	tests := []struct {
		name     string
		frags    [][]byte
		linkDst  stack.MAC
		timeout  time.Duration
		wantICMP bool
	}{
		{"first fragment present", frags[:2], ourMAC, 0, true},
		{"only the first", frags[:1], ourMAC, 0, true},
		{"first fragment missing", frags[1:], ourMAC, 0, false},
		{"first fragment as link broadcast", frags[:1], stack.BroadcastMAC, 0, false},
		{"custom timeout", frags[:1], ourMAC, 5 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{ReassemblyTimeout: tc.timeout})
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			for _, f := range tc.frags {
				e.inject(f, tc.linkDst)
			}
			e.clock.Advance(timeout - time.Millisecond)
			if f := e.link.Take(); len(f) != 0 || e.count("ipv4.reasm.timeout") != 0 {
				t.Fatalf("expired early: %d frames", len(f))
			}
			if n, _ := e.pr.ReassemblyPending(); n != 1 {
				t.Fatalf("%d pending", n)
			}
			e.clock.Advance(time.Millisecond)
			if e.count("ipv4.reasm.timeout") != 1 {
				t.Errorf("ipv4.reasm.timeout = %d", e.count("ipv4.reasm.timeout"))
			}
			checkNothingPending(t, e.pr)
			fs := e.link.Take()
			if !tc.wantICMP {
				if len(fs) != 0 {
					t.Errorf("sent %d frames", len(fs))
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("sent %d frames, want one time exceeded", len(fs))
			}
			ip, ic := decodeICMP(t, fs[0].Data)
			if ip.SrcIP.String() != ourAddr.String() || ip.DstIP.String() != peerAddr.String() {
				t.Errorf("error %v -> %v", ip.SrcIP, ip.DstIP)
			}
			if ic.TypeCode.Type() != ICMPTimeExceeded || ic.TypeCode.Code() != CodeReassemblyExceeded {
				t.Errorf("type/code %v, want 11/1", ic.TypeCode)
			}
			// The quote: the first fragment's header and 8 bytes.
			if want := frags[0][:28]; !bytes.Equal(ic.Payload, want) {
				t.Errorf("quote\n% x\nwant\n% x", ic.Payload, want)
			}
			if got := e.udp.TakePackets(); len(got) != 0 {
				t.Errorf("delivered %d", len(got))
			}
		})
	}
}

// TestReassemblyEviction: over the memory cap the oldest datagram goes.
func TestReassemblyEviction(t *testing.T) {
	payload := append(udpish(""), pattern(2992)...) // 3000 bytes
	mk := func(id uint16) [][]byte {
		return fragmentsOf(Fields{ID: id, Protocol: 17, Src: peerAddr, Dst: ourAddr}, payload, 1480)
	}
	a, b, c := mk(1), mk(2), mk(3)
	// Room for two half-received datagrams, not three.
	e := newEnv(t, Options{ReassemblyMemory: 2*(1480+reasmOverhead+fragOverhead+HeaderLen) + 100})
	e.inject(a[0], ourMAC)
	e.inject(b[0], ourMAC)
	e.inject(c[0], ourMAC)
	if e.count("ipv4.reasm.evicted") != 1 {
		t.Fatalf("ipv4.reasm.evicted = %d", e.count("ipv4.reasm.evicted"))
	}
	// A (the oldest) is gone; B survives and completes (evicting C).
	for _, f := range b[1:] {
		e.inject(f, ourMAC)
	}
	if got := e.udp.TakePackets(); len(got) != 1 || !bytes.Equal(got[0].Data, payload) {
		t.Fatalf("B not delivered (%d packets)", len(got))
	}
	for _, f := range a[1:] {
		e.inject(f, ourMAC)
	}
	if got := e.udp.TakePackets(); len(got) != 0 {
		t.Fatalf("the evicted datagram was delivered")
	}
	// A datagram bigger than the whole cap is refused, not kept.
	e2 := newEnv(t, Options{ReassemblyMemory: 1000})
	e2.inject(a[0], ourMAC)
	if n, mem := e2.pr.ReassemblyPending(); n != 0 || mem != 0 || e2.count("ipv4.reasm.evicted") != 1 {
		t.Errorf("pending %d/%d bytes, evicted %d", n, mem, e2.count("ipv4.reasm.evicted"))
	}
}

// TestReassemblyFlood: 100,000 random fragments never hold more than the
// cap, and a real datagram still gets through afterwards.
func TestReassemblyFlood(t *testing.T) {
	for _, limit := range []int{0, 256 << 10} {
		t.Run(fmt.Sprintf("cap %d", limit), func(t *testing.T) {
			e := newEnv(t, Options{ReassemblyMemory: limit})
			if limit == 0 {
				limit = DefaultReassemblyMemory
			}
			rng := rand.New(rand.NewPCG(uint64(limit), 7))
			peak := 0
			for i := range 100_000 {
				src := netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + rng.IntN(200))})
				f := Fields{ID: uint16(rng.IntN(1 << 16)), Protocol: 17, Src: src, Dst: ourAddr,
					FragOffset: uint16(8 * (1 + rng.IntN(8000))), MF: rng.IntN(4) != 0}
				e.inject(ipPacket(f, make([]byte, 8*(1+rng.IntN(185)))), ourMAC)
				_, mem := e.pr.ReassemblyPending()
				if mem > limit {
					t.Fatalf("fragment %d: %d bytes pending, cap %d", i, mem, limit)
				}
				peak = max(peak, mem)
			}
			if e.count("ipv4.reasm.evicted") == 0 || peak < limit/2 {
				t.Errorf("evicted %d, peak %d: the flood did not reach the cap", e.count("ipv4.reasm.evicted"), peak)
			}
			e.udp.TakePackets()
			payload := append(udpish(""), pattern(4000)...)
			for _, f := range fragmentsOf(Fields{ID: 1, Protocol: 17, Src: otherAddr, Dst: ourAddr}, payload, 1480) {
				e.inject(f, ourMAC)
			}
			if got := e.udp.TakePackets(); len(got) != 1 || !bytes.Equal(got[0].Data, payload) {
				t.Errorf("datagram after the flood: %d packets", len(got))
			}
			e.clock.Advance(DefaultReassemblyTimeout)
			checkNothingPending(t, e.pr)
			// No ICMP for fragments that were never first ones.
			if f := e.link.Take(); len(f) != 0 {
				t.Errorf("sent %d frames", len(f))
			}
		})
	}
}

// TestReassemblyClose: Close forgets pending datagrams and stops timers.
func TestReassemblyClose(t *testing.T) {
	e := newEnv(t, Options{})
	frags := fragmentsOf(Fields{ID: 3, Protocol: 17, Src: peerAddr, Dst: ourAddr}, pattern(3000), 1480)
	e.inject(frags[0], ourMAC)
	if e.clock.Pending() == 0 {
		t.Fatal("no timer armed")
	}
	if err := e.pr.Close(); err != nil {
		t.Fatal(err)
	}
	checkNothingPending(t, e.pr)
	if n := e.clock.Pending(); n != 0 {
		t.Errorf("%d timers still armed", n)
	}
	e.inject(frags[1], ourMAC)
	checkNothingPending(t, e.pr)
}
