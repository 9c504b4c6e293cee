package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/link/bond"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// bondConfig is one --bond of `up`.
type bondConfig struct {
	Name        string
	Slaves      []bondSlave
	Mode        bond.Mode
	Hash        bond.HashPolicy
	Primary     string
	Fast        bool
	MIIMon      time.Duration
	ARPInterval time.Duration
	ARPTargets  []netip.Addr
	Passive     bool // lacp_active=off
	MinLinks    int
	UpDelay     time.Duration
	DownDelay   time.Duration
}

// bondSlave is a TAP of a bond, and the bridge it goes on ("": none).
type bondSlave struct{ Name, Bridge string }

const bondKeys = "slaves, mode, lacp_rate, lacp_active, min_links, xmit_hash_policy, primary, miimon, updelay, downdelay, arp_ip_target, arp_interval"

// parseBond parses --bond NAME,slaves=TAP[:BRIDGE]+TAP[:BRIDGE],mode=MODE[,...].
func parseBond(v string) (bondConfig, error) {
	parts := strings.Split(v, ",")
	if err := checkIfName("--bond "+v+": bond", parts[0]); err != nil {
		return bondConfig{}, err
	}
	c := bondConfig{Name: parts[0], Mode: bond.ActiveBackup}
	seen := map[string]bool{}
	modeSet := false
	for _, kv := range parts[1:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || val == "" {
			return c, usagef("malformed --bond %q: %q is not KEY=VALUE (keys: %s)", v, kv, bondKeys)
		}
		if seen[k] && k != "arp_ip_target" {
			return c, usagef("malformed --bond %q: %s given twice", v, k)
		}
		seen[k] = true
		switch k {
		case "slaves":
			for _, s := range strings.Split(val, "+") {
				name, br, _ := strings.Cut(s, ":")
				if err := checkIfName("--bond "+v+": slave", name); err != nil {
					return c, err
				}
				if br != "" {
					if err := checkIfName("--bond "+v+": bridge", br); err != nil {
						return c, err
					}
				}
				for _, o := range c.Slaves {
					if o.Name == name {
						return c, usagef("--bond %q: slave %s given twice", v, name)
					}
				}
				if name == c.Name {
					return c, usagef("--bond %q: the bond cannot be its own slave", v)
				}
				c.Slaves = append(c.Slaves, bondSlave{name, br})
			}
		case "mode":
			m, err := bond.ParseMode(val)
			if err != nil {
				return c, usagef("malformed --bond %q: %v", v, err)
			}
			c.Mode, modeSet = m, true
		case "lacp_rate":
			switch val {
			case "fast", "1":
				c.Fast = true
			case "slow", "0":
			default:
				return c, usagef("malformed --bond %q: lacp_rate %q (want fast or slow)", v, val)
			}
		case "lacp_active":
			switch val {
			case "on", "1":
			case "off", "0":
				c.Passive = true
			default:
				return c, usagef("malformed --bond %q: lacp_active %q (want on or off)", v, val)
			}
		case "min_links":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > 64 {
				return c, usagef("malformed --bond %q: min_links %q is not a number of links in 0..64", v, val)
			}
			c.MinLinks = n
		case "updelay", "downdelay":
			ms, err := strconv.Atoi(val)
			if err != nil || ms < 0 || ms > 600000 {
				return c, usagef("malformed --bond %q: %s %q is not milliseconds in 0..600000", v, k, val)
			}
			if k == "updelay" {
				c.UpDelay = time.Duration(ms) * time.Millisecond
			} else {
				c.DownDelay = time.Duration(ms) * time.Millisecond
			}
		case "xmit_hash_policy":
			switch val {
			case "layer2":
				c.Hash = bond.Layer2
			case "layer3+4":
				c.Hash = bond.Layer34
			default:
				return c, usagef("malformed --bond %q: xmit_hash_policy %q (want layer2 or layer3+4)", v, val)
			}
		case "primary":
			c.Primary = val
		case "miimon", "arp_interval":
			ms, err := strconv.Atoi(val)
			if err != nil || ms <= 0 || ms > 60000 {
				return c, usagef("malformed --bond %q: %s %q is not milliseconds in 1..60000", v, k, val)
			}
			if k == "miimon" {
				c.MIIMon = time.Duration(ms) * time.Millisecond
			} else {
				c.ARPInterval = time.Duration(ms) * time.Millisecond
			}
		case "arp_ip_target":
			for _, s := range strings.Split(val, "+") {
				a, err := netip.ParseAddr(s)
				if err != nil || !a.Is4() || a.IsUnspecified() || a.IsMulticast() {
					return c, usagef("malformed --bond %q: arp_ip_target %q is not an IPv4 address", v, s)
				}
				c.ARPTargets = append(c.ARPTargets, a)
			}
		default:
			return c, usagef("malformed --bond %q: unknown key %q (keys: %s)", v, k, bondKeys)
		}
	}
	switch {
	case len(c.Slaves) == 0:
		return c, usagef("--bond %q needs slaves=TAP+TAP, e.g. --bond %s,slaves=ta0+ta1,mode=802.3ad", v, c.Name)
	case !modeSet:
		return c, usagef("--bond %q needs mode=active-backup, balance-xor or 802.3ad", v)
	case c.Primary != "" && c.Mode != bond.ActiveBackup:
		return c, usagef("--bond %q: primary= goes with mode=active-backup", v)
	case (seen["lacp_rate"] || seen["lacp_active"] || seen["min_links"]) && c.Mode != bond.LACP:
		return c, usagef("--bond %q: lacp_rate=, lacp_active= and min_links= go with mode=802.3ad", v)
	case c.MinLinks > len(c.Slaves):
		return c, usagef("--bond %q: min_links=%d is more than its %d slaves", v, c.MinLinks, len(c.Slaves))
	case seen["xmit_hash_policy"] && c.Mode == bond.ActiveBackup:
		return c, usagef("--bond %q: xmit_hash_policy= goes with balance-xor or 802.3ad", v)
	case (len(c.ARPTargets) > 0 || c.ARPInterval > 0) && c.Mode != bond.ActiveBackup:
		return c, usagef("--bond %q: ARP monitoring (arp_ip_target, arp_interval) goes with mode=active-backup", v)
	case len(c.ARPTargets) > 0 && c.ARPInterval == 0:
		c.ARPInterval = 1000 * time.Millisecond
	case c.ARPInterval > 0 && len(c.ARPTargets) == 0:
		return c, usagef("--bond %q: arp_interval needs arp_ip_target=IP", v)
	}
	miimon := c.MIIMon
	if miimon == 0 {
		miimon = 100 * time.Millisecond
	}
	for _, d := range []struct {
		k string
		d time.Duration
	}{{"updelay", c.UpDelay}, {"downdelay", c.DownDelay}} {
		if d.d%miimon != 0 {
			return c, usagef("--bond %q: %s=%d is not a multiple of miimon=%d", v, d.k, d.d.Milliseconds(), miimon.Milliseconds())
		}
	}
	if c.Primary != "" && !c.hasSlave(c.Primary) {
		return c, usagef("--bond %q: primary %s is not one of its slaves", v, c.Primary)
	}
	return c, nil
}

