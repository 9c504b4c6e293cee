package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"net"

	dhcpd "github.com/tapstack/tapstack/dhcp/server"
	"github.com/tapstack/tapstack/dns/forward"
	"github.com/tapstack/tapstack/gateway"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/tap"
)

const gatewayHelp = `Usage: tapstack gateway (--tap NAME [--bridge BR] | --tun NAME) [--subnet CIDR] [flags]

User-mode networking for VMs, containers and sandboxes (what slirp4netns and
pasta do): tapstack is the guests' router at the subnet's .2, which also
stands for this namespace's loopback (10.0.2.2:PORT reaches 127.0.0.1:PORT),
their DNS server at .3 (answers from this namespace's resolver: its
/etc/hosts and resolv.conf) and, on a TAP, their DHCP server (leases from
.15). Every TCP connection, UDP flow and ping a guest
starts, to any destination, is relayed through this process's own sockets:
guests reach whatever this namespace reaches, with no NAT rules. Runs until
SIGINT or SIGTERM.

Flags:
  --tap NAME          the TAP device the guests are on (created if missing)
  --bridge BR         an existing Linux bridge to attach the TAP to
  --tun NAME          an L3 TUN device instead of a TAP
  --subnet CIDR       the guests' IPv4 network (default 10.0.2.0/24)
  --subnet6 CIDR      the guests' IPv6 /64, advertised for SLAAC on a TAP
                      with the DNS server at its ::3 (RDNSS); router ::2
                      (default fd00:10:0:2::/64; "none": no IPv6); on a
                      TUN guests configure an address in it themselves
  --dns-upstream IP[:PORT]   relay target of .3:53 flows the DNS server does
                      not take (default: resolv.conf's first nameserver)
  --forward-port PROTO:[HOSTADDR:]PORT=GUEST:PORT   forward a host port into a
                      guest, e.g. tcp:8080=10.0.2.15:80 or
                      tcp:[::1]:8080=[fd00:10:0:2::15]:80 (repeatable)
  --max-conns N       TCP relays at once (default 16384; per guest: half)
  --no-ping           answer no guest pings to outside destinations
  --no-offload        no checksum/segmentation offload (on by default)
  --mtu N             MTU (default 1500)
  --procs N           CPUs that run Go code at once (GOMAXPROCS; default 1:
                      less CPU per GiB and more throughput than all of them
                      on a bulk relay; 0: the Go runtime's default)
  --log-format text|json, --log-level debug|info|warn|error   log records on stderr

Example: tapstack gateway --tap tap0 --bridge br0 --forward-port tcp:8080=10.0.2.15:80
`

// gatewayConfig is the validated command line of `tapstack gateway`.
type gatewayConfig struct {
	Tap, Bridge, Tun string
	Subnet           netip.Prefix
	Subnet6          netip.Prefix // invalid: no IPv6
	DNSUpstream      netip.AddrPort
	Forwards         []gateway.Forward
	MaxConns         int
	NoPing           bool
	NoOffload        bool
	MTU              int
	Procs            int       // GOMAXPROCS; 0: the runtime's default
	Log              logConfig // --log-format, --log-level
}

// parseGatewayCmd parses the flags of `gateway`. Every error is a
// *usageError (or flag.ErrHelp).
func parseGatewayCmd(args []string) (gatewayConfig, error) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var c gatewayConfig
	var subnet, subnet6, upstream string
	var fwds listFlag
	fs.StringVar(&c.Tap, "tap", "", "")
	fs.StringVar(&c.Bridge, "bridge", "", "")
	fs.StringVar(&c.Tun, "tun", "", "")
	fs.StringVar(&subnet, "subnet", "10.0.2.0/24", "")
	fs.StringVar(&subnet6, "subnet6", defaultSubnet6, "")
	fs.StringVar(&upstream, "dns-upstream", "", "")
	fs.Var(&fwds, "forward-port", "")
	fs.IntVar(&c.MaxConns, "max-conns", gateway.DefaultMaxConns, "")
	fs.BoolVar(&c.NoPing, "no-ping", false, "")
	fs.BoolVar(&c.NoOffload, "no-offload", false, "")
	fs.IntVar(&c.MTU, "mtu", 1500, "")
	fs.IntVar(&c.Procs, "procs", 1, "")
	logf := addLogFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usagef("%s", flagMessage("gateway", fs, err))
	}
	if fs.NArg() > 0 {
		return c, usagef("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Log, err = logf.parse(); err != nil {
		return c, err
	}
	switch {
	case c.Tap == "" && c.Tun == "":
		return c, usagef("gateway needs --tap NAME (or --tun NAME)")
	case c.Tap != "" && c.Tun != "":
		return c, usagef("give --tap or --tun, not both")
	case c.Tun != "" && c.Bridge != "":
		return c, usagef("--bridge goes with --tap, not --tun")
	case c.MaxConns < 2:
		return c, usagef("--max-conns must be at least 2")
	case c.MTU < 576 || c.MTU > 65521:
		return c, usagef("--mtu must be 576..65521")
	case c.Procs < 0:
		return c, usagef("--procs must be 0 (the Go runtime's default) or more")
	}
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() > 29 {
		return c, usagef("--subnet %q: want an IPv4 network of at most /29, e.g. 10.0.2.0/24", subnet)
	}
	c.Subnet = p.Masked()
	if subnet6 != "none" {
		p6, err := netip.ParsePrefix(subnet6)
		if err != nil || !p6.Addr().Is6() || p6.Addr().Is4In6() || p6.Bits() != 64 {
			return c, usagef("--subnet6 %q: want an IPv6 /64, e.g. %s, or none", subnet6, defaultSubnet6)
		}
		c.Subnet6 = p6.Masked()
	}
	if upstream != "" {
		if c.DNSUpstream, err = netip.ParseAddrPort(upstream); err != nil {
			a, err2 := netip.ParseAddr(upstream)
			if err2 != nil {
				return c, usagef("--dns-upstream %q: want IP or IP:PORT", upstream)
			}
			c.DNSUpstream = netip.AddrPortFrom(a, 53)
		}
	}
	for _, s := range fwds {
		f, err := gateway.ParseForward(s)
		if err != nil {
			return c, usagef("--forward-port: %v", err)
		}
		if f.Guest.Addr().Is6() && !c.Subnet6.Contains(f.Guest.Addr()) {
			return c, usagef("--forward-port %s: the guest %v is not in --subnet6 %v", s, f.Guest.Addr(), c.Subnet6)
		}
		if f.Guest.Addr().Is4() && !c.Subnet.Contains(f.Guest.Addr()) {
			return c, usagef("--forward-port %s: the guest %v is not in --subnet %v", s, f.Guest.Addr(), c.Subnet)
		}
		c.Forwards = append(c.Forwards, f)
	}
	return c, nil
}

