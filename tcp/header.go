// Package tcp implements TCP (RFC 9293) for tapstack: the segment wire
// format, a sans-IO connection state machine with RFC 6298 retransmission,
// SACK loss recovery (RFC 6675) and CUBIC congestion control (RFC 9438,
// the default, as on Linux; Options.CongestionControl "reno" selects
// NewReno), window scaling and timestamps (RFC 7323), out-of-order
// reassembly, and endpoints that present the state machine as
// net.Listener (with SetDeadline, like net.TCPListener) and net.Conn.
//
// Register the protocol with a stack once, then Listen and Dial:
//
//	p, _ := tcp.Register(s, tcp.Options{})
//	ln, _ := tcp.Listen(s, netip.MustParseAddrPort("0.0.0.0:80"))
//	go http.Serve(ln, handler)
//	c, _ := tcp.Dial(ctx, s, netip.MustParseAddrPort("10.0.0.1:80"))
package tcp

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
)

// HeaderLen is the length of a TCP header without options.
const HeaderLen = 20

// MaxHeaderLen is the length of a TCP header with the most options.
const MaxHeaderLen = 60

// TCP header flags (the low eight bits of byte 13).
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Header validation errors.
var (
	ErrHeaderTooShort = errors.New("tcp: segment shorter than 20 bytes")
	ErrBadDataOffset  = errors.New("tcp: data offset below 5 words or beyond the segment")
)

// Header is a view of a TCP segment: header, options and payload. Call
// Validate before any accessor; after it succeeds no accessor can panic.
type Header []byte

// Validate checks that the header is long enough, that the data offset is
// sane and that the options parse.
func (h Header) Validate() error {
	if len(h) < HeaderLen {
		return ErrHeaderTooShort
	}
	off := int(h[12]>>4) * 4
	if off < HeaderLen || off > len(h) {
		return ErrBadDataOffset
	}
	_, err := ParseOptions(h[HeaderLen:off])
	return err
}

// SrcPort is the source port.
func (h Header) SrcPort() uint16 { return binary.BigEndian.Uint16(h[0:]) }

// DstPort is the destination port.
func (h Header) DstPort() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Seq is the sequence number.
func (h Header) Seq() uint32 { return binary.BigEndian.Uint32(h[4:]) }

// Ack is the acknowledgment number.
func (h Header) Ack() uint32 { return binary.BigEndian.Uint32(h[8:]) }

// DataOffset is the header length in bytes, options included.
func (h Header) DataOffset() int { return int(h[12]>>4) * 4 }

// Flags are the control bits (FlagFIN ... FlagCWR).
func (h Header) Flags() uint8 { return h[13] }

// Window is the raw (unscaled) window field.
func (h Header) Window() uint16 { return binary.BigEndian.Uint16(h[14:]) }

// Checksum is the checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[16:]) }

// Urgent is the urgent pointer.
func (h Header) Urgent() uint16 { return binary.BigEndian.Uint16(h[18:]) }

// Options returns the option bytes between the fixed header and the data.
func (h Header) Options() []byte { return h[HeaderLen:h.DataOffset()] }

// Payload returns the data after the header.
func (h Header) Payload() []byte { return h[h.DataOffset():] }

// ChecksumValid reports whether the segment's checksum verifies with the
// pseudo-header of src and dst (IPv4 or IPv6).
func (h Header) ChecksumValid(src, dst netip.Addr) bool {
	return checksum.Sum(h, checksum.PseudoHeader(src, dst, 6, uint16(len(h)))) == 0xffff
}

// SetChecksum computes the checksum of the whole segment h (header,
// options and payload, with the checksum field ignored) and stores it.
func (h Header) SetChecksum(src, dst netip.Addr) {
	h[16], h[17] = 0, 0
	c := checksum.Checksum(h, checksum.PseudoHeader(src, dst, 6, uint16(len(h))))
	binary.BigEndian.PutUint16(h[16:], c)
}

// Fields are the fixed header fields of a segment to encode.
type Fields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	// DataOffset is the header length in bytes including options (a
	// multiple of 4 from 20 to 60); zero means 20.
	DataOffset int
	Flags      uint8
	Window     uint16
	Checksum   uint16
	Urgent     uint16
}

// Encode writes the 20-byte fixed header into b, which must be at least
// HeaderLen long. Options, if any, are written separately after it.
func (f *Fields) Encode(b []byte) {
	_ = b[HeaderLen-1]
	off := f.DataOffset
	if off == 0 {
		off = HeaderLen
	}
	binary.BigEndian.PutUint16(b[0:], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:], f.DstPort)
	binary.BigEndian.PutUint32(b[4:], f.Seq)
	binary.BigEndian.PutUint32(b[8:], f.Ack)
	b[12] = byte(off/4) << 4
	b[13] = f.Flags
	binary.BigEndian.PutUint16(b[14:], f.Window)
	binary.BigEndian.PutUint16(b[16:], f.Checksum)
	binary.BigEndian.PutUint16(b[18:], f.Urgent)
}
