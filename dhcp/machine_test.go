package dhcp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

var (
	t0       = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	macA     = stack.MAC{0x02, 0, 0, 0, 0, 0xaa}
	serverA  = netip.MustParseAddr("10.0.0.1")
	serverB  = netip.MustParseAddr("10.0.0.254")
	offered  = netip.MustParseAddr("10.0.0.50")
	router   = netip.MustParseAddr("10.0.0.1")
	dnsAddr  = netip.MustParseAddr("10.0.0.53")
	zeroAddr = netip.IPv4Unspecified()
)

func newTestMachine(probe bool) *Machine {
	return NewMachine(Config{MAC: macA, Hostname: "vm1", Probe: probe, Rand: rand.New(rand.NewPCG(1, 2))})
}

// reply builds a server reply to the request req.
func reply(req *Fields, t MessageType, server, yiaddr netip.Addr, lease time.Duration) Message {
	f := Fields{
		Op: OpReply, XID: req.XID, Flags: req.Flags, CHAddr: req.CHAddr,
		YIAddr: yiaddr, MessageType: t, ServerID: server,
	}
	if t != Nak {
		f.SubnetMask = 24
		f.Router = []netip.Addr{router}
		f.DNS = []netip.Addr{dnsAddr}
		f.LeaseTime = lease
	}
	return f.Marshal()
}

// mustSend checks that out sends a message of type t from/to the given
// addresses and returns it.
func mustSend(t *testing.T, out Output, typ MessageType, from, to netip.Addr) *Fields {
	t.Helper()
	if out.Send == nil {
		t.Fatalf("no message sent, want %v (output %+v)", typ, out)
	}
	if out.Send.MessageType != typ || out.From != from || out.To != to {
		t.Fatalf("sent %v %v->%v, want %v %v->%v", out.Send.MessageType, out.From, out.To, typ, from, to)
	}
	// What we send must validate and decode to the same message.
	m := Message(out.Send.Marshal())
	if err := m.Validate(); err != nil {
		t.Fatalf("sent message does not validate: %v", err)
	}
	if m.MessageType() != typ || m.XID() != out.Send.XID || m.CHAddr() != macA {
		t.Fatalf("sent message decodes as %v xid %#x chaddr %v", m.MessageType(), m.XID(), m.CHAddr())
	}
	return out.Send
}

// bindMachine runs a full exchange at t0 and returns the machine BOUND.
func bindMachine(t *testing.T, lease time.Duration) *Machine {
	t.Helper()
	m := newTestMachine(false)
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	r := mustSend(t, m.Receive(t0.Add(time.Second), reply(d, Offer, serverA, offered, lease)), Request, zeroAddr, broadcastAddr)
	out := m.Receive(t0.Add(2*time.Second), reply(r, Ack, serverA, offered, lease))
	if out.Bind == nil || m.State() != StateBound {
		t.Fatalf("not bound after ACK: state %v, out %+v", m.State(), out)
	}
	return m
}

