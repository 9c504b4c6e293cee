package ipv4

import (
	"encoding/binary"
	"sort"
	"sync"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
)

// DefaultReassemblyTimeout is how long the fragments of an incomplete
// datagram are kept (Linux net.ipv4.ipfrag_time).
const DefaultReassemblyTimeout = 30 * time.Second

// DefaultReassemblyMemory bounds the memory of all pending reassemblies
// (Linux net.ipv4.ipfrag_high_thresh).
const DefaultReassemblyMemory = 4 << 20

// Bookkeeping charged against the reassembly memory besides the fragment
// data itself, so that a flood of tiny fragments is bounded too.
const (
	fragOverhead  = 64  // one stored fragment: slice headers, slot
	reasmOverhead = 256 // one pending datagram: map entry, header copy, timer
)

// fragKey identifies the fragments of one datagram (RFC 791).
type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
}

// fragPiece is one stored fragment's payload.
type fragPiece struct {
	off, end int
	data     []byte
}

// reassembly is one datagram being put together.
type reassembly struct {
	key    fragKey
	pieces []fragPiece // sorted by off, never overlapping
	size   int         // payload bytes held (sum of piece lengths)
	total  int         // payload length, known from the last fragment; -1 before
	maxEnd int         // highest end seen

	// hdr is the IP header of the first fragment (offset 0), nil until it
	// arrives; the metadata of that fragment goes with it.
	hdr              []byte
	nic              *stack.NIC
	linkSrc, linkDst stack.MAC

	mem        int
	timer      stack.Timer
	prev, next *reassembly // age list, oldest first
}

// reassembler holds the pending reassemblies of a Protocol.
type reassembler struct {
	mu         sync.Mutex
	m          map[fragKey]*reassembly
	head, tail *reassembly
	mem        int
	limit      int
	timeout    time.Duration
	closed     bool
}

func (ra *reassembler) link(r *reassembly) {
	r.prev, r.next = ra.tail, nil
	if ra.tail != nil {
		ra.tail.next = r
	} else {
		ra.head = r
	}
	ra.tail = r
}

// remove forgets r and its memory; ra.mu is held.
func (ra *reassembler) remove(r *reassembly) {
	delete(ra.m, r.key)
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		ra.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		ra.tail = r.prev
	}
	r.prev, r.next = nil, nil
	ra.mem -= r.mem
	r.mem = 0
	if r.timer != nil {
		r.timer.Stop()
	}
}

// close drops every pending reassembly; later fragments are dropped.
func (ra *reassembler) close() {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.closed = true
	for ra.head != nil {
		ra.remove(ra.head)
	}
}

// ReassemblyPending reports how many datagrams are waiting for fragments
// and the memory they are charged (fragment bytes plus bookkeeping), which
// never exceeds Options.ReassemblyMemory.
func (pr *Protocol) ReassemblyPending() (datagrams, bytes int) {
	ra := &pr.reasm
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return len(ra.m), ra.mem
}

