#!/usr/bin/env bash
# deps.sh: install the Debian tools the integration tests drive, only those
# that are missing, and only when we are root with apt-get. Otherwise say
# which are missing: the tests that need them skip and say why.
set -uo pipefail
declare -A pkg=(
	[ping]=iputils-ping [arping]=iputils-arping [curl]=curl [ip]=iproute2
	[dnsmasq]=dnsmasq-base [hping3]=hping3 [traceroute]=traceroute
	[tshark]=tshark [tcpdump]=tcpdump [radvd]=radvd [busybox]=busybox [dig]=bind9-dnsutils
	[chromium]=chromium # the status page's browser test (internal/integration/web_status_test.go)
)
missing=""
for tool in "${!pkg[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing ${pkg[$tool]}"
done
# The off-path attacker of the integration tests is a scapy script.
/usr/bin/python3 -c 'import scapy' >/dev/null 2>&1 || missing="$missing python3-scapy"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$missing"
	apt-get update -qq >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
		echo "deps: apt-get could not install all of$missing; the tests that need them will skip"
else
	echo "deps: missing$missing (not root or no apt-get): the tests that need them will skip"
fi
exit 0