func TestFullExchange(t *testing.T) {
	m := newTestMachine(false)
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	if d.Flags != FlagBroadcast || d.Op != OpRequest || d.Hostname != "vm1" || len(d.ClientID) != 7 || d.ClientID[0] != 1 {
		t.Errorf("DISCOVER: flags %#x op %d hostname %q client id %x", d.Flags, d.Op, d.Hostname, d.ClientID)
	}
	if m.State() != StateSelecting {
		t.Fatalf("state %v, want SELECTING", m.State())
	}
	// An offer from server A becomes a broadcast REQUEST naming it.
	r := mustSend(t, m.Receive(t0.Add(time.Second), reply(d, Offer, serverA, offered, time.Hour)), Request, zeroAddr, broadcastAddr)
	if r.XID != d.XID || r.RequestedIP != offered || r.ServerID != serverA || r.CIAddr.IsValid() && !r.CIAddr.IsUnspecified() || r.Flags != FlagBroadcast {
		t.Errorf("REQUEST: xid %#x (discover %#x) requested %v server %v ciaddr %v flags %#x", r.XID, d.XID, r.RequestedIP, r.ServerID, r.CIAddr, r.Flags)
	}
	if m.State() != StateRequesting {
		t.Fatalf("state %v, want REQUESTING", m.State())
	}
	// A second offer (another server) is ignored in REQUESTING.
	if out := m.Receive(t0.Add(time.Second), reply(d, Offer, serverB, offered, time.Hour)); out.Send != nil || out.Bind != nil {
		t.Errorf("second offer acted on: %+v", out)
	}
	out := m.Receive(t0.Add(2*time.Second), reply(r, Ack, serverA, offered, time.Hour))
	if out.Bind == nil {
		t.Fatalf("ACK did not bind: %+v", out)
	}
	l := *out.Bind
	want := Lease{
		Addr: netip.MustParsePrefix("10.0.0.50/24"), Router: router, DNS: []netip.Addr{dnsAddr}, Server: serverA,
		LeaseTime: time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second, Obtained: t0.Add(time.Second),
	}
	if fmt.Sprint(l) != fmt.Sprint(want) || l.T1 != want.T1 || l.T2 != want.T2 || !l.Obtained.Equal(want.Obtained) {
		t.Errorf("lease %v T1 %v T2 %v obtained %v\nwant %v T1 %v T2 %v obtained %v", l, l.T1, l.T2, l.Obtained, want, want.T1, want.T2, want.Obtained)
	}
	if next, _ := m.Next(); !next.Equal(want.Obtained.Add(30 * time.Minute)) {
		t.Errorf("next timer %v, want T1 %v", next, want.Obtained.Add(30*time.Minute))
	}
	if got, ok := m.Lease(); !ok || got.Addr != want.Addr {
		t.Errorf("Lease() = %v, %v", got, ok)
	}
}

func TestRetransmitBackoff(t *testing.T) {
	m := newTestMachine(false)
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	now := t0
	for i, base := range []time.Duration{4, 8, 16, 32, 64, 64, 64} {
		next, ok := m.Next()
		if !ok {
			t.Fatal("no retransmission timer")
		}
		gap := next.Sub(now)
		if gap < (base-1)*time.Second || gap > (base+1)*time.Second {
			t.Errorf("retransmission %d after %v, want %ds ±1s", i+1, gap, base)
		}
		if out := m.Tick(next.Add(-time.Millisecond)); out.Send != nil {
			t.Fatalf("early Tick sent %v", out.Send.MessageType)
		}
		now = next
		r := mustSend(t, m.Tick(now), Discover, zeroAddr, broadcastAddr)
		if r.XID != d.XID {
			t.Errorf("retransmission changed xid %#x -> %#x", d.XID, r.XID)
		}
		if want := uint16(now.Sub(t0) / time.Second); r.Secs != want {
			t.Errorf("secs %d, want %d", r.Secs, want)
		}
	}
	// The same seed gives the same schedule.
	a, b := newTestMachine(false), newTestMachine(false)
	a.Start(t0)
	b.Start(t0)
	for range 5 {
		na, _ := a.Next()
		nb, _ := b.Next()
		if !na.Equal(nb) || a.XID() != b.XID() {
			t.Fatalf("seeded machines differ: %v/%v xid %#x/%#x", na, nb, a.XID(), b.XID())
		}
		a.Tick(na)
		b.Tick(nb)
	}
}

func TestRequestingGivesUp(t *testing.T) {
	m := newTestMachine(false)
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	m.Receive(t0, reply(d, Offer, serverA, offered, time.Hour))
	for i := 1; i < DefaultRequestAttempts; i++ {
		next, _ := m.Next()
		mustSend(t, m.Tick(next), Request, zeroAddr, broadcastAddr)
	}
	next, _ := m.Next()
	d2 := mustSend(t, m.Tick(next), Discover, zeroAddr, broadcastAddr)
	if d2.XID == d.XID || m.State() != StateSelecting {
		t.Errorf("after %d unanswered REQUESTs: state %v, xid reused %v", DefaultRequestAttempts, m.State(), d2.XID == d.XID)
	}
}

