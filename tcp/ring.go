package tcp

import "sync"

// ring is a byte ring buffer that grows on demand up to max bytes. Logical
// positions count from the oldest byte (head). The first n bytes are the
// committed contents; the receive side also writes out-of-order data at
// positions beyond n (up to max) and commits it once the gap fills.
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
}

// ringChunk is a pooled ring buffer. The pools hold pointers, so that
// putting a buffer back allocates nothing.
type ringChunk struct{ b []byte }

const (
	minRingBuf  = 4096
	ringClasses = 12 // pooled sizes: 4 KiB << 0..11, up to 8 MiB
)

// ringPools[k] holds chunks of minRingBuf<<k bytes.
var ringPools [ringClasses]sync.Pool

// getChunk returns a chunk of at least n bytes: a pooled one, or beyond
// the largest class a new one of n bytes, which putChunk does not keep.
func getChunk(n int) *ringChunk {
	for k := range ringClasses {
		size := minRingBuf << k
		if size < n {
			continue
		}
		if c, ok := ringPools[k].Get().(*ringChunk); ok {
			return c
		}
		return &ringChunk{b: make([]byte, size)}
	}
	return &ringChunk{b: make([]byte, n)}
}

// putChunk gives c back to its pool, if it is of a pooled size.
func putChunk(c *ringChunk) {
	for k := range ringClasses {
		if len(c.b) == minRingBuf<<k {
			ringPools[k].Put(c)
			return
		}
	}
}

func newRing(max int) ring { return ring{max: max} }

// release gives the buffer back to its pool. Nothing the ring holds may be
// needed any more: no committed bytes and (receive side) no out-of-order
// data, or a connection that is closed.
func (r *ring) release() {
	if r.chunk == nil {
		return
	}
	r.hint = len(r.buf)
	putChunk(r.chunk)
	r.buf, r.chunk, r.head = nil, nil, 0
}

// free is the room left for committed data.
func (r *ring) free() int { return r.max - r.n }

// grow makes the buffer at least need bytes long, keeping every logical
// position below the old length.
func (r *ring) grow(need int) {
	nl := max(2*len(r.buf), r.hint, minRingBuf)
	for nl < need {
		nl *= 2
	}
	nl = min(nl, r.max)
	c := getChunk(nl)
	nb := c.b[:nl]
	if len(r.buf) > 0 {
		k := copy(nb, r.buf[r.head:])
		copy(nb[k:], r.buf[:r.head])
	}
	if r.chunk != nil {
		putChunk(r.chunk)
	}
	r.buf, r.chunk, r.head = nb, c, 0
}

// writeAt copies p to logical position pos; pos+len(p) must not exceed max.
func (r *ring) writeAt(pos int, p []byte) {
	if len(p) == 0 {
		return
	}
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
	i := (r.head + pos) % len(r.buf)
	k := copy(dst, r.buf[i:])
	copy(dst[k:], r.buf)
}

// append commits as much of p as fits and returns how much that was.
func (r *ring) append(p []byte) int {
	k := min(len(p), r.free())
	r.writeAt(r.n, p[:k])
	r.n += k
	return k
}

// discard drops the k oldest committed bytes.
func (r *ring) discard(k int) {
	if k <= 0 {
		return
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
