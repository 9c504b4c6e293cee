#!/usr/bin/env bash
# bench.sh: the whole-system benchmark of issue 5. One run puts three servers
# side by side, one after the other, each in its own throwaway network
# namespace with the Linux client on a bridge 10.0.0.1/24 and fd00::1/64 and
# the server at 10.0.0.2 and fd00::2 (the IPv6 rows: ping and bulk TCP):
#   tapstack  bench/cmd/benchserver -stack tapstack: tapstack embedded (host
#             over tap.Open) on a TAP on the bridge (offloads on unless
#             TAPSTACK_OFFLOAD=0)
#   gVisor    the same server over gVisor's netstack (fdbased) on a plain TAP
#             on the bridge
#   kernel    the same server on kernel sockets in a second namespace, joined
#             to the bridge by a veth pair
# and prints one table with ratios. Needs root; installs wrk and ping with
# apt-get when missing. Never touches the root namespace: the namespaces
# tsbench-$$-* are removed on exit, also on failure.
#
# Environment: DUR (seconds per throughput/HTTP run, default 5), CONNS (the
# idle-connection counts of the RSS rows, one row each, default
# "5000 50000"), STACKS (default
# "tapstack gvisor kernel"), PROFILE_DIR (write CPU profiles of the tapstack
# server during the 1-stream upload and download and the new-connection
# HTTP row there, tapstack-1, -2 and -3.pprof, and print their top,
# and a heap profile, tapstack-heap.pprof, while it holds the idle
# connections; that server samples every allocation, which deepens stacks:
# its RSS rows read high),
# ROUNDS (default 1: how many times each stack's suite runs, the stacks'
# order rotated each round; the table shows each figure's median; the
# idle-connection and TUN rows run once),
# PINGS (echo requests per ping run, default 200, 5 ms apart), ROWS ("all",
# the default, "latency": only the ping, UDP echo and idle-CPU rows, or
# "conns": only the idle-connection and RSS rows, "tput": only the IPv4
# throughput rows, "http": only the connection-rate and HTTP rows, for
# quick before/after runs; e.g. ROWS=latency STACKS=tapstack),
# SERVER_PROCS (GOMAXPROCS of every column's server, the same for all
# three; unset: the Go runtime's default, one per CPU; the clients keep
# the default), LINUX_CC (the congestion control of the Linux side's
# connections: the client's in every column, the kernel column's server's
# too, set on their routes (ip route ... congctl); unset: the namespaces'
# default, the host's net.ipv4.tcp_congestion_control, which the header
# names. The upload rows measure the Linux sender's pacing as much as the
# receiver: on a host whose default is bbr, LINUX_CC=cubic more than
# doubled the kernel's 1-stream upload at 8a9aa44, 21 -> 46-49 Gbit/s, and
# tapstack's 12 -> 20-22).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench.sh: needs root (network namespaces, bridges, TAPs): run sudo make bench" >&2
	exit 1
fi

DUR="${DUR:-5}"
CONNS="${CONNS:-5000 50000}"
STACKS="${STACKS:-tapstack gvisor kernel}"
TAPSTACK_OFFLOAD="${TAPSTACK_OFFLOAD:-1}"
PROFILE_DIR="${PROFILE_DIR:-}"
PINGS="${PINGS:-200}"
ROWS="${ROWS:-all}"
ROUNDS="${ROUNDS:-1}"
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "bench.sh: ROUNDS is a count of rounds, not $ROUNDS" >&2; exit 1 ;; esac
case "${SERVER_PROCS:-1}" in '' | *[!0-9]* | 0) echo "bench.sh: SERVER_PROCS is the servers' GOMAXPROCS, a count of 1 or more, not $SERVER_PROCS" >&2; exit 1 ;; esac
case "$ROWS" in all | latency | conns | tput | http) ;; *) echo "bench.sh: ROWS is all, latency, conns, tput or http, not $ROWS" >&2; exit 1 ;; esac
LINUX_CC="${LINUX_CC:-}"
if [ -n "$LINUX_CC" ] && ! grep -qw -- "$LINUX_CC" /proc/sys/net/ipv4/tcp_available_congestion_control; then
	echo "bench.sh: LINUX_CC=$LINUX_CC is not one of this kernel's: $(cat /proc/sys/net/ipv4/tcp_available_congestion_control)" >&2
	exit 1
