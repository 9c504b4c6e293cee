package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// services are the TCP services `up` runs besides HTTP. readIdle says
// that a peer sending nothing for the idle timeout is idle; chargen's
// peers only read, so only its writes are timed.
var services = []struct {
	name     string
	port     int
	serve    func(net.Conn)
	readIdle bool
}{
	{"echo", 7, serveEcho, true},
	{"discard", 9, serveDiscard, true},
	{"chargen", 19, serveChargen, false},
}

// dadOptions time address conflict detection for `up`: about one second
// (RFC 5227's 4 to 7 seconds are meant for DHCP clients on busy segments;
// on a bridge the owner of an address answers a probe at once, and
// NetworkManager's default probe lasts 200ms).
func dadOptions(o arp.Options) arp.Options {
	o.ProbeWait = 100 * time.Millisecond
	o.ProbeNum = 3
	o.ProbeMin = 150 * time.Millisecond
	o.ProbeMax = 250 * time.Millisecond
	o.AnnounceWait = 400 * time.Millisecond
	return o
}

// openTaps opens every TAP of cfg with its capture and faults, and turns
// them into the host's interfaces: a TAP with VLAN interfaces becomes a
// link.Trunk. On error it closes what it opened. offload says what the
// TAPs offload, for the up line.
//
// TAPs are opened with offloads (virtio-net header, CSUM and TSO4) unless
// --no-offload, or --faults: the fault injector corrupts frames that the
// stack must then reject by their checksums, which it skips for frames
// the kernel vouches for. With --pcap the TAP keeps its offloads, but the
// capture decorator hides them from the stack (link.OffloadDevice), so
// the stack sends MTU-sized, fully checksummed frames and only the
// receive side is offloaded.
func openTaps(cfg upConfig) (ifcs []host.Interface, macs map[string]stack.MAC, closers []func(), offload string, err error) {
	macs = map[string]stack.MAC{}
	var devs []link.Device
	defer func() {
		if err != nil { // the host owns the devices only from host.New on
			for _, d := range devs {
				d.Close()
			}
			for _, c := range closers {
				c()
			}
			closers = nil
		}
	}()
	want := !cfg.NoOffload && cfg.Faults == nil
	offloaded := 0
	for _, t := range cfg.Taps {
		mac := t.MAC
		if mac.IsZero() {
			mac = host.RandomMAC()
		}
		dev, err := openDev(cfg, t, mac, want) // a TAP, or a bond (bond.go)
		if err != nil {
			return nil, nil, nil, "", err
		}
		if dev.Offload() {
			offloaded++
		}
		var ldev link.Device = dev
		devs = append(devs, dev)
		if cfg.Pcap != "" {
			f, err := os.Create(cfg.Pcap)
			if err != nil {
				return nil, nil, nil, "", fmt.Errorf("cannot create pcap file: %v", err)
			}
			closers = append(closers, func() { f.Close() })
			if ldev, err = link.NewCapture(ldev, f); err != nil {
				return nil, nil, nil, "", fmt.Errorf("pcap %s: %v", cfg.Pcap, err)
			}
		}
		if cfg.Faults != nil {
			ldev = link.NewFaulty(ldev, *cfg.Faults)
		}
		macs[t.Name] = mac
		trunked := false
		for _, n := range cfg.NICs {
			if n.Tap == t.Name && n.VLAN != 0 {
				trunked = true
			}
		}
		var trunk *link.Trunk
		if trunked {
			trunk = link.NewTrunk(ldev, mac)
		}
		for _, n := range cfg.NICs {
			if n.Tap != t.Name {
				continue
			}
			ifc := host.Interface{Name: n.Name(), Addr: n.Addr, Addrs: n.Addrs, DHCP: n.DHCP}
			switch {
			case t.TUN:
				ifc.Endpoint = link.NewL3(ldev) // through the fault decorator too
			case trunk == nil:
				ifc.Device, ifc.MAC = ldev, mac
			case n.VLAN == 0:
				ifc.Endpoint = trunk.Native()
			default:
				if ifc.Endpoint, err = trunk.VLAN(n.VLAN, n.PCP); err != nil {
					return nil, nil, nil, "", fmt.Errorf("VLAN %d on %s: %v", n.VLAN, t.Name, err)
				}
			}
			ifcs = append(ifcs, ifc)
		}
	}
	switch {
	case cfg.NoOffload:
		offload = "off"
	case cfg.Faults != nil:
		offload = "off (--faults)"
	case offloaded == 0:
		offload = "off (refused by the kernel)"
	case cfg.Pcap != "":
		offload = "rx only (--pcap)"
	case offloaded < len(cfg.Taps):
		offload = fmt.Sprintf("tso+csum on %d of %d TAPs", offloaded, len(cfg.Taps))
	default:
		offload = "tso+csum"
	}
	return ifcs, macs, closers, offload, nil
}

