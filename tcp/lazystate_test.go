package tcp

import (
	"testing"
	"time"
)

// TestLazyStateAllocatedOnFirstUse checks that a connection that never
// retransmitted nor received out of order carries neither the loss
// response's state nor the out-of-order state (lossState, oooState: the
// bytes that keep the endpoint in its size class, TestEndpointSizeClass),
// that each is there once needed, and that the out-of-order state goes
// again when an idle connection holds no piece (shedIdle).
func TestLazyStateAllocatedOnFirstUse(t *testing.T) {
	c := establishedCore(t)
	now := t0.Add(20 * time.Millisecond)
	buf := make([]byte, 16)
	c.write(now, []byte("abc"))
	takeOut(c)
	c.handleSegment(now, data(peerISS+1, testISS+4, "hello"))
	takeOut(c)
	if n := c.read(now, buf); n != 5 {
		t.Fatalf("read %d bytes, want 5", n)
	}
	if c.lossState != nil || c.oooState != nil {
		t.Fatalf("after an exchange in order: loss state %v, out-of-order state %v, want neither", c.lossState != nil, c.oooState != nil)
	}

	// Data beyond a hole, then the hole filled and everything read.
	c.handleSegment(now, data(peerISS+10, testISS+4, "world"))
	if c.oooState == nil || c.oooPieces() != 1 {
		t.Fatalf("out-of-order data: state %v, %d pieces, want one piece", c.oooState != nil, c.oooPieces())
	}
	c.handleSegment(now, data(peerISS+6, testISS+4, "abcd"))
	takeOut(c)
	if n := c.read(now, buf); string(buf[:n]) != "abcdworld" {
		t.Fatalf("read %q, want %q", buf[:n], "abcdworld")
	}
	c.shedIdle()
	if c.oooState != nil {
		t.Fatal("an idle connection with no out-of-order piece keeps its out-of-order state")
	}
	if c.lossState != nil {
		t.Fatal("a connection that retransmitted nothing has a loss state")
	}

	// A retransmission timeout.
	c.write(now, []byte("xyz"))
	takeOut(c)
	c.handleTimer(c.due(c.rtxAt))
	if out := takeOut(c); len(out) != 1 || out[0].seq != testISS+4 {
		t.Fatalf("after the timeout sent %+v, want the retransmission", out)
	}
	if c.lossState == nil || !c.rtxStamp.on || !c.undo.armed {
		t.Fatal("a retransmission timeout left no loss state (retransmission stamp, undo record)")
	}
}
