package tcp

import (
	"math/bits"
	"sync"

	"github.com/tapstack/tapstack/stack"
)

// ring is a byte ring buffer that grows on demand up to max bytes. Logical
// positions count from the oldest byte (head); the first n bytes are the
// committed contents. It holds in-order data only: out-of-order data waits
// in pieces sized to it (ooo.go), so a byte far ahead in the window does
// not make the ring grow to its offset.
//
// The receive path copies each payload into the ring once and releases the
// packet at once; keeping the packets themselves would avoid that copy but
// tie up a pooled buffer per segment (a 2 KiB or 64 KiB buffer for a few
// bytes), so memory would not be bounded by the advertised window.
//
// The buffer comes from a size-class pool and goes back to it when the
// ring empties (release), so an idle connection holds no buffer at all,
// like a Linux socket whose queues are empty; the next grow starts at the
// size the ring had, so a busy connection does not grow again step by step.
type ring struct {
	buf   []byte
	chunk *ringChunk // what buf is a view of; nil with buf
	head  int
	n     int
	max   int
	hint  int // length before the last release
	// mem is the stack-wide budget the chunk is charged to (memory.go);
	// nil charges nothing.
	mem *memBudget

	// Held segments (trywriter.go): while the buffer part is empty, the
	// in-order payloads of a device's batch may be kept by reference in
	// their packets instead of copied, to be written out from there at
	// the end of the batch. They are the oldest committed bytes: n counts
	// them (extN of them), and every operation that reads or writes the
	// buffer's bytes copies them in first (settle), so only discard and
	// the batch's writer see them as they are. The room they take in the
	// buffer is reserved as for copied data, so settling never needs
	// memory the budget did not grant.
	holdPkt *stack.Packet // the packet of the segment being delivered, when it may be held
	ext     *heldSegs     // from heldPool while next > 0, so that a ring costs 8 bytes for it
	extN    int           // bytes in them
	next    int32         // held segments, ext[:next] (at most maxHeld)

	// pinned says a Conn.WriteTo writes from the buffer without the
	// connection's lock (writeto.go): a buffer that resize or release
	// retires meanwhile is left to the garbage collector, not put back in
	// its pool where another connection could take it. (It is last, with
	// next, so that the struct packs tightly.)
	pinned bool
}

// heldSegs is the room for a ring's held segments.
type heldSegs [maxHeld]heldSeg

var heldPool = sync.Pool{New: func() any { return new(heldSegs) }}

// maxHeld bounds the segments a ring holds by reference: a TAP's batch
// is at most 16 frames (tap.maxBatch).
const maxHeld = 16

// heldSeg is a payload held in its packet, which the ring has a
// reference to.
type heldSeg struct {
	pkt *stack.Packet
	b   []byte
}

// ringChunk is a pooled buffer: a ring's, or a piece of out-of-order data
// (ooo.go). The pools hold pointers, so that putting a buffer back
// allocates nothing.
type ringChunk struct{ b []byte }

const (
	minRingBuf    = 4096
	minChunkShift = 8
	minChunk      = 1 << minChunkShift // the smallest pooled size (a piece of out-of-order data)
	chunkClasses  = 16                 // pooled sizes: 256 B << 0..15, up to 8 MiB
)

// chunkPools[k] holds chunks of minChunk<<k bytes. sync.Pool drops what
// it holds within two garbage collections, so the pools keep no memory
// for long after a load has gone.
var chunkPools [chunkClasses]sync.Pool

// chunkClass is the pool class of a chunk of at least n bytes;
// chunkClasses and beyond are not pooled.
func chunkClass(n int) int {
	if n <= minChunk {
		return 0
	}
	return bits.Len(uint(n-1)) - minChunkShift
}

// chunkSize is the length of the chunk getChunk(n) returns: what a
// buffer of n bytes really takes, and so what it is charged.
func chunkSize(n int) int {
	if k := chunkClass(n); k < chunkClasses {
		return minChunk << k
	}
	return n
}