func TestNakRestarts(t *testing.T) {
	m := newTestMachine(false)
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	r := mustSend(t, m.Receive(t0, reply(d, Offer, serverA, offered, time.Hour)), Request, zeroAddr, broadcastAddr)
	// A NAK from another server is not ours to obey.
	if out := m.Receive(t0, reply(r, Nak, serverB, zeroAddr, 0)); out.Send != nil || m.State() != StateRequesting {
		t.Fatalf("NAK from another server acted on: state %v", m.State())
	}
	d2 := mustSend(t, m.Receive(t0.Add(time.Second), reply(r, Nak, serverA, zeroAddr, 0)), Discover, zeroAddr, broadcastAddr)
	if m.State() != StateSelecting || d2.XID == d.XID {
		t.Errorf("after NAK: state %v, new xid %v", m.State(), d2.XID != d.XID)
	}
	if _, ok := m.Lease(); ok {
		t.Error("lease after NAK")
	}
}

func TestRenewAtT1(t *testing.T) {
	m := bindMachine(t, 2*time.Minute)
	l, _ := m.Lease()
	t1 := l.RenewAt()
	if out := m.Tick(t1.Add(-time.Millisecond)); out.Send != nil {
		t.Fatal("renewed before T1")
	}
	r := mustSend(t, m.Tick(t1), Request, l.Addr.Addr(), serverA)
	if m.State() != StateRenewing || r.CIAddr != l.Addr.Addr() || r.ServerID.IsValid() || r.RequestedIP.IsValid() || r.Flags != 0 {
		t.Errorf("renew: state %v ciaddr %v server id %v requested %v flags %#x", m.State(), r.CIAddr, r.ServerID, r.RequestedIP, r.Flags)
	}
	// The retransmission is no earlier than 60s, and no later than T2.
	if next, _ := m.Next(); !next.Equal(l.RebindAt()) {
		t.Errorf("next timer %v, want T2 %v (60s minimum retransmission is past it)", next, l.RebindAt())
	}
	out := m.Receive(t1.Add(time.Second), reply(r, Ack, serverA, l.Addr.Addr(), 2*time.Minute))
	if out.Bind == nil || out.Unbind != nil || m.State() != StateBound {
		t.Fatalf("renewal ACK: state %v out %+v", m.State(), out)
	}
	if !out.Bind.Obtained.Equal(t1) {
		t.Errorf("renewed lease obtained %v, want the request time %v", out.Bind.Obtained, t1)
	}
	if next, _ := m.Next(); !next.Equal(t1.Add(time.Minute)) {
		t.Errorf("next renewal %v, want %v", next, t1.Add(time.Minute))
	}
}

func TestRenewRetransmitHalfRemaining(t *testing.T) {
	m := bindMachine(t, 10*time.Hour)
	l, _ := m.Lease()
	mustSend(t, m.Tick(l.RenewAt()), Request, l.Addr.Addr(), serverA)
	next, _ := m.Next()
	if want := l.RenewAt().Add(l.T2-l.T1).Sub(l.RenewAt()) / 2; next.Sub(l.RenewAt()) != want {
		t.Errorf("renew retransmission after %v, want half the time to T2, %v", next.Sub(l.RenewAt()), want)
	}
}

