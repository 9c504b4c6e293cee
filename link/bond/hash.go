package bond

import (
	"encoding/binary"

	"github.com/tapstack/tapstack/stack"
)

// HashPolicy chooses the slave of a frame in balance-xor and 802.3ad
// modes (Linux's xmit_hash_policy): every frame of a flow hashes alike,
// so a flow stays on one slave and in order.
type HashPolicy uint8

// Hash policies.
const (
	// Layer2 hashes the MAC addresses and the EtherType.
	Layer2 HashPolicy = iota
	// Layer34 hashes the IP addresses and TCP/UDP ports (layer3+4); a
	// fragment or another protocol hashes its IP addresses, a non-IP
	// frame as Layer2.
	Layer34
)

// String returns Linux's name of the policy.
func (h HashPolicy) String() string {
	if h == Layer34 {
		return "layer3+4"
	}
	return "layer2"
}

// fold mixes a 32-bit hash as Linux's bond_xmit_hash does.
func fold(h uint32) uint32 {
	h ^= h >> 16
	h ^= h >> 8
	return h >> 1
}

// l2Hash hashes the addresses and the EtherType of an Ethernet frame of
// at least 14 bytes.
func l2Hash(f []byte) uint32 {
	h := binary.BigEndian.Uint32(f[2:6]) ^ binary.BigEndian.Uint32(f[8:12]) ^ uint32(binary.BigEndian.Uint16(f[12:14]))
	return fold(h)
}

// frameHash hashes frame f by policy; it never panics on short frames.
func frameHash(policy HashPolicy, f []byte) uint32 {
	if len(f) < 14 {
		return 0
	}
	if policy == Layer2 {
		return l2Hash(f)
	}
	off := 12
	et := binary.BigEndian.Uint16(f[off:])
	if (et == stack.EtherTypeVLAN || et == stack.EtherTypeQinQ) && len(f) >= 18 {
		off += 4
		et = binary.BigEndian.Uint16(f[off:])
	}
	ip := f[off+2:]
	var h uint32
	var proto byte
	var l4 []byte
	switch et {
	case stack.EtherTypeIPv4:
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return l2Hash(f)
		}
		ihl := int(ip[0]&0xf) * 4
		h = binary.BigEndian.Uint32(ip[12:16]) ^ binary.BigEndian.Uint32(ip[16:20])
		fragment := binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0
		if !fragment && ihl >= 20 && len(ip) >= ihl+4 {
			proto, l4 = ip[9], ip[ihl:]
		}
	case stack.EtherTypeIPv6:
		if len(ip) < 40 {
			return l2Hash(f)
		}
		for i := 8; i < 40; i += 4 {
			h ^= binary.BigEndian.Uint32(ip[i:])
		}
		if len(ip) >= 44 {
			proto, l4 = ip[6], ip[40:]
		}
	default:
		return l2Hash(f)
	}
	if proto == 6 || proto == 17 {
		h ^= binary.BigEndian.Uint32(l4[0:4])
	}
	return fold(h)
}
