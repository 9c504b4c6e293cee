package main

import (
	"flag"
	"sort"
	"strings"
)

// The help of each command: `tapstack help` is the overview, `tapstack
// CMD --help` (or `tapstack help CMD`) the short help of one command.

const helpText = `tapstack: a userspace TCP/IP stack in Go, running a virtual host on a Linux TAP device.

Usage:
  tapstack up --tap NAME --addr CIDR [flags]   run a host (tapstack up --help: its flags;
                                               --tun NAME for a TUN instead of a TAP)
  tapstack gateway --tap NAME [--bridge BR]    user-mode networking for guests (tapstack gateway --help)
  tapstack route   [--tap NAME] [-4|-6]        routing tables of a running host (like ip route, ip -6 route)
  tapstack neigh   [--tap NAME] [-4|-6]        ARP and NDP tables of a running host (like ip neigh)
  tapstack arp     [--tap NAME] [-d IP | --flush]   ARP table of a running host (like arp -n)
  tapstack status  [--tap NAME] [--all]        the status page of a running host
  tapstack ss      [--tap NAME] [-4|-6]        TCP connections of a running host (like ss -tanoi)
  tapstack metrics [--tap NAME]                counters of a running host (Prometheus text format)
  tapstack trace   [--tap NAME] [FILTER]       each packet's journey through a running host, in words
  tapstack resolve [--tap NAME] HOSTNAME       look a name up with a running host's resolver
  tapstack bond    [--tap NAME] [BOND]         bonds of a running host (like /proc/net/bonding)
  tapstack version
  tapstack help [COMMAND]

up runs a virtual host on a TAP device until SIGINT or SIGTERM and serves on
every address: http:80 (status page; /bytes?n=N sends N bytes), echo:7 (TCP
and UDP), discard:9, chargen:19, over IPv4 and IPv6. route, neigh, arp,
status and resolve talk to a
running host in the same network namespace through its control socket
(@tapstack/TAP); --tap picks the host when several run.

Examples:
  tapstack up --tap tap0 --addr 10.0.0.2/24          # then: ip addr add 10.0.0.1/24 dev tap0; ip link set tap0 up; ping 10.0.0.2
  tapstack up --tap tap0 --bridge br0 --addr 10.0.0.2/24 --gateway 10.0.0.1
  tapstack up --tap tap0 --bridge br0 --addr 10.0.0.2/24 --addr fd00::2/64 --gateway fe80::1
  tapstack up --tap tap0 --bridge br0 --dhcp --hostname vm1
  tapstack up --nic tap1,bridge=br1,addr=10.0.1.254/24,addr=fd00:1::1/64 --nic tap2,bridge=br2,addr=10.0.2.254/24,addr=fd00:2::1/64 --forward

Exit status: 0 after a clean shutdown, 1 when the host cannot run (permissions,
missing bridge, busy TAP, an address in use, no DHCP lease, no running host, a
name that does not resolve), 2 for a malformed command line.
`

const upHelp = `Usage: tapstack up --tap NAME (--addr CIDR | --dhcp | --vlan VID:CIDR) [flags]
       tapstack up --nic TAP,addr=CIDR[,...] [--nic ...] [flags]

Runs a virtual host on TAP devices until SIGINT or SIGTERM: checks that no one
on the segment uses its addresses (ARP probes and IPv6 duplicate address
detection, about 1 s), announces them, and serves http:80, echo:7 (TCP and
UDP), discard:9 and chargen:19 over IPv4 and IPv6. Each interface gets an
IPv6 link-local address and SLAAC (one line printed per address or default
route learnt from router advertisements).

Interfaces:
  --tap NAME          the TAP device (created if missing; at most 15 characters)
  --tun NAME          a TUN instead (bare IP: no bridge, MAC, ARP, NDP or DHCP)
  --addr CIDR         an address, e.g. 10.0.0.2/24 or fd00::2/64 (repeatable)
  --dhcp              IPv4 address, default route and DNS from a DHCP server
  --hostname NAME     host name sent with --dhcp (option 12)
  --bridge BR         an existing Linux bridge to attach the TAP to
  --mac MAC           hardware address (default: random, locally administered)
  --mtu N             MTU (68..65521, default 1500)
  --vlan VID:CIDR[:PCP]   an 802.1Q VLAN interface TAP.VID (repeatable)
  --nic TAP,addr=CIDR[,addr=CIDR][,bridge=BR][,mtu=N][,mac=MAC][,vlan=VID[:PCP]]
                      one more interface (repeatable; TAP may be a --bond: help bond)
  --no-slaac          no IPv6 addresses or routes from router advertisements
Routing and neighbours:
  --gateway IP        default gateway, one per family (fe80::1%NAME: on interface NAME)
  --route PREFIX,via=IP[,dev=NAME]   a static route (repeatable; PREFIX may be default)
  --forward           route between the interfaces (IPv4 and IPv6) and send
                      router advertisements for their IPv6 /64s every 10-30 s
  --arp IP=MAC        a static ARP entry (repeatable)
  --arp-proxy PREFIX[=MAC]   answer ARP for PREFIX on another host's behalf (repeatable)
  --dns IP            a DNS server for the host's resolver, IPv4 or IPv6 (repeatable)
  --no-dad            skip address conflict detection (ARP and IPv6 DAD) at start
  --cc NAME           TCP congestion control: cubic (default), reno, bbrlite (BBR-like)
Debugging (and --log-format text|json, --log-level debug|info|warn|error):
  --pcap FILE         capture every frame on the TAP (read it with tcpdump -r FILE)
  --trace FILTER      print each packet's journey in words (all: every one; help trace)
  --faults SPEC       inject faults, e.g. loss=2%,duplicate=1%,reorder=1%,corrupt=0.1%,seed=7
  --no-offload        no checksum/segmentation offload (on by default)
Limits:
  --status public|full|off   status page on :80 (public: no peers or counters)
  --max-conns N       connections per TCP service (default 256)
  --idle-timeout DUR  close a service connection idle that long (default 2m)
  --memory-limit SIZE the Go runtime's soft memory limit, e.g. 512MiB

Example: tapstack up --tap tap0 --bridge br0 --addr 10.0.0.2/24 --gateway 10.0.0.1
`

