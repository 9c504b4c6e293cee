// Package seqnum implements TCP sequence-number arithmetic modulo 2^32
// (RFC 9293 section 3.4): comparisons that stay correct across wrap-around.
package seqnum

// Value is a TCP sequence or acknowledgment number.
type Value uint32

// Size is a length in sequence space.
type Size uint32

// LessThan reports whether v comes before w (v < w modulo 2^32).
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessThanEq reports whether v == w or v comes before w.
func (v Value) LessThanEq(w Value) bool { return int32(v-w) <= 0 }

// GreaterThan reports whether v comes after w.
func (v Value) GreaterThan(w Value) bool { return int32(v-w) > 0 }

// GreaterThanEq reports whether v == w or v comes after w.
func (v Value) GreaterThanEq(w Value) bool { return int32(v-w) >= 0 }

// InRange reports whether a <= v < b; the range is empty when a == b.
func (v Value) InRange(a, b Value) bool { return v-a < b-a }

// InWindow reports whether v lies in the size-byte window starting at first.
func (v Value) InWindow(first Value, size Size) bool { return v.InRange(first, first.Add(size)) }

// Add returns v advanced by s.
func (v Value) Add(s Size) Value { return v + Value(s) }

// Sub returns v moved back by s.
func (v Value) Sub(s Size) Value { return v - Value(s) }

// Size returns the distance from v forward to w.
func (v Value) Size(w Value) Size { return Size(w - v) }

// Max returns the later of a and b.
func Max(a, b Value) Value {
	if a.LessThan(b) {
		return b
	}
	return a
}

// Min returns the earlier of a and b.
func Min(a, b Value) Value {
	if a.LessThan(b) {
		return a
	}
	return b
}
