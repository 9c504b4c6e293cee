package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// tapConfig is one TAP device of `up`.
type tapConfig struct {
	Name   string
	Bridge string    // "": not attached
	MTU    int       // of the TAP and of every interface on it
	MAC    stack.MAC // zero: random
	TUN    bool      // an L3 TUN device (--tun): no Ethernet, no MAC
}

// nicConfig is one interface of `up`: the TAP's native (untagged)
// interface, or a VLAN sub-interface on it.
type nicConfig struct {
	Tap  string // name of the TAP it is on
	VLAN uint16 // 0: native
	PCP  uint8  // priority of the VLAN's tags
	// Addr is the interface's first static address (zero with DHCP and
	// no IPv6 --addr), Addrs the others, of either family.
	Addr  netip.Prefix
	Addrs []netip.Prefix
	DHCP  bool // the IPv4 address comes from DHCP
}

// addrs returns every static address of the interface: Addr, then Addrs.
func (n nicConfig) addrs() []netip.Prefix {
	var as []netip.Prefix
	if n.Addr.IsValid() {
		as = append(as, n.Addr)
	}
	return append(as, n.Addrs...)
}

// addAddr adds p to the interface's static addresses; what names the
// flag for the error of a repeated address.
func (n *nicConfig) addAddr(what string, p netip.Prefix) error {
	for _, o := range n.addrs() {
		if o.Addr() == p.Addr() {
			return usagef("%s %v: the address is given twice", what, p)
		}
	}
	if !n.Addr.IsValid() {
		n.Addr = p
	} else {
		n.Addrs = append(n.Addrs, p)
	}
	return nil
}

// Name is the interface's name: the TAP's, or TAP.VID for a VLAN.
func (n nicConfig) Name() string {
	if n.VLAN == 0 {
		return n.Tap
	}
	return link.VLANName(n.Tap, n.VLAN)
}

// upConfig is the validated command line of `tapstack up`.
type upConfig struct {
	Taps    []tapConfig
	NICs    []nicConfig
	Gateway netip.Addr // IPv4 default gateway; zero: none
	// Gateway6 is the IPv6 default gateway (a link-local one carries its
	// interface as zone, fe80::1%tap0); zero: none, or learnt from
	// router advertisements.
	Gateway6 netip.Addr
	// NoSLAAC turns off IPv6 autoconfiguration from router
	// advertisements (--no-slaac).
	NoSLAAC   bool
	Routes    []host.Route
	Forward   bool
	StaticARP []host.StaticARP
	ProxyARP  []host.ProxyARP
	NoDAD     bool              // skip address conflict detection
	Pcap      string            // "": no capture
	Faults    *link.FaultConfig // nil: none
	FaultSpec string            // the --faults text, for the up line
	NoOffload bool              // open the TAPs without the virtio-net header
	DNS       []netip.Addr      // --dns: name servers (else the lease's)
	Hostname  string            // --hostname: DHCP option 12
	// Log is --log-format and --log-level (logflags.go); logger is the
	// logger up builds from it.
	Log    logConfig
	logger *slog.Logger
	// DHCPWait bounds the wait for the first lease (hidden flag
	// --dhcp-wait; 0 means defaultDHCPWait); DHCPRenew, when positive, renews that
	// long after each request (hidden --dhcp-renew, for tests).
	DHCPWait, DHCPRenew time.Duration
	// Status says where the status page is served (--status).
	Status statusMode
	// MaxConns caps each built-in TCP service's connections (--max-conns,
	// 0: defaultMaxConns); Idle closes a service connection that moves no
	// byte for that long (--idle-timeout, 0: defaultIdle). See limits.go.
	MaxConns int
	Idle     time.Duration
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (--memory-limit; 0: none).
	MemoryLimit int64
	// Bonds are the --bond interfaces (bond.go); each is a TAP entry of
	// Taps by name, its slaves are not.
	Bonds []bondConfig
}