func (c bondConfig) hasSlave(name string) bool {
	for _, s := range c.Slaves {
		if s.Name == name {
			return true
		}
	}
	return false
}

// parseBonds adds the --bond values to cfg and checks them against the
// interfaces: a bond needs an interface (--nic, --tap) and its slaves
// are not interfaces of their own.
func parseBonds(cfg *upConfig, vs []string) error {
	for _, v := range vs {
		b, err := parseBond(v)
		if err != nil {
			return err
		}
		for _, o := range cfg.Bonds {
			if o.Name == b.Name {
				return usagef("--bond %s is given twice", b.Name)
			}
			for _, s := range b.Slaves {
				if o.hasSlave(s.Name) {
					return usagef("TAP %s is a slave of both %s and %s", s.Name, o.Name, b.Name)
				}
			}
		}
		if cfg.tap(b.Name) == nil {
			return usagef("bond %s has no interface: add --nic %s,addr=CIDR (or vlan=VID)", b.Name, b.Name)
		}
		for _, s := range b.Slaves {
			if cfg.tap(s.Name) != nil {
				return usagef("%s is a slave of %s: give the bond the addresses (--nic %s,addr=...)", s.Name, b.Name, b.Name)
			}
		}
		if t := cfg.tap(b.Name); t.TUN || t.Bridge != "" {
			return usagef("bond %s: give each slave its bridge (slaves=%s:BRIDGE+...), not the bond", b.Name, b.Slaves[0].Name)
		}
		cfg.Bonds = append(cfg.Bonds, b)
	}
	return nil
}

// bond returns the bond called name, or nil.
func (c *upConfig) bond(name string) *bondConfig {
	for i := range c.Bonds {
		if c.Bonds[i].Name == name {
			return &c.Bonds[i]
		}
	}
	return nil
}

