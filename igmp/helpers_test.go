package igmp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/igmp"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
)

var (
	ourAddr  = netip.MustParseAddr("10.0.0.2")
	peerAddr = netip.MustParseAddr("10.0.0.1")
	ourMAC   = stack.MAC{2, 0, 0, 0, 0, 2}
	peerMAC  = stack.MAC{2, 0, 0, 0, 0, 1}
)

// newLink is a recording link at ourMAC.
func newLink() *stacktest.Link { return stacktest.NewLink(ourMAC, 1500) }

// env is a stack with the real ipv4, IGMP and one NIC (10.0.0.2/24) on a
// recording link, driven by a virtual clock.
type env struct {
	s     *stack.Stack
	nic   *stack.NIC
	link  *stacktest.Link
	igmp  *igmp.Protocol
	clock *vclock.Clock
}

// latest makes every random delay its maximum, so tests know when
// reports fall due.
func latest(d time.Duration) time.Duration { return d }

func newEnv(t testing.TB, jitter func(time.Duration) time.Duration) *env {
	t.Helper()
	stacktest.CheckLeaks(t)
	e := &env{link: newLink(), clock: vclock.New(time.Unix(1_000_000, 0))}
	e.s = stack.New(stack.Options{Clock: e.clock})
	if _, err := ipv4.Register(e.s, ipv4.Options{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.igmp, err = igmp.Register(e.s, igmp.Options{Jitter: jitter}); err != nil {
		t.Fatal(err)
	}
	if e.nic, err = e.s.AddNIC("eth0", e.link); err != nil {
		t.Fatal(err)
	}
	if err := e.nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.s.Close()
	})
	return e
}

func (e *env) count(name string) uint64 { return e.s.Counters().Value(name) }

// inject delivers an IGMP message from the peer to dst as if it arrived
// on the NIC, with TTL 1 and the Router Alert option.
func (e *env) inject(dst netip.Addr, msg []byte) {
	f := ipv4.Fields{Protocol: stack.ProtocolIGMP, TTL: 1, Src: peerAddr, Dst: dst, Options: []byte{148, 4, 0, 0}}
	hl := f.HeaderLength()
	f.TotalLength = uint16(hl + len(msg))
	b := make([]byte, hl+len(msg))
	f.Encode(b)
	copy(b[hl:], msg)
	stacktest.Deliver(e.nic, stack.EtherTypeIPv4, peerMAC, stack.MulticastMAC(dst), b)
}

// sent is one IGMP message we sent, with its IP header facts.
type sent struct {
	linkDst  stack.MAC
	src, dst netip.Addr
	ttl      uint8
	tos      uint8
	options  []byte
	msg      []byte
}

// take returns the IGMP messages sent since the last call, checking the
// IP header of each.
func (e *env) take(t testing.TB) []sent {
	t.Helper()
	var out []sent
	for _, f := range e.link.Take() {
		h := ipv4.Header(f.Data)
		if err := h.Validate(); err != nil {
			t.Fatalf("sent a bad IPv4 header: %v", err)
		}
		if h.Protocol() != stack.ProtocolIGMP {
			t.Fatalf("sent protocol %d", h.Protocol())
		}
		out = append(out, sent{f.Dst, h.Src(), h.Dst(), h.TTL(), f.Data[1], append([]byte(nil), h.Options()...), f.Data[h.HeaderLength():]})
	}
	return out
}

// records returns the (type, group, sources) of each record of a v3
// report, failing when msg is not one.
func records(t testing.TB, msg []byte) []igmp.RecordFields {
	t.Helper()
	m := igmp.Message(msg)
	if m.Validate() != nil || m.Type() != igmp.TypeV3Report || igmp.Report(m).ValidateReport() != nil {
		t.Fatalf("not a valid v3 report: %x", msg)
	}
	var out []igmp.RecordFields
	igmp.Report(m).Records(func(r igmp.Record) bool {
		rf := igmp.RecordFields{Type: r.Type(), Group: r.Group()}
		for i := 0; i < r.NumSources(); i++ {
			rf.Sources = append(rf.Sources, r.Source(i))
		}
		out = append(out, rf)
		return true
	})
	return out
}

// query encodes a query.
func query(f igmp.QueryFields) []byte {
	b := make([]byte, f.Len())
	f.Encode(b)
	return b
}

func mustJoin(t testing.TB, nic *stack.NIC, g string) netip.Addr {
	t.Helper()
	a := netip.MustParseAddr(g)
	if err := nic.JoinGroup(a); err != nil {
		t.Fatal(err)
	}
	return a
}

// fixChecksum sets the IGMP checksum of b (whose checksum field is zero).
func fixChecksum(b []byte) {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	c := ^uint16(s)
	b[2], b[3] = byte(c>>8), byte(c)
}