// getChunk returns a chunk of chunkSize(n) bytes: a pooled one, or beyond
// the largest class a new one of n bytes, which putChunk does not keep.
func getChunk(n int) *ringChunk {
	k := chunkClass(n)
	if k >= chunkClasses {
		return &ringChunk{b: make([]byte, n)}
	}
	if c, ok := chunkPools[k].Get().(*ringChunk); ok {
		return c
	}
	return &ringChunk{b: make([]byte, minChunk<<k)}
}

// putChunk gives c back to its pool, if it is of a pooled size.
func putChunk(c *ringChunk) {
	if k := chunkClass(len(c.b)); k < chunkClasses && len(c.b) == minChunk<<k {
		chunkPools[k].Put(c)
	}
}

func newRing(max int) ring { return ring{max: max} }

// alloc is the memory the ring's buffer takes: its chunk's size.
func (r *ring) alloc() int {
	if r.chunk == nil {
		return 0
	}
	return len(r.chunk.b)
}

// release gives the buffer back to its pool (and its charge back to the
// budget). Nothing the ring holds may be needed any more: no committed
// bytes, or a connection that is closed.
func (r *ring) release() {
	r.dropHeld()
	if r.chunk == nil {
		return
	}
	r.hint = len(r.buf)
	r.mem.add(-len(r.chunk.b))
	if !r.pinned {
		putChunk(r.chunk)
	}
	r.buf, r.chunk, r.head = nil, nil, 0
}

// free is the room left for committed data (none when the limit fell
// below what the ring holds).
func (r *ring) free() int { return max(r.max-r.n, 0) }

// growLen is the length grow gives a buffer that must hold need bytes:
// double the old one (or the length before the last release), at least
// need, at most max.
func (r *ring) growLen(need int) int {
	nl := max(2*len(r.buf), r.hint, minRingBuf)
	for nl < need {
		nl *= 2
	}
	return min(nl, r.max)
}

// grow makes the buffer at least need bytes long, keeping every logical
// position below the old length. The budget is charged whatever its state:
// callers that may be refused use reserve first.
func (r *ring) grow(need int) {
	nl := r.growLen(need)
	r.mem.add(chunkSize(nl) - r.alloc())
	r.resize(nl)
}

// reserve makes the buffer hold at least need bytes if the budget allows
// it, other being what the same direction of the connection holds
// besides (its out-of-order data): the usual growth, else a doubling. It
// reports whether the buffer now holds need bytes; it may have grown
// anyway.
func (r *ring) reserve(need, other int) bool {
	if need <= len(r.buf) {
		return true
	}
	for _, nl := range [2]int{r.growLen(need), min(max(2*len(r.buf), minRingBuf), r.max)} {
		if nl <= len(r.buf) {
			continue
		}
		size := chunkSize(nl)
		if r.mem.charge(size-r.alloc(), size+other) {
			r.resize(nl)
			return nl >= need
		}
	}
	return false
}

// shrink moves the contents into a smaller buffer, giving memory back,
// when the buffer is larger than the limit asks for and the contents fit
// the smaller one.
func (r *ring) shrink() {
	nl := max(r.max, minRingBuf)
	if r.chunk == nil || chunkSize(nl) >= r.alloc() || r.n > nl {
		return
	}
	r.mem.add(chunkSize(nl) - r.alloc())
	r.resize(nl)
}

// resize moves the contents into a new buffer of nl bytes, already
// charged; nl may be smaller than the old buffer if the contents fit.
func (r *ring) resize(nl int) {
	c := getChunk(nl)
	nb := c.b[:nl]
	if len(r.buf) > 0 {
		k := copy(nb, r.buf[r.head:])
		copy(nb[k:], r.buf[:r.head])
	}
	if r.chunk != nil && !r.pinned {
		putChunk(r.chunk)
	}
	r.buf, r.chunk, r.head = nb, c, 0
}

// canHold says whether the payload being delivered (at position n) may
// be held by reference: its packet is offered, and everything committed
// before it is held too (the buffer part is empty).
func (r *ring) canHold() bool {
	return r.holdPkt != nil && r.n == r.extN && r.next < maxHeld
}

