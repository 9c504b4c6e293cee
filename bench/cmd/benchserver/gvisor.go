package main

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// gvisorListen runs gVisor's netstack on a plain TAP (IFF_TAP|IFF_NO_PI:
// fdbased cannot use a TAP's virtio-net header) on bridge, configured the
// way embedders usually do (SACK and receive-buffer moderation on).
// With addr6 valid it also runs IPv6, its listeners dual-stack.
// With tun it runs on a TUN (no Ethernet header, no ARP, no bridge).
func gvisorListen(tapName, bridge string, addr, addr6 netip.Prefix, tun bool) (func(int) (net.Listener, error), func(int) (net.PacketConn, error), func(), error) {
	const mtu = 1500
	fd, err := openPlainTAP(tapName, tun)
	if err != nil {
		return nil, nil, nil, err
	}
	if tun {
		bridge = ""
	}
	if err := bringUp(tapName, bridge, mtu); err != nil {
		return nil, nil, nil, err
	}
	var mac [6]byte
	rand.Read(mac[:])
	mac[0] = mac[0]&^1 | 2
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)
	ep, err := fdbased.New(&fdbased.Options{
		FDs:            []int{fd},
		MTU:            mtu,
		EthernetHeader: !tun,
		Address:        tcpip.LinkAddress(mac[:]),
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("fdbased: %v", err)
	}
	if terr := s.CreateNIC(1, ep); terr != nil {
		return nil, nil, nil, fmt.Errorf("CreateNIC: %v", terr)
	}
	a4 := addr.Addr().As4()
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(a4), PrefixLen: addr.Bits()},
	}
	if terr := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); terr != nil {
		return nil, nil, nil, fmt.Errorf("AddProtocolAddress: %v", terr)
	}
	routes := []tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: 1}}
	if addr6.IsValid() {
		pa6 := tcpip.ProtocolAddress{
			Protocol:          ipv6.ProtocolNumber,
			AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16(addr6.Addr().As16()), PrefixLen: addr6.Bits()},
		}
		if terr := s.AddProtocolAddress(1, pa6, stack.AddressProperties{}); terr != nil {
			return nil, nil, nil, fmt.Errorf("AddProtocolAddress %v: %v", addr6, terr)
		}
		routes = append(routes, tcpip.Route{Destination: pa6.AddressWithPrefix.Subnet(), NIC: 1})
	}
	s.SetRouteTable(routes)
	listen := func(port int) (net.Listener, error) {
		// An IPv6 endpoint is dual-stack in gVisor (it takes IPv4 too,
		// as v4-mapped), as Go's listeners on Linux.
		proto := ipv4.ProtocolNumber
		if addr6.IsValid() {
			proto = ipv6.ProtocolNumber
		}
		return gonet.ListenTCP(s, tcpip.FullAddress{NIC: 1, Port: uint16(port)}, proto)
	}
	listenUDP := func(port int) (net.PacketConn, error) {
		proto := ipv4.ProtocolNumber
		if addr6.IsValid() {
			proto = ipv6.ProtocolNumber
		}
		return gonet.DialUDP(s, &tcpip.FullAddress{NIC: 1, Port: uint16(port)}, nil, proto)
	}
	return listen, listenUDP, func() { s.Close(); unix.Close(fd) }, nil
}

// openPlainTAP opens /dev/net/tun as the TAP (or, with tun, the TUN) name
// without packet info or virtio-net header.
func openPlainTAP(name string, tun bool) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	mode := uint16(unix.IFF_TAP)
	if tun {
		mode = unix.IFF_TUN
	}
	ifr.SetUint16(mode | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	return fd, nil
}

// bringUp sets the MTU, attaches the link to bridge and brings it up.
func bringUp(name, bridge string, mtu int) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMTU(l, mtu); err != nil {
		return err
	}
	if bridge != "" {
		br, err := netlink.LinkByName(bridge)
		if err != nil {
			return fmt.Errorf("bridge %s: %w", bridge, err)
		}
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return err
		}
	}
	return netlink.LinkSetUp(l)
}