fi

# linux_cc NS DEV: with LINUX_CC, the connections of namespace NS over the
# on-link routes of DEV (IPv4 and IPv6) use it.
linux_cc() {
	[ -n "$LINUX_CC" ] || return 0
	local r
	for fam in -4 -6; do
		ip -n "$1" "$fam" route show dev "$2" proto kernel | while read -r r; do
			# shellcheck disable=SC2086 # the route's words, as ip prints them
			ip -n "$1" "$fam" route replace $r dev "$2" congctl "$LINUX_CC"
		done
	done
}

# The idle-connection rows hold up to max(CONNS) sockets open at once: the
# client holds one descriptor per connection and so does the kernel column's
# server. RLIMIT_NOFILE is per process: raise it for this script and its
# children only (root may raise the hard limit; Go raises the soft one to
# it). Each client namespace gets the whole ephemeral port range
# (ip_local_port_range is per network namespace; see client_ns).
maxconns=0
for n in $CONNS; do
	[ "$n" -gt "$maxconns" ] || { echo "bench.sh: CONNS is ascending counts, like \"5000 50000\"" >&2; exit 1; }
	maxconns=$n
done
if [ "$maxconns" -gt 60000 ]; then
	echo "bench.sh: CONNS above 60000 needs more than one client address (64,511 ephemeral ports)" >&2
	exit 1
fi
# Where the hard limit cannot be raised (a container without
# CAP_SYS_RESOURCE), the client spreads the connections over several
# processes by itself and the kernel column's server serves the echo port
# from KERNEL_PROCS processes sharing it (SO_REUSEPORT), whose RSS is summed.
want=$((maxconns + 4096))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
	ulimit -Hn "$want" 2>/dev/null || true
fi
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$want" ]; then
	KERNEL_PROCS=1
else
	per=$(($(ulimit -Hn) - 1024))
	KERNEL_PROCS=$(((maxconns + per - 1) / per))
	echo "== RLIMIT_NOFILE is $(ulimit -Hn) and cannot be raised: the kernel server's echo port runs in $KERNEL_PROCS processes"
fi

missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v ping >/dev/null 2>&1 || missing="$missing iputils-ping"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
if [ -n "$missing" ]; then
	echo "== installing$missing"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

echo "== building bench/cmd/benchserver and benchclient (module bench/, with gVisor)"
(cd bench && go build -o ../bin/benchserver ./cmd/benchserver && go build -o ../bin/benchclient ./cmd/benchclient)

