package mld_test

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/mld"
	"github.com/tapstack/tapstack/stack"
)

var (
	ourLL  = netip.MustParseAddr("fe80::2")
	peerLL = netip.MustParseAddr("fe80::1")
)

// nullLink is a link endpoint that drops everything (the fake IPv6 writer
// records packets before they would reach it).
type nullLink struct{}

func (nullLink) MTU() int                       { return 1500 }
func (nullLink) LinkAddress() stack.MAC         { return stack.MAC{2, 0, 0, 0, 0, 2} }
func (nullLink) Attach(stack.NetworkDispatcher) {}
func (nullLink) Close() error                   { return nil }
func (nullLink) WritePacket(_ stack.MAC, _ uint16, p *stack.Packet) error {
	p.Release()
	return nil
}

// sent is one message the fake IPv6 writer was asked to send.
type sent struct {
	src, dst netip.Addr
	nic      *stack.NIC
	params   stack.NetworkParams
	hbh      []byte // nil: sent without a hop-by-hop header
	msg      []byte
}

// fakeIPv6 stands in for the ipv6 package's writer: it records what MLD
// sends. With plain set it does not implement HopByHopWriter (see
// plainIPv6).
type fakeIPv6 struct {
	mu   sync.Mutex
	sent []sent
}

func (f *fakeIPv6) EtherType() uint16            { return stack.EtherTypeIPv6 }
func (f *fakeIPv6) HandlePacket(p *stack.Packet) { p.Release() }
func (f *fakeIPv6) WritePacket(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	return f.WriteWithHopByHop(r, params, nil, p)
}
func (f *fakeIPv6) WriteWithHopByHop(r *stack.Route, params stack.NetworkParams, hbh []byte, p *stack.Packet) error {
	f.mu.Lock()
	f.sent = append(f.sent, sent{r.LocalAddr, r.RemoteAddr, r.NIC, params, append([]byte(nil), hbh...), append([]byte(nil), p.Bytes()...)})
	if hbh == nil {
		f.sent[len(f.sent)-1].hbh = nil
	}
	f.mu.Unlock()
	p.Release()
	return nil
}

// plainIPv6 hides WriteWithHopByHop: an IPv6 writer without the hook.
type plainIPv6 struct{ f *fakeIPv6 }

func (p plainIPv6) EtherType() uint16             { return stack.EtherTypeIPv6 }
func (p plainIPv6) HandlePacket(pk *stack.Packet) { pk.Release() }
func (p plainIPv6) WritePacket(r *stack.Route, params stack.NetworkParams, pk *stack.Packet) error {
	return p.f.WritePacket(r, params, pk)
}

type env struct {
	s     *stack.Stack
	nic   *stack.NIC
	ip    *fakeIPv6
	mld   *mld.Protocol
	clock *vclock.Clock
}

func latest(d time.Duration) time.Duration { return d }

// newEnv is a stack with one NIC (addrs, e.g. fe80::2/64 and fd00::2/64),
// the fake IPv6 writer and MLD on a virtual clock.
func newEnv(t testing.TB, jitter func(time.Duration) time.Duration, plain bool, addrs ...string) *env {
	t.Helper()
	live := stack.LivePackets()
	e := &env{ip: &fakeIPv6{}, clock: vclock.New(time.Unix(1_000_000, 0))}
	e.s = stack.New(stack.Options{Clock: e.clock})
	var np stack.NetworkProtocol = e.ip
	if plain {
		np = plainIPv6{e.ip}
	}
	if err := e.s.RegisterNetwork(np); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.nic, err = e.s.AddNIC("eth0", nullLink{}); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if err := e.nic.AddAddress(netip.MustParsePrefix(a)); err != nil {
			t.Fatal(err)
		}
	}
	if e.mld, err = mld.Register(e.s, mld.Options{Jitter: jitter}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.mld.Close()
		e.s.Close()
		if n := stack.LivePackets(); n != live {
			t.Errorf("packet leak: %d live packets, want %d", n, live)
		}
	})
	return e
}

func (e *env) count(name string) uint64 { return e.s.Counters().Value(name) }

// take returns what MLD sent since the last call, checking the ICMPv6
// checksum, hop limit 1 and protocol 58 of each.
func (e *env) take(t testing.TB) []sent {
	t.Helper()
	e.ip.mu.Lock()
	s := e.ip.sent
	e.ip.sent = nil
	e.ip.mu.Unlock()
	for _, m := range s {
		if checksum.Checksum(m.msg, checksum.PseudoHeader(m.src, m.dst, 58, uint16(len(m.msg)))) != 0 {
			t.Errorf("bad ICMPv6 checksum on %x", m.msg)
		}
		if m.params.TTL != 1 || m.params.Protocol != 58 {
			t.Errorf("sent with hop limit %d protocol %d", m.params.TTL, m.params.Protocol)
		}
	}
	return s
}

// inject hands an MLD message from src to dst with hop limit hl to MLD, as
// the IPv6 layer would.
func (e *env) inject(src, dst netip.Addr, hl uint8, msg []byte) {
	mld.SetChecksum(msg, src, dst)
	p := stack.NewPacketFrom(msg)
	p.NIC, p.Src, p.Dst, p.TTL, p.Protocol = e.nic, src, dst, hl, 58
	e.s.ICMPv6Handler(msg[0]).HandleICMPv6(p)
}

func query(f mld.QueryFields) []byte {
	b := make([]byte, f.Len())
	f.Encode(b)
	return b
}

func records(t testing.TB, msg []byte) []mld.RecordFields {
	t.Helper()
	m := mld.Message(msg)
	if m.Validate() != nil || m.Type() != mld.TypeV2Report || mld.Report(m).ValidateReport() != nil {
		t.Fatalf("not a valid MLDv2 report: %x", msg)
	}
	var out []mld.RecordFields
	mld.Report(m).Records(func(r mld.Record) bool {
		rf := mld.RecordFields{Type: r.Type(), Address: r.Address()}
		for i := 0; i < r.NumSources(); i++ {
			rf.Sources = append(rf.Sources, r.Source(i))
		}
		out = append(out, rf)
		return true
	})
	return out
}

func mustJoin(t testing.TB, nic *stack.NIC, g string) netip.Addr {
	t.Helper()
	a := netip.MustParseAddr(g)
	if err := nic.JoinGroup(a); err != nil {
		t.Fatal(err)
	}
	return a
}
