package tcp

import "github.com/tapstack/tapstack/internal/seqnum"

// Out-of-order data waits apart from the receive ring, in pooled pieces
// sized to the data (256 bytes for one byte, 2 KiB for a full segment),
// charged to the memory budget. A byte at the far edge of the window so
// costs a 256-byte piece, not a ring grown to the byte's offset; a run of
// adjacent segments fills a piece and continues in one twice its size, so
// a long run costs little more than its bytes. When the gap before a
// piece fills, its data is copied into the ring (the one extra copy that
// out-of-order data costs) and the piece goes back to its pool.
//
// The pieces are sorted and disjoint and together hold exactly the ranges
// in core.ooo, which the SACK blocks report.

const (
	// maxOOOPieces bounds the pieces of one connection; data that would
	// need more is dropped (the peer retransmits it).
	maxOOOPieces = 4 * maxOOO
	// maxOOOPieceGrow bounds the size a growing run doubles its pieces to.
	maxOOOPieceGrow = 1 << 20
)

// oooPiece holds n bytes of out-of-order data from seq.
type oooPiece struct {
	seq seqnum.Value
	n   int
	c   *ringChunk
}

// oooQueue is a connection's out-of-order data; alloc is the memory its
// pieces take.
type oooQueue struct {
	p     []oooPiece
	alloc int
}

// oooState is what a connection that receives data out of order needs:
// the data, and the SACK blocks to send (RFC 2018, 2883), the most
// recently changed first (sack.go). Most connections never need it, and
// an idle one gives it back (shedIdle).
type oooState struct {
	oooq    oooQueue
	recent  [4]seqRange // out-of-order blocks, most recently changed first
	nrecent int32       // blocks in recent
}

// oooOn returns the connection's out-of-order state, allocating it on
// first use.
func (c *core) oooOn() *oooState {
	if c.oooState == nil {
		c.oooState = new(oooState)
	}
	return c.oooState
}

// oooAlloc is the memory the connection's out-of-order data takes.
func (c *core) oooAlloc() int {
	if c.oooState == nil {
		return 0
	}
	return c.oooq.alloc
}

// oooPieces is how many pieces of out-of-order data the connection holds.
func (c *core) oooPieces() int {
	if c.oooState == nil {
		return 0
	}
	return len(c.oooq.p)
}

// queueOOO keeps out-of-order data p from seq (beyond rcvNxt, within the
// receive buffer): the parts not held already, as far as the piece limit,
// the connection's share (twice its receive buffer) and the budget allow.
// It records what it kept in c.ooo and reports whether it kept (or
// already had) any of it.
func (c *core) queueOOO(seq seqnum.Value, p []byte) bool {
	end := seq.Add(seqnum.Size(len(p)))
	var gaps [maxOOO + 1]seqRange // the parts of [seq, end) not held
	ng, at, touches, dup := 0, seq, false, false
	for _, r := range c.ooo {
		if r.end.LessThan(seq) {
			continue
		}
		if r.start.GreaterThan(end) {
			break
		}
		touches = true
		if lo, hi := seqnum.Max(seq, r.start), seqnum.Min(end, r.end); c.sackOn && !dup && lo.LessThan(hi) {
			// The first part already held is a duplicate to report
			// (RFC 2883 section 4, as Linux's tcp_data_queue_ofo): the
			// block holding it follows in the same ACK (noteSACK).
			c.dsack, c.dsackOn, dup = seqRange{lo, hi}, true, true
		}
		if at.LessThan(r.start) {
			gaps[ng] = seqRange{at, r.start}
			ng++
		}
		at = seqnum.Max(at, r.end)
	}
	if at.LessThan(end) {
		gaps[ng] = seqRange{at, end}
		ng++
	}
	if ng == 0 {
		return true // a duplicate of what is held
	}
	if !touches && len(c.ooo) == maxOOO {
		c.cfg.mem.oooDropped.Inc() // too fragmented: the peer retransmits
		return false
	}
	kept := false
	for _, g := range gaps[:ng] {
		data := p[seq.Size(g.start):seq.Size(g.end)]
		k := c.storePiece(g.start, data)
		if k > 0 {
			c.addOOO(g.start, g.start.Add(seqnum.Size(k)))
			kept = true
		}
		if k < len(data) {
			c.cfg.mem.oooDropped.Inc()
			break
		}
	}
	return kept
}