// hold keeps p, the payload of r.holdPkt, by reference at position n; the
// caller commits it (n += len(p)) as if it had been copied, after
// reserving room for it.
func (r *ring) hold(p []byte) {
	if r.ext == nil {
		r.ext = heldPool.Get().(*heldSegs)
	}
	r.ext[r.next] = heldSeg{r.holdPkt.Ref(), p}
	r.next++
	r.extN += len(p)
}

// held appends the held payloads, oldest first, to dst.
func (r *ring) held(dst [][]byte) [][]byte {
	for i := range r.next {
		dst = append(dst, r.ext[i].b)
	}
	return dst
}

// settle copies the held payloads into the buffer, where they belong
// (the buffer part is empty), and lets their packets go.
func (r *ring) settle() {
	if r.next == 0 {
		return
	}
	if r.extN > len(r.buf) { // reserved on arrival; a shrink cannot go below n
		r.grow(r.extN)
	}
	pos := 0
	for i := range r.next {
		r.copyIn(pos, r.ext[i].b)
		pos += len(r.ext[i].b)
	}
	r.dropHeld()
}

// dropHeld forgets the held payloads and releases their packets.
func (r *ring) dropHeld() {
	if r.ext == nil {
		return
	}
	for i := range r.next {
		r.ext[i].pkt.Release()
		r.ext[i] = heldSeg{}
	}
	r.next, r.extN = 0, 0
	heldPool.Put(r.ext)
	r.ext = nil
}

// discardHeld drops the k oldest held bytes (k <= extN).
func (r *ring) discardHeld(k int) {
	r.n -= k
	r.extN -= k
	var i int32
	for ; i < r.next && k >= len(r.ext[i].b); i++ {
		k -= len(r.ext[i].b)
		r.ext[i].pkt.Release()
	}
	if i < r.next {
		r.ext[i].b = r.ext[i].b[k:]
	}
	m := copy(r.ext[:], r.ext[i:r.next])
	clear(r.ext[m:r.next])
	if r.next = int32(m); m == 0 {
		heldPool.Put(r.ext)
		r.ext = nil
	}
}

// writeAt copies p to logical position pos; pos+len(p) must not exceed max.
func (r *ring) writeAt(pos int, p []byte) {
	if len(p) == 0 {
		return
	}
	r.settle()
	r.copyIn(pos, p)
}

// copyIn is writeAt without the held segments.
func (r *ring) copyIn(pos int, p []byte) {
	if need := pos + len(p); need > len(r.buf) {
		r.grow(need)
	}
	i := (r.head + pos) % len(r.buf)
	k := copy(r.buf[i:], p)
	copy(r.buf, p[k:])
}

// copyAt copies len(dst) bytes from logical position pos into dst.
func (r *ring) copyAt(dst []byte, pos int) {
	if len(dst) == 0 {
		return
	}
	r.settle()
	i := (r.head + pos) % len(r.buf)
	k := copy(dst, r.buf[i:])
	copy(dst[k:], r.buf)
}

// append commits as much of p as fits, in the buffer and in the budget,
// and returns how much that was.
func (r *ring) append(p []byte) int {
	k := min(len(p), r.free())
	if r.n+k > len(r.buf) && !r.reserve(r.n+k, 0) {
		k = len(r.buf) - r.n // what the buffer holds without more memory
	}
	r.writeAt(r.n, p[:k])
	r.n += k
	return k
}

// discard drops the k oldest committed bytes.
func (r *ring) discard(k int) {
	if k <= 0 {
		return
	}
	if r.next > 0 {
		h := min(k, r.extN)
		r.discardHeld(h)
		if k -= h; k == 0 {
			return
		}
	}
	r.head = (r.head + k) % len(r.buf)
	r.n -= k
}

// read moves up to len(p) committed bytes into p.
func (r *ring) read(p []byte) int {
	k := min(len(p), r.n)
	r.copyAt(p[:k], 0)
	r.discard(k)
	return k
}

// peek returns the committed bytes, up to max of them, as one or two
// views of the buffer (two when they wrap around its end).
func (r *ring) peek(max int) (a, b []byte) {
	k := min(max, r.n)
	if k == 0 {
		return nil, nil
	}
	r.settle()
	a = r.buf[r.head:min(r.head+k, len(r.buf))]
	return a, r.buf[:k-len(a)]
}
