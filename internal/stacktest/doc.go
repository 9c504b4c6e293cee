// Package stacktest holds the test fakes that the protocol packages share,
// so that each package's tests do not carry their own copy: a recording
// link endpoint (Link) that can also be wired to a peer like a cable with
// no delay, a recording transport protocol (Transport), a resolver that
// answers every next hop with one link address (Resolver), a log of
// resolution failures for fake network protocols (FailureLog), and a
// buffer safe for a stack's goroutines to log into (SyncBuffer).
//
// Time is not faked here: use internal/vclock, the shared virtual clock.
//
// Every fake is safe for concurrent use; what it records is a copy, and
// every packet handed to it is released, so the leak checks
// (stack.LivePackets) of the tests that use them stay meaningful.
package stacktest

import "github.com/tapstack/tapstack/stack"

var (
	_ stack.LinkEndpoint      = (*Link)(nil)
	_ stack.Offloader         = (*Link)(nil)
	_ stack.TransportProtocol = (*Transport)(nil)
	_ stack.LinkResolver      = Resolver{}
)
