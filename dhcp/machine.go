package dhcp

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// State is a state of the client (RFC 2131 figure 5).
type State uint8

// The client states. Checking is the pause between an ACK and binding while
// the address is probed for conflicts (RFC 2131 4.4.1); Stopped follows a
// release.
const (
	StateInit State = iota
	StateSelecting
	StateRequesting
	StateChecking
	StateBound
	StateRenewing
	StateRebinding
	StateStopped
)

var stateNames = [...]string{"INIT", "SELECTING", "REQUESTING", "CHECKING", "BOUND", "RENEWING", "REBINDING", "STOPPED"}

// String returns the RFC name of the state.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// Retransmission and retry parameters (RFC 2131 4.1, 4.4.5).
const (
	// InitialBackoff is the first retransmission delay in SELECTING and
	// REQUESTING; it doubles per attempt up to MaxBackoff, each delay
	// randomised by ±BackoffJitter.
	InitialBackoff = 4 * time.Second
	MaxBackoff     = 64 * time.Second
	BackoffJitter  = time.Second
	// MinRenewRetransmit is the least time between retransmissions while
	// renewing or rebinding (RFC 2131 4.4.5: half the remaining time, down
	// to 60 seconds).
	MinRenewRetransmit = 60 * time.Second
	// DeclineWait is how long the client waits after declining an address
	// before starting over (RFC 2131 3.1.5: at least 10 seconds).
	DeclineWait = 10 * time.Second
	// DefaultRequestAttempts is how many DHCPREQUESTs the client sends in
	// REQUESTING before it goes back to discovery.
	DefaultRequestAttempts = 4
)

var broadcastAddr = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// defaultParams is the parameter request list (option 55) of every
// DISCOVER and REQUEST.
var defaultParams = []uint8{OptSubnetMask, OptRouter, OptDNS, OptLeaseTime, OptServerID, OptT1, OptT2}

// Config configures a Machine.
type Config struct {
	// MAC is the client's hardware address (chaddr).
	MAC stack.MAC
	// ClientID is option 61; nil means type 1 (Ethernet) followed by MAC.
	ClientID []byte
	// Hostname, when set, is sent as option 12.
	Hostname string
	// RenewAfter, when positive, replaces the server's T1 (for tests and
	// short-lived hosts): the client renews that long after each request.
	RenewAfter time.Duration
	// Probe makes the machine ask for an address-conflict probe (an
	// Output with Probe set) between ACK and binding; the runner answers
	// with ProbeDone.
	Probe bool
	// RequestAttempts is how many DHCPREQUESTs are sent in REQUESTING
	// before starting over; 0 means DefaultRequestAttempts.
	RequestAttempts int
	// Rand draws transaction IDs and retransmission jitter; nil means a
	// randomly seeded generator. Tests pass a seeded one.
	Rand *rand.Rand
}

// Output is what the machine asks its runner to do after an event, in this
// order: send Send from From to To (port 68 to port 67), deconfigure Unbind,
// configure Bind, start a probe of Probe. (A DHCPRELEASE leaves from the
// address it gives back, so sending comes first.)
type Output struct {
	// Unbind, when non-nil, is a lease to deconfigure (its address and
	// route removed).
	Unbind *Lease
	// Bind, when non-nil, is the lease now held: configure it (if it
	// differs from what is configured) and report it.
	Bind *Lease
	// Probe, when valid, is an address to check for conflicts; report the
	// result with ProbeDone.
	Probe netip.Addr
	// Send, when non-nil, is a message to send.
	Send *Fields
	// From is the source address of Send: 0.0.0.0 before an address is
	// bound, the leased address after.
	From netip.Addr
	// To is the destination: 255.255.255.255 or the server.
	To netip.Addr
	// Ignored, when not NotIgnored, says why a received message was
	// ignored; nothing else is set then.
	Ignored Ignored
}

