package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// TestRFC5681AckPerBatch: RFC 5681 section 4.2 (an ACK at least for every
// second full-sized segment, SHOULD) as tapstack applies it to data that
// arrives in a device's batch (batch.go): the segments a connection
// receives in one batch get one ACK, at the end of the batch, unless they
// reach half the receive buffer; out-of-order data and the quick ACKs of
// the start are still acknowledged at once, and should the end of the
// batch never come, the delayed-ACK timer sends the ACK.
func TestRFC5681AckPerBatch(t *testing.T) {
	full := string(make([]byte, testMSS))
	tests := []struct {
		name string
		// quick leaves the quick ACKs of the start in place; rcvMax, when
		// set, is the receive buffer.
		quick  bool
		rcvMax int
		// segs are the offsets (from rcvNxt, in segments) of the full
		// segments of the batch.
		segs []int
		// atOnce is how many ACKs leave during the batch, atEnd how many
		// at its end.
		atOnce, atEnd int
	}{
		{name: "four full segments: one ACK at the end", segs: []int{0, 1, 2, 3}, atEnd: 1},
		{name: "one full segment: the delayed-ACK timer, as without batches", segs: []int{0}, atEnd: 0},
		{name: "half the receive buffer: at once", rcvMax: 4 * testMSS, segs: []int{0, 1, 2}, atOnce: 1, atEnd: 0},
		{name: "out of order: at once", segs: []int{0, 1, 3}, atOnce: 1, atEnd: 0},
		{name: "quick ACKs of the start: at once", quick: true, segs: []int{0, 1, 2}, atOnce: 3, atEnd: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedCore(t)
			if !tt.quick {
				c.quickAcks = 0
			}
			if tt.rcvMax > 0 {
				c.rcv.max = tt.rcvMax
			}
			base := c.rcvNxt
			for _, off := range tt.segs {
				seg := data(base.Add(seqnum.Size(off*testMSS)), testISS+1, full)
				seg.batched = true
				c.batching = seg.batched
				c.handleSegment(t0, seg)
				c.batching = false
			}
			if out := takeOut(c); len(out) != tt.atOnce {
				t.Fatalf("%d ACKs during the batch, want %d: %+v", len(out), tt.atOnce, out)
			}
			c.endBatch(t0)
			out := takeOut(c)
			if len(out) != tt.atEnd {
				t.Fatalf("%d ACKs at the end of the batch, want %d: %+v", len(out), tt.atEnd, out)
			}
			if tt.atEnd > 0 && (out[0].ack != c.rcvNxt || out[0].dataLen != 0 || !c.ackAt.IsZero() || c.ackBatch) {
				t.Fatalf("ACK %+v (rcvNxt %d) ackAt %v ackBatch %v", out[0], c.rcvNxt, c.ackAt, c.ackBatch)
			}
		})
	}
}

// TestAckPerBatchFallbacks: an ACK deferred to the end of a batch is sent
// by the delayed-ACK timer if the end never comes, and not at all when
// data sent in the meantime carried it.
func TestAckPerBatchFallbacks(t *testing.T) {
	full := string(make([]byte, testMSS))
	batch := func(c *core, n int) {
		for range n {
			seg := data(c.rcvNxt, testISS+1, full)
			c.batching = true
			c.handleSegment(t0, seg)
			c.batching = false
		}
	}
	c := establishedCore(t)
	c.quickAcks = 0
	batch(c, 2)
	if len(takeOut(c)) != 0 || !c.ackBatch || c.ackAt != t0.Add(c.cfg.delAck) {
		t.Fatalf("ackBatch %v ackAt %v", c.ackBatch, c.ackAt)
	}
	c.handleTimer(c.ackAt)
	if out := takeOut(c); len(out) != 1 || out[0].ack != c.rcvNxt || c.ackBatch {
		t.Fatalf("timer: %+v ackBatch %v", out, c.ackBatch)
	}
	c.endBatch(t0)
	if out := takeOut(c); len(out) != 0 {
		t.Fatalf("a second ACK at the end of the batch: %+v", out)
	}

	batch(c, 2)
	c.write(t0, []byte("reply"))
	if out := takeOut(c); len(out) != 1 || out[0].dataLen != 5 || out[0].ack != c.rcvNxt || c.ackBatch {
		t.Fatalf("piggybacked: %+v ackBatch %v", out, c.ackBatch)
	}
	c.endBatch(t0.Add(time.Millisecond))
	if out := takeOut(c); len(out) != 0 {
		t.Fatalf("a second ACK at the end of the batch: %+v", out)
	}
}
