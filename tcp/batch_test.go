package tcp

import (
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
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
			if tt.atEnd > 0 && (out[0].ack != c.rcvNxt || out[0].dataLen != 0 || c.ackAt != 0 || c.ackBatch) {
				t.Fatalf("ACK %+v (rcvNxt %d) ackAt %v ackBatch %v", out[0], c.rcvNxt, c.due(c.ackAt), c.ackBatch)
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
	if len(takeOut(c)) != 0 || !c.ackBatch || c.due(c.ackAt) != t0.Add(c.cfg.delAck) {
		t.Fatalf("ackBatch %v ackAt %v", c.ackBatch, c.due(c.ackAt))
	}
	c.handleTimer(c.due(c.ackAt))
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

// countIP is a sink that counts the segments written through it.
type countIP struct {
	sinkIP
	n atomic.Int64
}

func (c *countIP) WritePacket(_ *stack.Route, _ stack.NetworkParams, p *stack.Packet) error {
	c.n.Add(1)
	p.Release()
	return nil
}

// TestBatchEndsWithOneAckAndWakeup: through the protocol, four full
// segments of a batch are acknowledged by one ACK when the batch ends,
// and a Read waiting on the connection is woken then, once, not per
// segment.
func TestBatchEndsWithOneAckAndWakeup(t *testing.T) {
	ip := &countIP{}
	p, c, nic, remote, local := handConn(t, ip, Options{})
	e := c.e
	e.mu.Lock()
	e.c.quickAcks = 0
	mss, ackNo := e.c.mss, uint32(e.c.sndNxt)
	e.mu.Unlock()
	got := make(chan int, 1)
	go func() {
		n, _ := io.ReadFull(c, make([]byte, 4*mss))
		got <- n
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		e.mu.Lock()
		waiting := e.readers == 1
		e.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Read did not wait")
		}
		time.Sleep(time.Millisecond) // polling guard
	}
	sent := ip.n.Load()
	for i := range 4 {
		pkt := stack.NewPacket(stack.Headroom, HeaderLen+mss)
		f := Fields{SrcPort: 40000, DstPort: 81, Seq: uint32(2 + i*mss), Ack: ackNo, Flags: FlagACK, Window: 65535}
		f.Encode(pkt.Bytes())
		pkt.Src, pkt.Dst, pkt.NIC, pkt.ChecksumOK, pkt.Batched = remote, local, nic, true, true
		p.HandlePacket(pkt)
	}
	e.mu.Lock()
	pending, queued := e.wakeBatch, e.batchQueued
	e.mu.Unlock()
	if n := ip.n.Load() - sent; n != 0 || !pending || !queued {
		t.Fatalf("during the batch: %d segments sent, wakeup pending %v, queued %v", n, pending, queued)
	}
	if !p.EndBatch() {
		t.Error("EndBatch reported nothing sent")
	}
	if n := ip.n.Load() - sent; n != 1 {
		t.Fatalf("%d segments at the end of the batch, want 1 ACK", n)
	}
	if p.EndBatch() {
		t.Error("an empty EndBatch reported packets sent")
	}
	select {
	case n := <-got:
		if n != 4*mss {
			t.Fatalf("read %d bytes, want %d", n, 4*mss)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Read was not woken at the end of the batch")
	}
}