// storePiece stores data, which no piece holds, at seq: first in the free
// room of the piece that ends at seq, then in a new piece. It returns how
// many bytes it stored.
func (c *core) storePiece(seq seqnum.Value, data []byte) int {
	q := &c.oooOn().oooq
	i := 0
	for i < len(q.p) && q.p[i].seq.LessThan(seq) {
		i++
	}
	done, grow := 0, 0
	if i > 0 && q.p[i-1].seq.Add(seqnum.Size(q.p[i-1].n)) == seq {
		prev := &q.p[i-1]
		done = copy(prev.c.b[prev.n:], data)
		prev.n += done
		grow = min(2*len(prev.c.b), maxOOOPieceGrow)
	}
	rest := data[done:]
	if len(rest) == 0 || len(q.p) == maxOOOPieces {
		return done
	}
	at := seq.Add(seqnum.Size(done))
	room := c.rcv.max - c.rcv.n - int(c.rcvNxt.Size(at)) // the buffer left from at
	want := max(len(rest), min(grow, room))
	size := chunkSize(want)
	held := c.rcv.alloc() + q.alloc + size
	m := c.cfg.mem
	if q.alloc+size > 2*c.rcv.max || (m.underPressure() && held > memMinimum) || !m.charge(size, held) {
		return done
	}
	pc := getChunk(want)
	k := copy(pc.b, rest)
	q.p = append(q.p, oooPiece{})
	copy(q.p[i+1:], q.p[i:])
	q.p[i] = oooPiece{seq: at, n: k, c: pc}
	q.alloc += size
	return done + k
}

// pullOOO moves the out-of-order data that rcvNxt has reached into the
// ring, after the in-order data that filled the gap.
func (c *core) pullOOO() {
	if c.oooState == nil {
		return // nothing out of order: no ranges either (addOOO follows storePiece)
	}
	q := &c.oooq
	k := 0
	for ; k < len(q.p) && q.p[k].seq.LessThanEq(c.rcvNxt); k++ {
		pc := q.p[k]
		end := pc.seq.Add(seqnum.Size(pc.n))
		if end.GreaterThan(c.rcvNxt) {
			data := pc.c.b[pc.seq.Size(c.rcvNxt):pc.n]
			if len(data) > c.rcv.free() {
				// The buffer was made smaller (SetReadBuffer) than what
				// arrived: keep what fits, forget the rest.
				data = data[:c.rcv.free()]
				end = c.rcvNxt.Add(seqnum.Size(len(data)))
			}
			c.rcv.writeAt(c.rcv.n, data)
			c.advanceRcv(end)
		}
		c.freePiece(pc)
		q.p[k] = oooPiece{}
	}
	if k > 0 {
		n := copy(q.p, q.p[k:])
		clear(q.p[n:])
		q.p = q.p[:n]
	}
	for len(c.ooo) > 0 && c.ooo[0].start.LessThanEq(c.rcvNxt) {
		c.ooo = append(c.ooo[:0], c.ooo[1:]...)
	}
	if len(q.p) > 0 && q.p[0].seq.LessThanEq(c.rcvNxt) {
		c.dropOOO() // only after a shrunken buffer cut a piece short
	}
}

// freePiece gives a piece's chunk back to its pool and its charge back.
func (c *core) freePiece(pc oooPiece) {
	size := len(pc.c.b)
	c.oooq.alloc -= size
	c.cfg.mem.add(-size)
	putChunk(pc.c)
}

// pruneLastOOO drops the piece with the highest sequence numbers, so that
// in-order data can have its memory (Linux tcp_prune_ofo_queue: the peer
// sends it again; RFC 2018 allows a receiver to discard SACKed data).
func (c *core) pruneLastOOO() {
	q := &c.oooq
	last := q.p[len(q.p)-1]
	q.p[len(q.p)-1] = oooPiece{}
	q.p = q.p[:len(q.p)-1]
	c.cfg.mem.oooPruned.Add(uint64(last.n))
	c.freePiece(last)
	if i := len(c.ooo) - 1; i >= 0 {
		c.ooo[i].end = last.seq
		if !c.ooo[i].start.LessThan(last.seq) {
			c.ooo = c.ooo[:i]
		}
	}
}

// dropOOO forgets all out-of-order data.
func (c *core) dropOOO() {
	if c.oooState == nil {
		return
	}
	for i, pc := range c.oooq.p {
		c.freePiece(pc)
		c.oooq.p[i] = oooPiece{}
	}
	c.oooq.p = c.oooq.p[:0]
	c.ooo = c.ooo[:0]
}
