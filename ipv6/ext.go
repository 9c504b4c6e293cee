package ipv6

import (
	"encoding/binary"
	"errors"
)

// Protocol numbers of the extension headers and of "no next header".
const (
	ProtoHopByHop     uint8 = 0
	ProtoRouting      uint8 = 43
	ProtoFragment     uint8 = 44
	ProtoESP          uint8 = 50
	ProtoAH           uint8 = 51
	ProtoNoNextHeader uint8 = 59
	ProtoDestOptions  uint8 = 60
)

// Option types of hop-by-hop and destination options headers that we
// know (RFC 8200 4.2, RFC 2711).
const (
	OptionPad1        uint8 = 0
	OptionPadN        uint8 = 1
	OptionRouterAlert uint8 = 5
)

// FragmentHeaderLen is the length of the fragment header.
const FragmentHeaderLen = 8

// Bounds of the extension-header chain walk: more headers, or more bytes of
// them, and the packet is dropped (ipv6.rx.ext_chain_too_long). Linux caps
// options per header at 8 and the hop-by-hop and destination headers at
// INT_MAX; legitimate packets carry one to three headers.
const (
	MaxExtensionHeaders = 12
	MaxExtensionBytes   = 4096
	// maxOptions is the most non-padding options one options header may
	// hold (Linux max_hbh_opts_cnt / max_dst_opts_cnt).
	maxOptions = 8
)

// Drop reasons of WalkChain. Each maps to a counter.
var (
	// ErrExtTruncated: an extension header runs past the packet.
	ErrExtTruncated = errors.New("ipv6: truncated extension header")
	// ErrExtBadOption: an option runs past its header, or too many.
	ErrExtBadOption = errors.New("ipv6: malformed option")
	// ErrExtChainTooLong: more than MaxExtensionHeaders headers or
	// MaxExtensionBytes bytes of them.
	ErrExtChainTooLong = errors.New("ipv6: extension header chain too long")
	// ErrExtOptionDiscard: an unknown option whose type says discard.
	ErrExtOptionDiscard = errors.New("ipv6: unknown option says discard")
	// ErrExtNoNextHeader: the chain ends in No Next Header (59).
	ErrExtNoNextHeader = errors.New("ipv6: no next header")
	// ErrExtParamProblem: the packet is answered with a parameter
	// problem (Code and Pointer of the ChainResult).
	ErrExtParamProblem = errors.New("ipv6: parameter problem")
)

// Codes of ICMPv6 parameter problem (RFC 4443 3.4, RFC 7112).
const (
	CodeErroneousHeader   uint8 = 0
	CodeUnknownNextHeader uint8 = 1
	CodeUnknownOption     uint8 = 2
	CodeIncompleteChain   uint8 = 3
)

// ChainPos is a position in an extension-header chain: the protocol of the
// header at Off, and the offset of the byte that named it (6, the fixed
// header's next-header field, at the start). Offsets count from the start
// of the IPv6 header.
type ChainPos struct {
	// Next is the protocol number of the header at Off.
	Next uint8
	// NextOff is the offset of the next-header field holding Next.
	NextOff int
	// Off is the offset of the header Next names.
	Off int
	// Count is how many extension headers were walked before Off.
	Count int
}

// Start returns the position of the first header after the fixed header
// of h (a validated Header).
func Start(h Header) ChainPos { return ChainPos{Next: h.NextHeader(), NextOff: 6, Off: HeaderLen} }

// ChainResult is the outcome of WalkChain.
type ChainResult struct {
	// Pos is where the walk stopped: at the upper-layer header, or at a
	// fragment header (Pos.Next == ProtoFragment).
	Pos ChainPos
	// Err is nil when the walk reached an upper-layer header or a
	// fragment header, else the drop reason.
	Err error
	// Code and Pointer are the parameter problem to send when Err is
	// ErrExtParamProblem; Pointer counts from the IPv6 header.
	Code    uint8
	Pointer uint32
	// ToMulticast says the parameter problem may be sent even though the
	// destination is multicast (an unknown option of type 10xxxxxx, RFC
	// 4443 2.4 e.3).
	ToMulticast bool
}

// WalkChain walks the extension headers of b (an IPv6 packet from its
// fixed header, trimmed to its payload length) from pos, processing them as
// the final destination does (RFC 8200 4): hop-by-hop options only first,
// their options and those of destination options headers by their type
// bits, routing headers with segments left 0 skipped and others refused.
// dstMulticast is whether the destination address is multicast (options of
// type 11xxxxxx then discard silently). It stops at the first header that
// is neither hop-by-hop, destination options nor routing: an upper-layer
// header, a fragment header, ESP or AH.
func WalkChain(b []byte, pos ChainPos, dstMulticast bool) ChainResult {
	for {
		switch pos.Next {
		case ProtoHopByHop, ProtoDestOptions, ProtoRouting:
		case ProtoNoNextHeader:
			return ChainResult{Pos: pos, Err: ErrExtNoNextHeader}
		default:
			return ChainResult{Pos: pos}
		}
		if pos.Next == ProtoHopByHop && pos.Off != HeaderLen {
			return paramProblem(pos, CodeUnknownNextHeader, pos.NextOff, false)
		}
		if pos.Count >= MaxExtensionHeaders {
			return ChainResult{Pos: pos, Err: ErrExtChainTooLong}
		}
		if len(b) < pos.Off+8 {
			return ChainResult{Pos: pos, Err: ErrExtTruncated}
		}
		n := (int(b[pos.Off+1]) + 1) * 8
		if pos.Off+n > len(b) {
			return ChainResult{Pos: pos, Err: ErrExtTruncated}
		}
		if pos.Off+n-HeaderLen > MaxExtensionBytes {
			return ChainResult{Pos: pos, Err: ErrExtChainTooLong}
		}
		hdr := b[pos.Off : pos.Off+n]
		if pos.Next == ProtoRouting {
			if segLeft := hdr[3]; segLeft != 0 {
				// We execute no routing type (RFC 5095 deprecates
				// type 0): an unrecognised type with segments left.
				return paramProblem(pos, CodeErroneousHeader, pos.Off+2, false)
			}
		} else if r := walkOptions(hdr, pos, dstMulticast); r.Err != nil {
			return r
		}
		pos = ChainPos{Next: hdr[0], NextOff: pos.Off, Off: pos.Off + n, Count: pos.Count + 1}
	}
}

