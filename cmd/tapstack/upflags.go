package main

import (
	"errors"
	"flag"
	"github.com/tapstack/tapstack/trace"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
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
	CC        string            // --cc: TCP congestion control ("": cubic)
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
	// Trace, when not nil, prints every packet's journey passing it to
	// stdout from the start (--trace FILTER; "all" or "" for everything).
	Trace *trace.Filter
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
		cc      = fs.String("cc", "", "")
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
	traceF := fs.String("trace", "", "")
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
	if set["trace"] {
		if cfg.Trace, err = parseTraceFilter(*traceF); err != nil {
			return cfg, err
		}
	}
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
	if *cc != "" && !slices.Contains(tcp.CongestionControls(), *cc) {
		return cfg, usagef("unknown --cc %q: want one of %s", *cc, strings.Join(tcp.CongestionControls(), ", "))
	}
	cfg.CC = *cc
	return cfg, nil
}
