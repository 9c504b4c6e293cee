package host

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/mld"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The flood tests (issue 14, acceptance 7) deliver tens of thousands of
// hostile IPv6 frames to a one-interface host (eth0: 10.0.0.2/24 and
// fd00::2/64, a link-local address, a TCP listener on :80) over a
// flDev with a virtual clock, then check that its tables stayed within
// their caps, that the pooled packets and the heap came back to about
// where they were, that the drops were counted, and that the host still
// answers a ping and a TCP SYN.

// flDev is a link.Device that checks every frame the host writes
// (fzCheckFrame) and counts the echo replies and SYN-ACKs among them.
// It keeps no frames, so a flood does not grow the test's own memory.
type flDev struct {
	d link.FrameDispatcher

	mu      sync.Mutex
	frames  int
	replies int // ICMPv6 echo replies
	synAcks int // TCP SYN-ACKs over IPv6
	err     error
}

func (d *flDev) MTU() int                       { return 1500 }
func (d *flDev) Attach(fd link.FrameDispatcher) { d.d = fd }
func (d *flDev) Close() error                   { return nil }

func (d *flDev) WriteFrame(p *stack.Packet) error {
	b := p.Bytes()
	err := fzCheckFrame(b, fzMAC0, nil)
	var reply, synAck bool
	if len(b) >= link.EthernetHeaderLen+40+14 && binary.BigEndian.Uint16(b[12:14]) == stack.EtherTypeIPv6 {
		ip := b[link.EthernetHeaderLen:]
		switch ip[6] {
		case stack.ProtocolICMPv6:
			reply = ip[40] == 129
		case stack.ProtocolTCP:
			synAck = ip[40+13]&0x12 == 0x12
		}
	}
	p.Release()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.frames++
	if reply {
		d.replies++
	}
	if synAck {
		d.synAcks++
	}
	if err != nil && d.err == nil {
		d.err = err
	}
	return nil
}

// flHost is a host under a flood.
type flHost struct {
	h   *Host
	clk *vclock.Clock
	dev *flDev
	nic *stack.NIC
	rng *rand.Rand
}