// openedDev is what openTaps opens: a TAP or a bond.
type openedDev interface {
	link.Device
	Offload() bool
}

// openDev opens TAP t, or the bond t names with its slaves.
func openDev(cfg upConfig, t tapConfig, mac stack.MAC, offload bool) (openedDev, error) {
	bc := cfg.bond(t.Name)
	if bc == nil {
		mode := tap.TAP
		if t.TUN {
			mode = tap.TUN
		}
		dev, err := tap.Open(tap.Config{Name: t.Name, Mode: mode, MTU: t.MTU, Bridge: t.Bridge, NoOffload: !offload, Logger: cfg.logger})
		if err != nil {
			return nil, explainOpenError(t.Name, err)
		}
		return dev, nil
	}
	return openBond(*bc, t, mac, offload, cfg.logger)
}

// bondDev is a running bond with the netlink handle its carrier polls use.
type bondDev struct {
	*bond.Bond
	nl *netlink.Handle
}

// Offload reports whether the bond offloads checksums (and TSO): only
// when every slave TAP took the virtio-net header (link/bond offload.go).
func (d bondDev) Offload() bool { return d.ChecksumOffload() }

// Close closes the bond and its slaves, then the netlink handle.
func (d bondDev) Close() error {
	err := d.Bond.Close()
	runningBonds.Delete(d.Name())
	d.nl.Close()
	return err
}

// runningBonds are the bonds of this process, by name, for /bond.
var runningBonds sync.Map

// openBond opens the slaves of bc (creating their TAPs, on their
// bridges) and the bond over them. Slaves are opened with offloads when
// offload is set; the bond offers what all of them got.
func openBond(bc bondConfig, t tapConfig, mac stack.MAC, offload bool, logger *slog.Logger) (openedDev, error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("bond %s: netlink: %v", bc.Name, err)
	}
	var scs []bond.SlaveConfig
	fail := func(err error) (openedDev, error) {
		for _, s := range scs {
			s.Dev.Close()
		}
		nl.Close()
		return nil, err
	}
	for _, s := range bc.Slaves {
		dev, err := tap.Open(tap.Config{Name: s.Name, MTU: t.MTU, Bridge: s.Bridge, NoOffload: !offload, Logger: logger})
		if err != nil {
			return fail(explainOpenError(s.Name, err))
		}
		name := s.Name
		scs = append(scs, bond.SlaveConfig{Name: name, Dev: dev, Carrier: func() bool { return carrier(nl, name) }})
	}
	b, err := bond.New(bond.Config{
		Name: bc.Name, MAC: mac, Mode: bc.Mode, Hash: bc.Hash, Primary: bc.Primary, LACPFast: bc.Fast,
		MIIMon: bc.MIIMon, ARPInterval: bc.ARPInterval, ARPTargets: bc.ARPTargets,
		LACPPassive: bc.Passive, MinLinks: bc.MinLinks, UpDelay: bc.UpDelay, DownDelay: bc.DownDelay,
	}, scs)
	if err != nil {
		return fail(fmt.Errorf("bond %s: %v", bc.Name, err))
	}
	runningBonds.Store(bc.Name, b)
	return bondDev{b, nl}, nil
}

// carrier reads a slave TAP's link through netlink: administratively up
// and not operationally down (a TAP whose fd we hold has carrier).
func carrier(nl *netlink.Handle, name string) bool {
	l, err := nl.LinkByName(name)
	if err != nil {
		return false
	}
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0 && a.OperState != netlink.OperDown && a.OperState != netlink.OperLowerLayerDown
}

// startBonds gives each bond the addresses of its interfaces, read from
// the running host at each failover.
func startBonds(cfg upConfig, h *host.Host) {
	for _, bc := range cfg.Bonds {
		v, ok := runningBonds.Load(bc.Name)
		if !ok {
			continue
		}
		var nics []nicConfig
		for _, n := range cfg.NICs {
			if n.Tap == bc.Name {
				nics = append(nics, n)
			}
		}
		v.(*bond.Bond).SetAddrs(func() []bond.Addr {
			var out []bond.Addr
			for _, n := range nics {
				nic := h.Stack().NIC(n.Name())
				if nic == nil {
					continue
				}
				for _, p := range nic.Addresses() {
					out = append(out, bond.Addr{VID: n.VLAN, Prefix: p})
				}
			}
			return out
		})
	}
}

