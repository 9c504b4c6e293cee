package arp

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
)

// FormatTable writes entries in the column layout of the Linux `arp -n`
// command (net-tools): a header line, then one line per entry with the
// address, hardware type, hardware address, flags, mask and interface.
//
//	Address                  HWtype  HWaddress           Flags Mask            Iface
//	10.0.0.1                 ether   02:00:00:00:00:01   C                     tap0
//	10.0.0.9                         (incomplete)                              tap0
//	10.0.0.5                 ether   02:00:00:00:00:05   CM                    tap0
//	10.0.1.0                 *       <from_interface>    MP    255.255.255.0   tap0
//
// An entry without a known MAC prints "(incomplete)", a published entry
// that answers with the interface's own MAC prints "*" and
// "<from_interface>", and a published prefix shorter than /32 prints its
// netmask. Like `arp`, it prints nothing at all for no entries.
func FormatTable(w io.Writer, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	bw := bufio.NewWriter(w)
	// The format strings are those of net-tools' arp_disp().
	fmt.Fprintf(bw, "Address                  HWtype  HWaddress           Flags Mask            Iface\n")
	for _, e := range entries {
		hwType, hwAddr := "ether", e.MAC.String()
		if e.Flags&FlagComplete == 0 {
			if e.Flags&FlagPublished != 0 {
				hwType, hwAddr = "*", "<from_interface>"
			} else {
				hwType, hwAddr = "", "(incomplete)"
			}
		}
		mask := ""
		if e.Flags&FlagPublished != 0 && e.Prefix.IsValid() && e.Prefix.Bits() < 32 {
			mask = netmask(e.Prefix.Bits()).String()
		}
		fmt.Fprintf(bw, "%-23.23s  %-8.8s%-20.20s%-6.6s%-15.15s %s\n",
			e.Addr.String(), hwType, hwAddr, e.Flags.String(), mask, e.NIC)
	}
	return bw.Flush()
}

// netmask returns the dotted-quad mask of a prefix length.
func netmask(bits int) netip.Addr {
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
}