PREFIX="tsbench-$$"
RESULTS="$(mktemp -t tsbench.XXXXXX)"
LOG="$(mktemp -t tsbench-server.XXXXXX)"
PID=""
# PIDS: the server's processes, comma-separated (the kernel column's may be
# several, see KERNEL_PROCS; the first is PID).
PIDS=""
stop_server() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	local p
	for p in ${PIDS//,/ }; do
		[ "$p" != "$PID" ] && kill -KILL "$p" 2>/dev/null || true
	done
	PID=""
	PIDS=""
}
del_namespaces() {
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX-" || true); do
		ip netns del "$ns" 2>/dev/null || true
	done
}
cleanup() {
	status=$?
	stop_server
	del_namespaces
	rm -f "$RESULTS" "$LOG"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# client_ns NAME: a namespace with lo up and bridge br0 10.0.0.1/24.
client_ns() {
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip -n "$1" link add br0 type bridge
	ip -n "$1" addr add 10.0.0.1/24 dev br0
	ip -n "$1" addr add fd00::1/64 dev br0 nodad
	ip -n "$1" link set br0 up
	linux_cc "$1" br0
	# The whole ephemeral port range in this namespace only, for the
	# 50,000 idle connections to one server port (the default
	# 32768-60999 holds 28,232).
	ip netns exec "$1" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
}

# rss_mib PIDS: the processes' resident set in MiB.
rss_mib() {
	local p k=0
	for p in ${1//,/ }; do k=$((k + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status"))); done
	awk -v k="$k" 'BEGIN {printf "%.1f", k / 1024}'
}

# cpu_ticks PIDS: the processes' user+system CPU time in clock ticks.
cpu_ticks() {
	local p t=0
	for p in ${1//,/ }; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$t"
}
# cpu_pct T0 T1 SECS: CPU ticks T0..T1 over SECS seconds, in percent of a CPU.
cpu_pct() { awk -v a="$1" -v b="$2" -v s="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", 100 * (b - a) / hz / s}'; }

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }

# latency_rows NAME records the latency rows of the server PID as seen
# from the client namespace (the caller's C): ping (PINGS requests 5 ms
# apart: each finds the server idle), sequential UDP echo round trips,
# and what the server burns doing them (what busy polling would cost
# shows here).
latency_rows() {
	local name=$1 out t0 t1
	t0="$(cpu_ticks "$PID")"
	out="$("${C[@]}" ping -c "$PINGS" -i 0.005 10.0.0.2 | ./bin/benchclient pingstats)"
	t1="$(cpu_ticks "$PID")"
	echo "   ping: $out"
	record "ping RTT avg, ms (lower is better)" "$name" "$(kv "$out" avg_ms)"
	record "ping RTT p99, ms (lower is better)" "$name" "$(kv "$out" p99_ms)"
	record "server CPU % during ping (lower is better)" "$name" "$(cpu_pct "$t0" "$t1" "$(awk -v n="$PINGS" 'BEGIN {print n * 0.005}')")"
	out="$("${C[@]}" ./bin/benchclient udpecho -dur "${DUR}s" -pid "$PID")"
	echo "   UDP echo: $out"
	record "UDP echo round trips/s (1 in flight)" "$name" "$(kv "$out" rtps)"
	record "UDP echo RTT p99, us (lower is better)" "$name" "$(kv "$out" p99_us)"
	record "server CPU % during UDP echo (lower is better)" "$name" "$(kv "$out" cpu_pct)"
	record "server CPU us per UDP echo (lower is better)" "$name" "$(kv "$out" cpu_us_per_rt)"
}

# run_stack NAME PART: one stack's rows in fresh namespaces with a fresh
# server. PART "suite" is the latency, throughput and HTTP rows (and the
# RSS at their end); "conns" the idle-connection rows, on a server of their
# own: one that has run the throughput rows keeps freed memory that new
# connections would reuse (their growth would read low), and 50,000
# connections closing at once would still be torn down under the next row:
# the client's 50,000 FINs overflow the TAP's queues (8 x 500 frames; the
# kernel dropped 170,000-370,000 frames to the server per close), Linux
# resends the dropped FINs every 200 ms and more, the server resends FINs
# whose ACKs were dropped, and for 3 to 13 s an upload loses segments in
# the same queues (0.1-2.5 Gbit/s in its first seconds). A longer TAP
# queue made it worse (more delay, more spurious timeouts).
run_stack() {
	local name=$1 part=$2 ns="$PREFIX-$1-$2" srvns="$PREFIX-$1-$2" args=()
	client_ns "$ns"
	case "$name" in
	tapstack)
		args=(-stack tapstack -tap tap0 -bridge br0 -addr 10.0.0.2/24 -addr6 fd00::2/64)
		[ "$TAPSTACK_OFFLOAD" = 1 ] && args+=(-offload)
		[ -n "$PROFILE_DIR" ] && mkdir -p "$PROFILE_DIR" && args+=(-profile "$PROFILE_DIR/tapstack-")
		# Every allocation sampled only on the idle-connection server: it
		# slows allocation so much that the CPU profiles would show
		# mostly the sampling.
		[ -n "$PROFILE_DIR" ] && [ "$part" = conns ] && args+=(-exact-heap)
		;;
	gvisor)
		args=(-stack gvisor -tap tap0 -bridge br0 -addr 10.0.0.2/24 -addr6 fd00::2/64)
		;;
	kernel)
		srvns="$PREFIX-$1-$2-srv"
		ip netns add "$srvns"
		ip -n "$srvns" link set lo up
		ip -n "$ns" link add veth0 type veth peer name veth1 netns "$srvns"
		ip -n "$ns" link set veth0 master br0
		ip -n "$ns" link set veth0 up
		ip -n "$srvns" addr add 10.0.0.2/24 dev veth1
		ip -n "$srvns" addr add fd00::2/64 dev veth1 nodad
		ip -n "$srvns" link set veth1 up
		linux_cc "$srvns" veth1
		args=(-stack kernel)
		[ "$part" = conns ] && args+=(-procs "$KERNEL_PROCS")
		;;
	esac
	echo "== $name ($part): benchserver ${args[*]}"
	ip netns exec "$srvns" env ${SERVER_PROCS:+GOMAXPROCS=$SERVER_PROCS} ./bin/benchserver "${args[@]}" >"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 1 100); do
		grep -q '^ready' "$LOG" && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^ready' "$LOG"; then
		echo "bench.sh: $name server did not come up:" >&2
		cat "$LOG" >&2
		exit 1
	fi
	PIDS="$(awk -F'pids=' '/^ready/ {print $2; exit}' "$LOG")"
	[ -n "$PIDS" ] || PIDS="$PID"
	local C=(timeout 180 ip netns exec "$ns")
	# Wait until the server answers (ARP, listeners), then measure.
	"${C[@]}" ping -c 1 -W 5 10.0.0.2 >/dev/null

	local out avg t0 t1
	if [ "$part" = suite ] && [ "$ROWS" != tput ] && [ "$ROWS" != http ]; then
		latency_rows "$name"
		t0="$(cpu_ticks "$PID")"
		sleep 2 # a measurement of idle cost, not a synchronisation
		t1="$(cpu_ticks "$PID")"
		record "server CPU % idle (lower is better)" "$name" "$(cpu_pct "$t0" "$t1" 2)"
	fi
	if [ "$part" = conns ]; then
		# Idle connections: opened in steps (5,000, then 45,000 more), all
		# held together, the server's RSS growth per connection read after
		# each step; then all closed, and what the server gives back.
		local n
		out="$(timeout 300 ip netns exec "$ns" ./bin/benchclient conns -n "$(echo $CONNS | tr ' ' ',')" -pid "$PIDS" $([ "$name" != kernel ] && echo -hup))"
		echo "   idle connections: $out"
		# With the goroutines' stack per goroutine: 2 KiB is the handlers'
		# initial stack; about 4 KiB means a call on their path outgrew it
		# and every idle connection pays 2 KiB more.
		grep '^benchserver: memory:' "$LOG" | awk '{
			g = 0; s = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^goroutines=/) g = substr($i, 12)
				if ($i ~ /^stack_inuse=/) s = substr($i, 13)
			}
			printf "   holding them: %s", $0
			if (g > 0) printf " (%.0f stack bytes per goroutine)", s / g
			printf "\n"
		}' || true
		for n in $CONNS; do
			record "RSS per idle connection at $n, KiB (lower is better)" "$name" "$(kv "$out" "kib_per_conn_$n")"
		done
		# The kernel's slab growth (sockets, files, epoll entries: memory
		# no RSS shows): the client's sockets, and the kernel column's
		# server's. The table adds each to its RSS row.
		for n in $CONNS; do
			record "kernel slab per idle connection at $n, KiB (client's sockets; the kernel column's server's too)" "$name" "$(kv "$out" "slab_kib_per_conn_$n")"
		done
		sleep 5 # a measurement of what is given back, not a synchronisation
		record "RSS 5 s after the idle connections closed, MiB (lower is better)" "$name" "$(rss_mib "$PIDS")"
		stop_server
		ip netns del "$ns"
		[ "$srvns" != "$ns" ] && ip netns del "$srvns"
		return 0
	fi
	if [ "$ROWS" = latency ]; then
		stop_server
		ip netns del "$ns"
		[ "$srvns" != "$ns" ] && ip netns del "$srvns"
		return 0
	fi

	local dir streams label
	[ "$ROWS" = http ] || for dir in up down; do
		for streams in 1 4; do
			[ "$dir" = up ] && label="TCP upload (client->server)" || label="TCP download (server->client)"
			local prof=0
			if [ -n "$PROFILE_DIR" ] && [ "$name" = tapstack ] && [ "$streams" = 1 ]; then prof=1; kill -USR1 "$PID"; fi
			out="$("${C[@]}" ./bin/benchclient tput -dir "$dir" -streams "$streams" -dur "${DUR}s" -pid "$PIDS")"
			[ "$prof" = 1 ] && kill -USR2 "$PID"
			echo "   $dir x$streams: $out"
			record "$label, $streams stream(s), Gbit/s" "$name" "$(kv "$out" gbps)"
			if [ "$streams" = 1 ]; then
				record "CPU-s per GiB, $([ "$dir" = up ] && echo upload || echo download) (lower is better)" "$name" \
					"$(awk -v c="$(kv "$out" cpu)" -v b="$(kv "$out" bytes)" 'BEGIN {printf "%.2f", c / (b / 1073741824)}')"
			fi
		done
	done

	if [ "$ROWS" = tput ]; then
		stop_server
		ip netns del "$ns"
		[ "$srvns" != "$ns" ] && ip netns del "$srvns"
		return 0
	fi

	# The IPv6 rows: the same server at fd00::2.
	if [ "$ROWS" != http ]; then
	"${C[@]}" ping -6 -c 1 -W 5 fd00::2 >/dev/null
	out="$("${C[@]}" ping -6 -q -c 50 -i 0.01 fd00::2)"
	avg="$(echo "$out" | awk -F/ '/^rtt/ {print $5}')"
	echo "   IPv6 ping avg ${avg} ms"
	record "IPv6 ping RTT avg, ms (lower is better)" "$name" "$avg"
	for dir in up down; do
		[ "$dir" = up ] && label="IPv6 TCP upload (client->server)" || label="IPv6 TCP download (server->client)"
		out="$("${C[@]}" ./bin/benchclient tput -addr fd00::2 -dir "$dir" -streams 1 -dur "${DUR}s" -pid "$PIDS")"
		echo "   IPv6 $dir x1: $out"
		record "$label, 1 stream(s), Gbit/s" "$name" "$(kv "$out" gbps)"
	done
	fi

	# Connections opened per second: 16 at a time to the echo port, each
	# closed with a RST once established (no TIME_WAIT on either side,
	# so the client's ports last the run).
	out="$("${C[@]}" ./bin/benchclient connrate -streams 16 -dur "${DUR}s" -pid "$PIDS")"
	echo "   connections opened: $out"
	record "TCP connections opened per second (16 at a time)" "$name" "$(kv "$out" cps)"
	record "server CPU us per connection opened (lower is better)" "$name" "$(kv "$out" cpu_us_per_conn)"

	out="$("${C[@]}" wrk -t 2 -c 16 -d "${DUR}s" http://10.0.0.2/)"
	local rps
	rps="$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')"
	echo "   HTTP keep-alive: $rps req/s"
	record "HTTP req/s, keep-alive (wrk -c16 -t2)" "$name" "$rps"
	local prof=0
	if [ -n "$PROFILE_DIR" ] && [ "$name" = tapstack ]; then prof=1; kill -USR1 "$PID"; fi
	out="$("${C[@]}" wrk -t 2 -c 16 -d "${DUR}s" -H 'Connection: close' http://10.0.0.2/)"
	[ "$prof" = 1 ] && kill -USR2 "$PID"
	rps="$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')"
	echo "   HTTP new connection per request: $rps req/s"
	record "HTTP req/s, new connection per request" "$name" "$rps"
	record "RSS at the end of the suite, MiB (lower is better)" "$name" "$(rss_mib "$PIDS")"
	if [ "$name" != kernel ]; then
		# Where that memory is (live heap, free heap not yet returned,
		# stacks), read after the row: the server collects first.
		kill -HUP "$PID"
		for _ in $(seq 1 50); do grep -q '^benchserver: memory:' "$LOG" && break; sleep 0.1; done
		grep '^benchserver: memory:' "$LOG" | sed 's/^/   at the end of the suite: /' || true
	fi

	stop_server
	ip netns del "$ns"
	[ "$srvns" != "$ns" ] && ip netns del "$srvns"
	return 0
}