func TestRebindAtT2(t *testing.T) {
	m := bindMachine(t, 2*time.Minute)
	l, _ := m.Lease()
	r1 := mustSend(t, m.Tick(l.RenewAt()), Request, l.Addr.Addr(), serverA)
	r := mustSend(t, m.Tick(l.RebindAt()), Request, l.Addr.Addr(), broadcastAddr)
	if m.State() != StateRebinding || r.CIAddr != l.Addr.Addr() || r.ServerID.IsValid() || r.XID == r1.XID {
		t.Errorf("rebind: state %v ciaddr %v server id %v new xid %v", m.State(), r.CIAddr, r.ServerID, r.XID != r1.XID)
	}
	if next, _ := m.Next(); !next.Equal(l.ExpiresAt()) {
		t.Errorf("next timer %v, want expiry %v", next, l.ExpiresAt())
	}
	// Any server may answer a rebind.
	out := m.Receive(l.RebindAt().Add(time.Second), reply(r, Ack, serverB, l.Addr.Addr(), 2*time.Minute))
	if out.Bind == nil || out.Bind.Server != serverB || m.State() != StateBound {
		t.Fatalf("rebind ACK: state %v out %+v", m.State(), out)
	}
	// The next renewal is unicast to the new server.
	nl, _ := m.Lease()
	mustSend(t, m.Tick(nl.RenewAt()), Request, l.Addr.Addr(), serverB)
}

func TestExpiryDeconfigures(t *testing.T) {
	m := bindMachine(t, 2*time.Minute)
	l, _ := m.Lease()
	m.Tick(l.RenewAt())
	m.Tick(l.RebindAt())
	out := m.Tick(l.ExpiresAt())
	mustSend(t, out, Discover, zeroAddr, broadcastAddr)
	if out.Unbind == nil || out.Unbind.Addr != l.Addr || m.State() != StateSelecting {
		t.Fatalf("expiry: state %v unbind %v", m.State(), out.Unbind)
	}
	if _, ok := m.Lease(); ok {
		t.Error("lease held after expiry")
	}
}

func TestNakWhileRenewing(t *testing.T) {
	m := bindMachine(t, 2*time.Minute)
	l, _ := m.Lease()
	r := mustSend(t, m.Tick(l.RenewAt()), Request, l.Addr.Addr(), serverA)
	out := m.Receive(l.RenewAt(), reply(r, Nak, serverA, zeroAddr, 0))
	mustSend(t, out, Discover, zeroAddr, broadcastAddr)
	if out.Unbind == nil || m.State() != StateSelecting {
		t.Fatalf("NAK while renewing: state %v unbind %v", m.State(), out.Unbind)
	}
}

func TestRenewChangingAddressRebinds(t *testing.T) {
	m := bindMachine(t, 2*time.Minute)
	l, _ := m.Lease()
	r := mustSend(t, m.Tick(l.RenewAt()), Request, l.Addr.Addr(), serverA)
	other := netip.MustParseAddr("10.0.0.51")
	out := m.Receive(l.RenewAt(), reply(r, Ack, serverA, other, 2*time.Minute))
	if out.Unbind == nil || out.Unbind.Addr.Addr() != offered || out.Bind == nil || out.Bind.Addr.Addr() != other {
		t.Fatalf("ACK with a new address: unbind %v bind %v", out.Unbind, out.Bind)
	}
}

func TestDecline(t *testing.T) {
	m := newTestMachine(true)
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	r := mustSend(t, m.Receive(t0, reply(d, Offer, serverA, offered, time.Hour)), Request, zeroAddr, broadcastAddr)
	out := m.Receive(t0, reply(r, Ack, serverA, offered, time.Hour))
	if out.Probe != offered || out.Bind != nil || m.State() != StateChecking {
		t.Fatalf("ACK with probing: state %v out %+v", m.State(), out)
	}
	if _, ok := m.Next(); ok {
		t.Error("timer pending while checking")
	}
	now := t0.Add(time.Second)
	dec := mustSend(t, m.ProbeDone(now, fmt.Errorf("probe: %w", stack.ErrAddressInUse)), Decline, zeroAddr, broadcastAddr)
	if dec.RequestedIP != offered || dec.ServerID != serverA || dec.CIAddr.IsValid() && !dec.CIAddr.IsUnspecified() {
		t.Errorf("DECLINE: requested %v server %v ciaddr %v", dec.RequestedIP, dec.ServerID, dec.CIAddr)
	}
	if m.State() != StateInit {
		t.Fatalf("state %v after decline, want INIT", m.State())
	}
	next, ok := m.Next()
	if !ok || !next.Equal(now.Add(DeclineWait)) {
		t.Fatalf("restart at %v, want %v", next, now.Add(DeclineWait))
	}
	mustSend(t, m.Tick(next), Discover, zeroAddr, broadcastAddr)
}