// bondNames returns the names of the running bonds, sorted.
func bondNames() []string {
	var names []string
	runningBonds.Range(func(k, _ any) bool {
		names = append(names, k.(string))
		return true
	})
	sort.Strings(names)
	return names
}

// writeBonds writes the state of bond name ("": every bond) in the
// layout of /proc/net/bonding; it reports whether there was one.
func writeBonds(w io.Writer, name string) bool {
	found := false
	for _, n := range bondNames() {
		if name != "" && n != name {
			continue
		}
		v, _ := runningBonds.Load(n)
		if found {
			fmt.Fprintln(w)
		}
		found = true
		if name == "" {
			fmt.Fprintf(w, "==> %s <==\n", n)
		}
		v.(*bond.Bond).Status().WriteProc(w)
	}
	return found
}

// writeBondStatus adds the bonds to the status page.
func writeBondStatus(w io.Writer) {
	for _, n := range bondNames() {
		v, _ := runningBonds.Load(n)
		st := v.(*bond.Bond).Status()
		fmt.Fprintf(w, "\nbond %s: mode %s, mii %s", n, st.Mode, map[bool]string{true: "up", false: "down"}[st.MIIUp])
		if st.Active != "" {
			fmt.Fprintf(w, ", active %s", st.Active)
		}
		if st.ActiveAggregator != 0 {
			fmt.Fprintf(w, ", aggregator %d", st.ActiveAggregator)
		}
		fmt.Fprintln(w)
		for _, s := range st.Slaves {
			fmt.Fprintf(w, "  %s: mii %s, carrying %v, link failures %d, rx %d tx %d frames",
				s.Name, map[bool]string{true: "up", false: "down"}[s.MIIUp], s.Active, s.LinkFailures, s.RxFrames, s.TxFrames)
			if st.Mode == bond.LACP {
				fmt.Fprintf(w, ", aggregator %d, mux %v, actor state %#02x, partner %v key %d state %#02x",
					s.Aggregator, s.MuxState, uint8(s.Actor.State), s.Partner.System, s.Partner.Key, uint8(s.Partner.State))
			}
			fmt.Fprintln(w)
		}
	}
}

// handleBonds serves GET /bond[?name=NAME] on the control socket.
func handleBonds(mux *http.ServeMux) {
	mux.HandleFunc("GET /bond", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var sb strings.Builder
		if !writeBonds(&sb, name) {
			msg := "this host has no bond"
			if name != "" {
				msg = "this host has no bond " + name
			}
			http.Error(w, msg, http.StatusNotFound)
			return
		}
		io.WriteString(w, sb.String())
	})
}

// runBond is `tapstack bond [--tap NAME] [BOND]`: the state of a
// running host's bonds, in the layout of /proc/net/bonding/BOND.
func runBond(args []string, stdout io.Writer) error {
	name := ""
	if n := len(args); n > 0 && !strings.HasPrefix(args[n-1], "-") {
		name, args = args[n-1], args[:n-1]
		if err := checkIfName("bond", name); err != nil {
			return err
		}
	}
	fs := flag.NewFlagSet("bond", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	tapName := fs.String("tap", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s", flagMessage("bond", fs, err))
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q to bond", fs.Arg(0))
	}
	// The host that has the bond serves a control socket named after it.
	sock := *tapName
	if sock == "" {
		sock = name
	}
	addr, err := findHost(sock)
	if err != nil {
		return err
	}
	path := "/bond"
	if name != "" {
		path += "?name=" + url.QueryEscape(name)
	}
	out, err := controlDo(addr, "GET", path)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

func init() {
	commandHelp["bond"] = `usage: tapstack bond [--tap NAME] [BOND]

Prints the state of a running host's bonds (of BOND only when given) in
the layout of Linux's /proc/net/bonding/BOND: mode, slaves, MII status,
link failure count, aggregator IDs, LACP actor and partner keys and state
flags, and per-slave counters.

A bond is made by tapstack up --bond NAME,slaves=TAP[:BRIDGE]+TAP[:BRIDGE],
mode=802.3ad|active-backup|balance-xor[,lacp_rate=fast][,lacp_active=off]
[,min_links=N][,xmit_hash_policy=layer2|layer3+4][,primary=TAP][,miimon=MS]
[,updelay=MS][,downdelay=MS][,arp_ip_target=IP][,arp_interval=MS] and used
by --nic NAME,addr=CIDR (or vlan=VID) like a TAP. Slave TAPs are created if
missing. updelay and downdelay are multiples of miimon (100 by default).
`
}
