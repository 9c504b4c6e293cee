package tcp

// What an idle connection gives back. A connection with nothing due (no
// data in flight, no delayed ACK, no keepalive: armTimer finds no
// deadline) needs neither its RACK records nor its queue of segments to
// send; an idle server holding thousands of connections would otherwise
// keep 224 bytes of them each (the records' first 8 and a queue of 2,
// allocated by the first answer). They go back to pools by size
// (slicePool) and are taken again by the next segment, so a request and
// its answer allocate nothing, nor does a burst that grows them again.
// The out-of-order state (ooo.go: oooState) goes too when it holds no
// piece; it is allocated again by the next segment out of order.

// rackPoolSegs is the size of the pooled RACK record rings: the first
// ring push makes (grown ones double from it).
const rackPoolSegs = 8

// outPoolSegs is the capacity of the pooled queues of segments to send: a
// data segment and a FIN, or a few ACKs, fit without growing.
const outPoolSegs = 4

var (
	rackPool = slicePool[rackSeg]{min: rackPoolSegs}
	outPool  = slicePool[outSeg]{min: outPoolSegs}
)

// newRackSegs returns a ring of RACK records for a connection that has
// none (push).
func newRackSegs() []rackSeg { return rackPool.get(rackPoolSegs) }

// newOut returns an empty queue of segments to send (queue).
func newOut() []outSeg { return outPool.get(outPoolSegs)[:0] }

// unshed takes the RACK records and the send queue back for a connection
// about to answer (a segment with data arrived): from the path of
// arriving segments, so that the application's goroutine, which will
// write the answer, need not take them from the pools itself (the pools'
// slow paths would grow its 2 KiB stack for good; see afterUser).
func (c *core) unshed() {
	c.busyOn()
	if c.out == nil {
		c.out = newOut()
	}
	if c.rack.segs == nil && c.rackOn() {
		c.rack.segs, c.rack.head = newRackSegs(), 0
	}
}

// shedIdle gives back the RACK records and the send queue of a connection
// with nothing in flight and nothing queued, then its busy part when all
// of it is zero (busyOff, busy.go). Not while received data waits to be
// read: the application will likely answer it, and would then take them
// from the pools on its own goroutine (an ACK sent at once, as at the
// start of a connection, leaves nothing due before that).
func (c *core) shedIdle() {
	if c.rcv.n > 0 {
		return
	}
	if c.rack.n == 0 && c.rack.segs != nil {
		rackPool.put(c.rack.segs)
		c.rack.segs, c.rack.head = nil, 0
	}
	if len(c.out) == 0 && c.out != nil {
		outPool.put(c.out)
		c.out = nil
	}
	if c.oooState != nil && len(c.oooq.p) == 0 {
		c.oooState = nil // no block left to report: recent's refer to none
	}
	c.busyOff()
}
