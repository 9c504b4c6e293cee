#!/usr/bin/env bash
# bench_gateway.sh: issue 16's user-mode networking comparison. The same
# "guest" namespace reaches servers on its host side's 127.0.0.1 (the
# benchserver on kernel sockets: discard :9, source :19, HTTP :80) through
#   tapstack  tapstack gateway on a TAP that, once the gateway has opened
#             it, moves into the guest's namespace (as slirp4netns and
#             pasta have theirs: no bridge, no veth in the path); the
#             host's loopback at 10.0.2.2. TAP_BRIDGE=1: the TAP stays
#             in a bridge and the guest is on a veth in it, the layout of
#             the tables before 2026-12 (see below)
#   slirp4netns --configure (tap0 in the guest), loopback at 10.0.2.2
#   pasta     --config-net, over its tap: the guest connects to the copied
#             gateway 192.168.99.2, which pasta maps to the host's loopback
#             (its --map-gw default): the same path as the two above
#   pasta-T   pasta's own fast path for the host's loopback: -T 9,19,80
#             binds those ports on the guest's 127.0.0.1 and splice()s each
#             connection to the host's 127.0.0.1. No tap, no guest TCP/IP
#             stack in the way: a kernel-to-kernel socket relay, shown for
#             reference, not a like-for-like row (tapstack has no such mode)
# and prints one table: guest->host bulk TCP both ways, CPU seconds per GiB
# of the gateway process, HTTP requests/s with a new connection each. Needs
# root; installs slirp4netns, passt and wrk when missing. Namespaces
# gwbench-$$-* are removed on exit.
#
# Why pasta's tap upload is slow here (checked with tcpdump and ss on
# Debian 12's passt 0.0~git20230309): for a connection to a local or
# low-RTT destination pasta advertises the host socket's peer window
# (tcpi_snd_wnd, up to 16 MiB) to the guest, not bounded by its own socket's
# send buffer. When sendmsg() on the host socket takes only part of a
# segment, pasta acknowledges that part and drops the rest and everything
# after it (no reassembly, no SACK), sending two duplicate ACKs; Linux in
# the guest needs three (or SACK) for a fast retransmit, so it waits for
# its retransmission timeout (200 ms and more, backing off): the transfer
# runs in bursts between RTOs (TcpExtTCPTimeouts counts them) and its figure
# varies from 0.02 to 2.5 Gbit/s from run to run. Not the script's doing:
# MTU 1500 (pasta -m), smaller or larger host-side tcp_rmem/tcp_wmem did
# not avoid it. Each row is therefore taken RUNS times and the median shown,
# and the pasta-T column shows what pasta does on its spliced path.
#
# Why the TAP moves into the guest (perf, upload): with the guest on a
# veth in a bridge, each of the guest's frames and each of our ACKs
# crosses veth and bridge, mostly in the gateway's own context (the guest
# sends its data from the ACK we write), and where br_netfilter is
# loaded (bridge-nf-call-iptables = 1, as on this machine) through
# iptables' hooks too: some 7% of the gateway's CPU in br_nf_* and
# nf_hook_slow, 10% with bridge and veth, which slirp4netns and pasta do
# not have in their path. A TAP keeps working through its open file
# descriptors when it moves to another namespace.
#
# Environment: DUR (seconds per run, default 5), RUNS (runs per cell, the
# median is shown; default 3), TOOLS (default "tapstack slirp4netns pasta
# pasta-T"), GW_ARGS (more flags for tapstack gateway, e.g.
# GW_ARGS="--procs 0" for an A/B of its GOMAXPROCS), TAP_BRIDGE (1: the
# tapstack row's guest on a veth in a bridge with the TAP).
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_gateway.sh: needs root" >&2; exit 1; }
DUR="${DUR:-5}"
RUNS="${RUNS:-3}"
TOOLS="${TOOLS:-tapstack slirp4netns pasta pasta-T}"
missing=""
command -v slirp4netns >/dev/null || missing="$missing slirp4netns"
command -v pasta >/dev/null || missing="$missing passt"
command -v wrk >/dev/null || missing="$missing wrk"
if [ -n "$missing" ]; then
	echo "== installing$missing"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
go build -o bin/tapstack ./cmd/tapstack
(cd bench && go build -o ../bin/benchserver ./cmd/benchserver && go build -o ../bin/benchclient ./cmd/benchclient)

P="gwbench-$$"
RESULTS="$(mktemp -t gwbench.XXXXXX)"
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$n"; done
	rm -f "$RESULTS" /tmp/"$P"-*.log /tmp/"$P"-*-runs
}
trap cleanup EXIT
trap 'exit 130' INT TERM
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }

# hostns NAME: the host side: a veth with a default route (pasta copies its
# configuration into the guest) and the servers on every address.
hostns() {
	local ns="$P-$1"
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" link add up0 type veth peer name up1
	ip -n "$ns" addr add 192.168.99.1/24 dev up0
	ip -n "$ns" link set up0 up
	ip -n "$ns" link set up1 up
	ip -n "$ns" route add default via 192.168.99.2
	ip netns exec "$ns" ./bin/benchserver -stack kernel >/tmp/"$P"-"$1"-srv.log 2>&1 &
	PIDS="$PIDS $!"
	ip netns add "$P-$1-guest"
	ip -n "$P-$1-guest" link set lo up
}

