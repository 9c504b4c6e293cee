package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// TestCoreEvents checks what each kind of segment tells the endpoint: the
// waiters of an endpoint are woken only when the core raises an event for
// them, so a segment that changes nothing for a Read or a Write (a
// duplicate ACK, out-of-order data, a window update) raises nothing, and
// every one that does raises the event its waiters need (RFC 9293 3.10.7:
// data and FIN are delivered in order, ACKs free the send buffer, RST and
// FIN change the state).
func TestCoreEvents(t *testing.T) {
	const sent = "0123456789"
	una := testISS + 1
	nxt := una.Add(seqnum.Size(len(sent)))
	tests := []struct {
		name     string
		seg      *segment
		want     event
		from, to State
	}{
		{"in-order data is readable", data(peerISS+1, una, "hi"), evReadable, 0, 0},
		{"out-of-order data is not", data(peerISS+5, una, "hi"), 0, 0, 0},
		{"a duplicate ACK raises nothing", ack(peerISS+1, una), 0, 0, 0},
		{"an ACK of new data frees the send buffer", ack(peerISS+1, nxt), evWritable, 0, 0},
		{"a FIN is readable and a state change", &segment{seq: peerISS + 1, ack: una, flags: FlagACK | FlagFIN, wnd: 65535},
			evReadable | evState, StateEstablished, StateCloseWait},
		{"a RST ends the connection", &segment{seq: peerISS + 1, flags: FlagRST}, evState, StateEstablished, StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedCore(t)
			if k := c.write(t0, []byte(sent)); k != len(sent) {
				t.Fatalf("write took %d bytes", k)
			}
			takeOut(c)
			c.takeEvents()
			c.handleSegment(t0.Add(20*time.Millisecond), tt.seg)
			ev, from := c.takeEvents()
			if ev != tt.want {
				t.Fatalf("events %03b, want %03b", ev, tt.want)
			}
			if ev&evState != 0 && (from != tt.from || c.state != tt.to) {
				t.Fatalf("state change %v → %v, want %v → %v", from, c.state, tt.from, tt.to)
			}
			if ev, _ := c.takeEvents(); ev != 0 {
				t.Fatalf("events %03b after they were taken", ev)
			}
		})
	}
}

// TestCoreEventsHandshake checks the state change that ends an active open,
// which is what releases Dial, and that the application's own calls raise
// what other waiters need: CloseWrite fails a waiting Write, CloseRead ends
// a waiting Read.
func TestCoreEventsHandshake(t *testing.T) {
	c := newTestCore(t)
	c.connect(t0)
	if ev, from := c.takeEvents(); ev != evState || from != StateClosed || c.state != StateSynSent {
		t.Fatalf("connect: events %03b from %v to %v", ev, from, c.state)
	}
	c.handleSegment(t0, &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535})
	ev, from := c.takeEvents()
	if ev&evState == 0 || !handshakeEnded(from, c.state) {
		t.Fatalf("SYN-ACK: events %03b, %v → %v does not end the handshake", ev, from, c.state)
	}
	c.shutdown(t0)
	if ev, _ := c.takeEvents(); ev&evWritable == 0 {
		t.Fatalf("CloseWrite raised %03b, want writable (a waiting Write fails)", ev)
	}
	c.shutdownRead()
	if ev, _ := c.takeEvents(); ev&evReadable == 0 {
		t.Fatalf("CloseRead raised %03b, want readable (a waiting Read ends)", ev)
	}
}
