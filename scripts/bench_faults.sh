#!/usr/bin/env bash
# bench_faults.sh: issue 17's side-by-side TCP comparison under faults. One
# throwaway network namespace holds a bridge br0 (10.0.0.1/24, the Linux
# side) and `tapstack up --tap tft0 --bridge br0 --addr 10.0.0.2/24 --faults
# SPEC`, so every frame between the two crosses tapstack's own fault
# decorator (link.NewFaulty; a fault without tx./rx. applies to both
# directions, so delay=10ms is a 20 ms round trip). For each row of faults
# it measures, alternating, REPS times each, every transfer on a fresh
# tapstack whose decorator has the run's seed and mirror=on (the n-th frame
# received meets the faults the n-th frame sent does, so the two senders
# meet the same loss positions):
#   tapstack sends  curl in the namespace downloads http://10.0.0.2/bytes?n=N
#                   (N = 16 MiB) from tapstack's HTTP service; the time is
#                   curl's, from start to the last byte.
#   Linux sends     socat in the namespace sends N bytes to tapstack's
#                   discard service (:9), shuts its side down and waits for
#                   tapstack's FIN, which discard sends only after reading
#                   the last byte: the time ends when tapstack has it all.
# and prints a markdown table of the medians: seconds per direction and the
# goodput ratio tapstack/Linux (= Linux seconds / tapstack seconds; >= 1
# means tapstack sends at least as fast as Linux does on the same link).
# Each run's line also says what the sender retransmitted, how many
# retransmission timeouts it sat out, and what the decorator dropped in
# the sender's direction, by loss and by its delay line's full queue
# (tapstack_faults_*_total), so that a slow run can be told from an
# unlucky one.
#
# --faults turns the TAP's offloads off, so both directions carry MTU-sized
# frames through the decorator. Needs root; installs curl, socat and
# iproute2 when missing. Never touches the root namespace: the namespace
# tsflt-$$ is removed on exit, also on failure or interrupt.
#
# Environment:
#   TAPSTACK_BIN  the tapstack binary to measure (default: build
#                 ./cmd/tapstack into bin/tapstack), e.g. an old build for
#                 before/after figures
#   ROWS          fault specs separated by ';' (default: issue 17's rows)
#   REPS          runs per cell (default 7; the median is shown: single
#                 runs spread by 3 to 10 times, for Linux as for tapstack,
#                 as a lost retransmission or an early loss decides them)
#   SIZE          bytes per transfer (default 16777216)
#   TIMEOUT       seconds before one transfer counts as failed (default 60)
#   SEED          the decorator's first seed (default 1): run i of a row
#                 starts tapstack afresh for each direction with seed
#                 SEED+i-1 and mirror=on, so that both senders meet the
#                 same loss positions (with one generator going on from
#                 run to run, the luck of where the losses fell decided
#                 the loss rows: 0.26 to 1.77 by the seed alone)
#   LINUX_CC      the congestion control of the Linux side's connections
#                 (default: the namespace's default, which a new namespace
#                 inherits from the host's net.ipv4.tcp_congestion_control;
#                 the table's heading names it). A host may default to BBR,
#                 which hardly reacts to random loss, or to CUBIC, which
#                 does: LINUX_CC=cubic compares the two stacks with CUBIC.
#                 It is set as the route's congctl, which a namespace may do
#                 for any algorithm the kernel has (its sysctl only for the
#                 host's allowed ones).
#   TAPSTACK_CC   tapstack's congestion control (up --cc; default: the
#                 counterpart of Linux's: bbrlite for bbr, the same name
#                 for cubic and reno, else cubic), so that the two sides
#                 compare like with like; the heading names both.
#   TAPSTACK_PROCS  tapstack's GOMAXPROCS (default 1; empty: the Go
#                 runtime's default, one per CPU). Each tapstack here serves
#                 one flow, on a machine that also runs the other end's
#                 application (curl or socat): the case the README
#                 recommends GOMAXPROCS=1 for. With two Ps on the lab's two
#                 CPUs, tapstack's threads and curl contend, and curl's
#                 turns pace the ACK clock: Linux acknowledges data its
#                 application has not read only when the window's right
#                 edge moves (__tcp_ack_snd_check), so with the small
#                 window a loss leaves, tapstack's sending stalled until
#                 curl ran (traced: a full window received, no ACK for 3.4
#                 ms, then the tail loss probe's duplicate drew one).
#                 CUBIC, loss=1% at the lab's round trip, medians of 7:
#                 tapstack sends 0.0844 s with two Ps, 0.0676 with one;
#                 Linux sending to tapstack 0.080 and 0.0707 s.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench_faults.sh: needs root (network namespace, bridge, TAP): run sudo make bench" >&2
	exit 1
fi

