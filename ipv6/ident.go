package ipv6

import (
	"crypto/rand"
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync/atomic"
)

// identBuckets is the number of counters identifications are drawn from.
const identBuckets = 2048

// identifier hands out fragment identifications as RFC 7739 section 5.3
// suggests: Identification = F(src, dst, secret) + counter[G(src, dst,
// secret)]. A host we talk to sees its own counter advance only with what
// we send to it (and the few destinations hashing to the same bucket), and
// cannot predict the values of any other destination: no global counter
// leaks our traffic to third parties or lets them guess the identifications
// of a victim's fragments (RFC 7739 section 3).
type identifier struct {
	seed    maphash.Seed
	offset  uint32 // random start, so the first values reveal nothing either
	buckets [identBuckets]atomic.Uint32
}

func (id *identifier) init() {
	id.seed = maphash.MakeSeed()
	var b [4]byte
	_, _ = rand.Read(b[:])
	id.offset = binary.BigEndian.Uint32(b[:])
}

// next returns the identification of the next fragmented datagram from src
// to dst.
func (id *identifier) next(src, dst netip.Addr) uint32 {
	h := id.hash(src, dst)
	return uint32(h>>32) + id.offset + id.buckets[h%identBuckets].Add(1)
}

// hash is the keyed hash of the pair: its high half offsets the
// identification, its remainder by identBuckets picks the counter.
func (id *identifier) hash(src, dst netip.Addr) uint64 {
	var k [32]byte
	s, d := src.As16(), dst.As16()
	copy(k[:16], s[:])
	copy(k[16:], d[:])
	return maphash.Bytes(id.seed, k[:])
}
