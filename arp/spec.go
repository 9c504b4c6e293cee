package arp

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/tapstack/tapstack/stack"
)

// ParseStatic parses "IP=MAC", the value of a flag such as
// --arp 10.0.0.1=02:00:00:00:00:01, for AddStatic. Its errors are one line
// an operator can act on.
func ParseStatic(s string) (netip.Addr, stack.MAC, error) {
	ipStr, macStr, ok := strings.Cut(s, "=")
	if !ok {
		return netip.Addr{}, stack.MAC{}, fmt.Errorf("ARP entry %q: want IP=MAC, like 10.0.0.1=02:00:00:00:00:01", s)
	}
	ip, err := netip.ParseAddr(ipStr)
	if err != nil || !unicastIP(ip) {
		return netip.Addr{}, stack.MAC{}, fmt.Errorf("ARP entry %q: %q is not a unicast IPv4 address", s, ipStr)
	}
	mac, err := stack.ParseMAC(macStr)
	if err != nil || mac.IsZero() || mac.IsMulticast() {
		return netip.Addr{}, stack.MAC{}, fmt.Errorf("ARP entry %q: %q is not a unicast MAC address like 02:00:00:00:00:01", s, macStr)
	}
	return ip, mac, nil
}

// ParsePublished parses "IP[/LEN][=MAC]" for AddPublished: an address or
// prefix to answer for, with the MAC to answer with (none: the
// interface's own).
func ParsePublished(s string) (netip.Prefix, stack.MAC, error) {
	addrStr, macStr, hasMAC := strings.Cut(s, "=")
	var (
		p   netip.Prefix
		err error
	)
	if strings.Contains(addrStr, "/") {
		p, err = netip.ParsePrefix(addrStr)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(addrStr); err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, stack.MAC{}, fmt.Errorf("published ARP entry %q: %q is not an IPv4 address or prefix", s, addrStr)
	}
	var mac stack.MAC
	if hasMAC {
		if mac, err = stack.ParseMAC(macStr); err != nil || mac.IsMulticast() {
			return netip.Prefix{}, stack.MAC{}, fmt.Errorf("published ARP entry %q: %q is not a unicast MAC address like 02:00:00:00:00:01", s, macStr)
		}
	}
	return p.Masked(), mac, nil
}