const routeHelp = `Usage: tapstack route [--tap NAME] [-4|-6]

Prints the routing tables of the tapstack host running in this network
namespace: IPv4 in the layout of ip route, then IPv6 in the layout of
ip -6 route (routes learnt from router advertisements say proto ra, with
the seconds until they expire). -4 or -6 prints one family. --tap picks the
host when several run.
`

const neighHelp = `Usage: tapstack neigh [--tap NAME] [-4|-6]

Prints the neighbour tables of the running host in the layout of ip neigh:
ARP entries, then IPv6 (NDP) entries, each with its state (REACHABLE, STALE,
DELAY, PROBE, INCOMPLETE, FAILED, PERMANENT) and "router" for IPv6 routers.
-4 or -6 prints one family. --tap picks the host when several run.
`

const arpHelp = `Usage: tapstack arp [--tap NAME]
       tapstack arp [--tap NAME] -d IP
       tapstack arp [--tap NAME] --flush

Prints the ARP table of the running host in the layout of arp -n (flags: C
complete, M permanent (--arp), P published (--arp-proxy)), deletes one entry
(-d), or every learned entry (--flush). --tap picks the host when several run.
`

const statusHelp = `Usage: tapstack status [--tap NAME] [--all]

Prints the status page of the running host: interfaces, routes, ARP table,
TCP connections, DHCP lease, and the counters that are not zero (--all: every
counter). --tap picks the host when several run. A browser on the network
opening http://ADDR/ gets it as a live web page with graphs (all of it with
tapstack up --status full).
`

const resolveHelp = `Usage: tapstack resolve [--tap NAME] HOSTNAME

Looks HOSTNAME up (A records) with the running host's resolver, over the
stack: its --dns servers or its DHCP lease's. Each server is asked up to 2
times, waiting 5 s each time.
`

// commandHelp is the help of each command.
var commandHelp = map[string]string{
	"up": upHelp, "gateway": gatewayHelp, "route": routeHelp, "neigh": neighHelp, "arp": arpHelp, "status": statusHelp, "resolve": resolveHelp,
	"ss": ssHelp, "metrics": metricsHelp, "trace": traceHelp,
	"version": "Usage: tapstack version\n\nPrints the version of tapstack and of Go.\n",
	"help":    helpText,
}

// commands are the command names, for suggestions.
var commands = []string{"up", "gateway", "route", "neigh", "arp", "status", "ss", "metrics", "trace", "resolve", "version", "help"}

// hiddenFlags are flags for tests, never suggested.
var hiddenFlags = map[string]bool{"dhcp-wait": true, "dhcp-renew": true}

// flagMessage rewords an error of fs.Parse for cmd as one line that
// names flags the way they are typed (--name) and suggests the closest
// flag for a mistyped one.
func flagMessage(cmd string, fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		fs.VisitAll(func(f *flag.Flag) {
			if !hiddenFlags[f.Name] {
				names = append(names, f.Name)
			}
		})
		if s := suggest(name, names); s != "" {
			return "unknown flag " + dashes(name) + " for " + cmd + "; did you mean " + dashes(s) + "?"
		}
		return "unknown flag " + dashes(name) + " for " + cmd
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return "flag " + dashes(strings.TrimLeft(name, "-")) + " needs a value"
	}
	return msg
}

// dashes writes a flag as it is typed: -d for one letter, --name for more.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the candidate closest to s (edit distance at most 2,
// and less than half of s), or "".
func suggest(s string, candidates []string) string {
	sort.Strings(candidates)
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD && 2*d < len(s)+1 {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }
