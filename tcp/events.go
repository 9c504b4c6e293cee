package tcp

// event is a set of things a call into the core made happen that the
// endpoint around it must act on: the core says what happened, so the
// endpoint need not keep a copy of its state to diff, and wakes the
// application's waiters only when there is something for them.
type event uint8

const (
	// evState: the connection changed state; events.from is the state it
	// had before the first change since the endpoint last took the
	// events.
	evState event = 1 << iota
	// evReadable: a Read may now return something it could not before
	// (in-order data, the peer's FIN, a shut-down read side).
	evReadable
	// evWritable: a Write may now queue something it could not before
	// (acknowledged data left the send buffer) or must fail (the send
	// side was shut down).
	evWritable
)

// events are the events the core raised since the endpoint last took them.
type events struct {
	ev   event
	from State
}

// setState moves the connection to s and raises evState.
func (c *core) setState(s State) {
	if s == c.state {
		return
	}
	if c.events.ev&evState == 0 {
		c.events.from = c.state
	}
	c.events.ev |= evState
	c.state = s
}

// raise records ev for the endpoint.
func (c *core) raise(ev event) { c.events.ev |= ev }

// takeEvents returns the events raised since the last call, with the state
// before the first state change among them, and clears them.
func (c *core) takeEvents() (event, State) {
	ev, from := c.events.ev, c.events.from
	c.events = events{}
	return ev, from
}

// handshakeEnded says whether a change from one state to another ends the
// three-way handshake, either way (established, reset or timed out).
func handshakeEnded(from, to State) bool { return from.handshaking() && !to.handshaking() }
