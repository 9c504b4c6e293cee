package tcp

import (
	"encoding/binary"
	"errors"
)

// TCP option kinds.
const (
	OptionEnd           = 0
	OptionNOP           = 1
	OptionMSS           = 2
	OptionWindowScale   = 3
	OptionSACKPermitted = 4
	OptionSACK          = 5
	OptionTimestamps    = 8
)

// MaxWindowScale is the largest window shift RFC 7323 allows.
const MaxWindowScale = 14

// ErrBadOptions is returned for an option list whose lengths run past its end.
var ErrBadOptions = errors.New("tcp: malformed option list")

// SACKBlock is one SACK block: the sequence numbers of the first byte and
// of the byte after the last.
type SACKBlock struct {
	Left, Right uint32
}

// SegmentOptions are the parsed TCP options of a segment. A known option with the
// wrong length is ignored (as Linux does); a list whose lengths run past its
// end is an error.
type SegmentOptions struct {
	HasMSS bool
	MSS    uint16

	HasWindowScale bool
	// WindowScale is the shift, clamped to MaxWindowScale.
	WindowScale uint8

	SACKPermitted bool

	HasTimestamps bool
	TSVal, TSEcr  uint32

	// SACK holds the first NumSACK blocks of a SACK option.
	SACK    [4]SACKBlock
	NumSACK int
}

// ParseOptions parses the option bytes of a header. It never allocates.
func ParseOptions(b []byte) (SegmentOptions, error) {
	var o SegmentOptions
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case OptionEnd:
			return o, nil
		case OptionNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return o, ErrBadOptions
		}
		l := int(b[i+1])
		if l < 2 || i+l > len(b) {
			return o, ErrBadOptions
		}
		v := b[i+2 : i+l]
		switch kind {
		case OptionMSS:
			if len(v) == 2 {
				o.HasMSS, o.MSS = true, binary.BigEndian.Uint16(v)
			}
		case OptionWindowScale:
			if len(v) == 1 {
				o.HasWindowScale, o.WindowScale = true, min(v[0], MaxWindowScale)
			}
		case OptionSACKPermitted:
			if len(v) == 0 {
				o.SACKPermitted = true
			}
		case OptionSACK:
			if len(v) >= 8 && len(v)%8 == 0 {
				o.NumSACK = 0
				for j := 0; j+8 <= len(v) && o.NumSACK < len(o.SACK); j += 8 {
					o.SACK[o.NumSACK] = SACKBlock{binary.BigEndian.Uint32(v[j:]), binary.BigEndian.Uint32(v[j+4:])}
					o.NumSACK++
				}
			}
		case OptionTimestamps:
			if len(v) == 8 {
				o.HasTimestamps = true
				o.TSVal, o.TSEcr = binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:])
			}
		}
		i += l
	}
	return o, nil
}

// EncodedLen is the number of bytes Encode writes: the options, NOP-padded
// to 4-byte alignment, capped at 40 bytes (SACK blocks that do not fit are
// left out).
func (o *SegmentOptions) EncodedLen() int {
	n := 0
	if o.HasMSS {
		n += 4
	}
	if o.HasWindowScale {
		n += 4
	}
	if o.SACKPermitted {
		n += 4
	}
	if o.HasTimestamps {
		n += 12
	}
	if k := o.sackBlocksThatFit(n); k > 0 {
		n += 4 + 8*k
	}
	return n
}

func (o *SegmentOptions) sackBlocksThatFit(used int) int {
	k := min(o.NumSACK, len(o.SACK))
	for k > 0 && used+4+8*k > 40 {
		k--
	}
	return k
}

// Encode writes the options into b (at least EncodedLen bytes) and returns
// the number of bytes written, a multiple of 4.
func (o *SegmentOptions) Encode(b []byte) int {
	n := 0
	if o.HasMSS {
		b[n], b[n+1] = OptionMSS, 4
		binary.BigEndian.PutUint16(b[n+2:], o.MSS)
		n += 4
	}
	if o.HasWindowScale {
		b[n], b[n+1], b[n+2], b[n+3] = OptionNOP, OptionWindowScale, 3, o.WindowScale
		n += 4
	}
	if o.SACKPermitted {
		b[n], b[n+1], b[n+2], b[n+3] = OptionNOP, OptionNOP, OptionSACKPermitted, 2
		n += 4
	}
	if o.HasTimestamps {
		b[n], b[n+1], b[n+2], b[n+3] = OptionNOP, OptionNOP, OptionTimestamps, 10
		binary.BigEndian.PutUint32(b[n+4:], o.TSVal)
		binary.BigEndian.PutUint32(b[n+8:], o.TSEcr)
		n += 12
	}
	if k := o.sackBlocksThatFit(n); k > 0 {
		b[n], b[n+1], b[n+2], b[n+3] = OptionNOP, OptionNOP, OptionSACK, byte(2+8*k)
		n += 4
		for _, blk := range o.SACK[:k] {
			binary.BigEndian.PutUint32(b[n:], blk.Left)
			binary.BigEndian.PutUint32(b[n+4:], blk.Right)
			n += 8
		}
	}
	return n
}
