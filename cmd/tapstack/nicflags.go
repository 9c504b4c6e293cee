package main

// Parsing of `up`'s --nic flag.

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tap"
)

// parseNIC adds the interface of one --nic TAP,bridge=BR,addr=CIDR[,mtu=N][,mac=MAC][,vlan=VID[:PCP]].
func parseNIC(cfg *upConfig, v string) error {
	parts := strings.Split(v, ",")
	if err := checkIfName("--nic "+v+": TAP", parts[0]); err != nil {
		return err
	}
	n := nicConfig{Tap: parts[0]}
	t := tapConfig{Name: parts[0]}
	seen := map[string]bool{}
	for _, kv := range parts[1:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || val == "" {
			return usagef("malformed --nic %q: %q is not KEY=VALUE (keys: bridge, addr, mtu, mac, vlan)", v, kv)
		}
		if seen[k] && k != "addr" {
			return usagef("malformed --nic %q: %s given twice", v, k)
		}
		seen[k] = true
		var err error
		switch k {
		case "bridge":
			if err = checkIfName("--nic "+v+": bridge", val); err == nil && val == t.Name {
				err = usagef("--nic %q: the bridge and the TAP are both %q", v, val)
			}
			t.Bridge = val
		case "addr": // repeatable: addr=10.0.1.1/24,addr=fd00:1::1/64
			var p netip.Prefix
			if p, err = parseHostPrefix("--nic "+v+": addr", val); err == nil {
				err = n.addAddr("--nic "+v+": addr", p)
			}
		case "mtu":
			t.MTU, err = parseMTU("--nic "+v+": mtu", val)
		case "mac":
			t.MAC, err = parseMAC("--nic "+v+": mac", val)
		case "vlan":
			vid, pcp, ok := strings.Cut(val, ":")
			x, perr := strconv.ParseUint(vid, 10, 16)
			if perr != nil || x < link.MinVID || x > link.MaxVID {
				return usagef("malformed --nic %q: vlan %q is not a VLAN ID in %d..%d", v, vid, link.MinVID, link.MaxVID)
			}
			n.VLAN = uint16(x)
			if ok {
				y, perr := strconv.ParseUint(pcp, 10, 8)
				if perr != nil || y > 7 {
					return usagef("malformed --nic %q: priority %q is not in 0..7", v, pcp)
				}
				n.PCP = uint8(y)
			}
		default:
			return usagef("malformed --nic %q: unknown key %q (keys: bridge, addr, mtu, mac, vlan)", v, k)
		}
		if err != nil {
			return err
		}
	}
	if !n.Addr.IsValid() {
		return usagef("--nic %q needs addr=CIDR, e.g. --nic %s,addr=10.0.0.2/24", v, v)
	}
	// Several --nic on one TAP (VLANs on a trunk) share the TAP's settings:
	// each may repeat them, but not contradict them.
	if old := cfg.tap(t.Name); old != nil {
		if t.Bridge != "" {
			if old.Bridge != "" && old.Bridge != t.Bridge {
				return usagef("TAP %s is given bridges %s and %s", t.Name, old.Bridge, t.Bridge)
			}
			old.Bridge = t.Bridge
		}
		if t.MTU != 0 {
			if old.MTU != 0 && old.MTU != t.MTU {
				return usagef("TAP %s is given MTUs %d and %d", t.Name, old.MTU, t.MTU)
			}
			old.MTU = t.MTU
		}
		if !t.MAC.IsZero() {
			if !old.MAC.IsZero() && old.MAC != t.MAC {
				return usagef("TAP %s is given MACs %v and %v", t.Name, old.MAC, t.MAC)
			}
			old.MAC = t.MAC
		}
	} else {
		if t.MTU == 0 {
			t.MTU = tap.DefaultMTU
		}
		cfg.Taps = append(cfg.Taps, t)
	}
	cfg.NICs = append(cfg.NICs, n)
	return nil
}