ROWS="${ROWS:-delay=10ms;loss=1%;reorder=3%,jitter=2ms;loss=0.1%,delay=10ms;loss=0.1%;delay=50ms}"
REPS="${REPS:-7}"
SIZE="${SIZE:-16777216}"
TIMEOUT="${TIMEOUT:-60}"
SEED="${SEED:-1}"
TAPSTACK_PROCS="${TAPSTACK_PROCS-1}"

missing=""
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v socat >/dev/null 2>&1 || missing="$missing socat"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
if [ -n "$missing" ]; then
	echo "== installing$missing"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ -z "${TAPSTACK_BIN:-}" ]; then
	go build -o bin/tapstack ./cmd/tapstack
	TAPSTACK_BIN=bin/tapstack
fi
[ -x "$TAPSTACK_BIN" ] || { echo "bench_faults.sh: $TAPSTACK_BIN is not an executable" >&2; exit 1; }
TAPSTACK_BIN="$(realpath "$TAPSTACK_BIN")"
VERSION="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
[ "$TAPSTACK_BIN" != "$(realpath bin/tapstack 2>/dev/null || true)" ] && VERSION="$TAPSTACK_BIN"

NS="tsflt-$$"
WORK="$(mktemp -d -t tsflt.XXXXXX)"
PID=""
stop_tapstack() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID" 2>/dev/null || true
	fi
	[ -n "$PID" ] && wait "$PID" 2>/dev/null || true
	PID=""
}
cleanup() {
	status=$?
	stop_tapstack
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add br0 type bridge
ip -n "$NS" addr add 10.0.0.1/24 dev br0
ip -n "$NS" link set br0 up
# Linux keeps each destination's RTT and slow-start threshold from one
# connection for the next (tcp_metrics); tapstack starts every run afresh,
# so Linux must too.
ip netns exec "$NS" sysctl -qw net.ipv4.tcp_no_metrics_save=1
if [ -n "${LINUX_CC:-}" ]; then
	ip -n "$NS" route replace 10.0.0.0/24 dev br0 proto kernel scope link src 10.0.0.1 congctl "$LINUX_CC"
	LINUXCC="$LINUX_CC (route congctl)"
else
	LINUXCC="$(ip netns exec "$NS" sysctl -n net.ipv4.tcp_congestion_control) (the namespace's default)"
fi
if [ -z "${TAPSTACK_CC:-}" ]; then
	case "${LINUXCC%% *}" in
	bbr) TAPSTACK_CC=bbrlite ;;
	cubic | reno) TAPSTACK_CC="${LINUXCC%% *}" ;;
	*) TAPSTACK_CC=cubic ;;
	esac
fi
head -c "$SIZE" /dev/zero >"$WORK/payload"

# xfer down|up: one timed transfer from inside the namespace; prints the
# seconds, or "fail".
xfer() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	ip netns exec "$NS" bash -c '
		set -u
		dir=$1 size=$2 tmo=$3 payload=$4
		if [ "$dir" = down ]; then
			out=$(curl -sS -o /dev/null -m "$tmo" -w "%{size_download} %{time_total}" "http://10.0.0.2/bytes?n=$size") || { echo fail; exit 0; }
			set -- $out
			[ "$1" = "$size" ] && echo "$2" || echo fail
		else
			t0=$EPOCHREALTIME
			timeout "$tmo" socat -t "$tmo" STDIO TCP:10.0.0.2:9 <"$payload" >/dev/null 2>&1 || { echo fail; exit 0; }
			t1=$EPOCHREALTIME
			awk -v a="$t0" -v b="$t1" "BEGIN {printf \"%.6f\n\", b - a}"
		fi' _ "$1" "$SIZE" "$TIMEOUT" "$WORK/payload"
}

# median: the middle value of the numbers on stdin ("fail" when any failed),
# to the microsecond: the ratio is taken from it, and rounding the lab's
# 0.07 s transfers to hundredths moved a ratio by up to 15%.
median() {
	local v
	v="$(cat)"
	if [ -z "$v" ] || grep -q fail <<<"$v"; then echo fail; return; fi
	sort -g <<<"$v" | awk '{ v[NR] = $1 } END { printf "%.6f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# secs: a median for the table: three significant digits (0.0734, 1.42).
secs() {
	if [ "$1" = fail ]; then echo fail; return; fi
	awk -v s="$1" 'BEGIN { printf "%.3g", s }'
}

# retrans_segs: the namespace's TCP RetransSegs (/proc/net/snmp).
retrans_segs() {
	ip netns exec "$NS" awk '$1 == "Tcp:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == "RetransSegs") c = i; n = 1 } else print $c }' /proc/net/snmp
}

# rto_count: the namespace's retransmission timeouts (TcpExt
# TCPTimeouts, /proc/net/netstat).
rto_count() {
	ip netns exec "$NS" awk '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == "TCPTimeouts") c = i; n = 1 } else print $c }' /proc/net/netstat
}

# losses tx|rx [RTX RTO]: what the sender of the transfer just made
# retransmitted, its retransmission timeouts, and what the decorator
# dropped in its direction (tx: tapstack sends, from its counters; rx:
# Linux sends, RTX from retrans_segs and RTO from rto_count), so that a
# row's time can be read against them: "rtx N, rto R, lost L, overflowed
# O" (the delay line's queue was full). A run a few hundred ms slower
# than its row's others with an rto is a timeout, not a slower sender.
losses() {
	local m rtx="${2:-}" rto="${3:-}"
	m="$(ip netns exec "$NS" "$TAPSTACK_BIN" metrics --tap tft0 2>/dev/null || true)"
	if [ "$1" = tx ]; then
		rtx="$(awk '$1 == "tapstack_tcp_tx_retransmits_total" {print $2}' <<<"$m")"
		rto="$(awk '$1 == "tapstack_tcp_timer_rto_expired_total" {print $2}' <<<"$m")"
	fi
	printf 'rtx %s, rto %s, lost %s, overflowed %s' "${rtx:-0}" "${rto:-0}" \
		"$(awk -v d="dir=\"$1\"" 'index($1, "tapstack_faults_lost_total") == 1 && index($1, d) {s += $2} END {print s + 0}' <<<"$m")" \
		"$(awk -v d="dir=\"$1\"" 'index($1, "tapstack_faults_overflowed_total") == 1 && index($1, d) {s += $2} END {print s + 0}' <<<"$m")"
}