// newFlHost builds the flooded host: an autoconfiguring one when slaac
// is set, else one with SLAAC off.
func newFlHost(t *testing.T, slaac bool) *flHost {
	t.Helper()
	f := &flHost{clk: vclock.New(fzStart), dev: &flDev{}, rng: rand.New(rand.NewPCG(14, 7))}
	half := func() float64 { return 0.5 }
	h, err := New(Config{
		Clock: f.clk,
		Interfaces: []Interface{{Name: "eth0", Device: f.dev, MAC: fzMAC0, Addr: netip.MustParsePrefix("10.0.0.2/24"),
			Addrs: []netip.Prefix{netip.MustParsePrefix("fd00::2/64")}}},
		NoSLAAC: !slaac,
		ARP:     arp.Options{Rand: half},
		NDP:     ndp.Options{Rand: half},
		MLD:     mld.Options{Jitter: func(d time.Duration) time.Duration { return d / 2 }},
		TCP:     tcp.Options{Rand: rand.NewChaCha8(fzTCPSeed)},
	})
	if err != nil {
		t.Fatalf("host.New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	f.h = h
	f.nic = h.Stack().NIC("eth0")
	if _, err := h.Listen("tcp", ":80"); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	f.clk.Advance(5 * time.Second) // router solicitations, DAD, MLD reports
	return f
}

// send delivers frame b to eth0 and fails at the first bad frame written.
func (f *flHost) send(t *testing.T, b []byte) {
	f.dev.d.DeliverFrame(stack.NewPacketFrom(b))
	f.dev.mu.Lock()
	err := f.dev.err
	f.dev.mu.Unlock()
	if err != nil {
		t.Fatalf("the host wrote a bad frame: %v", err)
	}
}

func (f *flHost) counter(name string) uint64 { return f.h.Stack().Counters().Value(name) }

// randMAC is a random locally administered unicast MAC.
func (f *flHost) randMAC() stack.MAC {
	var m stack.MAC
	v := f.rng.Uint64()
	for i := range m {
		m[i] = byte(v >> (8 * i))
	}
	m[0] = m[0]&^1 | 2
	return m
}

// randAddr is a random address in p (a /64 or shorter).
func (f *flHost) randAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As16()
	var r [16]byte
	binary.BigEndian.PutUint64(r[0:8], f.rng.Uint64())
	binary.BigEndian.PutUint64(r[8:16], f.rng.Uint64()|1)
	for i := range b {
		bits := max(0, min(8, p.Bits()-8*i))
		mask := byte(0xff << (8 - bits))
		b[i] = b[i]&mask | r[i]&^mask
	}
	return netip.AddrFrom16(b)
}

// flMem is the host's memory at a point: pooled packets taken and the
// live heap after a collection.
type flMem struct {
	live int64
	heap uint64
}

func flMeasure() flMem {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return flMem{live: stack.LivePackets(), heap: m.HeapAlloc}
}

// checkMemory fails unless the pooled packets are back to base's and the
// heap grew by at most heapBound bytes; it returns the growth.
func checkMemory(t *testing.T, base flMem, heapBound uint64) int64 {
	t.Helper()
	m := flMeasure()
	if m.live > base.live {
		t.Errorf("%d pooled packets live after the flood, %d before", m.live, base.live)
	}
	growth := int64(m.heap) - int64(base.heap)
	if growth > int64(heapBound) {
		t.Errorf("heap grew by %d KiB during the flood, bound %d KiB", growth>>10, heapBound>>10)
	}
	return growth
}

// checkAnswers fails unless the host answers a ping and a TCP SYN to :80
// from a fresh neighbour fd00::1 (announced by a neighbour solicitation).
func (f *flHost) checkAnswers(t *testing.T) {
	t.Helper()
	peer, mac := netip.MustParseAddr("fd00::1"), fzPeer01
	f.send(t, fzIP6(fzMAC0, mac, peer, stack.SolicitedNodeAddress(fz6Ours0), 255, nil, stack.ProtocolICMPv6,
		fzNS6(fz6Ours0, fzLLA6(1, mac))))
	f.dev.mu.Lock()
	replies, synAcks := f.dev.replies, f.dev.synAcks
	f.dev.mu.Unlock()
	f.send(t, fzIP6(fzMAC0, mac, peer, fz6Ours0, 64, nil, stack.ProtocolICMPv6, fzEcho6(77, 1, []byte("still there?"))))
	f.send(t, fzIP6(fzMAC0, mac, peer, fz6Ours0, 64, nil, stack.ProtocolTCP, fzTCP6(41000, 80, 5000, 0, 0x02, nil)))
	f.clk.Advance(100 * time.Millisecond) // not the SYN-ACK's retransmission
	f.dev.mu.Lock()
	defer f.dev.mu.Unlock()
	if f.dev.replies != replies+1 || f.dev.synAcks != synAcks+1 {
		t.Errorf("after the flood: %d echo replies and %d SYN-ACKs to a ping and a SYN, want 1 and 1",
			f.dev.replies-replies, f.dev.synAcks-synAcks)
	}
}

// counters formats the named counters for a log line.
func (f *flHost) counters(names ...string) string {
	s := ""
	for _, n := range names {
		s += fmt.Sprintf(" %s=%d", n, f.counter(n))
	}
	return s
}

// snapshot returns every counter of the host's stack.
func (f *flHost) snapshot() map[string]uint64 {
	m := map[string]uint64{}
	for _, c := range f.h.Stack().Counters().Snapshot() {
		m[c.Name] = c.Value
	}
	return m
}

// moved returns the counters that moved since before, with their deltas.
func (f *flHost) moved(before map[string]uint64) map[string]uint64 {
	m := map[string]uint64{}
	for k, v := range f.snapshot() {
		if v != before[k] {
			m[k] = v - before[k]
		}
	}
	return m
}
