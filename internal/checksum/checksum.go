// Package checksum computes the Internet checksum (RFC 1071) with 64-bit
// accumulation, the IPv4 pseudo-header sum, and incremental updates (RFC 1624).
//
// Sum values are the folded 16-bit one's-complement sum, not yet inverted;
// the checksum field holds ^Sum. A received header or segment is valid when
// Sum over it (pseudo-header included) is 0xffff.
package checksum

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Sum returns the one's-complement sum of b added to initial.
func Sum(b []byte, initial uint16) uint16 {
	var acc uint64 = uint64(initial)
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:]), 0)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		acc += carry
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), 0)
		acc += carry
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), 0)
		acc += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += carry
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += carry
	}
	return fold(acc)
}

func fold(acc uint64) uint16 {
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// Checksum returns the value for a checksum field: ^Sum(b, initial).
func Checksum(b []byte, initial uint16) uint16 { return ^Sum(b, initial) }

// Combine adds two sums in one's-complement arithmetic.
func Combine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// PseudoHeader returns the sum of the pseudo-header of src and dst: for
// IPv4 (RFC 793) source, destination, protocol and transport length; for
// IPv6 (RFC 8200 8.1) the 16-byte addresses, the upper-layer length and the
// next header.
func PseudoHeader(src, dst netip.Addr, protocol uint8, length uint16) uint16 {
	if src.Is6() || dst.Is6() {
		s, d := src.As16(), dst.As16()
		var acc uint64
		for i := 0; i < 16; i += 2 {
			acc += uint64(binary.BigEndian.Uint16(s[i:])) + uint64(binary.BigEndian.Uint16(d[i:]))
		}
		return fold(acc + uint64(protocol) + uint64(length))
	}
	s, d := src.As4(), dst.As4()
	acc := uint64(binary.BigEndian.Uint16(s[0:])) + uint64(binary.BigEndian.Uint16(s[2:])) +
		uint64(binary.BigEndian.Uint16(d[0:])) + uint64(binary.BigEndian.Uint16(d[2:])) +
		uint64(protocol) + uint64(length)
	return fold(acc)
}

// Update returns the checksum field value after a 16-bit word covered by
// it changes from old to new (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
func Update(field, old, new uint16) uint16 {
	return ^Combine(Combine(^field, ^old), new)
}
