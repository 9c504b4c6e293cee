package tcp

// ring is a byte ring buffer that grows on demand up to max bytes. Logical
// positions count from the oldest byte (head). The first n bytes are the
// committed contents; the receive side also writes out-of-order data at
// positions beyond n (up to max) and commits it once the gap fills.
//
// The receive path copies each payload into the ring once and releases the
// packet at once; keeping the packets themselves would avoid that copy but
// tie up a pooled buffer per segment (a 2 KiB or 64 KiB buffer for a few
// bytes), so memory would not be bounded by the advertised window.
type ring struct {
	buf  []byte
	head int
	n    int
	max  int
}

func newRing(max int) ring { return ring{max: max} }

// free is the room left for committed data.
func (r *ring) free() int { return r.max - r.n }

// grow makes the buffer at least need bytes long, keeping every logical
// position below the old length.
func (r *ring) grow(need int) {
	nl := max(2*len(r.buf), 4096)
	for nl < need {
		nl *= 2
	}
	nl = min(nl, r.max)
	nb := make([]byte, nl)
	if len(r.buf) > 0 {
		k := copy(nb, r.buf[r.head:])
		copy(nb[k:], r.buf[:r.head])
	}
	r.buf, r.head = nb, 0
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