# run_tun NAME: the TUN rows: the server (tapstack or gVisor) on a TUN in a
# namespace whose kernel routes 10.1.0.2 into it; the client is that
# namespace's kernel. (The kernel column of these rows is its veth run.)
run_tun() {
	local name=$1 ns="$PREFIX-tun-$1" args=()
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	args=(-stack "$name" -tun -tap tun0 -addr 10.1.0.2/24)
	[ "$name" = tapstack ] && [ "$TAPSTACK_OFFLOAD" = 1 ] && args+=(-offload)
	echo "== $name on a TUN: benchserver ${args[*]}"
	ip netns exec "$ns" env ${SERVER_PROCS:+GOMAXPROCS=$SERVER_PROCS} ./bin/benchserver "${args[@]}" >"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 1 100); do
		grep -q '^ready' "$LOG" && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^ready' "$LOG"; then
		echo "bench.sh: $name TUN server did not come up:" >&2
		cat "$LOG" >&2
		exit 1
	fi
	ip -n "$ns" addr add 10.1.0.1/24 dev tun0
	ip -n "$ns" link set tun0 up
	linux_cc "$ns" tun0
	local C=(timeout 180 ip netns exec "$ns") out dir label
	"${C[@]}" ping -c 1 -W 5 10.1.0.2 >/dev/null
	for dir in up down; do
		[ "$dir" = up ] && label="TUN: TCP upload (client->server)" || label="TUN: TCP download (server->client)"
		out="$("${C[@]}" ./bin/benchclient tput -addr 10.1.0.2 -dir "$dir" -streams 1 -dur "${DUR}s" -pid "$PID")"
		echo "   TUN $dir x1: $out"
		record "$label, 1 stream(s), Gbit/s (kernel: veth)" "$name" "$(kv "$out" gbps)"
	done
	stop_server
	ip netns del "$ns"
}