// up runs the host until a value arrives on signals (nil: forever). It
// prints one line to stdout when the host is up and one when it stopped;
// with --dhcp, one line per DHCP step to stderr until the first lease.
func up(cfg upConfig, stdout, stderr io.Writer, signals <-chan os.Signal) error {
	cfg.logger = cfg.Log.logger(stderr)
	ifcs, macs, closers, offload, err := openTaps(cfg)
	if err != nil {
		return err
	}
	for _, c := range closers {
		defer c()
	}
	hc := host.Config{
		Interfaces:      ifcs,
		Gateway:         cfg.Gateway,
		Routes:          cfg.Routes,
		NoSLAAC:         cfg.NoSLAAC,
		StaticARP:       cfg.StaticARP,
		ProxyARP:        cfg.ProxyARP,
		DetectConflicts: !cfg.NoDAD,
		ARP:             dadOptions(arp.Options{}),
		DNS:             cfg.DNS,
		DHCP:            dhcp.Options{Hostname: cfg.Hostname, RenewAfter: cfg.DHCPRenew},
		Logger:          cfg.logger,
	}
	hc.TCP.CongestionControl = cfg.CC
	var leased atomic.Bool // the first lease is bound: progress is quiet
	if n := cfg.dhcpNIC(); n != nil {
		hc.DHCP.OnProgress = dhcpProgress(cfg, n, stderr, &leased)
	}
	if cfg.Gateway6.IsValid() {
		// host.Config.Gateway takes one family; the other is a route.
		if hc.Gateway.IsValid() {
			hc.Routes = append([]host.Route{{Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Gateway: cfg.Gateway6}}, hc.Routes...)
		} else {
			hc.Gateway = cfg.Gateway6
		}
	}
	hc.IPv4.Forwarding = cfg.Forward
	if cfg.Forward {
		hc.IPv6.Forwarding = true
		hc.Advertise = labAdvertise()
	}
	if cfg.Trace != nil {
		var stop func()
		hc.BeforeStart = func(s *stack.Stack) { stop = traceTo(s, cfg.Trace, stdout) }
		defer func() {
			if stop != nil {
				stop()
			}
		}()
	}
	h, err := host.New(hc)
	if err != nil {
		return conflictLine(cfg, err)
	}
	defer h.Close()
	startBonds(cfg, h)

	var lease dhcp.Lease
	if n := cfg.dhcpNIC(); n != nil {
		var sig os.Signal
		lease, sig, err = waitLease(cfg, n, h, signals)
		leased.Store(true)
		if sig != nil { // stopped while waiting
			if err := h.Close(); err != nil {
				return fmt.Errorf("shutting down: %w", err)
			}
			fmt.Fprintf(stdout, "tapstack: stopped (%v)\n", sig)
			return nil
		}
		if err != nil {
			return err
		}
	}

	ctl, err := listenControl(cfg, h)
	if err != nil {
		return err
	}
	defer ctl.close()

	reclaimStop := make(chan struct{})
	reclaimDone := make(chan struct{})
	go func() {
		defer close(reclaimDone)
		runReclaimer(reclaimStop, h.TCP(), cfg.MemoryLimit)
	}()
	defer func() {
		close(reclaimStop)
		<-reclaimDone
	}()

	cs := h.Stack().Counters()
	lim := limits{MaxConns: cfg.MaxConns, Idle: cfg.Idle, ReadIdle: true}
	if lim.MaxConns == 0 {
		lim.MaxConns = defaultMaxConns
	}
	if lim.Idle == 0 {
		lim.Idle = defaultIdle
	}
	hl, err := h.Listen("tcp", ":80")
	if err != nil {
		return fmt.Errorf("listen on :80: %w", err)
	}
	httpLim := lim
	httpLim.ReadIdle = false // net/http times its reads
	srv := newHTTPServer(httpHandler(h, cfg.Status))
	srv.ErrorLog = httpErrorLog(cfg.logger, "http")
	waiters := newHeaderWaiters("http", cs)
	srv.ConnState = waiters.connState
	httpL := newLimitListener(hl, "http", httpLim, cs)
	httpL.evict = waiters.evictOldest
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		srv.Serve(httpL)
	}()
	var servers []*server
	var udpEcho net.PacketConn
	udpDone := make(chan struct{})
	stopAll := func() {
		srv.Close()
		<-httpDone
		for _, s := range servers {
			s.stop()
		}
		if udpEcho != nil {
			udpEcho.Close()
			<-udpDone
		}
	}
	serving := []string{"http:80"}
	for _, svc := range services {
		l, err := h.Listen("tcp", fmt.Sprintf(":%d", svc.port))
		if err != nil {
			stopAll()
			return fmt.Errorf("listen on :%d (%s): %w", svc.port, svc.name, err)
		}
		svcLim := lim
		svcLim.ReadIdle = svc.readIdle
		servers = append(servers, startServer(newLimitListener(l, svc.name, svcLim, cs), svc.serve))
		serving = append(serving, fmt.Sprintf("%s:%d", svc.name, svc.port))
	}

	if udpEcho, err = h.ListenPacket("udp", ":7"); err != nil {
		stopAll()
		return fmt.Errorf("listen on udp :7 (echo): %w", err)
	}
	go func() {
		defer close(udpDone)
		serveUDPEcho(udpEcho.(udpEchoConn), cs)
	}()
	serving = append(serving, "udp-echo:7")

	var descs []string
	for _, n := range cfg.NICs {
		t := cfg.tap(n.Tap)
		d := n.Name()
		if t.Bridge != "" {
			d += " (bridge " + t.Bridge + ")"
		}
		mtu := t.MTU
		if nic := h.Stack().NIC(n.Name()); nic != nil {
			mtu = nic.MTU()
		}
		link := "mac " + macs[n.Tap].String()
		if t.TUN {
			link = "tun"
		}
		descs = append(descs, fmt.Sprintf("%s as %s %s mtu %d", d, addrList(h.Stack().NIC(n.Name()), n, lease), link, mtu))
	}
	extra := ""
	var gws []string
	for _, g := range []netip.Addr{cfg.Gateway, lease.Router, cfg.Gateway6} {
		if g.IsValid() {
			gws = append(gws, g.String())
		}
	}
	if len(gws) > 0 {
		extra = " gateway " + strings.Join(gws, ",")
	}
	if r := h.Resolver(); len(r.Servers) > 0 {
		var ds []string
		for _, s := range r.Servers {
			ds = append(ds, s.Addr().String())
		}
		extra += " dns " + strings.Join(ds, ",")
	}
	if len(cfg.Routes) > 0 {
		extra += fmt.Sprintf(" routes %d", len(cfg.Routes))
	}
	if cfg.Forward {
		extra += " forwarding"
	} else if cfg.NoSLAAC {
		extra += " no-slaac"
	}
	if cfg.Pcap != "" {
		extra += " pcap " + cfg.Pcap
	}
	if cfg.Faults != nil {
		extra += " faults " + cfg.FaultSpec
	}
	extra += " offload: " + offload
	fmt.Fprintf(stdout, "tapstack: up on %s%s, serving %s\n", strings.Join(descs, ", "), extra, strings.Join(serving, " "))
	// From here on, what SLAAC learns is told one line each.
	stopWatch := watchSLAAC(h, stdout)
	defer stopWatch()

	var sig os.Signal
	if signals != nil {
		sig = <-signals
	} else {
		select {}
	}
	stopAll()
	stopWatch()
	// Close releases the DHCP lease (DHCPRELEASE) before it stops the
	// stack.
	if err := h.Close(); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	fmt.Fprintf(stdout, "tapstack: stopped (%v)\n", sig)
	return nil
}