// statusMode says who may read the status page.
type statusMode int

const (
	// statusPublic serves the page on :80 without peer addresses and
	// counters (host.WritePublicStatus): the default.
	statusPublic statusMode = iota
	// statusFull serves the operator's whole page on :80.
	statusFull
	// statusOff serves no page on :80; tapstack status still shows it.
	statusOff
)

// statusModes names the --status values.
var statusModes = map[string]statusMode{"public": statusPublic, "full": statusFull, "off": statusOff}

// defaultDHCPWait is how long up waits for a DHCP lease.
const defaultDHCPWait = 30 * time.Second

// dhcpNIC returns the interface that uses DHCP, or nil.
func (c *upConfig) dhcpNIC() *nicConfig {
	for i := range c.NICs {
		if c.NICs[i].DHCP {
			return &c.NICs[i]
		}
	}
	return nil
}

// tap returns the TAP called name.
func (c *upConfig) tap(name string) *tapConfig {
	for i := range c.Taps {
		if c.Taps[i].Name == name {
			return &c.Taps[i]
		}
	}
	return nil
}

// nic returns the interface called name.
func (c *upConfig) nic(name string) *nicConfig {
	for i := range c.NICs {
		if c.NICs[i].Name() == name {
			return &c.NICs[i]
		}
	}
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// parseUp parses and validates the flags of `up`. Every error is a
// *usageError (or flag.ErrHelp).
func parseUp(args []string) (upConfig, error) {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		tapName = fs.String("tap", "", "")
		tunName = fs.String("tun", "", "")
		bridge  = fs.String("bridge", "", "")
		mac     = fs.String("mac", "", "")
		mtu     = fs.String("mtu", "1500", "")
		pcap    = fs.String("pcap", "", "")
		faults  = fs.String("faults", "", "")
		forward = fs.Bool("forward", false, "")
		noDAD   = fs.Bool("no-dad", false, "")
		noSLAAC = fs.Bool("no-slaac", false, "")
		useDHCP = fs.Bool("dhcp", false, "")
		noOff   = fs.Bool("no-offload", false, "")
		hname   = fs.String("hostname", "", "")
		dwait   = fs.Duration("dhcp-wait", 0, "")  // hidden; 0: defaultDHCPWait
		drenew  = fs.Duration("dhcp-renew", 0, "") // hidden, for tests
		status  = fs.String("status", "public", "")
		maxConn = fs.Int("max-conns", defaultMaxConns, "")
		idle    = fs.String("idle-timeout", defaultIdle.String(), "")
		memLim  = fs.String("memory-limit", "", "")

		nics, vlans, routes, arps, proxies, dnss, addrs, gateways listFlag
	)
	logf := addLogFlags(fs)
	fs.Var(&addrs, "addr", "")
	fs.Var(&gateways, "gateway", "")
	fs.Var(&dnss, "dns", "")
	fs.Var(&nics, "nic", "")
	fs.Var(&vlans, "vlan", "")
	fs.Var(&routes, "route", "")
	fs.Var(&arps, "arp", "")
	fs.Var(&proxies, "arp-proxy", "")
	var bondFlags listFlag
	fs.Var(&bondFlags, "bond", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return upConfig{}, err
		}
		msg := flagMessage("up", fs, err)
		if _, rest, ok := strings.Cut(msg, "invalid boolean value "); ok {
			msg = "malformed boolean " + rest + " (want --flag or --flag=false)"
		} else if _, rest, ok := strings.Cut(msg, "parse error"); ok && strings.Contains(msg, "-dhcp-") {
			msg = "malformed duration" + rest + " (want e.g. 30s)"
		} else if strings.Contains(msg, "-max-conns") {
			msg = "malformed --max-conns: want a number of connections per service like 256"
		}
		return upConfig{}, usagef("%s", msg)
	}
	if fs.NArg() > 0 {
		return upConfig{}, usagef("unexpected argument %q to up (flags only)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *tunName != "" {
		switch {
		case *tapName != "":
			return upConfig{}, usagef("--tun and --tap exclude each other: a host runs on one TUN or on TAPs")
		case len(nics) > 0:
			return upConfig{}, usagef("--nic takes TAPs: with --tun give the TUN's addresses with --addr")
		case *useDHCP:
			return upConfig{}, usagef("--dhcp needs Ethernet: give the TUN its address with --addr")
		}
		for _, f := range []string{"bridge", "mac", "vlan", "pcap", "arp", "arp-proxy"} {
			if set[f] {
				return upConfig{}, usagef("--%s does not go with --tun: a TUN carries bare IP packets (no Ethernet, no bridge)", f)
			}
		}
		*tapName = *tunName
	}

	var cfg upConfig
	var err error
	if cfg.Log, err = logf.parse(); err != nil {
		return cfg, err
	}
	cfg.Forward, cfg.NoDAD, cfg.NoOffload, cfg.NoSLAAC = *forward, *noDAD, *noOff, *noSLAAC
	if err := parseLimits(&cfg, set, *status, *maxConn, *idle, *memLim); err != nil {
		return cfg, err
	}
	cfg.DHCPWait, cfg.DHCPRenew = *dwait, *drenew
	if cfg.DHCPWait < 0 || cfg.DHCPRenew < 0 {
		return cfg, usagef("--dhcp-wait and --dhcp-renew cannot be negative")
	}
	if *hname != "" {
		if len(*hname) > 63 || strings.ContainsAny(*hname, " \t\n.,/") {
			return cfg, usagef("malformed --hostname %q: want one DNS label like vm1", *hname)
		}
		if !*useDHCP {
			return cfg, usagef("--hostname is sent to the DHCP server: it goes with --dhcp")
		}
		cfg.Hostname = *hname
	}
	for _, d := range dnss {
		a, err := netip.ParseAddr(d)
		if err != nil || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() || (a.Zone() != "" && !a.IsLinkLocalUnicast()) {
			return cfg, usagef("malformed --dns %q: want the address of a name server like 10.0.0.1 or fd00::1", d)
		}
		for _, o := range cfg.DNS {
			if o == a {
				return cfg, usagef("--dns %v is given twice", a)
			}
		}
		cfg.DNS = append(cfg.DNS, a)
	}

	// The one-interface shorthand: --tap with --addr and/or --vlan.
	if *tapName == "" {
		if len(nics) == 0 {
			return cfg, usagef("up needs --tap NAME (the TAP device, e.g. tap0) or --nic TAP,addr=CIDR,...")
		}
		for _, f := range []string{"bridge", "addr", "mac", "mtu", "vlan"} {
			if set[f] {
				return cfg, usagef("--%s goes with --tap (with --nic, write %s= inside the --nic value)", f, f)
			}
		}
		if *useDHCP {
			return cfg, usagef("--dhcp goes with --tap: the TAP's untagged interface gets its address from DHCP")
		}
	} else {
		if err := checkIfName("--tap", *tapName); err != nil {
			return cfg, err
		}
		t := tapConfig{Name: *tapName}
		if *bridge != "" {
			if err := checkIfName("--bridge", *bridge); err != nil {
				return cfg, err
			}
			if *bridge == *tapName {
				return cfg, usagef("--bridge and --tap are both %q", *bridge)
			}
			t.Bridge = *bridge
		}
		if *mac != "" {
			m, err := parseMAC("--mac", *mac)
			if err != nil {
				return cfg, err
			}
			t.MAC = m
		}
		n, err := parseMTU("--mtu", *mtu)
		if err != nil {
			return cfg, err
		}
		t.MTU = n
		if len(addrs) == 0 && len(vlans) == 0 && !*useDHCP {
			return cfg, usagef("up needs --addr CIDR (the host's address, e.g. 10.0.0.2/24 or fd00::2/64), --dhcp or --vlan VID:CIDR")
		}
		t.TUN = *tunName != ""
		cfg.Taps = append(cfg.Taps, t)
		native := nicConfig{Tap: t.Name, DHCP: *useDHCP}
		for _, a := range addrs {
			p, err := parseHostPrefix("--addr", a)
			if err != nil {
				return cfg, err
			}
			if *useDHCP && p.Addr().Is4() {
				return cfg, usagef("--dhcp and --addr %v exclude each other: the IPv4 address comes from the DHCP server (drop one; an IPv6 --addr may stay)", p)
			}
			if err := native.addAddr("--addr", p); err != nil {
				return cfg, err
			}
		}
		if native.DHCP || native.Addr.IsValid() {
			cfg.NICs = append(cfg.NICs, native)
		}
		for _, v := range vlans {
			spec, err := link.ParseVLANSpec(v)
			if err != nil {
				return cfg, usagef("malformed --vlan: %v", err)
			}
			if err := checkHostPrefix("--vlan "+v, spec.Addr); err != nil {
				return cfg, err
			}
			cfg.NICs = append(cfg.NICs, nicConfig{Tap: t.Name, VLAN: spec.VID, PCP: spec.PCP, Addr: spec.Addr})
		}
	}
	for _, v := range nics {
		if err := parseNIC(&cfg, v); err != nil {
			return cfg, err
		}
	}
	if err := parseBonds(&cfg, bondFlags); err != nil {
		return cfg, err
	}
	// Interfaces: unique names and addresses.
	for i, a := range cfg.NICs {
		for _, b := range cfg.NICs[:i] {
			if a.Name() == b.Name() {
				if a.VLAN == 0 {
					return cfg, usagef("TAP %s has two untagged interfaces (%v and %v): give one of them vlan=VID, or use one TAP per interface", a.Tap, b.Addr, a.Addr)
				}
				return cfg, usagef("VLAN %d on TAP %s is configured twice", a.VLAN, a.Tap)
			}
			for _, pa := range a.addrs() {
				for _, pb := range b.addrs() {
					if pa.Addr() == pb.Addr() {
						return cfg, usagef("address %v is on both %s and %s", pa.Addr(), b.Name(), a.Name())
					}
				}
			}
		}
	}
	for _, t := range cfg.Taps {
		for _, b := range cfg.Taps {
			if t.Name == b.Bridge {
				return cfg, usagef("%s is both a TAP and a bridge", t.Name)
			}
		}
	}

	for _, gw := range gateways {
		if err := parseGateway(&cfg, gw, *useDHCP); err != nil {
			return cfg, err
		}
	}
	for _, r := range routes {
		rt, err := parseRoute(&cfg, r)
		if err != nil {
			return cfg, err
		}
		cfg.Routes = append(cfg.Routes, rt)
	}
	for _, a := range arps {
		ip, m, err := arp.ParseStatic(a)
		if err != nil {
			return cfg, usagef("malformed --arp: %v", err)
		}
		if !inSubnet(&cfg, ip, "") {
			return cfg, usagef("--arp %s: %v is not inside any interface's subnet", a, ip)
		}
		cfg.StaticARP = append(cfg.StaticARP, host.StaticARP{Addr: ip, MAC: m})
	}
	for _, a := range proxies {
		p, m, err := arp.ParsePublished(a)
		if err != nil {
			return cfg, usagef("malformed --arp-proxy: %v", err)
		}
		cfg.ProxyARP = append(cfg.ProxyARP, host.ProxyARP{Prefix: p, MAC: m})
	}

	if *pcap != "" && len(cfg.Taps) > 1 {
		return cfg, usagef("--pcap captures one TAP: with several TAPs, capture on the bridges with tcpdump instead")
	}
	cfg.Pcap = *pcap
	if *faults != "" {
		fc, err := link.ParseFaults(*faults)
		if err != nil {
			return cfg, usagef("malformed --faults %q: %v", *faults, err)
		}
		cfg.Faults, cfg.FaultSpec = &fc, *faults
	}
	return cfg, nil
}

