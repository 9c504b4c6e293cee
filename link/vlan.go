package link

import (
	"encoding/binary"
	"errors"

	"github.com/tapstack/tapstack/stack"
)

// VLANTagLen is the length of an IEEE 802.1Q tag: TPID and TCI.
const VLANTagLen = 4

// MaxVLANTags is the deepest tag stack ParseFrame accepts (802.1ad QinQ: an
// S-tag and a C-tag).
const MaxVLANTags = 2

// Errors of the VLAN parsers.
var (
	// ErrNotVLAN is returned when a tag's TPID is neither 0x8100 nor 0x88a8.
	ErrNotVLAN = errors.New("link: not a VLAN tag (TPID is not 0x8100 or 0x88a8)")
	// ErrTooManyTags is returned for frames with more than MaxVLANTags tags.
	ErrTooManyTags = errors.New("link: too many VLAN tags")
)

// IsVLANTPID reports whether t is an 802.1Q (0x8100) or 802.1ad (0x88a8)
// tag protocol identifier.
func IsVLANTPID(t uint16) bool { return t == stack.EtherTypeVLAN || t == stack.EtherTypeQinQ }

// VLANTag is a view of a 4-byte 802.1Q tag as it sits in a frame after the
// source MAC: the TPID (0x8100 or 0x88a8) and the tag control information
// (PCP, DEI, VID). The EtherType (or the next tag) follows it. Call Validate
// before the accessors; after it succeeds they cannot panic.
type VLANTag []byte

// Validate checks the length and the TPID.
func (t VLANTag) Validate() error {
	if len(t) < VLANTagLen {
		return ErrTooShort
	}
	if !IsVLANTPID(t.TPID()) {
		return ErrNotVLAN
	}
	return nil
}

// TPID returns the tag protocol identifier.
func (t VLANTag) TPID() uint16 { return binary.BigEndian.Uint16(t[0:2]) }

// TCI returns the whole tag control information field.
func (t VLANTag) TCI() uint16 { return binary.BigEndian.Uint16(t[2:4]) }

// PCP returns the 3-bit priority code point.
func (t VLANTag) PCP() uint8 { return t[2] >> 5 }

// DEI returns the drop eligible indicator.
func (t VLANTag) DEI() bool { return t[2]&0x10 != 0 }

// VID returns the 12-bit VLAN identifier (0: priority tag only; 4095 is
// reserved).
func (t VLANTag) VID() uint16 { return t.TCI() & 0x0fff }

// Fields returns the tag's fields.
func (t VLANTag) Fields() VLANFields {
	return VLANFields{TPID: t.TPID(), PCP: t.PCP(), DEI: t.DEI(), VID: t.VID()}
}

// VLANFields are the fields of an 802.1Q tag.
type VLANFields struct {
	// TPID is 0x8100 (802.1Q C-tag) or 0x88a8 (802.1ad S-tag); zero
	// encodes as 0x8100.
	TPID uint16
	// PCP is the priority code point (0-7; higher bits are ignored).
	PCP uint8
	// DEI is the drop eligible indicator.
	DEI bool
	// VID is the VLAN identifier (0-4095; higher bits are ignored).
	VID uint16
}

// Encode writes the tag into the first VLANTagLen bytes of b.
func (f VLANFields) Encode(b []byte) {
	_ = b[VLANTagLen-1]
	tpid := f.TPID
	if tpid == 0 {
		tpid = stack.EtherTypeVLAN
	}
	tci := uint16(f.PCP&7)<<13 | f.VID&0x0fff
	if f.DEI {
		tci |= 0x1000
	}
	binary.BigEndian.PutUint16(b[0:2], tpid)
	binary.BigEndian.PutUint16(b[2:4], tci)
}

// Frame is the parsed link header of a frame: addresses, up to MaxVLANTags
// tags (outermost first) and the EtherType of the payload.
type Frame struct {
	Dst, Src stack.MAC
	// Tags holds the first NumTags tags, outermost first.
	Tags    [MaxVLANTags]VLANFields
	NumTags int
	// EtherType is the type of the payload after the last tag (or the
	// 802.3 length, below MinEtherType, for an LLC frame).
	EtherType uint16
	// HeaderLen is where the payload starts: 14 plus 4 per tag.
	HeaderLen int
}

// ParseFrame parses the Ethernet header of b and any VLAN tags after it.
// It does not allocate. It fails with ErrTooShort when b ends inside the
// headers and with ErrTooManyTags for more than MaxVLANTags tags.
func ParseFrame(b []byte) (Frame, error) {
	var f Frame
	h := EthernetHeader(b)
	if err := h.Validate(); err != nil {
		return f, err
	}
	f.Dst, f.Src = h.Dst(), h.Src()
	off := 12
	for {
		if len(b) < off+2 {
			return f, ErrTooShort
		}
		et := binary.BigEndian.Uint16(b[off : off+2])
		if !IsVLANTPID(et) {
			f.EtherType = et
			f.HeaderLen = off + 2
			return f, nil
		}
		if f.NumTags == MaxVLANTags {
			return f, ErrTooManyTags
		}
		t := VLANTag(b[off:])
		if err := t.Validate(); err != nil {
			return f, err
		}
		f.Tags[f.NumTags] = t.Fields()
		f.NumTags++
		off += VLANTagLen
	}
}

// priorityTagged looks at a frame whose EtherType field (at offset 12) is
// a VLAN TPID. When its tag is a priority tag (VID 0) followed by an
// EtherType that is not another TPID, it returns that EtherType and the
// length of the headers (18): the frame is untagged with a priority
// (IEEE 802.1Q; Linux takes an 802.1ad tag with VID 0 the same way).
// Otherwise, or when b ends inside the tag, hdrLen is 0.
func priorityTagged(b []byte) (etherType uint16, hdrLen int) {
	if len(b) < EthernetHeaderLen+VLANTagLen || binary.BigEndian.Uint16(b[14:16])&0x0fff != 0 {
		return 0, 0
	}
	et := binary.BigEndian.Uint16(b[16:18])
	if IsVLANTPID(et) {
		return 0, 0
	}
	return et, EthernetHeaderLen + VLANTagLen
}