// defaultSubnet6 is the guests' default IPv6 network.
const defaultSubnet6 = "fd00:10:0:2::/64"

// resolvConfServer returns the first nameserver of /etc/resolv.conf.
func resolvConfServer(path string) netip.AddrPort {
	f, err := os.Open(path)
	if err != nil {
		return netip.AddrPort{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil && a.Is4() {
				return netip.AddrPortFrom(a, 53)
			}
		}
	}
	return netip.AddrPort{}
}

// acceptsRA reports whether the Linux interface name of this namespace
// takes router advertisements (accept_ra 2, or 1 without forwarding).
func acceptsRA(name string) bool {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return false
	}
	read := func(k string) string {
		b, _ := os.ReadFile("/proc/sys/net/ipv6/conf/" + name + "/" + k)
		return strings.TrimSpace(string(b))
	}
	ra := read("accept_ra")
	return ra == "2" || (ra == "1" && read("forwarding") == "0")
}

// nth6 returns the address n of the /64 p.
func nth6(p netip.Prefix, n byte) netip.Addr {
	b := p.Addr().As16()
	b[15] = n
	return netip.AddrFrom16(b)
}

// nthAddr returns the subnet's n-th address.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// runGateway runs the gateway until a value arrives on signals.
func runGateway(c gatewayConfig, stdout, stderr io.Writer, signals <-chan os.Signal) error {
	if c.Procs > 0 {
		// One P by default: a bulk relay then costs less CPU per GiB and
		// moves more (scripts/bench_gateway.sh, alternating A/B medians of
		// 18 runs on 2 CPUs: upload 0.65 -> 0.58 CPU-s/GiB and 7.5 -> 8.3
		// Gbit/s, download 0.83 -> 0.66 and 7.3 -> 8.8): the TAP reader,
		// the relays and the poller hand work to each other on one P
		// instead of waking idle ones on the other CPU.
		runtime.GOMAXPROCS(c.Procs)
	}
	name := c.Tap
	logger := c.Log.logger(stderr)
	tc := tap.Config{Name: c.Tap, Bridge: c.Bridge, MTU: c.MTU, NoOffload: c.NoOffload, Logger: logger}
	if c.Tun != "" {
		name = c.Tun
		tc = tap.Config{Name: c.Tun, Mode: tap.TUN, MTU: c.MTU, NoOffload: c.NoOffload, Logger: logger}
	}
	dev, err := tap.Open(tc)
	if err != nil {
		return explainOpenError(name, err)
	}
	router := nthAddr(c.Subnet, 2)
	dns := nthAddr(c.Subnet, 3)
	hc := host.Config{Interfaces: []host.Interface{{Name: name, Device: dev,
		Addr:  netip.PrefixFrom(router, c.Subnet.Bits()),
		Addrs: []netip.Prefix{netip.PrefixFrom(dns, c.Subnet.Bits())}}}, NoSLAAC: true, Logger: logger}
	var router6, dns6 netip.Addr
	if c.Subnet6.IsValid() {
		// Router advertisements of the /64 (SLAAC) with the DNS server's
		// address (RDNSS, RFC 8106).
		router6, dns6 = nth6(c.Subnet6, 2), nth6(c.Subnet6, 3)
		hc.Interfaces[0].Addrs = append(hc.Interfaces[0].Addrs, netip.PrefixFrom(router6, 64), netip.PrefixFrom(dns6, 64))
		if c.Tun == "" {
			hc.Advertise = &ndp.AdvertiseConfig{MaxInterval: 60 * time.Second, DNS: []netip.Addr{dns6}}
		}
	}
	h, err := host.New(hc)
	if err != nil {
		return err
	}
	defer h.Close()
	// The guests' DNS server at .3 (answers from this namespace's
	// resolver: its /etc/hosts and resolv.conf) and, on a TAP, their
	// DHCP server (leases from .15).
	st := h.Stack()
	gwNames := map[string][]netip.Addr{"gateway": {router}}
	dnsAddrs := []netip.Addr{dns}
	if dns6.IsValid() {
		gwNames["gateway"] = append(gwNames["gateway"], router6)
		dnsAddrs = append(dnsAddrs, dns6)
	}
	for _, a := range dnsAddrs {
		dnsSrv, err := forward.New(st, forward.Config{Addr: netip.AddrPortFrom(a, 53), Resolver: net.DefaultResolver, Hosts: gwNames})
		if err == nil {
			err = dnsSrv.Start()
		}
		if err != nil {
			return fmt.Errorf("DNS server on %v: %v", a, err)
		}
		defer dnsSrv.Close()
	}
	served := "dns " + dns.String()
	if dns6.IsValid() {
		served += " and " + dns6.String()
	}
	var status []func(io.Writer) // sections after the host's status page
	if c.Tun == "" {
		dhcpSrv, err := dhcpd.New(st, st.NIC(name), dhcpd.Config{Subnet: c.Subnet, Router: router,
			DNS: []netip.Addr{dns}, RangeStart: nthAddr(c.Subnet, 15)})
		if err == nil {
			err = dhcpSrv.Start()
		}
		if err != nil {
			return fmt.Errorf("DHCP server: %v", err)
		}
		defer dhcpSrv.Close()
		status = append(status, func(w io.Writer) { dhcpSrv.WriteLeases(w) })
		served += ", dhcp from " + nthAddr(c.Subnet, 15).String()
	}
	gc := gateway.Config{Subnet: c.Subnet, Subnet6: c.Subnet6, DNSUpstream: c.DNSUpstream, Forwards: c.Forwards,
		MaxConns: c.MaxConns, MaxConnsPerGuest: c.MaxConns / 2}
	if !gc.DNSUpstream.IsValid() {
		gc.DNSUpstream = resolvConfServer("/etc/resolv.conf")
	}
	if !c.NoPing {
		gc.Ping = gateway.DefaultPinger()
	}
	g, err := gateway.New(h, gc)
	if err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "gateway: "))
	}
	defer g.Close()
	status = append(status, func(w io.Writer) {
		st := g.Stats()
		fmt.Fprintf(w, "\n# gateway\ntcp relays %d, udp flows %d\n", st.TCPRelays, st.UDPFlows)
		if p := gc.Ping; p != nil {
			mode := func(a netip.Addr) string {
				if p.Relaying(a) {
					return "relayed through an ICMP socket"
				}
				return "answered by the gateway (no ICMP socket: see net.ipv4.ping_group_range)"
			}
			fmt.Fprintf(w, "ipv4 pings %s\n", mode(router))
			if router6.IsValid() {
				fmt.Fprintf(w, "ipv6 pings %s\n", mode(router6))
			}
		}
	})
	ctl, err := listenControl(upConfig{Taps: []tapConfig{{Name: name}}}, h, status...)
	if err != nil {
		return err
	}
	defer ctl.close()

	where := name
	if c.Bridge != "" {
		where += " (bridge " + c.Bridge + ")"
	}
	extra := ""
	if gc.DNSUpstream.IsValid() {
		extra += " upstream " + gc.DNSUpstream.String()
	}
	for i, a := range g.ForwardAddrs() {
		extra += fmt.Sprintf(" forward %s:%v=%v", c.Forwards[i].Network, a, c.Forwards[i].Guest)
	}
	nets := c.Subnet.String()
	if c.Subnet6.IsValid() {
		how := "router advertisements"
		if c.Tun != "" {
			how = "no advertisements on a TUN: guests set their address"
		}
		nets += " and " + c.Subnet6.String() + " (" + how + ", router " + router6.String() + ")"
	}
	fmt.Fprintf(stdout, "tapstack: gateway on %s for %s, router %v (host loopback), %s%s\n", where, nets, router, served, extra)
	if c.Subnet6.IsValid() && acceptsRA(c.Bridge) {
		fmt.Fprintf(stderr, "tapstack: warning: bridge %s accepts router advertisements: this namespace takes an address and a default route from the gateway's (flows from its own addresses are refused, to avoid a loop); set net.ipv6.conf.%s.accept_ra=0 or use --subnet6 none\n", c.Bridge, c.Bridge)
	}
	var sig os.Signal
	if signals != nil {
		sig = <-signals
	} else {
		select {}
	}
	g.Close()
	if err := h.Close(); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	fmt.Fprintf(stdout, "tapstack: stopped (%v)\n", sig)
	return nil
}