// reassemble adds the fragment p (data at its validated, trimmed IP header
// h) to its datagram (RFC 791, RFC 815). It takes ownership of p and
// returns the whole datagram when p completed it, a new packet whose data
// starts at the IP header (the first fragment's, with MF and offset
// cleared, the total length set and the checksum recomputed), or nil.
//
// Exact duplicates of a stored fragment are ignored; any other overlap
// discards the whole datagram (as RFC 5722 asks for IPv6), so overlapping
// fragments can never be used to rewrite a header that a filter checked.
func (pr *Protocol) reassemble(p *stack.Packet, h Header) *stack.Packet {
	c := &pr.c
	ra := &pr.reasm
	c.reasmFragments.Inc()
	ihl := h.HeaderLength()
	data := h[ihl:]
	off := int(h.FragmentOffset())
	end := off + len(data)
	mf := h.MF()
	if mf && (len(data) == 0 || len(data)%8 != 0) {
		// Every fragment but the last carries a multiple of 8 bytes.
		c.reasmMalformed.Inc()
		p.Release()
		return nil
	}
	k := fragKey{src: h.Src().As4(), dst: h.Dst().As4(), id: h.ID(), proto: h.Protocol()}

	ra.mu.Lock()
	if ra.closed {
		ra.mu.Unlock()
		p.Release()
		return nil
	}
	r := ra.m[k]
	if ihl+end > 0xffff || (r != nil && r.hdr != nil && len(r.hdr)+end > 0xffff) ||
		(off == 0 && r != nil && ihl+r.maxEnd > 0xffff) {
		// The "ping of death": a datagram that would exceed 65535 bytes.
		c.reasmTooBig.Inc()
		if r != nil {
			ra.remove(r)
		}
		ra.mu.Unlock()
		p.Release()
		return nil
	}
	if r != nil && inconsistent(r, off, end, mf) {
		c.reasmOverlap.Inc()
		ra.remove(r)
		ra.mu.Unlock()
		p.Release()
		return nil
	}
	i := 0
	if r != nil {
		i = sort.Search(len(r.pieces), func(j int) bool { return r.pieces[j].off >= off })
		if i < len(r.pieces) && r.pieces[i].off == off && r.pieces[i].end == end && string(r.pieces[i].data) == string(data) {
			c.reasmDuplicate.Inc()
			ra.mu.Unlock()
			p.Release()
			return nil
		}
		if (i > 0 && r.pieces[i-1].end > off) || (i < len(r.pieces) && r.pieces[i].off < end) ||
			(len(data) == 0 && i < len(r.pieces) && r.pieces[i].off == off) {
			c.reasmOverlap.Inc()
			ra.remove(r)
			ra.mu.Unlock()
			p.Release()
			return nil
		}
	}

	// Make room: the oldest datagrams go first (Linux evicts too).
	need := len(data) + fragOverhead
	if off == 0 {
		need += ihl
	}
	if r == nil {
		need += reasmOverhead
	}
	for ra.mem+need > ra.limit {
		victim := ra.head
		if victim != nil && victim == r {
			victim = r.next
		}
		if victim == nil {
			break
		}
		c.reasmEvicted.Inc()
		ra.remove(victim)
	}
	if ra.mem+need > ra.limit {
		// Even alone this datagram does not fit.
		c.reasmEvicted.Inc()
		if r != nil {
			ra.remove(r)
		}
		ra.mu.Unlock()
		p.Release()
		return nil
	}
	if r == nil {
		r = &reassembly{key: k, total: -1}
		if ra.m == nil {
			ra.m = make(map[fragKey]*reassembly)
		}
		ra.m[k] = r
		ra.link(r)
		r.timer = pr.s.Clock().AfterFunc(ra.timeout, func() { pr.reassemblyExpired(r) })
	}
	ra.mem += need
	r.mem += need
	r.pieces = append(r.pieces, fragPiece{})
	copy(r.pieces[i+1:], r.pieces[i:])
	r.pieces[i] = fragPiece{off: off, end: end, data: append([]byte(nil), data...)}
	r.size += len(data)
	r.maxEnd = max(r.maxEnd, end)
	if !mf {
		r.total = end
	}
	if off == 0 {
		r.hdr = append([]byte(nil), h[:ihl]...)
		r.nic, r.linkSrc, r.linkDst = p.NIC, p.LinkSrc, p.LinkDst
	}
	if r.total < 0 || r.size != r.total || r.hdr == nil {
		ra.mu.Unlock()
		p.Release()
		return nil
	}
	// Complete: no overlaps and size == total mean every byte is there.
	ra.remove(r)
	ra.mu.Unlock()
	c.reasmOK.Inc()

	hl := len(r.hdr)
	q := stack.NewPacket(stack.Headroom, hl+r.total)
	b := q.Bytes()
	copy(b, r.hdr)
	for _, pc := range r.pieces {
		copy(b[hl+pc.off:], pc.data)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(hl+r.total))
	b[6] &= 0xc0 // keep the reserved and DF bits; clear MF and the offset
	b[7] = 0
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], checksum.Checksum(b[:hl], 0))
	q.NIC, q.LinkSrc, q.LinkDst, q.EtherType = r.nic, r.linkSrc, r.linkDst, stack.EtherTypeIPv4
	p.Release()
	return q
}

// inconsistent reports whether a fragment [off, end) with the given MF
// contradicts what r already knows about the datagram's length.
func inconsistent(r *reassembly, off, end int, mf bool) bool {
	if !mf {
		// A second, different last fragment, or data already past it.
		return (r.total >= 0 && r.total != end) || r.maxEnd > end
	}
	return r.total >= 0 && end > r.total
}

// reassemblyExpired is the timer of r: the datagram is dropped and, when
// its first fragment had arrived, the source hears ICMP time exceeded,
// fragment reassembly time exceeded (RFC 792, RFC 1122 3.3.2).
func (pr *Protocol) reassemblyExpired(r *reassembly) {
	ra := &pr.reasm
	ra.mu.Lock()
	if ra.m[r.key] != r {
		ra.mu.Unlock()
		return
	}
	ra.remove(r)
	pr.c.reasmTimeout.Inc()
	var q *stack.Packet
	if r.hdr != nil && len(r.pieces) > 0 && r.pieces[0].off == 0 {
		first := r.pieces[0].data
		q = stack.NewPacket(stack.Headroom, len(r.hdr)+min(8, len(first)))
		b := q.Bytes()
		copy(b, r.hdr)
		copy(b[len(r.hdr):], first)
		q.NIC, q.LinkSrc, q.LinkDst, q.EtherType = r.nic, r.linkSrc, r.linkDst, stack.EtherTypeIPv4
	}
	ra.mu.Unlock()
	if q != nil {
		q.MarkNetworkHeader()
		pr.sendError(q, ICMPTimeExceeded, CodeReassemblyExceeded, 0)
		q.Release()
	}
}
