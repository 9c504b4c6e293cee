#!/usr/bin/python3
"""A Neighbour Discovery flood from random sources on a bridge port.

Usage: ndp_flood.py IFACE TARGET NS RA SEED

Sends NS neighbour solicitations for TARGET (to its solicited-node group),
each from a random address in TARGET's /64 with a random MAC and a source
link-layer address option, then RA router advertisements to all nodes,
each from a random link-local router with a random MAC, a random
autonomous /64 prefix, an MTU option and an RDNSS server (issue 14,
acceptance 7). scapy builds every frame; they go out on a raw AF_PACKET
socket bound to IFACE. Prints one JSON object: the frames sent of each
kind (a full kernel queue skips a frame).
"""
import errno
import ipaddress
import json
import random
import socket
import sys

from scapy.layers.inet6 import (ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6NDOptMTU,
                                ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS,
                                ICMPv6NDOptSrcLLAddr, IPv6)
from scapy.layers.l2 import Ether
from scapy.utils6 import in6_getnsma, in6_getnsmac
from scapy.compat import raw


def rand_mac(rng):
    b = [rng.randrange(256) for _ in range(6)]
    b[0] = (b[0] & 0xFE) | 0x02  # unicast, locally administered
    return ":".join("%02x" % x for x in b)


def main():
    iface, target, n_ns, n_ra, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rng = random.Random(seed)
    net = ipaddress.IPv6Network(target + "/64", strict=False)
    sol = in6_getnsma(socket.inet_pton(socket.AF_INET6, target))
    sol_addr, sol_mac = socket.inet_ntop(socket.AF_INET6, sol), in6_getnsmac(sol)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sent = {"ns": 0, "ra": 0, "skipped": 0}

    def send(frame, kind):
        try:
            s.send(frame)
            sent[kind] += 1
        except OSError as e:
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                raise
            sent["skipped"] += 1

    for _ in range(n_ns):
        mac = rand_mac(rng)
        src = str(net[rng.randrange(3, 1 << 32)])
        send(raw(Ether(src=mac, dst=sol_mac) / IPv6(src=src, dst=sol_addr, hlim=255) /
                 ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=mac)), "ns")
    for _ in range(n_ra):
        mac = rand_mac(rng)
        src = "fe80::%x:%x:%x:%x" % tuple(rng.randrange(1 << 16) for _ in range(4))
        prefix = "fd%02x:%x:%x::" % (rng.randrange(256), rng.randrange(1 << 16), rng.randrange(1 << 16))
        send(raw(Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=src, dst="ff02::1", hlim=255) /
                 ICMPv6ND_RA(routerlifetime=rng.randrange(1, 9000)) / ICMPv6NDOptSrcLLAddr(lladdr=mac) /
                 ICMPv6NDOptMTU(mtu=rng.choice([1280, 1400, 1500, 9000])) /
                 ICMPv6NDOptPrefixInfo(prefix=prefix, prefixlen=64, L=1, A=1,
                                       validlifetime=rng.randrange(60, 7200), preferredlifetime=30) /
                 ICMPv6NDOptRDNSS(lifetime=600, dns=[prefix + "53"])), "ra")
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