// Machine is the sans-IO DHCP client: it holds the state, the lease and the
// timers, and turns events (start, a received message, a timer, a probe
// result, release) at a given time into an Output. It does no I/O and reads
// no clock; it is not safe for concurrent use.
type Machine struct {
	cfg   Config
	rnd   *rand.Rand
	state State

	xid      uint32
	began    time.Time // start of the current exchange (for secs)
	sentAt   time.Time // first transmission of the current request
	attempts int       // transmissions of the current message
	retx     time.Time // next retransmission, zero if none
	wake     time.Time // INIT: when to start discovering, zero if idle

	offer   Fields // the offer being requested
	pending Lease  // the ACKed lease while checking
	lease   Lease
	bound   bool
}

// NewMachine returns a machine in INIT; call Start.
func NewMachine(cfg Config) *Machine {
	if cfg.ClientID == nil {
		cfg.ClientID = append([]byte{1}, cfg.MAC[:]...)
	}
	if cfg.RequestAttempts <= 0 {
		cfg.RequestAttempts = DefaultRequestAttempts
	}
	r := cfg.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Machine{cfg: cfg, rnd: r}
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Lease returns the lease held in BOUND, RENEWING and REBINDING.
func (m *Machine) Lease() (Lease, bool) { return m.lease, m.bound }

// XID returns the transaction ID of the current exchange.
func (m *Machine) XID() uint32 { return m.xid }

// Next returns when Tick must next be called; ok is false when no timer is
// pending (CHECKING, STOPPED).
func (m *Machine) Next() (t time.Time, ok bool) {
	switch m.state {
	case StateInit:
		return m.wake, !m.wake.IsZero()
	case StateSelecting, StateRequesting:
		return m.retx, true
	case StateBound:
		return m.lease.RenewAt(), true
	case StateRenewing:
		return earliest(m.retx, m.lease.RebindAt()), true
	case StateRebinding:
		return earliest(m.retx, m.lease.ExpiresAt()), true
	}
	return time.Time{}, false
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Start begins discovery (INIT → SELECTING) by broadcasting a DHCPDISCOVER.
func (m *Machine) Start(now time.Time) Output {
	return m.discover(now)
}

// discover starts a new exchange: new xid, DISCOVER, SELECTING.
func (m *Machine) discover(now time.Time) Output {
	m.state = StateSelecting
	m.xid = m.rnd.Uint32()
	m.began, m.sentAt = now, now
	m.wake = time.Time{}
	m.attempts = 0
	return m.transmit(now)
}

// backoff is the delay after the n-th transmission (n from 1): 4s, 8s,
// 16s, ... up to 64s, randomised by ±1s.
func (m *Machine) backoff(n int) time.Duration {
	d := InitialBackoff << min(n-1, 4)
	d = min(d, MaxBackoff)
	return d + time.Duration(m.rnd.Int64N(int64(2*BackoffJitter)+1)) - BackoffJitter
}

// renewBackoff is the RENEWING/REBINDING retransmission delay: half the
// time left until limit, at least MinRenewRetransmit.
func renewBackoff(now, limit time.Time) time.Duration {
	return max(limit.Sub(now)/2, MinRenewRetransmit)
}

// transmit (re)sends the message of the current state and arms its
// retransmission timer.
func (m *Machine) transmit(now time.Time) Output {
	m.attempts++
	f := &Fields{
		Op:        OpRequest,
		XID:       m.xid,
		Secs:      uint16(min(now.Sub(m.began)/time.Second, 0xffff)),
		CHAddr:    m.cfg.MAC,
		ClientID:  m.cfg.ClientID,
		Hostname:  m.cfg.Hostname,
		ParamList: defaultParams,
		MaxSize:   MaxLen + 28,
	}
	out := Output{Send: f, From: netip.IPv4Unspecified(), To: broadcastAddr}
	switch m.state {
	case StateSelecting:
		f.MessageType = Discover
		f.Flags = FlagBroadcast
		m.retx = now.Add(m.backoff(m.attempts))
	case StateRequesting:
		f.MessageType = Request
		f.Flags = FlagBroadcast
		f.RequestedIP = m.offer.YIAddr
		f.ServerID = m.offer.ServerID
		m.retx = now.Add(m.backoff(m.attempts))
	case StateRenewing:
		f.MessageType = Request
		f.CIAddr = m.lease.Addr.Addr()
		out.From, out.To = m.lease.Addr.Addr(), m.lease.Server
		m.retx = now.Add(renewBackoff(now, m.lease.RebindAt()))
	case StateRebinding:
		f.MessageType = Request
		f.CIAddr = m.lease.Addr.Addr()
		out.From = m.lease.Addr.Addr()
		m.retx = now.Add(renewBackoff(now, m.lease.ExpiresAt()))
	}
	return out
}

// Tick runs the timer that is due at now: a retransmission, the start of
// discovery after a decline, renewal at T1, rebinding at T2, or expiry.
// Calling it early does nothing.
func (m *Machine) Tick(now time.Time) Output {
	next, ok := m.Next()
	if !ok || now.Before(next) {
		return Output{}
	}
	switch m.state {
	case StateInit:
		return m.discover(now)
	case StateSelecting:
		return m.transmit(now)
	case StateRequesting:
		if m.attempts >= m.cfg.RequestAttempts {
			return m.discover(now) // no answer: start over
		}
		return m.transmit(now)
	case StateBound:
		m.state = StateRenewing
		m.newExchange(now)
		return m.transmit(now)
	case StateRenewing:
		if !now.Before(m.lease.RebindAt()) {
			m.state = StateRebinding
			m.newExchange(now)
		}
		return m.transmit(now)
	case StateRebinding:
		if !now.Before(m.lease.ExpiresAt()) {
			return m.expire(now)
		}
		return m.transmit(now)
	}
	return Output{}
}

// newExchange starts a new transaction (renewing, rebinding).
func (m *Machine) newExchange(now time.Time) {
	m.xid = m.rnd.Uint32()
	m.began, m.sentAt = now, now
	m.attempts = 0
}

// expire drops the lease and starts over.
func (m *Machine) expire(now time.Time) Output {
	old := m.lease
	m.bound = false
	m.lease = Lease{}
	out := m.discover(now)
	out.Unbind = &old
	return out
}

// Receive handles a message that arrived on port 68. Messages that do not
// validate, are not replies to our current transaction and hardware
// address, are unexpected in the current state, or come from a server we
// are not talking to are ignored: the Output only says why (Ignored).
//
// The server identifier (option 54, a server's MUST in every OFFER, ACK
// and NAK, RFC 2131 table 3) is checked in every state: SELECTING takes
// only offers that carry one; REQUESTING only the ACK or NAK of the server
// it selected (RFC 2131 3.1.4, 4.4.1: the others read the broadcast
// REQUEST as declining their offer); RENEWING only the server that gave
// the lease, whom the REQUEST was unicast to (RFC 2131 4.4.5); REBINDING
// an ACK from any server, which becomes the lease's server (4.4.5), but a
// NAK only from the lease's server, as systemd-networkd does, so that
// another host answering the broadcast cannot take the address away.
// Other states take nothing.
func (m *Machine) Receive(now time.Time, msg Message) Output {
	if msg.Validate() != nil {
		return ignore(IgnoredMalformed)
	}
	if msg.Op() != OpReply || msg.XID() != m.xid || msg.CHAddr() != m.cfg.MAC {
		return ignore(IgnoredNotOurs)
	}
	t := msg.MessageType()
	switch m.state {
	case StateSelecting:
		if t != Offer {
			return ignore(IgnoredUnexpected)
		}
		f := msg.Fields()
		if !f.ServerID.IsValid() {
			return ignore(IgnoredWrongServer)
		}
		if !usableAddr(f.YIAddr) {
			return ignore(IgnoredBadAddress)
		}
		m.offer = f
		m.state = StateRequesting
		m.sentAt = now
		m.attempts = 0
		return m.transmit(now)
	case StateRequesting:
		if t != Ack && t != Nak {
			return ignore(IgnoredUnexpected)
		}
		f := msg.Fields()
		if !f.ServerID.IsValid() || f.ServerID != m.offer.ServerID {
			return ignore(IgnoredWrongServer) // another server's answer to our broadcast
		}
		if t == Nak {
			return m.discover(now)
		}
		if !usableAddr(f.YIAddr) {
			return ignore(IgnoredBadAddress)
		}
		l := leaseFrom(&f, m.sentAt, m.cfg.RenewAfter)
		if m.cfg.Probe {
			m.state = StateChecking
			m.pending = l
			return Output{Probe: l.Addr.Addr()}
		}
		return m.bind(l)
	case StateRenewing, StateRebinding:
		if t != Ack && t != Nak {
			return ignore(IgnoredUnexpected)
		}
		f := msg.Fields()
		anyServer := m.state == StateRebinding && t == Ack
		if !f.ServerID.IsValid() || (!anyServer && f.ServerID != m.lease.Server) {
			return ignore(IgnoredWrongServer)
		}
		if t == Nak {
			return m.expire(now)
		}
		if !usableAddr(f.YIAddr) {
			return ignore(IgnoredBadAddress)
		}
		return m.bind(leaseFrom(&f, m.sentAt, m.cfg.RenewAfter))
	}
	return ignore(IgnoredUnexpected)
}

// bind enters BOUND with l.
func (m *Machine) bind(l Lease) Output {
	var out Output
	if m.bound && !m.lease.sameConfig(l) {
		old := m.lease
		out.Unbind = &old
	}
	m.state = StateBound
	m.lease, m.bound = l, true
	m.retx = time.Time{}
	bound := l
	out.Bind = &bound
	return out
}

// ProbeDone reports the result of the probe the machine asked for: nil
// binds the address; an error (the address is in use) declines it with a
// broadcast DHCPDECLINE and starts over after DeclineWait.
func (m *Machine) ProbeDone(now time.Time, err error) Output {
	if m.state != StateChecking {
		return Output{}
	}
	if err == nil {
		return m.bind(m.pending)
	}
	l := m.pending
	m.pending = Lease{}
	m.state = StateInit
	m.wake = now.Add(DeclineWait)
	f := &Fields{
		Op:          OpRequest,
		XID:         m.xid,
		CHAddr:      m.cfg.MAC,
		MessageType: Decline,
		RequestedIP: l.Addr.Addr(),
		ServerID:    l.Server,
		ClientID:    m.cfg.ClientID,
		Message:     "address in use",
	}
	return Output{Send: f, From: netip.IPv4Unspecified(), To: broadcastAddr}
}

// Release gives the lease back: a DHCPRELEASE unicast to the server and
// the lease deconfigured. The machine stops (STOPPED) whatever its state.
func (m *Machine) Release(now time.Time) Output {
	defer func() { m.state = StateStopped; m.wake, m.retx = time.Time{}, time.Time{} }()
	if !m.bound {
		return Output{}
	}
	old := m.lease
	m.bound = false
	m.lease = Lease{}
	m.xid = m.rnd.Uint32()
	f := &Fields{
		Op:          OpRequest,
		XID:         m.xid,
		CIAddr:      old.Addr.Addr(),
		CHAddr:      m.cfg.MAC,
		MessageType: Release,
		ServerID:    old.Server,
		ClientID:    m.cfg.ClientID,
	}
	return Output{Unbind: &old, Send: f, From: old.Addr.Addr(), To: old.Server}
}

// usableAddr reports whether a server-assigned address can go on a NIC.
func usableAddr(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() && a != broadcastAddr
}