# median: the middle of the numbers on stdin ("-" when none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure NAME GWPID TARGET: the rows, from the guest, RUNS times each (the
# directions and HTTP alternate, so a slow moment of the machine spreads).
measure() {
	local C=(timeout 180 ip netns exec "$P-$1-guest") out dir i g c r
	local tmp=/tmp/"$P"-"$1"-runs
	: >"$tmp"
	for _ in $(seq 1 50); do "${C[@]}" ping -c 1 -W 1 "$3" >/dev/null 2>&1 && break; sleep 0.1; done
	for i in $(seq 1 "$RUNS"); do
		for dir in up down; do
			out="$("${C[@]}" ./bin/benchclient tput -addr "$3" -dir "$dir" -streams 1 -dur "${DUR}s" -pid "$2")"
			echo "   $1 $dir: $out"
			g="$(kv "$out" gbps)"
			c="$(awk -v c="$(kv "$out" cpu)" -v b="$(kv "$out" bytes)" 'BEGIN { if (b > 0) printf "%.2f", c / (b / 1073741824) }')"
			[ -n "$g" ] && echo "$dir gbps $g" >>"$tmp"
			[ -n "$c" ] && echo "$dir cpu $c" >>"$tmp"
		done
		r="$("${C[@]}" wrk -t 2 -c 16 -d "${DUR}s" -H 'Connection: close' "http://$3/" | awk '/^Requests\/sec:/ {print $2}')"
		echo "   $1 HTTP, new connection each: $r req/s"
		[ -n "$r" ] && echo "http rps $r" >>"$tmp"
	done
	for dir in up down; do
		local what=upload; [ "$dir" = down ] && what=download
		record "guest->host TCP $what, Gbit/s" "$1" "$(awk -v d="$dir" '$1 == d && $2 == "gbps" {print $3}' "$tmp" | median)"
		record "gateway CPU-s per GiB, $what (lower is better)" "$1" "$(awk -v d="$dir" '$1 == d && $2 == "cpu" {print $3}' "$tmp" | median)"
	done
	record "HTTP req/s, new connection each (wrk -c16)" "$1" "$(awk '$1 == "http" {print $3}' "$tmp" | median)"
}

want() { case " $TOOLS " in *" $1 "*) return 0 ;; esac; return 1; }

if want tapstack; then
	echo "== tapstack gateway"
	hostns tapstack
	dev=tap0 br=""
	if [ "${TAP_BRIDGE:-0}" = 1 ]; then
		dev=eth0 br="--bridge br0"
		ip -n "$P-tapstack" link add br0 type bridge
		ip -n "$P-tapstack" link set br0 up
		ip -n "$P-tapstack" link add vg type veth peer name eth0 netns "$P-tapstack-guest"
		ip -n "$P-tapstack" link set vg master br0
		ip -n "$P-tapstack" link set vg up
	fi
	ip netns exec "$P-tapstack" ./bin/tapstack gateway --tap tap0 $br ${GW_ARGS:-} >/tmp/"$P"-gw.log 2>&1 &
	GW=$!; PIDS="$PIDS $GW"
	for _ in $(seq 1 100); do grep -q "gateway on" /tmp/"$P"-gw.log && break; sleep 0.1; done
	[ "$dev" = tap0 ] && ip -n "$P-tapstack" link set tap0 netns "$P-tapstack-guest"
	ip -n "$P-tapstack-guest" addr add 10.0.2.100/24 dev "$dev"
	ip -n "$P-tapstack-guest" link set "$dev" up
	ip -n "$P-tapstack-guest" route add default via 10.0.2.2
	measure tapstack "$GW" 10.0.2.2
fi

if want slirp4netns; then
	echo "== slirp4netns"
	hostns slirp4netns
	ip netns exec "$P-slirp4netns" slirp4netns --configure --mtu=65520 --netns-type=path "/run/netns/$P-slirp4netns-guest" tap0 >/tmp/"$P"-sl.log 2>&1 &
	GW=$!; PIDS="$PIDS $GW"
	measure slirp4netns "$GW" 10.0.2.2
fi

if want pasta; then
	echo "== pasta (tap, the gateway address mapped to the host's loopback)"
	hostns pasta
	ip netns exec "$P-pasta" pasta --config-net --runas 0 --netns-only -4 --netns "/run/netns/$P-pasta-guest" \
		-t none -u none -T none -U none -f >/tmp/"$P"-pa.log 2>&1 &
	GW=$!; PIDS="$PIDS $GW"
	measure pasta "$GW" 192.168.99.2
fi

if want pasta-T; then
	echo "== pasta -T 9,19,80 (the guest's 127.0.0.1 spliced to the host's)"
	hostns pasta-T
	ip netns exec "$P-pasta-T" pasta --config-net --runas 0 --netns-only -4 --netns "/run/netns/$P-pasta-T-guest" \
		-t none -u none -T 9,19,80 -U none -f >/tmp/"$P"-paT.log 2>&1 &
	GW=$!; PIDS="$PIDS $GW"
	for _ in $(seq 1 50); do ip netns exec "$P-pasta-T-guest" ss -Hltn 'sport = :9' | grep -q . && break; sleep 0.1; done
	measure pasta-T "$GW" 127.0.0.1
fi

echo
echo "== tapstack $(git rev-parse --short HEAD 2>/dev/null) gateway vs slirp4netns $(slirp4netns --version | awk 'NR == 1 {print $3}') vs pasta $(dpkg-query -W -f '${Version}' passt 2>/dev/null), $(nproc) CPUs, ${DUR}s per run, median of $RUNS"
awk -F'\t' '
	!($1 in seen) { seen[$1] = 1; order[++n] = $1 }
	{ v[$1, $2] = $3 }
	function r(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
	END {
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", "metric", "tapstack", "slirp4netns", "pasta (tap)", "pasta -T (splice)", "vs slirp4netns", "vs pasta (tap)"
		print "|---|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= n; i++) {
			m = order[i]; t = v[m, "tapstack"]; s = v[m, "slirp4netns"]; p = v[m, "pasta"]; q = v[m, "pasta-T"]
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", m, t, s, p, q, r(t, s), r(t, p)
		}
	}' "$RESULTS"