// explainOpenError turns a failure to open the TAP into one actionable
// line: tap's operator errors are worded for printing already.
func explainOpenError(name string, err error) error {
	var te *tap.Error
	if errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("cannot open TAP %s: %v", name, err)
}

// waitLease waits for the DHCP lease of n, at most cfg.DHCPWait, or for a
// signal (then sig is set and err nil).
func waitLease(cfg upConfig, n *nicConfig, h *host.Host, signals <-chan os.Signal) (l dhcp.Lease, sig os.Signal, err error) {
	wait := cfg.DHCPWait
	if wait == 0 {
		wait = defaultDHCPWait
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	type result struct {
		l   dhcp.Lease
		err error
	}
	res := make(chan result, 1)
	go func() {
		l, err := h.WaitDHCP(ctx)
		res <- result{l, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			where := n.Tap
			if t := cfg.tap(n.Tap); t != nil && t.Bridge != "" {
				where = t.Bridge
			}
			what := "no DHCP offer"
			if st := h.DHCP().State(); st != dhcp.StateSelecting && st != dhcp.StateInit {
				what = fmt.Sprintf("no DHCP lease (client %v)", st)
			}
			return l, nil, fmt.Errorf("%s on %s after %v (is a DHCP server on the bridge?)", what, where, wait)
		}
		return r.l, nil, nil
	case sig = <-signals:
		cancel()
		<-res
		return l, sig, nil
	}
}

// dhcpProgress prints each step of the DHCP exchange of n to w, one line
// each, until quiet is set: what up is doing while it waits for a lease.
func dhcpProgress(cfg upConfig, n *nicConfig, w io.Writer, quiet *atomic.Bool) func(dhcp.Progress) {
	where := n.Name()
	if t := cfg.tap(n.Tap); t != nil && t.Bridge != "" {
		where += " (bridge " + t.Bridge + ")"
	}
	return func(p dhcp.Progress) {
		if quiet.Load() {
			return
		}
		line := p.String()
		switch {
		case p.Sent && p.Type == dhcp.Discover:
			line += " on " + where
		case !p.Sent && p.Type == dhcp.Ack: // the host probes every offered address (RFC 5227)
			line += "; checking that no one else uses it (ARP probe)"
		}
		fmt.Fprintln(w, "tapstack: dhcp: "+line)
	}
}
