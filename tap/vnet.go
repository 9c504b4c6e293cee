package tap

import (
	"encoding/binary"
	"errors"
)

// VirtioNetHeaderLen is the length of the virtio-net header in front of
// every frame of a TAP opened with offloads (Config.NoOffload false): struct
// virtio_net_hdr_v1 (the mergeable-buffers layout), which TUNSETVNETHDRSZ
// sets.
const VirtioNetHeaderLen = 12

// Virtio-net header flags.
const (
	// VirtioNetNeedsCsum: the transport checksum is partial: the field at
	// CsumStart+CsumOffset holds the pseudo-header sum and the rest is to
	// be summed from CsumStart on. Data from the local kernel is intact.
	VirtioNetNeedsCsum uint8 = 1
	// VirtioNetDataValid: the checksum was verified.
	VirtioNetDataValid uint8 = 2
)

// Virtio-net GSO types.
const (
	VirtioNetGSONone  uint8 = 0
	VirtioNetGSOTCPv4 uint8 = 1
	VirtioNetGSOUDP   uint8 = 3
	VirtioNetGSOTCPv6 uint8 = 4
	VirtioNetGSOUDPL4 uint8 = 5
	// VirtioNetGSOECN is or-ed into the GSO type when the segments carry
	// ECN's CWR flag.
	VirtioNetGSOECN uint8 = 0x80
)

// TUNSETOFFLOAD flags (linux/if_tun.h; x/sys/unix does not define them).
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
)

// errShortVirtioNetHeader is VirtioNetHeader.Validate's error.
var errShortVirtioNetHeader = errors.New("tap: virtio-net header truncated")

// VirtioNetHeader is a view of a virtio-net header. Its multi-byte fields
// are little-endian: the TAP uses the host's byte order unless told
// otherwise (TUNSETVNETBE), and tapstack runs on little-endian hosts. Call
// Validate before the accessors.
type VirtioNetHeader []byte

// Validate checks that h is long enough; after it, no accessor panics.
func (h VirtioNetHeader) Validate() error {
	if len(h) < VirtioNetHeaderLen {
		return errShortVirtioNetHeader
	}
	return nil
}

// Flags returns the flags (VirtioNetNeedsCsum, VirtioNetDataValid).
func (h VirtioNetHeader) Flags() uint8 { return h[0] }

// GSOType returns the GSO type, VirtioNetGSONone for a plain frame.
func (h VirtioNetHeader) GSOType() uint8 { return h[1] }

// HdrLen returns the length of the headers copied into every segment.
func (h VirtioNetHeader) HdrLen() uint16 { return binary.LittleEndian.Uint16(h[2:]) }

// GSOSize returns the largest segment payload.
func (h VirtioNetHeader) GSOSize() uint16 { return binary.LittleEndian.Uint16(h[4:]) }

// CsumStart returns where checksumming starts, from the frame's start.
func (h VirtioNetHeader) CsumStart() uint16 { return binary.LittleEndian.Uint16(h[6:]) }

// CsumOffset returns where the checksum is stored, from CsumStart.
func (h VirtioNetHeader) CsumOffset() uint16 { return binary.LittleEndian.Uint16(h[8:]) }

// VirtioNetFields are the fields of a virtio-net header.
type VirtioNetFields struct {
	Flags, GSOType                         uint8
	HdrLen, GSOSize, CsumStart, CsumOffset uint16
}

// Encode writes the header into b[:VirtioNetHeaderLen] (num_buffers zero).
func (f VirtioNetFields) Encode(b []byte) {
	_ = b[VirtioNetHeaderLen-1]
	b[0], b[1] = f.Flags, f.GSOType
	binary.LittleEndian.PutUint16(b[2:], f.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], f.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], f.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], f.CsumOffset)
	b[10], b[11] = 0, 0
}
