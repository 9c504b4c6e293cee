package stacktest

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// Resolver is a stack.LinkResolver (for Stack.SetResolver) that
// resolves every next hop to MAC at once, for tests of a network layer
// without ARP or NDP.
type Resolver struct {
	MAC stack.MAC
}

// WriteTo writes p on nic to r.MAC.
func (r Resolver) WriteTo(nic *stack.NIC, _ netip.Addr, etherType uint16, p *stack.Packet) error {
	return nic.WriteLinkPacket(r.MAC, etherType, p)
}

// Failure is one packet a resolver gave up on (handed to a network
// protocol's HandleResolutionFailure): its next hop and a copy of its bytes.
type Failure struct {
	NextHop netip.Addr
	Data    []byte
}

// FailureLog records resolution failures; a fake network protocol embeds
// it to implement HandleResolutionFailure. The zero value is ready.
type FailureLog struct {
	// Notify, if set before the first failure, receives a value per
	// failure once it is recorded (for tests on a real clock).
	Notify chan struct{}

	failures record[Failure]
}

// HandleResolutionFailure records nextHop and a copy of p, releases p and
// signals Notify.
func (l *FailureLog) HandleResolutionFailure(_ *stack.NIC, nextHop netip.Addr, p *stack.Packet) {
	l.failures.add(Failure{nextHop, append([]byte(nil), p.Bytes()...)})
	p.Release()
	if l.Notify != nil {
		l.Notify <- struct{}{}
	}
}

// TakeFailures returns the recorded failures, oldest first, and forgets
// them.
func (l *FailureLog) TakeFailures() []Failure { return l.failures.take() }
