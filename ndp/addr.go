package ndp

import (
	"crypto/sha256"
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// linkLocalPrefix is fe80::/64, the prefix of link-local addresses.
var linkLocalPrefix = netip.MustParsePrefix("fe80::/64")

// EUI64 returns the modified EUI-64 interface identifier of mac (RFC 4291
// appendix A): ff:fe in the middle and the universal/local bit flipped.
func EUI64(mac stack.MAC) [8]byte {
	return [8]byte{mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
}

// LinkLocal returns the EUI-64 link-local address of mac (fe80::ff:fe...,
// RFC 4862 5.3) with its /64 prefix length, ready for nic.AddAddress or
// ProbeAndAdd.
func LinkLocal(mac stack.MAC) netip.Prefix {
	return withIID(linkLocalPrefix, EUI64(mac))
}

// withIID returns the address of the /64 prefix with interface id iid,
// as a /64 prefix.
func withIID(prefix netip.Prefix, iid [8]byte) netip.Prefix {
	b := prefix.Masked().Addr().As16()
	copy(b[8:], iid[:])
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// StableAddress returns the RFC 7217 stable, semantically opaque address
// of the /64 prefix for an interface: the interface identifier is the low
// 64 bits of F = SHA-256(Prefix | Net_Iface | Network_ID | DAD_Counter |
// secret_key). A reserved identifier (RFC 5453: zero, the subnet anycast
// range) is replaced by the next DAD counter's, as RFC 7217 section 5
// says. It returns the address with its /64 prefix length.
func StableAddress(prefix netip.Prefix, ifname string, networkID []byte, dadCounter uint8, secret []byte) netip.Prefix {
	for {
		pb := prefix.Masked().Addr().As16()
		h := sha256.New()
		h.Write(pb[:8])
		h.Write([]byte(ifname))
		h.Write(networkID)
		h.Write([]byte{dadCounter})
		h.Write(secret)
		sum := h.Sum(nil)
		iid := [8]byte(sum[len(sum)-8:])
		if !reservedIID(iid) {
			return withIID(prefix, iid)
		}
		dadCounter++
	}
}

// reservedIID reports the interface identifiers RFC 5453 reserves.
func reservedIID(iid [8]byte) bool {
	if iid == [8]byte{} {
		return true
	}
	// fdff:ffff:ffff:ff80 to fdff:ffff:ffff:ffff: reserved anycast.
	return iid[0] == 0xfd && iid[1] == 0xff && iid[2] == 0xff && iid[3] == 0xff &&
		iid[4] == 0xff && iid[5] == 0xff && iid[6] == 0xff && iid[7] >= 0x80
}