// parseLimits checks --status, --max-conns, --idle-timeout and
// --memory-limit into cfg; MaxConns and Idle stay zero (the defaults)
// unless given.
func parseLimits(cfg *upConfig, set map[string]bool, status string, maxConns int, idle, memLimit string) error {
	m, ok := statusModes[status]
	if !ok {
		return usagef("malformed --status %q: want public (the default: the page on :80 without peer addresses and counters), full or off", status)
	}
	cfg.Status = m
	if maxConns < 1 || maxConns > 65535 {
		return usagef("--max-conns %d is out of range: want 1..65535 connections per service", maxConns)
	}
	if set["max-conns"] {
		cfg.MaxConns = maxConns
	}
	d, err := time.ParseDuration(idle)
	if err != nil || d < time.Second {
		return usagef("malformed --idle-timeout %q: want a duration of at least 1s, e.g. 2m", idle)
	}
	if set["idle-timeout"] {
		cfg.Idle = d
	}
	if memLimit != "" {
		n, err := parseSize(memLimit)
		if err != nil || n < 16<<20 {
			return usagef("malformed --memory-limit %q: want a size of at least 16MiB, e.g. 256MiB or 1GiB", memLimit)
		}
		cfg.MemoryLimit = n
	}
	return nil
}

// parseSize parses a byte count with an optional binary suffix: 1048576,
// 512KiB, 256MiB, 1GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New("malformed size")
	}
	return n * mult, nil
}

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

