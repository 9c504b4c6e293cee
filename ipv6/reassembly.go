package ipv6

import (
	"encoding/binary"
	"sort"
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Bookkeeping charged against the reassembly memory besides the fragment
// data itself, so that a flood of tiny fragments is bounded too.
const (
	fragOverhead  = 64  // one stored fragment: slice headers, slot
	reasmOverhead = 256 // one pending datagram: map entry, header copy, timer
)

// fragKey identifies the fragments of one datagram (RFC 8200 4.5).
type fragKey struct {
	src, dst [16]byte
	id       uint32
}

// fragPiece is one stored fragment's fragmentable part.
type fragPiece struct {
	off, end int
	data     []byte
}

// reassembly is one datagram being put together.
type reassembly struct {
	key    fragKey
	pieces []fragPiece // sorted by off, never overlapping
	size   int         // bytes held (sum of piece lengths)
	total  int         // fragmentable length, known from the last fragment; -1 before
	maxEnd int         // highest end seen

	// Of the first fragment (offset 0), nil until it arrives: its
	// unfragmentable part (IPv6 header and the extension headers before
	// the fragment header), its fragment header, the position of the
	// next-header field naming the fragment header, and its metadata.
	hdr              []byte
	fragHdr          [FragmentHeaderLen]byte
	pos              ChainPos // of the fragment header in the first fragment
	nic              *stack.NIC
	linkSrc, linkDst stack.MAC

	mem        int
	timer      stack.Timer
	prev, next *reassembly // age list, oldest first
}

// reassembler holds the pending reassemblies of a Protocol, bounded in
// bytes (limit) and in datagrams (maxDatagrams).
type reassembler struct {
	mu           sync.Mutex
	m            map[fragKey]*reassembly
	head, tail   *reassembly
	mem          int
	limit        int
	maxDatagrams int
	timeout      time.Duration
	closed       bool
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
// never exceeds Options.ReassemblyMemory; the datagrams never exceed
// Options.ReassemblyDatagrams.
func (pr *Protocol) ReassemblyPending() (datagrams, bytes int) {
	ra := &pr.reasm
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return len(ra.m), ra.mem
}

// upperLayerMin is how many bytes of an upper-layer header a first
// fragment must hold (RFC 7112: all headers through the upper-layer
// header).
func upperLayerMin(proto uint8) int {
	switch proto {
	case stack.ProtocolTCP:
		return 20
	case stack.ProtocolUDP, stack.ProtocolICMPv6:
		return 8
	}
	return 0
}

// reassemble takes the fragment p (data at its validated, trimmed IPv6
// header h, addressed to us), whose fragment header is at pos (RFC 8200
// 4.5). It takes ownership of p. It returns a packet and the position of
// its first header after the unfragmentable part when there is one to go
// on with: an atomic fragment (offset 0, M clear: RFC 6946) itself, past
// its fragment header, without touching any reassembly; or the whole
// datagram when p completed it, a new packet whose data starts at the
// IPv6 header (the first fragment's unfragmentable part, the fragment
// header removed, the payload length set). Otherwise nil.
//
// Exact duplicates of a stored fragment are ignored; any other overlap
// discards the whole datagram (RFC 5722).
func (pr *Protocol) reassemble(p *stack.Packet, h Header, pos ChainPos) (*stack.Packet, ChainPos) {
	c := &pr.c
	c.reasmFragments.Inc()
	if len(h) < pos.Off+FragmentHeaderLen {
		c.rxBadExtHeader.Inc()
		p.Release()
		return nil, pos
	}
	fh := FragmentHeader(h[pos.Off:])
	next := ChainPos{Next: fh.NextHeader(), NextOff: pos.Off, Off: pos.Off + FragmentHeaderLen, Count: pos.Count + 1}
	data := h[next.Off:]
	off, mf := fh.Offset(), fh.More()
	if off == 0 && !mf {
		c.reasmAtomic.Inc()
		return p, next
	}
	if mf && (len(data) == 0 || len(data)%8 != 0) {
		// RFC 8200 4.5: pointing at the payload length field.
		c.reasmMalformed.Inc()
		pr.sendError(p, ICMPParamProblem, CodeErroneousHeader, 4, false)
		p.Release()
		return nil, pos
	}
	end := off + len(data)
	if pos.Off-HeaderLen+end > 0xffff {
		// RFC 8200 4.5: pointing at the fragment offset field.
		c.reasmTooBig.Inc()
		pr.sendError(p, ICMPParamProblem, CodeErroneousHeader, uint32(pos.Off+2), false)
		p.Release()
		return nil, pos
	}
	if off == 0 && !chainComplete(h, next) {
		// RFC 7112 5: a first fragment without the whole header chain.
		c.reasmIncompleteChain.Inc()
		pr.sendError(p, ICMPParamProblem, CodeIncompleteChain, 0, false)
		p.Release()
		return nil, pos
	}
	k := fragKey{src: h.Src().As16(), dst: h.Dst().As16(), id: fh.ID()}

	ra := &pr.reasm
	ra.mu.Lock()
	if ra.closed {
		ra.mu.Unlock()
		p.Release()
		return nil, pos
	}
	r := ra.m[k]
	if r != nil && ((r.hdr != nil && len(r.hdr)-HeaderLen+end > 0xffff) || (off == 0 && pos.Off-HeaderLen+r.maxEnd > 0xffff)) {
		// A datagram that would exceed 65535 bytes of payload.
		c.reasmTooBig.Inc()
		ra.remove(r)
		ra.mu.Unlock()
		p.Release()
		return nil, pos
	}
	if r != nil && inconsistent(r, end, mf) {
		c.reasmOverlap.Inc()
		ra.remove(r)
		ra.mu.Unlock()
		p.Release()
		return nil, pos
	}
	i := 0
	if r != nil {
		i = sort.Search(len(r.pieces), func(j int) bool { return r.pieces[j].off >= off })
		if i < len(r.pieces) && r.pieces[i].off == off && r.pieces[i].end == end && string(r.pieces[i].data) == string(data) {
			c.reasmDuplicate.Inc()
			ra.mu.Unlock()
			p.Release()
			return nil, pos
		}
		if (i > 0 && r.pieces[i-1].end > off) || (i < len(r.pieces) && r.pieces[i].off < end) ||
			(len(data) == 0 && i < len(r.pieces) && r.pieces[i].off == off) {
			c.reasmOverlap.Inc()
			ra.remove(r)
			ra.mu.Unlock()
			p.Release()
			return nil, pos
		}
	}

	// Make room: the oldest datagrams go first.
	need := len(data) + fragOverhead
	if off == 0 {
		need += pos.Off
	}
	if r == nil {
		need += reasmOverhead
	}
	for ra.mem+need > ra.limit || (r == nil && len(ra.m) >= ra.maxDatagrams) {
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
		return nil, pos
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
		r.hdr = append([]byte(nil), h[:pos.Off]...)
		copy(r.fragHdr[:], fh[:FragmentHeaderLen])
		r.pos = pos
		r.nic, r.linkSrc, r.linkDst = p.NIC, p.LinkSrc, p.LinkDst
	}
	if r.total < 0 || r.size != r.total || r.hdr == nil {
		ra.mu.Unlock()
		p.Release()
		return nil, pos
	}
	// Complete: no overlaps and size == total mean every byte is there.
	ra.remove(r)
	ra.mu.Unlock()
	c.reasmOK.Inc()
	p.Release()

	hl := len(r.hdr)
	// A 65535-byte payload leaves less than the usual headroom.
	q := stack.NewPacket(min(stack.Headroom, stack.MaxPacketSize-hl-r.total), hl+r.total)
	b := q.Bytes()
	copy(b, r.hdr)
	for _, pc := range r.pieces {
		copy(b[hl+pc.off:], pc.data)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(hl-HeaderLen+r.total))
	b[r.pos.NextOff] = r.fragHdr[0]
	q.NIC, q.LinkSrc, q.LinkDst, q.EtherType = r.nic, r.linkSrc, r.linkDst, stack.EtherTypeIPv6
	q.MarkNetworkHeader()
	return q, ChainPos{Next: r.fragHdr[0], NextOff: r.pos.NextOff, Off: hl, Count: r.pos.Count}
}

// chainComplete reports whether the first fragment h holds every header
// from next on through the start of the upper-layer header (RFC 7112).
func chainComplete(h Header, next ChainPos) bool {
	proto, off := next.Next, next.Off
	for n := 0; n <= MaxExtensionHeaders; n++ {
		switch proto {
		case ProtoHopByHop, ProtoDestOptions, ProtoRouting:
			if len(h) < off+8 {
				return false
			}
			proto, off = h[off], off+(int(h[off+1])+1)*8
			if off > len(h) {
				return false
			}
		case ProtoFragment:
			// A second fragment header: let the walk refuse it later.
			return len(h) >= off+FragmentHeaderLen
		default:
			return len(h) >= off+upperLayerMin(proto)
		}
	}
	return false
}

// inconsistent reports whether a fragment ending at end with the given M
// flag contradicts what r already knows about the datagram's length.
func inconsistent(r *reassembly, end int, mf bool) bool {
	if !mf {
		// A second, different last fragment, or data already past it.
		return (r.total >= 0 && r.total != end) || r.maxEnd > end
	}
	return r.total >= 0 && end > r.total
}

// reassemblyExpired is the timer of r: the datagram is dropped and, when
// its first fragment had arrived, the source hears time exceeded, fragment
// reassembly time exceeded (RFC 8200 4.5, RFC 4443 3.3 code 1), quoting
// the first fragment.
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
		first = first[:min(len(first), MaxErrorLen)] // the error quotes less
		hl := len(r.hdr) + FragmentHeaderLen
		q = stack.NewPacket(stack.Headroom, hl+len(first))
		b := q.Bytes()
		copy(b, r.hdr)
		copy(b[len(r.hdr):], r.fragHdr[:])
		copy(b[hl:], first)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-HeaderLen))
		q.NIC, q.LinkSrc, q.LinkDst, q.EtherType = r.nic, r.linkSrc, r.linkDst, stack.EtherTypeIPv6
	}
	ra.mu.Unlock()
	if q != nil {
		q.MarkNetworkHeader()
		pr.sendError(q, ICMPTimeExceeded, CodeReassemblyExceeded, 0, false)
		q.Release()
	}
}
