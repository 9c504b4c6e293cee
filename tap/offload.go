package tap

import (
	"encoding/binary"
	"errors"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// MaxGSOSize is what GSOMaxSize reports for an offloading TAP: the largest
// IPv4 packet, the most one TSO super-segment can carry.
const MaxGSOSize = 65535

// gsoFrameMax is the largest frame of an offloading TAP: a 64 KiB IP packet
// behind Ethernet and two VLAN tags.
const gsoFrameMax = MaxGSOSize + link.EthernetHeaderLen + link.MaxVLANTags*link.VLANTagLen

// Offload errors WriteFrame returns for packets it cannot describe.
var (
	// ErrOffloadNotIPv4 is a ChecksumPartial or GSO frame that is not a
	// well-formed IPv4 or IPv6 TCP (or, without GSO, UDP) packet.
	ErrOffloadNotIPv4 = errors.New("tap: offload requested for a frame that is not IPv4 or IPv6 TCP/UDP")
	// ErrGSOUnsupported is a GSO frame on a TAP without offloads.
	ErrGSOUnsupported = errors.New("tap: GSO frame on a TAP without offloads")
)

// GSOMaxSize is the largest TCP packet (IP header included) the device
// segments for us: MaxGSOSize with offloads, 0 without.
func (d *Device) GSOMaxSize() int {
	if d.vnet {
		return MaxGSOSize
	}
	return 0
}

// ChecksumOffload reports whether the device completes the transport
// checksum of frames marked ChecksumPartial (true with offloads; without,
// WriteFrame completes it in software).
func (d *Device) ChecksumOffload() bool { return d.vnet }

// Offload reports whether the TAP was opened with the virtio-net header
// and the kernel accepted CSUM and TSO4.
func (d *Device) Offload() bool { return d.vnet }

// ipOffset finds where the IPv4 or IPv6 header of an Ethernet frame
// starts, behind any VLAN tags; ok is false when the frame does not carry
// a whole fixed header (20 bytes of IPv4, 40 of IPv6).
func ipOffset(frame []byte) (off int, v6, ok bool) {
	eth := link.EthernetHeader(frame)
	if eth.Validate() != nil {
		return 0, false, false
	}
	off = link.EthernetHeaderLen
	et := eth.EtherType()
	for link.IsVLANTPID(et) && off+link.VLANTagLen <= len(frame) {
		et = binary.BigEndian.Uint16(frame[off+2:])
		off += link.VLANTagLen
	}
	switch {
	case et == stack.EtherTypeIPv4 && off+20 <= len(frame) && frame[off]>>4 == 4:
		return off, false, true
	case et == stack.EtherTypeIPv6 && off+40 <= len(frame) && frame[off]>>4 == 6:
		return off, true, true
	}
	return 0, false, false
}

// l4Offsets finds, in an Ethernet frame, where the IP payload starts
// (csumStart), where its checksum field is from there (csumOffset) and
// the header length through the TCP header (hdrLen, TCP only). An IPv6
// packet must carry TCP or UDP right behind its fixed header (the stack
// sends its own segments without extension headers).
func l4Offsets(frame []byte) (csumStart, csumOffset, hdrLen int, proto uint8, v6 bool, err error) {
	off, v6, ok := ipOffset(frame)
	if !ok {
		return 0, 0, 0, 0, false, ErrOffloadNotIPv4
	}
	ihl := int(frame[off]&0xf) * 4
	proto = frame[off+9]
	if v6 {
		ihl, proto = 40, frame[off+6]
	}
	start := off + ihl
	switch {
	case ihl < 20:
	case proto == stack.ProtocolTCP && start+20 <= len(frame):
		doff := int(frame[start+12]>>4) * 4
		if doff >= 20 && start+doff <= len(frame) {
			return start, 16, start + doff, proto, v6, nil
		}
	case proto == stack.ProtocolUDP && start+8 <= len(frame):
		return start, 6, start + 8, proto, v6, nil
	}
	return 0, 0, 0, 0, false, ErrOffloadNotIPv4
}

// txHeader describes frame (with p's offload requests) in a virtio-net
// header.
func txHeader(frame []byte, gsoSize uint16, partial bool) (VirtioNetFields, error) {
	if gsoSize == 0 && !partial {
		return VirtioNetFields{}, nil
	}
	start, off, hdrLen, proto, v6, err := l4Offsets(frame)
	if err != nil {
		return VirtioNetFields{}, err
	}
	f := VirtioNetFields{Flags: VirtioNetNeedsCsum, CsumStart: uint16(start), CsumOffset: uint16(off)}
	if gsoSize > 0 {
		if proto != stack.ProtocolTCP {
			return VirtioNetFields{}, ErrOffloadNotIPv4
		}
		f.GSOType, f.GSOSize, f.HdrLen = VirtioNetGSOTCPv4, gsoSize, uint16(hdrLen)
		if v6 {
			f.GSOType = VirtioNetGSOTCPv6
		}
	}
	return f, nil
}

// completeChecksum does in software what NEEDS_CSUM asks of the device:
// the checksum field holds the pseudo-header sum; sum the transport header
// and payload over it and store the complement.
func completeChecksum(frame []byte) error {
	start, off, _, proto, _, err := l4Offsets(frame)
	if err != nil {
		return err
	}
	field := frame[start+off : start+off+2]
	c := checksum.Checksum(frame[start:], 0) // the field's pseudo-header sum is summed in
	if c == 0 && proto == stack.ProtocolUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(field, c)
	return nil
}

var _ link.OffloadDevice = (*Device)(nil)
