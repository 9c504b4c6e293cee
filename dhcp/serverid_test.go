package dhcp

import (
	"net/netip"
	"testing"
	"time"
)

// TestRFC2131ServerIdentifierCheckedInEveryState: option 54 is a server's
// MUST in OFFER, ACK and NAK (RFC 2131 table 3). REQUESTING accepts only
// the selected server (3.1.4, 4.4.1), RENEWING only the lease's server,
// whom the REQUEST was unicast to (4.4.5), REBINDING an ACK from any
// server, which becomes the lease's server (4.4.5), and a NAK only from
// the lease's server (systemd-networkd's rule). Everything else is
// ignored, with the reason the client counts.
func TestRFC2131ServerIdentifierCheckedInEveryState(t *testing.T) {
	none := netip.Addr{}
	other := netip.MustParseAddr("10.0.0.51")
	// Each setup returns a machine in a state and the request a reply
	// answers (its xid and chaddr).
	selecting := func(t *testing.T) (*Machine, *Fields) {
		m := newTestMachine(false)
		return m, mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
	}
	requesting := func(t *testing.T) (*Machine, *Fields) {
		m, d := selecting(t)
		return m, mustSend(t, m.Receive(t0, reply(d, Offer, serverA, offered, time.Hour)), Request, zeroAddr, broadcastAddr)
	}
	renewing := func(t *testing.T) (*Machine, *Fields) {
		m := bindMachine(t, 2*time.Minute)
		l, _ := m.Lease()
		return m, mustSend(t, m.Tick(l.RenewAt()), Request, offered, serverA)
	}
	rebinding := func(t *testing.T) (*Machine, *Fields) {
		m, _ := renewing(t)
		l, _ := m.Lease()
		return m, mustSend(t, m.Tick(l.RebindAt()), Request, offered, broadcastAddr)
	}
	bound := func(t *testing.T) (*Machine, *Fields) {
		m, r := renewing(t)
		l, _ := m.Lease()
		if out := m.Receive(l.RenewAt(), reply(r, Ack, serverA, offered, 2*time.Minute)); out.Bind == nil {
			t.Fatal("not bound again")
		}
		return m, r // the renewal's xid is still the current one
	}
	checking := func(t *testing.T) (*Machine, *Fields) {
		m := newTestMachine(true)
		d := mustSend(t, m.Start(t0), Discover, zeroAddr, broadcastAddr)
		r := mustSend(t, m.Receive(t0, reply(d, Offer, serverA, offered, time.Hour)), Request, zeroAddr, broadcastAddr)
		if out := m.Receive(t0, reply(r, Ack, serverA, offered, time.Hour)); !out.Probe.IsValid() {
			t.Fatal("no probe")
		}
		return m, r
	}
	tests := []struct {
		name   string
		setup  func(*testing.T) (*Machine, *Fields)
		typ    MessageType
		server netip.Addr
		yiaddr netip.Addr
		// want is the state after an accepted message; ignored is the
		// reason when it must be ignored (the state stays).
		want    State
		ignored Ignored
	}{
		{"selecting: offer", selecting, Offer, serverA, offered, StateRequesting, NotIgnored},
		{"selecting: offer without server id", selecting, Offer, none, offered, 0, IgnoredWrongServer},
		{"selecting: ack", selecting, Ack, serverA, offered, 0, IgnoredUnexpected},
		{"selecting: nak", selecting, Nak, serverA, zeroAddr, 0, IgnoredUnexpected},
		{"selecting: offer of 0.0.0.0", selecting, Offer, serverA, zeroAddr, 0, IgnoredBadAddress},

		{"requesting: ack of the selected server", requesting, Ack, serverA, offered, StateBound, NotIgnored},
		{"requesting: ack of another server", requesting, Ack, serverB, offered, 0, IgnoredWrongServer},
		{"requesting: ack without server id", requesting, Ack, none, offered, 0, IgnoredWrongServer},
		{"requesting: nak of the selected server", requesting, Nak, serverA, zeroAddr, StateSelecting, NotIgnored},
		{"requesting: nak of another server", requesting, Nak, serverB, zeroAddr, 0, IgnoredWrongServer},
		{"requesting: nak without server id", requesting, Nak, none, zeroAddr, 0, IgnoredWrongServer},
		{"requesting: another offer", requesting, Offer, serverA, offered, 0, IgnoredUnexpected},

		{"renewing: ack of the lease's server", renewing, Ack, serverA, offered, StateBound, NotIgnored},
		{"renewing: ack of another server", renewing, Ack, serverB, other, 0, IgnoredWrongServer},
		{"renewing: ack without server id", renewing, Ack, none, other, 0, IgnoredWrongServer},
		{"renewing: nak of the lease's server", renewing, Nak, serverA, zeroAddr, StateSelecting, NotIgnored},
		{"renewing: nak of another server", renewing, Nak, serverB, zeroAddr, 0, IgnoredWrongServer},
		{"renewing: nak without server id", renewing, Nak, none, zeroAddr, 0, IgnoredWrongServer},

		{"rebinding: ack of another server", rebinding, Ack, serverB, offered, StateBound, NotIgnored},
		{"rebinding: ack of the lease's server", rebinding, Ack, serverA, offered, StateBound, NotIgnored},
		{"rebinding: ack without server id", rebinding, Ack, none, offered, 0, IgnoredWrongServer},
		{"rebinding: nak of the lease's server", rebinding, Nak, serverA, zeroAddr, StateSelecting, NotIgnored},
		{"rebinding: nak of another server", rebinding, Nak, serverB, zeroAddr, 0, IgnoredWrongServer},

		{"bound: ack", bound, Ack, serverA, other, 0, IgnoredUnexpected},
		{"bound: nak", bound, Nak, serverA, zeroAddr, 0, IgnoredUnexpected},
		{"checking: ack", checking, Ack, serverA, other, 0, IgnoredUnexpected},
		{"checking: nak", checking, Nak, serverA, zeroAddr, 0, IgnoredUnexpected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, req := tc.setup(t)
			before := m.State()
			lease, held := m.Lease()
			now := t0.Add(90 * time.Second) // within every lease above, before T2 of the 2-minute ones
			if before == StateRebinding {
				now = lease.RebindAt().Add(time.Second)
			}
			out := m.Receive(now, reply(req, tc.typ, tc.server, tc.yiaddr, 2*time.Minute))
			if tc.ignored != NotIgnored {
				l, h := m.Lease()
				if m.State() != before || out.Send != nil || out.Bind != nil || out.Unbind != nil || out.Probe.IsValid() ||
					h != held || l.Addr != lease.Addr || l.Server != lease.Server {
					t.Errorf("message to ignore acted on: state %v -> %v, out %+v, lease %v -> %v", before, m.State(), out, lease, l)
				}
			}
			if out.Ignored != tc.ignored {
				t.Fatalf("Ignored = %v, want %v (state %v -> %v)", out.Ignored, tc.ignored, before, m.State())
			}
			if tc.ignored != NotIgnored {
				return
			}
			if m.State() != tc.want {
				t.Errorf("state %v -> %v, want %v", before, m.State(), tc.want)
			}
			if tc.want == StateBound {
				if l, _ := m.Lease(); l.Server != tc.server {
					t.Errorf("lease server %v, want %v (the server that acknowledged)", l.Server, tc.server)
				}
			}
		})
	}
}

func TestIgnoredNames(t *testing.T) {
	for i, want := range []string{"accepted", "malformed", "not_ours", "unexpected", "wrong_server", "bad_address", "unknown"} {
		if got := Ignored(i).String(); got != want {
			t.Errorf("Ignored(%d) = %q, want %q", i, got, want)
		}
	}
}
