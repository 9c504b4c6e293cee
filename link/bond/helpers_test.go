package bond

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// wireEnd is one end of a synchronous test wire: a frame written at one
// end is delivered to the other's dispatcher on the writer's goroutine,
// while the wire is up. Every frame written is counted by EtherType.
type wireEnd struct {
	peer   *wireEnd
	up     *atomic.Bool
	d      atomic.Pointer[link.FrameDispatcher]
	mu     sync.Mutex
	sent   map[uint16]int
	frames [][]byte // the last 64 frames written
	fail   atomic.Bool
}

func newWire() (a, b *wireEnd) {
	up := new(atomic.Bool)
	up.Store(true)
	a = &wireEnd{up: up, sent: map[uint16]int{}}
	b = &wireEnd{up: up, sent: map[uint16]int{}, peer: a}
	a.peer = b
	return a, b
}

func (e *wireEnd) MTU() int                      { return 1500 }
func (e *wireEnd) Attach(d link.FrameDispatcher) { e.d.Store(&d) }
func (e *wireEnd) Close() error                  { return nil }

func (e *wireEnd) WriteFrame(p *stack.Packet) error {
	defer p.Release()
	if e.fail.Load() {
		return stack.ErrClosed
	}
	b := append([]byte(nil), p.Bytes()...)
	e.mu.Lock()
	e.sent[binary.BigEndian.Uint16(b[12:14])]++
	e.frames = append(e.frames, b)
	if len(e.frames) > 64 {
		e.frames = e.frames[1:]
	}
	e.mu.Unlock()
	if !e.up.Load() {
		return nil // a silent loss
	}
	if d := e.peer.d.Load(); d != nil {
		(*d).DeliverFrame(stack.NewPacketFrom(b))
	}
	return nil
}

func (e *wireEnd) count(et uint16) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sent[et]
}

func (e *wireEnd) last() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]byte(nil), e.frames...)
}

// sink counts the frames a bond delivers up.
type sink struct{ n atomic.Int64 }

func (s *sink) DeliverFrame(p *stack.Packet) { s.n.Add(1); p.Release() }

// lacpPair is two 802.3ad bonds on one virtual clock, back to back over
// two wires.
type lacpPair struct {
	clk    *vclock.Clock
	a, b   *Bond
	wa, wb []*wireEnd // wa[i] is a's end of wire i
	ua, ub *sink
}

func newLACPPair(t *testing.T, hash HashPolicy) *lacpPair {
	t.Helper()
	return newLACPPairWith(t, Config{Hash: hash}, Config{Hash: hash})
}

// newLACPPairWith is newLACPPair with the bonds' options: ca and cb get
// their name, MAC, mode, fast rate and clock filled in.
func newLACPPairWith(t *testing.T, ca, cb Config) *lacpPair {
	t.Helper()
	p := &lacpPair{clk: vclock.New(t0), ua: &sink{}, ub: &sink{}}
	var sa, sb []SlaveConfig
	for i := range 2 {
		x, y := newWire()
		p.wa, p.wb = append(p.wa, x), append(p.wb, y)
		sa = append(sa, SlaveConfig{Name: []string{"ta0", "ta1"}[i], Dev: x})
		sb = append(sb, SlaveConfig{Name: []string{"tb0", "tb1"}[i], Dev: y})
	}
	var err error
	ca.Name, ca.MAC, ca.Mode, ca.LACPFast, ca.Clock = "bond0", stack.MAC{2, 0, 0, 0, 0, 0xa}, LACP, true, p.clk
	cb.Name, cb.MAC, cb.Mode, cb.LACPFast, cb.Clock = "bond0", stack.MAC{2, 0, 0, 0, 0, 0xb}, LACP, true, p.clk
	p.a, err = New(ca, sa)
	if err != nil {
		t.Fatal(err)
	}
	p.b, err = New(cb, sb)
	if err != nil {
		t.Fatal(err)
	}
	p.a.Attach(p.ua)
	p.b.Attach(p.ub)
	t.Cleanup(func() { p.a.Close(); p.b.Close() })
	return p
}

// until advances the clock in 100 ms steps until cond or d passed.
func until(clk *vclock.Clock, d time.Duration, cond func() bool) (time.Duration, bool) {
	start := clk.Now()
	for clk.Now().Sub(start) < d {
		if cond() {
			return clk.Now().Sub(start), true
		}
		clk.Advance(100 * time.Millisecond)
	}
	return clk.Now().Sub(start), cond()
}

// txSlaves names the slaves a bond sends on.
func txSlaves(b *Bond) []string {
	var out []string
	for _, s := range *b.tx.Load() {
		out = append(out, s.name)
	}
	return out
}

// tcpFrame is an Ethernet+IPv4+TCP frame from a to b with ports.
func tcpFrame(src, dst stack.MAC, a, b netip.Addr, sport, dport uint16) *stack.Packet {
	f := make([]byte, 14+20+20)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], stack.EtherTypeIPv4)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	ip[8], ip[9] = 64, 6
	a4, b4 := a.As4(), b.As4()
	copy(ip[12:16], a4[:])
	copy(ip[16:20], b4[:])
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	return stack.NewPacketFrom(f)
}