# Each round runs every stack's suite, the order rotated by one from the
# round before (T G K, G K T, K T G), so that a slow spell of the machine
# does not fall on one column only and no stack runs twice in a row; the
# table shows each figure's median over the rounds.
order="$STACKS"
for round in $(seq 1 "$ROUNDS"); do
	[ "$round" -gt 1 ] && order="$(echo $order | awk '{for (i = 2; i <= NF; i++) printf "%s ", $i; print $1}')"
	[ "$ROUNDS" -gt 1 ] && echo "== round $round of $ROUNDS: $order"
	for s in $order; do
		[ "$ROWS" = conns ] || run_stack "$s" suite
	done
done
for s in $STACKS; do
	case "$ROWS" in all | conns) run_stack "$s" conns ;; esac
done
for s in $STACKS; do
	[ "$ROWS" = all ] || break
	case "$s" in
	tapstack | gvisor) run_tun "$s" ;;
	kernel) # the TUN rows' kernel column: the veth figures of its run
		for dir in upload download; do
			[ "$dir" = upload ] && label="TUN: TCP upload (client->server)" || label="TUN: TCP download (server->client)"
			for v in $(awk -F'\t' -v m="TCP $dir" '$2 == "kernel" && index($1, m) == 1 && index($1, "1 stream") {print $3}' "$RESULTS"); do
				record "$label, 1 stream(s), Gbit/s (kernel: veth)" kernel "$v"
			done
		done
		;;
	esac
