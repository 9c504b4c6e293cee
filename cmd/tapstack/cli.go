package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // the command was well formed but could not run
	exitUsage   = 2 // the command line is wrong
)

const helpText = `tapstack: a userspace TCP/IP stack in Go, running a virtual host on a Linux TAP device.

Usage:
  tapstack up --tap NAME [--addr CIDR | --dhcp [--hostname NAME]] [--bridge BR] [--mac MAC] [--mtu N]
              [--vlan VID:CIDR[:PCP]]... [--dns IP]... [--no-offload]
              [--nic TAP,addr=CIDR[,bridge=BR][,mtu=N][,mac=MAC][,vlan=VID[:PCP]]]...
              [--gateway IP] [--route PREFIX,via=IP[,dev=NAME]]... [--forward]
              [--arp IP=MAC]... [--arp-proxy PREFIX[=MAC]]... [--no-dad]
              [--pcap FILE] [--faults SPEC]
              [--status public|full|off] [--max-conns N] [--idle-timeout DUR] [--memory-limit SIZE]
  tapstack route  [--tap NAME]             routing table of a running host (like ip route)
  tapstack arp    [--tap NAME]             ARP table of a running host (like arp -n)
  tapstack arp    [--tap NAME] -d IP       delete an ARP entry
  tapstack arp    [--tap NAME] --flush     delete every learned ARP entry
  tapstack status [--tap NAME] [--all]     the status page
  tapstack resolve [--tap NAME] HOSTNAME   look a name up with a running host's resolver
  tapstack version
  tapstack help

up opens (or creates) its TAP devices, attaches them to bridges, checks that
no other host on the segment uses its addresses (ARP conflict detection, about
one second), announces them (gratuitous ARP) and runs a virtual host until
SIGINT or SIGTERM. It serves on every address:
  http:80     /            status page (interfaces, routes, ARP table, TCP connections;
                           see --status for what the network sees)
              /bytes?n=N   N bytes of a fixed pattern (byte i is 'a'+i%26)
  echo:7      echoes what it receives, TCP and UDP (RFC 862)
  discard:9   reads and drops (RFC 863)
  chargen:19  rotating 72-character lines (RFC 864)
With --dhcp, up waits (at most 30 seconds) for a lease before it prints its
up line, renews and rebinds it, and releases it (DHCPRELEASE) when it stops.
route, arp, status and resolve talk to a running host in the same network namespace
through its control socket (abstract unix socket @tapstack/TAP); --tap picks
the host when several run. Both ends check who the other is: the host serves
only root and the user running it, and the commands believe only a host
running as root or as their own user.

Flags of up:
  --tap NAME      TAP device name (at most 15 characters); with --addr and/or --vlan
                  the one-TAP shorthand of --nic
  --addr CIDR     IPv4 address with prefix length of the TAP's untagged interface,
                  e.g. 10.0.0.2/24
  --dhcp          get the untagged interface's address, default route and DNS
                  servers from a DHCP server on the bridge (instead of --addr)
  --hostname NAME host name sent to the DHCP server (dnsmasq puts it in its DNS)
  --dns IP        a DNS server for the host's resolver (repeatable; default: the
                  DHCP lease's servers)
  --bridge BR     existing Linux bridge to attach the TAP to
  --mac MAC       hardware address (default: random, locally administered)
  --mtu N         MTU of the TAP (68..65521, default 1500)
  --vlan VID:CIDR[:PCP]
                  an 802.1Q VLAN interface TAP.VID on the TAP (a trunk), with its own
                  address and ARP cache; PCP is the priority of its tags (repeatable)
  --nic TAP,addr=CIDR[,bridge=BR][,mtu=N][,mac=MAC][,vlan=VID[:PCP]]
                  one more interface (repeatable): a TAP of its own, or with vlan= a
                  VLAN interface on a TAP shared by several --nic (router on a stick)
  --gateway IP    default gateway (inside the subnet of an interface)
  --route PREFIX,via=IP[,dev=NAME]
                  a static route (repeatable); PREFIX may be default; dev=NAME alone
                  makes PREFIX on-link on interface NAME (TAP or TAP.VID)
  --forward       route packets between the interfaces (an IPv4 router, RFC 1812:
                  TTL, ICMP errors, fragmentation)
  --arp IP=MAC    a static (permanent) ARP entry (repeatable)
  --arp-proxy PREFIX[=MAC]
                  answer ARP requests for an address or prefix on another host's
                  behalf, with MAC or our own (repeatable)
  --no-dad        skip address conflict detection at start
  --no-offload    open the TAPs without the virtio-net header (by default they ask
                  the kernel for checksum and TCP segmentation offload, and fall
                  back with one log line when it refuses; --faults implies it)
  --pcap FILE     write every frame on the TAP to FILE in pcap format (one TAP only)
  --faults SPEC   inject faults between the stack and the TAPs, e.g.
                  loss=2%,duplicate=1%,reorder=1%,corrupt=0.1%,seed=7 (rx./tx. prefix: one direction)
  --status MODE   who reads the status page: public (default) serves it on :80 with
                  every TCP/UDP peer shown as * and no counters, since a connection's
                  address/port pair and the counters a spoofed segment moves are what an
                  off-path attacker needs to reset or inject into it (CVE-2016-5696);
                  full serves the whole page on :80; off serves none there. tapstack
                  status always shows the whole page, on the host only
  --max-conns N   connections per TCP service (http, echo, discard, chargen; default
                  256); more are reset at once and counted (svc.NAME.over_limit)
  --idle-timeout DUR
                  close a service connection that moves no byte in either direction
                  for DUR (default 2m; at least 1s; counted in svc.NAME.idle_closed);
                  a transfer that keeps moving is never cut. HTTP also has fixed
                  limits: the request header within 10s, the request within 30s,
                  60s between kept-alive requests, 8 KiB of header
  --memory-limit SIZE
                  soft limit of the Go runtime's memory, e.g. 512MiB (default none):
                  near it the garbage collector works harder. While TCP buffers are
                  under memory pressure up lowers it to its size at start + the TCP
                  budget (32 MiB) + 12 MiB. After a load drops (connections end), up
                  returns the freed memory to the kernel, at most every 10s
UDP echo does not answer datagrams from source ports below 1024 (other services,
e.g. another echo: the echo loop) nor sent to a broadcast or multicast address
(fraggle); they are counted in svc.udp_echo.*.

Examples:
  tapstack up --tap tap0 --bridge br0 --addr 10.0.0.2/24 --gateway 10.0.0.1
  tapstack up --tap tap0 --bridge br0 --dhcp --hostname vm1
  tapstack up --nic tap1,bridge=br1,addr=10.0.1.254/24 --nic tap2,bridge=br2,addr=10.0.2.254/24,mtu=1400 --forward
  tapstack up --tap tap0 --bridge br0 --vlan 10:10.0.10.2/24 --vlan 20:10.0.20.2/24
  tapstack up --tap tap0 --bridge br0 --addr 10.0.0.2/24 --route 10.9.0.0/16,via=10.0.0.7 --arp 10.0.0.7=02:00:00:00:00:07

Exit status: 0 after a clean shutdown, 1 when the host cannot run (permissions,
missing bridge, busy TAP, an address in use on the segment, no DHCP lease, no
running host, a name that does not resolve),
2 for a malformed command line.
`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run is the whole command, testable in-process: it parses args (without the
// program name), writes to stdout and stderr, stops on a value from signals
// and returns the exit status.
func run(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if len(args) == 0 {
		return fail(stderr, usagef("missing command: want up, route, arp, status, resolve, version or help"))
	}
	switch args[0] {
	case "up":
		cfg, err := parseUp(args[1:])
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, helpText)
			return exitOK
		}
		if err != nil {
			return fail(stderr, err)
		}
		return fail(stderr, up(cfg, stdout, signals))
	case "route", "arp", "status", "resolve":
		f := map[string]func([]string, io.Writer) error{"route": runRoute, "arp": runARP, "status": runStatus, "resolve": runResolve}[args[0]]
		err := f(args[1:], stdout)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, helpText)
			return exitOK
		}
		return fail(stderr, err)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "tapstack %s (%s %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, helpText)
		return exitOK
	default:
		return fail(stderr, usagef("unknown command %q: want up, route, arp, status, resolve, version or help", args[0]))
	}
}

// fail prints err as one line prefixed "tapstack: " and returns its exit
// status; a nil err is success.
func fail(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	code := exitRuntime
	var ue *usageError
	if errors.As(err, &ue) {
		code = exitUsage
		msg += " (see tapstack help)"
	}
	fmt.Fprintln(stderr, "tapstack: "+msg)
	return code
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