func TestProbeClearBinds(t *testing.T) {
	m := newTestMachine(true)
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	r := mustSend(t, m.Receive(t0, reply(d, Offer, serverA, offered, time.Hour)), Request, zeroAddr, broadcastAddr)
	m.Receive(t0, reply(r, Ack, serverA, offered, time.Hour))
	if out := m.ProbeDone(t0, nil); out.Bind == nil || m.State() != StateBound {
		t.Fatalf("probe clear: state %v out %+v", m.State(), out)
	}
	if out := m.ProbeDone(t0, errors.New("late")); out.Send != nil || out.Bind != nil {
		t.Error("ProbeDone outside CHECKING acted")
	}
}

func TestRelease(t *testing.T) {
	m := bindMachine(t, time.Hour)
	l, _ := m.Lease()
	out := m.Release(t0.Add(time.Minute))
	rel := mustSend(t, out, Release, l.Addr.Addr(), serverA)
	if rel.CIAddr != l.Addr.Addr() || rel.ServerID != serverA || out.Unbind == nil || m.State() != StateStopped {
		t.Errorf("release: ciaddr %v server %v unbind %v state %v", rel.CIAddr, rel.ServerID, out.Unbind, m.State())
	}
	if _, ok := m.Next(); ok {
		t.Error("timer pending after release")
	}
	// Releasing without a lease sends nothing.
	m2 := newTestMachine(false)
	m2.Start(t0)
	if out := m2.Release(t0); out.Send != nil || out.Unbind != nil || m2.State() != StateStopped {
		t.Errorf("release while selecting: %+v state %v", out, m2.State())
	}
}

func TestRenewAfterOverride(t *testing.T) {
	m := NewMachine(Config{MAC: macA, RenewAfter: 2 * time.Second, Rand: rand.New(rand.NewPCG(3, 4))})
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	r := mustSend(t, m.Receive(t0, reply(d, Offer, serverA, offered, 2*time.Minute)), Request, zeroAddr, broadcastAddr)
	out := m.Receive(t0, reply(r, Ack, serverA, offered, 2*time.Minute))
	if out.Bind == nil || out.Bind.T1 != 2*time.Second || out.Bind.T2 != 105*time.Second {
		t.Fatalf("lease %+v, want T1 2s T2 105s", out.Bind)
	}
}

func TestIgnoredMessages(t *testing.T) {
	m := newTestMachine(false)
	d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	good := reply(d, Offer, serverA, offered, time.Hour)
	tests := []struct {
		name string
		msg  func() Message
	}{
		{"wrong xid", func() Message { f := Message(good).Fields(); f.XID++; return f.Marshal() }},
		{"wrong chaddr", func() Message { f := Message(good).Fields(); f.CHAddr[5]++; return f.Marshal() }},
		{"request op", func() Message { f := Message(good).Fields(); f.Op = OpRequest; return f.Marshal() }},
		{"no server id", func() Message { f := Message(good).Fields(); f.ServerID = netip.Addr{}; return f.Marshal() }},
		{"yiaddr zero", func() Message { f := Message(good).Fields(); f.YIAddr = zeroAddr; return f.Marshal() }},
		{"ack in selecting", func() Message { f := Message(good).Fields(); f.MessageType = Ack; return f.Marshal() }},
		{"truncated", func() Message { return good[:200] }},
		{"bad cookie", func() Message { b := append(Message(nil), good...); b[236] = 0; return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out := m.Receive(t0, tt.msg()); out.Send != nil || out.Bind != nil || m.State() != StateSelecting {
				t.Errorf("acted on: state %v out %+v", m.State(), out)
			}
		})
	}
}