done

echo
echo "== tapstack $(git rev-parse --short HEAD 2>/dev/null || echo '?') (offload=$TAPSTACK_OFFLOAD) vs gVisor netstack $(cd bench && go list -m -f '{{.Version}}' gvisor.dev/gvisor) vs Linux $(uname -r), $(nproc) CPUs, ${DUR}s per run, servers' GOMAXPROCS ${SERVER_PROCS:-as the Go runtime sets it}, Linux's congestion control ${LINUX_CC:-$(cat /proc/sys/net/ipv4/tcp_congestion_control) (the default)}$([ "$ROUNDS" -gt 1 ] && echo ", medians of $ROUNDS rounds")"
./bin/benchclient table -in "$RESULTS"

if [ -n "$PROFILE_DIR" ] && [ -f "$PROFILE_DIR/tapstack-heap.pprof" ]; then
	echo
	echo "== $PROFILE_DIR/tapstack-heap.pprof (live heap holding the idle connections)"
	go tool pprof -top -nodecount=25 -sample_index=inuse_space bin/benchserver "$PROFILE_DIR/tapstack-heap.pprof" 2>/dev/null | tail -n +4
fi
if [ -n "$PROFILE_DIR" ] && ls "$PROFILE_DIR"/tapstack-[0-9]*.pprof >/dev/null 2>&1; then
	for f in "$PROFILE_DIR"/tapstack-[0-9]*.pprof; do
		echo
		case "$f" in
		*/tapstack-1.pprof) what="upload, 1 stream" ;;
		*/tapstack-2.pprof) what="download, 1 stream" ;;
		*) what="HTTP, new connection per request" ;;
		esac
		echo "== $f ($what)"
		go tool pprof -top -nodecount=25 bin/benchserver "$f" 2>/dev/null | tail -n +4
	done
fi
