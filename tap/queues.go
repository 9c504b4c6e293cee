package tap

import "encoding/binary"

// txQueue picks the queue to write frame b (behind hdr bytes of virtio-net
// header) on: by a hash of its IPv4 addresses and TCP/UDP ports, so that
// every packet of a flow leaves on one queue, and flows written from
// several goroutines at once use several queues. (tun may also learn the
// queue of a flow from it; the kernel seen here steers what it sends us by
// its own flow hash instead, which keeps each flow on one queue as well.)
// Frames that are not IP use queue 0.
func (d *Device) txQueue(b []byte, hdr int) int {
	if len(d.files) == 1 {
		return 0
	}
	return int(flowHashAt(b[hdr:], d.l3) % uint32(len(d.files)))
}

// flowHash hashes an Ethernet frame's IP addresses, protocol and (for
// unfragmented TCP and UDP) ports, behind any VLAN tags; 0 for anything
// else. (IPv6: the addresses' last 32 bits each, the next header and,
// when it is TCP or UDP, the ports.)
func flowHash(f []byte) uint32 { return flowHashAt(f, false) }

// flowHashAt is flowHash of a frame that is a bare IP packet when l3.
func flowHashAt(f []byte, l3 bool) uint32 {
	off, v6, ok := ipOffset(f, l3)
	if !ok {
		return 0
	}
	if v6 {
		ip := f[off:]
		h := binary.BigEndian.Uint32(ip[20:]) ^ binary.BigEndian.Uint32(ip[36:])*0x9e3779b1 ^ uint32(ip[6])
		if (ip[6] == 6 || ip[6] == 17) && len(ip) >= 44 {
			h ^= binary.BigEndian.Uint32(ip[40:]) * 0x85ebca6b
		}
		h ^= h >> 16
		h *= 0x7feb352d
		h ^= h >> 15
		return h
	}
	ip := f[off:]
	ihl := int(ip[0]&0x0f) * 4
	h := binary.BigEndian.Uint32(ip[12:]) ^ binary.BigEndian.Uint32(ip[16:])*0x9e3779b1 ^ uint32(ip[9])
	frag := binary.BigEndian.Uint16(ip[6:]) & 0x3fff // MF or an offset
	if (ip[9] == 6 || ip[9] == 17) && frag == 0 && ihl >= 20 && len(ip) >= ihl+4 {
		h ^= binary.BigEndian.Uint32(ip[ihl:]) * 0x85ebca6b
	}
	h ^= h >> 16
	h *= 0x7feb352d
	h ^= h >> 15
	return h
}