// walkOptions processes the options of a hop-by-hop or destination options
// header hdr at pos (RFC 8200 4.2).
func walkOptions(hdr []byte, pos ChainPos, dstMulticast bool) ChainResult {
	opts := 0
	for i := 2; i < len(hdr); {
		t := hdr[i]
		if t == OptionPad1 {
			i++
			continue
		}
		if i+2 > len(hdr) || i+2+int(hdr[i+1]) > len(hdr) {
			return ChainResult{Pos: pos, Err: ErrExtBadOption}
		}
		l := 2 + int(hdr[i+1])
		switch t {
		case OptionPadN:
		case OptionRouterAlert:
			if l != 4 {
				return ChainResult{Pos: pos, Err: ErrExtBadOption}
			}
			fallthrough
		default:
			if opts++; opts > maxOptions {
				return ChainResult{Pos: pos, Err: ErrExtBadOption}
			}
		}
		if t != OptionPadN && t != OptionRouterAlert {
			switch t >> 6 {
			case 0: // skip over the option
			case 1:
				return ChainResult{Pos: pos, Err: ErrExtOptionDiscard}
			case 2:
				return paramProblem(pos, CodeUnknownOption, pos.Off+i, true)
			case 3:
				if dstMulticast {
					return ChainResult{Pos: pos, Err: ErrExtOptionDiscard}
				}
				return paramProblem(pos, CodeUnknownOption, pos.Off+i, false)
			}
		}
		i += l
	}
	return ChainResult{Pos: pos}
}

func paramProblem(pos ChainPos, code uint8, ptr int, toMulticast bool) ChainResult {
	return ChainResult{Pos: pos, Err: ErrExtParamProblem, Code: code, Pointer: uint32(ptr), ToMulticast: toMulticast}
}

// SkipChain finds the upper-layer header of b (an IPv6 packet, possibly
// truncated, as quoted in an ICMPv6 error) without processing options: it
// skips hop-by-hop, destination options, routing and fragment headers. It
// returns the protocol, its offset and the fragment offset of a fragment
// header on the way (0 when none); ok is false when the chain is
// truncated or too long.
func SkipChain(b []byte) (proto uint8, off int, fragOff int, ok bool) {
	if len(b) < HeaderLen {
		return 0, 0, 0, false
	}
	proto, off = b[6], HeaderLen
	for n := 0; ; n++ {
		if n > MaxExtensionHeaders || off-HeaderLen > MaxExtensionBytes {
			return 0, 0, 0, false
		}
		switch proto {
		case ProtoHopByHop, ProtoDestOptions, ProtoRouting:
			if len(b) < off+2 {
				return 0, 0, 0, false
			}
			proto, off = b[off], off+(int(b[off+1])+1)*8
		case ProtoFragment:
			if len(b) < off+FragmentHeaderLen {
				return 0, 0, 0, false
			}
			fragOff = int(binary.BigEndian.Uint16(b[off+2:]) &^ 7)
			proto, off = b[off], off+FragmentHeaderLen
		default:
			if off > len(b) {
				return 0, 0, 0, false
			}
			return proto, off, fragOff, true
		}
	}
}

// FragmentHeader is a view of a fragment header (RFC 8200 4.5); it must
// hold at least FragmentHeaderLen bytes.
type FragmentHeader []byte

// NextHeader is the protocol of the fragmentable part.
func (f FragmentHeader) NextHeader() uint8 { return f[0] }

// Offset is the fragment offset in bytes.
func (f FragmentHeader) Offset() int { return int(binary.BigEndian.Uint16(f[2:]) &^ 7) }

// More reports the M flag.
func (f FragmentHeader) More() bool { return f[3]&1 != 0 }

// ID is the identification.
func (f FragmentHeader) ID() uint32 { return binary.BigEndian.Uint32(f[4:]) }

// EncodeFragmentHeader writes a fragment header into b[:8].
func EncodeFragmentHeader(b []byte, next uint8, offset int, more bool, id uint32) {
	_ = b[FragmentHeaderLen-1]
	b[0], b[1] = next, 0
	fo := uint16(offset) &^ 7
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:], fo)
	binary.BigEndian.PutUint32(b[4:], id)
}
