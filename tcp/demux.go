package tcp

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// connKey is a connection's tuple as the demux keys it: 38 bytes without
// pointers instead of the tuple's 64 (two netip.AddrPorts, each with a
// zone pointer). Zones play no part, as in the demux (which strips them
// from arriving segments); v4 keeps 10.0.0.1 and ::ffff:10.0.0.1 apart.
type connKey struct {
	local, remote [16]byte
	lport, rport  uint16
	v4            bool
}

// key returns t's demux key.
func (t tuple) key() connKey {
	return connKey{
		local:  t.local.Addr().As16(),
		remote: t.remote.Addr().As16(),
		lport:  t.local.Port(),
		rport:  t.remote.Port(),
		v4:     t.local.Addr().Is4(),
	}
}

// connTable is the demux: the connections by their tuples, in an
// open-addressing hash table probed linearly. A slot holds an endpoint
// pointer and its key's hash, not the key: each endpoint holds its tuple
// (id), read only when the hashes match, and a lookup then goes on to use
// that endpoint anyway. A slot is 16 bytes and a growing table between
// 3/8 and 3/4 full, so a connection costs 21-43 bytes of table (up to 128
// while connections go, before it halves), where a Go map of connKey cost
// about 90 (a 48-byte slot, its control byte, the map's slack): some 60
// bytes less per idle connection, and resizing reads no endpoint. The
// hashes make a miss, or a run of other connections' slots, cost no visit
// to their endpoints.
//
// The hash is keyed with a secret (seed), so that a peer choosing its
// address and ports cannot pile its connections into one run of slots.
// The table halves when it is less than 1/8 full, so what 50,000
// connections made it is given back when they are gone.
//
// Guarded by Protocol.mu.
type connTable struct {
	slots []connSlot // len a power of two, or 0
	n     int
	seed  [4]uint64
}

// connSlot is one slot of a connTable; e nil: free.
type connSlot struct {
	h uint64
	e *endpoint
}

// minConnSlots is the smallest table made, and the size below which it
// never halves.
const minConnSlots = 64

// init keys the table's hash with secret.
func (t *connTable) init(secret []byte) {
	h := sha256.Sum256(append([]byte("tcp demux table\x00"), secret...))
	for i := range t.seed {
		t.seed[i] = binary.LittleEndian.Uint64(h[8*i:])
	}
}

// mix is wyhash's folded 128-bit product.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash returns k's hash under the table's seed: two rounds of wyhash's
// mix, the peer's address (what a peer chooses most freely) in the
// first.
func (t *connTable) hash(k *connKey) uint64 {
	le := binary.LittleEndian
	v4 := uint64(0)
	if k.v4 {
		v4 = 1
	}
	h := mix(le.Uint64(k.remote[0:])^t.seed[0], le.Uint64(k.remote[8:])^t.seed[1])
	return mix(h^le.Uint64(k.local[0:])^t.seed[2], le.Uint64(k.local[8:])^(uint64(k.lport)<<48|uint64(k.rport)<<32|v4)^t.seed[3])
}

// is reports whether e's tuple is k's.
func (e *endpoint) is(k *connKey) bool {
	return e.lport == k.lport && e.rport == k.rport &&
		e.route.RemoteAddr().As16() == k.remote && e.route.LocalAddr().As16() == k.local &&
		e.route.LocalAddr().Is4() == k.v4
}

// len returns the number of connections in the table.
func (t *connTable) len() int { return t.n }

// get returns the connection with key k, or nil.
func (t *connTable) get(k connKey) *endpoint {
	if t.n == 0 {
		return nil
	}
	h := t.hash(&k)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.e == nil || s.h == h && s.e.is(&k) {
			return s.e
		}
	}
}

// put adds e, whose key k is not in the table.
func (t *connTable) put(k connKey, e *endpoint) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minConnSlots, 2*len(t.slots)))
	}
	t.place(connSlot{t.hash(&k), e})
	t.n++
}

// place puts s in the first free slot from its hash's on.
func (t *connTable) place(s connSlot) {
	mask := uint64(len(t.slots) - 1)
	i := s.h & mask
	for t.slots[i].e != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// remove takes out the connection with key k if it is e, and reports
// whether it did.
func (t *connTable) remove(k connKey, e *endpoint) bool {
	if t.n == 0 {
		return false
	}
	mask := uint64(len(t.slots) - 1)
	i := t.hash(&k) & mask
	for ; t.slots[i].e != e; i = (i + 1) & mask {
		if t.slots[i].e == nil {
			return false
		}
	}
	// Backward-shift deletion: each later member of the run whose home
	// slot is not between the hole and itself moves into the hole, so
	// that no probe meets a gap before its key.
	for j := i; ; {
		t.slots[i] = connSlot{}
		for {
			j = (j + 1) & mask
			s := t.slots[j]
			if s.e == nil {
				t.n--
				if t.n*8 < len(t.slots) && len(t.slots) > minConnSlots {
					t.resize(len(t.slots) / 2)
				}
				return true
			}
			// s stays if its home lies cyclically in (i, j].
			home := s.h & mask
			if (i <= j && i < home && home <= j) || (i > j && (i < home || home <= j)) {
				continue
			}
			t.slots[i] = s
			i = j
			break
		}
	}
}

// resize rehashes the table into n slots.
func (t *connTable) resize(n int) {
	old := t.slots
	t.slots = make([]connSlot, n)
	for _, s := range old {
		if s.e != nil {
			t.place(s)
		}
	}
}

// appendTo appends every connection in the table to dst.
func (t *connTable) appendTo(dst []*endpoint) []*endpoint {
	for _, s := range t.slots {
		if s.e != nil {
			dst = append(dst, s.e)
		}
	}
	return dst
}

// clear empties the table and gives its slots back.
func (t *connTable) clear() {
	t.slots, t.n = nil, 0
}
