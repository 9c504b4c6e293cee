#!/usr/bin/env bash
# demo.sh: run a tapstack virtual host on a TAP in a throwaway network
# namespace, ping it and curl it from the Linux side, then shut it down.
# Needs root. Never touches the root network namespace: everything lives in
# the namespace tapdemo-$$, which is removed on exit (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: needs root (it creates a network namespace, a bridge and a TAP): run sudo make demo" >&2
	exit 1
fi

# Install what is missing, and only that.
missing=""
command -v ping >/dev/null 2>&1 || missing="$missing iputils-ping"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
if [ -n "$missing" ]; then
	echo "== installing$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

echo "== building bin/tapstack"
go build -o bin/tapstack ./cmd/tapstack

NS="tapdemo-$$"
LOG="$(mktemp -t tapstack-demo.XXXXXX)"
PID=""
cleanup() {
	status=$?
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	rm -f "$LOG"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== namespace $NS: bridge br0 10.0.0.1/24 and fd00::1/64"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add br0 type bridge
ip -n "$NS" addr add 10.0.0.1/24 dev br0
ip -n "$NS" addr add fd00::1/64 dev br0 nodad
ip -n "$NS" link set br0 up

echo "== tapstack up --tap tap0 --bridge br0 --addr 10.0.0.2/24 --addr fd00::2/64 --gateway 10.0.0.1"
ip netns exec "$NS" ./bin/tapstack up --tap tap0 --bridge br0 --addr 10.0.0.2/24 --addr fd00::2/64 --gateway 10.0.0.1 >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
	grep -q "tapstack: up on" "$LOG" && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "tapstack: up on" "$LOG"; then
	echo "demo.sh: tapstack did not come up:" >&2
	cat "$LOG" >&2
	exit 1
fi
cat "$LOG"

echo
echo "== ping -c 3 10.0.0.2 (from the namespace)"
ping_out="$(ip netns exec "$NS" ping -c 3 -W 2 10.0.0.2 || true)"
echo "$ping_out"

echo
echo "== ping -6 -c 3 fd00::2 (IPv6; the host also has a link-local fe80:: address, see the up line)"
ping6_out="$(ip netns exec "$NS" ping -6 -c 3 -W 2 fd00::2 || true)"
echo "$ping6_out"

echo
echo "== curl http://10.0.0.2/"
curl_ok=0
ip netns exec "$NS" curl -sS --max-time 10 http://10.0.0.2/ && curl_ok=1

N=$((10 * 1024 * 1024))
echo
echo "== curl http://10.0.0.2/bytes?n=$N (10 MiB of 'a'..'z')"
got="$(ip netns exec "$NS" curl -sS --max-time 30 -o /dev/null -w '%{size_download} %{time_total} %{speed_download}' "http://10.0.0.2/bytes?n=$N")" || curl_ok=0
read -r size secs speed <<<"$got"
awk -v n="$size" -v t="$secs" -v s="$speed" 'BEGIN { printf "%d bytes in %.3f s: %.1f MiB/s (%.0f Mbit/s)\n", n, t, s / 1048576, s * 8 / 1e6 }'
[ "$size" = "$N" ] || curl_ok=0

echo
echo "== curl -6 http://[fd00::2]/bytes?n=$N (the same over IPv6)"
got="$(ip netns exec "$NS" curl -6 -sS --max-time 30 -o /dev/null -w '%{size_download} %{time_total} %{speed_download}' "http://[fd00::2]/bytes?n=$N")" || curl_ok=0
read -r size secs speed <<<"$got"
awk -v n="$size" -v t="$secs" -v s="$speed" 'BEGIN { printf "%d bytes in %.3f s: %.1f MiB/s (%.0f Mbit/s)\n", n, t, s / 1048576, s * 8 / 1e6 }'
[ "$size" = "$N" ] || curl_ok=0

# The host's tables, as an operator reads them on the host itself: these
# commands talk to the running tapstack up through its control socket.
echo
echo "== tapstack route (like ip route, then ip -6 route)"
ip netns exec "$NS" ./bin/tapstack route
echo
echo "== tapstack neigh (like ip neigh: ARP and NDP entries with their states)"
ip netns exec "$NS" ./bin/tapstack neigh
echo
echo "== tapstack arp (like arp -n; Flags: C complete, M permanent, P published)"
ip netns exec "$NS" ./bin/tapstack arp
echo
echo "== tapstack status: counters (the host's own view; the page on :80 hides them)"
counters="$(ip netns exec "$NS" ./bin/tapstack status | sed -n '/^# counters/,$p')"
echo "$counters"
echo
echo "== stopping tapstack (SIGTERM)"
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=""
tail -n +2 "$LOG"
echo "tapstack exited with status $rc"

echo
if echo "$ping_out" | grep -q " 0% packet loss" && echo "$ping6_out" | grep -q " 0% packet loss" && [ "$curl_ok" = 1 ] && [ "$rc" = 0 ]; then
	echo "== demo OK: ping and ping -6 0% loss, curl over IPv4 and IPv6 succeeded, clean shutdown"
	echo "   next: add --pcap /tmp/tap0.pcap to tapstack up and read every frame with tcpdump -nr /tmp/tap0.pcap;"
	echo "   tapstack help, tapstack up --help"
	exit 0
fi
echo "== demo FAILED (ping, ping -6, curl or shutdown; see above)" >&2
exit 1