// parseRoute parses --route PREFIX,via=IP[,dev=NAME] (PREFIX may be
// "default"; a route may name dev= without via= for an on-link prefix).
func parseRoute(cfg *upConfig, v string) (host.Route, error) {
	var r host.Route
	parts := strings.Split(v, ",")
	dst := parts[0]
	if dst == "default" {
		// The family of the default route is its gateway's.
		dst = "0.0.0.0/0"
		for _, kv := range parts[1:] {
			if g, ok := strings.CutPrefix(kv, "via="); ok && strings.Contains(g, ":") {
				dst = "::/0"
			}
		}
	}
	p, err := netip.ParsePrefix(dst)
	if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return r, usagef("malformed --route %q: %q is not a prefix like 10.1.0.0/16, fd00:1::/64 or default", v, parts[0])
	}
	if p != p.Masked() {
		return r, usagef("malformed --route %q: %v has host bits set (did you mean %v?)", v, p, p.Masked())
	}
	r.Dst = p
	for _, kv := range parts[1:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || val == "" {
			return r, usagef("malformed --route %q: %q is not KEY=VALUE (keys: via, dev)", v, kv)
		}
		switch k {
		case "via":
			if r.Gateway.IsValid() {
				return r, usagef("malformed --route %q: via given twice", v)
			}
			g, err := netip.ParseAddr(val)
			if err != nil || g.Is4() != p.Addr().Is4() || g.Is4In6() {
				return r, usagef("malformed --route %q: via %q is not an address of the prefix's family (%s)", v, val, family(p.Addr()))
			}
			if g.Zone() != "" {
				return r, usagef("malformed --route %q: write the interface of via %s as dev=%s", v, val, g.Zone())
			}
			r.Gateway = g
		case "dev":
			if r.Interface != "" {
				return r, usagef("malformed --route %q: dev given twice", v)
			}
			if cfg.nic(val) == nil {
				return r, usagef("--route %q: no interface %q (interfaces: %s)", v, val, nicNames(cfg))
			}
			r.Interface = val
		default:
			return r, usagef("malformed --route %q: unknown key %q (keys: via, dev)", v, k)
		}
	}
	switch {
	case r.Gateway.Is6() && r.Gateway.IsLinkLocalUnicast():
		if r.Interface == "" {
			return r, usagef("--route %q: a link-local via needs its interface: add dev=NAME", v)
		}
	case r.Gateway.IsValid():
		if err := checkNextHop(cfg, "--route "+v+": via", r.Gateway, r.Interface); err != nil {
			return r, err
		}
	case r.Interface == "":
		return r, usagef("--route %q needs via=IP (a gateway) or dev=NAME", v)
	}
	for _, o := range cfg.Routes {
		if o.Dst == r.Dst && o.Gateway == r.Gateway && o.Interface == r.Interface {
			return r, usagef("--route %q is given twice", v)
		}
	}
	if r.Dst.Bits() == 0 && r.Gateway.IsValid() && (cfg.Gateway == r.Gateway || cfg.Gateway6.WithZone("") == r.Gateway) {
		return r, usagef("--route %q repeats --gateway", v)
	}
	return r, nil
}

