package tap

import "github.com/tapstack/tapstack/stack"

// TUN mode. A TUN (IFF_TUN|IFF_NO_PI) is the kernel's L3 device: it
// carries bare IPv4 and IPv6 packets, no Ethernet header, no MAC addresses,
// no ARP or NDP. Open makes one with Config{Mode: TUN}, with the same
// virtio-net offloads (CSUM, TSO4, TSO6) and multiqueue as a TAP; the
// Device's "frames" are then IP packets, and it is wrapped for a stack with
// link.NewL3 (a stack.L3Link endpoint: the NIC on it never resolves
// neighbours) instead of link.NewEthernet:
//
//	dev, _ := tap.Open(tap.Config{Name: "tun0", Mode: tap.TUN})
//	nic, _ := s.AddNIC("tun0", link.NewL3(dev))
//
// The kernel side is an ordinary point-to-point interface: give it an
// address and routes with `ip addr` and `ip route`; a TUN cannot join a
// bridge. The offload metadata (partial checksums, GSO) means the same as
// on a TAP, with offsets counted from the IP header.

// Mode is the kind of device Open makes.
type Mode uint8

const (
	// TAP is an Ethernet device (IFF_TAP): frames with MAC addresses.
	TAP Mode = iota
	// TUN is an IP device (IFF_TUN): bare IPv4 and IPv6 packets.
	TUN
)

// String returns "tap" or "tun".
func (m Mode) String() string {
	switch m {
	case TAP:
		return "tap"
	case TUN:
		return "tun"
	}
	return "mode?"
}

// Mode reports whether the device is a TAP or a TUN.
func (d *Device) Mode() Mode {
	if d.l3 {
		return TUN
	}
	return TAP
}

// IsL3 reports whether the device carries bare IP packets (a TUN). It makes
// a TUN Device a stack.L3Link, so link.NewL3 and host can tell.
func (d *Device) IsL3() bool { return d.l3 }

var _ stack.L3Link = (*Device)(nil)