TABLE="$WORK/table"
START=$SECONDS
IFS=';' read -r -a specs <<<"$ROWS"
# start_tapstack SPEC SEED: tapstack up with the faults, answering HTTP.
start_tapstack() {
	ip netns exec "$NS" env ${TAPSTACK_PROCS:+GOMAXPROCS=$TAPSTACK_PROCS} "$TAPSTACK_BIN" up --tap tft0 --bridge br0 --addr 10.0.0.2/24 --no-dad \
		--faults "$1,seed=$2,mirror=on" --cc "$TAPSTACK_CC" >"$WORK/log" 2>&1 &
	PID=$!
	# Up to 30 s: on a loaded machine the last run's TAP may still be
	# going away.
	for _ in $(seq 1 300); do
		grep -q "up on" "$WORK/log" && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "up on" "$WORK/log"; then
		state="still running"
		kill -0 "$PID" 2>/dev/null || state="exited"
		echo "bench_faults.sh: tapstack up --faults $1 did not come up in 30 s ($state); its output:" >&2
		cat "$WORK/log" >&2
		exit 1
	fi
	ok=0
	for _ in $(seq 1 30); do
		ip netns exec "$NS" curl -s -o /dev/null -m 2 "http://10.0.0.2/bytes?n=1" && { ok=1; break; }
	done
	[ "$ok" = 1 ] || { echo "bench_faults.sh: tapstack at 10.0.0.2 does not answer with $1" >&2; cat "$WORK/log" >&2; exit 1; }
}

for spec in "${specs[@]}"; do
	echo "== faults $spec (seeds $SEED to $((SEED + REPS - 1)), mirrored): $TAPSTACK_BIN up --faults"
	: >"$WORK/down"
	: >"$WORK/up"
	for i in $(seq 1 "$REPS"); do
		# A fresh tapstack per transfer, its decorator seeded anew and
		# mirrored: the two senders meet the same loss positions (the
		# n-th data frame of either direction), a new set each run.
		seed=$((SEED + i - 1))
		start_tapstack "$spec" "$seed"
		d="$(xfer down)"
		dm="$(losses tx)"
		stop_tapstack
		start_tapstack "$spec" "$seed"
		r0="$(retrans_segs)"
		t0="$(rto_count)"
		u="$(xfer up)"
		um="$(losses rx $(($(retrans_segs) - r0)) $(($(rto_count) - t0)))"
		stop_tapstack
		echo "   run $i (seed $seed): tapstack sends ${d} s ($dm), Linux sends ${u} s ($um)"
		echo "$d" >>"$WORK/down"
		echo "$u" >>"$WORK/up"
	done
	md="$(median <"$WORK/down")"
	mu="$(median <"$WORK/up")"
	ratio="$(awk -v d="$md" -v u="$mu" 'BEGIN { if (d == "fail" || u == "fail" || d + 0 == 0) print "-"; else printf "%.2f", u / d }')"
	printf '| %s | %s | %s | %s |\n' "$spec" "$(secs "$md")" "$(secs "$mu")" "$ratio" >>"$TABLE"
done

echo
echo "== tapstack $VERSION ($TAPSTACK_CC, GOMAXPROCS=${TAPSTACK_PROCS:-default}) vs Linux $(uname -r) ($LINUXCC), $(nproc) CPUs: $((SIZE / 1048576)) MiB per transfer through tapstack's --faults (both directions, seeds $SEED to $((SEED + REPS - 1)), mirrored), median of $REPS, $((SECONDS - START)) s in all"
echo
echo "| faults (both directions) | tapstack sends, s | Linux sends, s | goodput tapstack/Linux |"
echo "|---|---:|---:|---:|"
cat "$TABLE"
