package checksum

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// reference is the textbook RFC 1071 loop.
func reference(b []byte, initial uint16) uint16 {
	acc := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		acc += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		acc += uint32(b[len(b)-1]) << 8
	}
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		init := uint16(r.Uint32())
		if got, want := Sum(b, init), reference(b, init); got != want {
			t.Fatalf("len %d: Sum = %#04x, reference %#04x", n, got, want)
		}
	}
	ff := make([]byte, 4096)
	for i := range ff {
		ff[i] = 0xff
	}
	if got, want := Sum(ff, 0xffff), reference(ff, 0xffff); got != want {
		t.Fatalf("all ones: %#04x want %#04x", got, want)
	}
}

func TestKnownIPv4Header(t *testing.T) {
	// The example header from Wikipedia's IPv4 checksum article.
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := Checksum(h, 0); got != 0xb861 {
		t.Fatalf("checksum = %#04x, want 0xb861", got)
	}
	binary.BigEndian.PutUint16(h[10:], 0xb861)
	if Sum(h, 0) != 0xffff {
		t.Fatal("header with checksum does not verify")
	}
}

func TestUpdateMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		h := make([]byte, 20)
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		binary.BigEndian.PutUint16(h[10:], 0)
		binary.BigEndian.PutUint16(h[10:], Checksum(h, 0))
		old := binary.BigEndian.Uint16(h[8:])
		h[8]-- // TTL decrement
		nw := binary.BigEndian.Uint16(h[8:])
		got := Update(binary.BigEndian.Uint16(h[10:]), old, nw)
		binary.BigEndian.PutUint16(h[10:], got)
		if Sum(h, 0) != 0xffff {
			t.Fatalf("incremental update produced an invalid checksum for %x", h)
		}
	}
}

func TestPseudoHeader(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	b := []byte{10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0x05, 0xdc}
	if got, want := PseudoHeader(src, dst, 6, 1500), reference(b, 0); got != want {
		t.Fatalf("pseudo-header %#04x want %#04x", got, want)
	}
}

func BenchmarkSum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Sum(buf, 0)
	}
}

func BenchmarkSum64K(b *testing.B) {
	buf := make([]byte, 65536)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Sum(buf, 0)
	}
}

// RFC 8200 8.1: the IPv6 pseudo-header is both 16-byte addresses, the
// 32-bit upper-layer length and the next header; summed as 16-bit words.
func TestPseudoHeaderIPv6(t *testing.T) {
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1:ff00:2")
	var b []byte
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = append(b, 0, 0, 0x01, 0x00, 0, 0, 0, 58)
	if got, want := PseudoHeader(src, dst, 58, 256), Sum(b, 0); got != want {
		t.Fatalf("PseudoHeader = %#04x, want %#04x", got, want)
	}
}