// checkNextHop checks that g is a neighbour: inside a subnet of its
// family of an interface (of dev, when given) and not our own address.
func checkNextHop(cfg *upConfig, what string, g netip.Addr, dev string) error {
	for _, n := range cfg.NICs {
		for _, a := range n.addrs() {
			if a.Addr() == g {
				return usagef("%s %v is the host's own address", what, g)
			}
		}
	}
	if inSubnet(cfg, g, dev) {
		return nil
	}
	if len(cfg.NICs) == 1 && what == "--gateway" {
		if s := subnetsOf(cfg.NICs[:1], g); s != "" {
			return usagef("--gateway %v is not inside --addr subnet %s", g, s)
		}
		return usagef("--gateway %v: the interface has no %s --addr to reach it from", g, family(g))
	}
	if dev != "" {
		n := cfg.nic(dev)
		if s := subnetsOf([]nicConfig{*n}, g); s != "" {
			return usagef("%s %v is not inside the subnet of %s (%s)", what, g, dev, s)
		}
		return usagef("%s %v: %s has no %s address to reach it from", what, g, dev, family(g))
	}
	return usagef("%s %v is not inside the subnet of any interface (%s)", what, g, subnets(cfg))
}

// family names the address family of a, for messages.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// inSubnet reports whether a is inside a subnet of an interface (of dev,
// when given).
func inSubnet(cfg *upConfig, a netip.Addr, dev string) bool {
	for _, n := range cfg.NICs {
		if dev != "" && n.Name() != dev {
			continue
		}
		for _, p := range n.addrs() {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// subnetsOf lists the subnets of nics in the family of a.
func subnetsOf(nics []nicConfig, a netip.Addr) string {
	var s []string
	for _, n := range nics {
		for _, p := range n.addrs() {
			if p.Addr().Is4() == a.Is4() {
				s = append(s, p.Masked().String())
			}
		}
	}
	return strings.Join(s, ", ")
}

func nicNames(cfg *upConfig) string {
	var s []string
	for _, n := range cfg.NICs {
		s = append(s, n.Name())
	}
	return strings.Join(s, ", ")
}

func subnets(cfg *upConfig) string {
	var s []string
	for _, n := range cfg.NICs {
		if n.DHCP {
			s = append(s, n.Name()+" from DHCP, unknown yet")
		}
		for _, p := range n.addrs() {
			s = append(s, p.Masked().String())
		}
	}
	return strings.Join(s, ", ")
}

// parseGateway adds one --gateway: a default gateway per family. An IPv6
// link-local router (fe80::1) takes the interface as its zone; without
// one it is the only interface's, or the --tap's untagged one.
func parseGateway(cfg *upConfig, v string, dhcp bool) error {
	g, err := netip.ParseAddr(v)
	if err != nil || g.Is4In6() || g.IsUnspecified() || g.IsMulticast() {
		return usagef("malformed --gateway %q: want a router's address like 10.0.0.1, fd00::1 or fe80::1", v)
	}
	if g.Is4() {
		if dhcp {
			return usagef("--gateway %v and --dhcp exclude each other: the lease gives the IPv4 default router", g)
		}
		if cfg.Gateway.IsValid() {
			return usagef("--gateway is given twice for IPv4 (%v and %v): one default gateway per family", cfg.Gateway, g)
		}
		if err := checkNextHop(cfg, "--gateway", g, ""); err != nil {
			return err
		}
		cfg.Gateway = g
		return nil
	}
	if cfg.Gateway6.IsValid() {
		return usagef("--gateway is given twice for IPv6 (%v and %v): one default gateway per family", cfg.Gateway6, g)
	}
	if !g.IsLinkLocalUnicast() {
		if g.Zone() != "" {
			return usagef("malformed --gateway %q: only a link-local address takes an interface (%%%s)", v, g.Zone())
		}
		if err := checkNextHop(cfg, "--gateway", g, ""); err != nil {
			return err
		}
		cfg.Gateway6 = g
		return nil
	}
	switch zone := g.Zone(); {
	case zone != "":
		if cfg.nic(zone) == nil {
			return usagef("--gateway %v: no interface %q (interfaces: %s)", g, zone, nicNames(cfg))
		}
	case len(cfg.NICs) == 1:
		g = g.WithZone(cfg.NICs[0].Name())
	case len(cfg.Taps) == 1 && cfg.nic(cfg.Taps[0].Name) != nil:
		g = g.WithZone(cfg.Taps[0].Name)
	default:
		return usagef("--gateway %v is link-local: name its interface, e.g. %v%%%s", g, g, cfg.NICs[0].Name())
	}
	cfg.Gateway6 = g
	return nil
}

// checkIfName checks a Linux interface name.
func checkIfName(what, name string) error {
	switch {
	case name == "":
		return usagef("%s: empty interface name", what)
	case len(name) > 15:
		return usagef("%s %q is too long: interface names have at most 15 characters", what, name)
	case strings.ContainsAny(name, "/:=, \t\n") || name == "." || name == "..":
		return usagef("%s %q is not a valid interface name", what, name)
	}
	return nil
}

// parseHostPrefix parses an interface address like 10.0.0.2/24 or
// fd00::2/64.
func parseHostPrefix(what, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() {
		return p, usagef("malformed %s %q: want an address with prefix length like 10.0.0.2/24 or fd00::2/64", what, s)
	}
	return p, checkHostPrefix(what, p)
}

func checkHostPrefix(what string, p netip.Prefix) error {
	if a := p.Addr(); a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return usagef("%s %v cannot be a host address", what, p)
	}
	if p.Addr().Is4() && p.Bits() < 31 && (p.Addr() == p.Masked().Addr() || p.Addr() == stack.DirectedBroadcast(p)) {
		return usagef("%s %v is the network or broadcast address of its subnet", what, p)
	}
	if p.Addr().Is6() && p.Bits() < 127 && p.Addr() == p.Masked().Addr() {
		return usagef("%s %v is the subnet-router anycast address of its prefix (RFC 4291 2.6.1): use another, e.g. %v", what, p, p.Addr().Next())
	}
	return nil
}

func parseMAC(what, s string) (stack.MAC, error) {
	m, err := stack.ParseMAC(s)
	if err != nil {
		return m, usagef("malformed %s %q: want six hex bytes like 02:00:00:00:00:01", what, s)
	}
	if m.IsZero() || m.IsMulticast() {
		return m, usagef("%s %v is not a unicast address: the first byte must be even, e.g. 02:00:00:00:00:01", what, m)
	}
	return m, nil
}

func parseMTU(what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, usagef("malformed %s %q: want a number like 1500", what, s)
	}
	if n < tap.MinMTU || n > tap.MaxMTU {
		return 0, usagef("%s %d is out of range: want %d..%d", what, n, tap.MinMTU, tap.MaxMTU)
	}
	return n, nil
}
