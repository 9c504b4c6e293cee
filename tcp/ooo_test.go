package tcp

import (
	"bytes"
	"testing"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// TestOutOfOrderManyHoles is RFC 9293 3.10.7.4's "segments with higher
// beginning sequence numbers SHOULD be held for later processing" on a
// reordering path: a window with a hundred holes (every other 200-byte
// segment late, as 3% reordering of a window of thousands of segments
// makes) keeps every segment that came early; the late ones then complete the stream byte-exact. (With 32
// ranges and 64 pieces, most were dropped and the peer had to resend them,
// at the cost of round trips and RTOs.)
func TestOutOfOrderManyHoles(t *testing.T) {
	cfg := memConfig(0, 0)
	c := establishedWith(t, cfg)
	const seg, holes = 200, 100
	stream := make([]byte, 2*holes*seg)
	for i := range stream {
		stream[i] = byte(i * 7)
	}
	if w := int(c.rcvNxt.Size(c.lastAdvRight)); w < len(stream) {
		t.Fatalf("window %d bytes, need %d", w, len(stream))
	}
	base := c.rcvNxt
	send := func(i int) {
		off := i * seg
		c.handleSegment(t0, data(base.Add(seqnum.Size(off)), testISS+1, string(stream[off:off+seg])))
	}
	for i := 1; i < 2*holes; i += 2 {
		send(i)
	}
	takeOut(c)
	if len(c.ooo) != holes || c.cfg.mem.oooDropped.Load() != 0 {
		t.Fatalf("kept %d out-of-order ranges of %d, %d segments dropped", len(c.ooo), holes, c.cfg.mem.oooDropped.Load())
	}
	var got []byte
	buf := make([]byte, 4096)
	for i := 0; i < 2*holes; i += 2 {
		send(i)
		for c.rcv.n > 0 {
			got = append(got, buf[:c.read(t0, buf)]...)
		}
	}
	if !bytes.Equal(got, stream) || len(c.ooo) != 0 {
		t.Fatalf("read %d bytes (equal %v), %d ranges left", len(got), bytes.Equal(got, stream), len(c.ooo))
	}
}
