package link

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// VLANSpec is a VLAN sub-interface as a command line names it: the VLAN
// ID, the priority of its outbound frames and its address.
type VLANSpec struct {
	// VID is the VLAN ID, 1..4094.
	VID uint16
	// PCP is the priority code point of outbound tags, 0..7.
	PCP uint8
	// Addr is the interface address with its prefix length.
	Addr netip.Prefix
}

// String formats the spec the way ParseVLANSpec reads it.
func (v VLANSpec) String() string {
	s := strconv.Itoa(int(v.VID)) + ":" + v.Addr.String()
	if v.PCP != 0 {
		s += ":" + strconv.Itoa(int(v.PCP))
	}
	return s
}

// ParseVLANSpec parses "VID:ADDR/LEN" or "VID:ADDR/LEN:PCP", the value of
// a flag such as --vlan 10:10.0.10.2/24 or --vlan 20:10.0.20.2/24:5. Its
// errors are one line an operator can act on.
func ParseVLANSpec(s string) (VLANSpec, error) {
	var v VLANSpec
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return v, fmt.Errorf("VLAN %q: want VID:ADDRESS/LEN[:PRIORITY], like 10:10.0.10.2/24", s)
	}
	vid, err := strconv.ParseUint(parts[0], 10, 16)
	if err != nil || vid < MinVID || vid > MaxVID {
		return v, fmt.Errorf("VLAN %q: VLAN ID %q is not a number in %d..%d", s, parts[0], MinVID, MaxVID)
	}
	v.VID = uint16(vid)
	if v.Addr, err = netip.ParsePrefix(parts[1]); err != nil || !v.Addr.Addr().Is4() {
		return v, fmt.Errorf("VLAN %q: %q is not an IPv4 address with prefix length like 10.0.10.2/24", s, parts[1])
	}
	if len(parts) == 3 {
		pcp, err := strconv.ParseUint(parts[2], 10, 8)
		if err != nil || pcp > 7 {
			return v, fmt.Errorf("VLAN %q: priority %q is not a number in 0..7", s, parts[2])
		}
		v.PCP = uint8(pcp)
	}
	return v, nil
}

// VLANName returns the Linux name of VLAN vid on parent: "tap0.10".
func VLANName(parent string, vid uint16) string {
	return parent + "." + strconv.Itoa(int(vid))
}
