#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# e2e barrage (test-malformed.sh): `send` writes a seeded mix of valid and malformed frames, each
# with the verdict the data-plane rules (README "Data-plane rules") give it, out of the client's
# interface through an AF_PACKET socket, bounded in count and rate; `sniff` runs on a backend and
# records every frame the balancer forwarded there (source MAC = the LB's) that carries a VIP
# destination, inner header included for IPIP. The script compares the two: each valid frame must
# arrive exactly once, nothing else may.
import argparse
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
MAGIC = b"XLBBRG"


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, proto, payload, ihl=5, tot_delta=0, frag=0x4000, options=b""):
    tot = 20 + len(options) + len(payload) + tot_delta
    h = struct.pack("!BBHHHBBH4s4s", (4 << 4) | ihl, 0, tot & 0xFFFF, 0x1234, frag, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst)) + options
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ip6(src, dst, nh, payload, plen_delta=0):
    plen = len(payload) + plen_delta
    return struct.pack("!IHBB16s16s", 6 << 28, plen & 0xFFFF, nh, 64,
                       socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)) + payload


def tcp(sport, dport, flags=0x02, doff=5, body=b"", hdr_len=None):
    hl = doff * 4 if hdr_len is None else hdr_len
    h = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, doff << 4, flags, 65535, 0, 0)
    h = (h + b"\0" * 40)[:hl] if hl >= 20 else h[:hl]
    return h + body


def udp(sport, dport, body=b"", len_field=None):
    ln = 8 + len(body) if len_field is None else len_field
    return struct.pack("!HHHH", sport, dport, ln, 0) + body


def eth(dst, src, ethertype, payload, tags=()):
    b = dst + src
    for tpid, tci in tags:
        b += struct.pack("!HH", tpid, tci)
    return b + struct.pack("!H", ethertype) + payload


class Gen:
    """Frame factory: every case returns (name, frame, verdict, key). verdict is 'fwd', 'drop:<reason>'
    or 'pass:<stat>'; key identifies a forwarded frame (family, inner src, sport) so the sniffer's
    arrivals can be matched."""

    def __init__(self, a, rng):
        self.a, self.r = a, rng
        self.lb, self.me = mac(a.lb_mac), mac(a.src_mac)
        self.seq = 0

    def client4(self):
        return "203.0.%d.%d" % (self.r.randrange(0, 256), self.r.randrange(1, 255))

    def client6(self):
        return "2001:db8:%x::%x" % (self.r.randrange(1, 0xFFFF), self.r.randrange(1, 0xFFFF))

    def port(self):
        self.seq += 1
        return 1024 + (self.seq % 60000)

    def body(self):
        return MAGIC + struct.pack("!I", self.seq) + bytes(self.r.randrange(0, 32))

    def _f(self, et, l3, tags=(), dmac=None):
        return eth(dmac or self.lb, self.me, et, l3, tags)

    # ---- cases ----------------------------------------------------------------------------------
    def cases(self):
        a = self.a
        c = []

        def valid4(port, proto_name, mode_note, tags=()):
            src, sp = self.client4(), self.port()
            l4 = tcp(sp, port, 0x02, body=self.body()) if proto_name == "tcp" else udp(sp, port, self.body())
            proto = 6 if proto_name == "tcp" else 17
            return ("valid v4 %s %s" % (proto_name, mode_note),
                    self._f(0x0800, ip4(src, a.vip4, proto, l4), tags), "fwd", [4, src, sp])

        def valid6(port, proto_name, mode_note):
            src, sp = self.client6(), self.port()
            l4 = tcp(sp, port, 0x02, body=self.body()) if proto_name == "tcp" else udp(sp, port, self.body())
            proto = 6 if proto_name == "tcp" else 17
            return ("valid v6 %s %s" % (proto_name, mode_note), self._f(0x86DD, ip6(src, a.vip6, proto, l4)), "fwd",
                    [6, str(ipaddress.ip_address(src)), sp])

        c.append(lambda: valid4(a.dsr_port, "tcp", "dsr"))
        c.append(lambda: valid4(a.dsr_port, "udp", "dsr"))
        c.append(lambda: valid4(a.ipip_port, "tcp", "ipip"))
        c.append(lambda: valid6(a.dsr_port, "tcp", "dsr"))
        c.append(lambda: valid6(a.dsr_port, "udp", "dsr"))
        c.append(lambda: valid6(a.ipip_port, "tcp", "ipip"))
        if a.vlan_ok:
            c.append(lambda: valid4(a.dsr_port, "tcp", "dsr, accepted VLAN", ((0x8100, a.vlan_ok),)))

        def valid_doff():
            src, sp = self.client4(), self.port()
            l4 = tcp(sp, a.dsr_port, 0x10, doff=8, body=self.body())
            return ("valid v4 tcp with options (data offset 8)", self._f(0x0800, ip4(src, a.vip4, 6, l4)), "fwd", [4, src, sp])
        c.append(valid_doff)

        def icmp_frag_needed():
            # About the VIP's reply to a client with no flow entry: maglev recomputes the backend.
            client, cp = self.client4(), self.port()
            quote = ip4(a.vip4, client, 6, tcp(a.dsr_port, cp, 0x10, body=self.body()))
            msg = struct.pack("!BBHHH", 3, 4, 0, 0, 1280) + quote
            router = "198.51.100.%d" % self.r.randrange(1, 255)
            return ("ICMP frag-needed about a VIP flow", self._f(0x0800, ip4(router, a.vip4, 1, msg)), "fwd",
                    [4, router, 0])
        c.append(icmp_frag_needed)

        def icmp6_ptb():
            client, cp = self.client6(), self.port()
            quote = ip6(a.vip6, client, 6, tcp(a.dsr_port, cp, 0x10, body=self.body()))
            msg = struct.pack("!BBHI", 2, 0, 0, 1280) + quote
            router = "2001:db8:ffff::%x" % self.r.randrange(1, 0xFFFF)
            return ("ICMPv6 packet-too-big about a VIP flow", self._f(0x86DD, ip6(router, a.vip6, 58, msg)), "fwd",
                    [6, str(ipaddress.ip_address(router)), 0])
        c.append(icmp6_ptb)

        def bad4(name, verdict, make):
            def f():
                src, sp = self.client4(), self.port()
                return (name, make(src, sp), verdict, None)
            return f

        V4, V6 = a.vip4, a.vip6
        T = a.dsr_port
        c.append(bad4("IPv4 IHL < 5", "drop:bad_ihl",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T), ihl=self.r.randrange(0, 5)))))
        c.append(bad4("IPv4 options", "drop:ip_options",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T), ihl=6, options=b"\x01\x01\x01\x00"))))
        c.append(bad4("IPv4 fragment", "drop:fragment",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T), frag=self.r.choice([0x2000, 0x0001, 0x2010, 0x1FFF])))))
        c.append(bad4("IPv4 total length > frame", "drop:bad_len",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T), tot_delta=self.r.randrange(1, 200)))))
        c.append(bad4("IPv4 TCP header truncated", "drop:truncated",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T, hdr_len=self.r.randrange(0, 20))))))
        c.append(bad4("TCP data offset < 5", "drop:tcp_doff_short",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T, doff=self.r.randrange(0, 5), hdr_len=20)))))
        c.append(bad4("TCP data offset past the segment", "drop:tcp_doff_overrun",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T, doff=self.r.randrange(6, 16), hdr_len=20)))))
        c.append(bad4("UDP length wrong", "drop:bad_len",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 17, udp(p, T, b"abcdefgh", self.r.choice([0, 7, 17, 400]))))))
        c.append(bad4("GRE to a VIP address", "drop:unknown_proto",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 47, b"\0\0\x08\0" + bytes(20)))))
        c.append(bad4("L2 multicast/broadcast to a VIP", "drop:l2_multicast",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T)),
                                           dmac=self.r.choice([b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x05", b"\x33\x33\0\0\0\x01"]))))
        c.append(bad4("VLAN not accepted", "drop:vlan_not_allowed",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T)),
                                           tags=((self.r.choice([0x8100, 0x88A8]), self.r.choice([0, 1, 200, 4094])),))))

        def martian4():
            src = self.r.choice(["0.%d.0.1", "127.0.%d.1", "224.0.0.%d", "239.1.%d.1", "240.0.%d.1", "255.255.255.255"])
            src = src % self.r.randrange(1, 255) if "%" in src else src
            return ("IPv4 martian source", self._f(0x0800, ip4(src, V4, 6, tcp(self.port(), T))), "drop:bad_source", None)
        c.append(martian4)

        def martian6():
            src = self.r.choice(["::", "::1", "ff02::1", "ff05::%x" % self.r.randrange(1, 0xFFFF), V6])
            return ("IPv6 martian source", self._f(0x86DD, ip6(src, V6, 6, tcp(self.port(), T))), "drop:bad_source", None)
        c.append(martian6)

        def bad6(name, verdict, make):
            def f():
                return (name, make(self.client6(), self.port()), verdict, None)
            return f
        c.append(bad6("IPv6 payload length > frame", "drop:bad_len",
                      lambda s, p: self._f(0x86DD, ip6(s, V6, 6, tcp(p, T), plen_delta=self.r.randrange(1, 100)))))
        c.append(bad6("IPv6 fragment header", "drop:fragment",
                      lambda s, p: self._f(0x86DD, ip6(s, V6, 44, bytes([6, 0, 0, 0, 0, 0, 0, 1]) + tcp(p, T)))))
        c.append(bad6("IPv6 extension header", "drop:ip_options",
                      lambda s, p: self._f(0x86DD, ip6(s, V6, self.r.choice([0, 43, 60]), bytes([6, 0, 1, 4, 0, 0, 0, 0]) + tcp(p, T)))))
        c.append(bad6("IPv6 TCP data offset overrun", "drop:tcp_doff_overrun",
                      lambda s, p: self._f(0x86DD, ip6(s, V6, 6, tcp(p, T, doff=15, hdr_len=20)))))

        # Passed to the kernel (never forwarded).
        c.append(bad4("ICMP echo to a VIP", "pass:icmp_pass",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 1, struct.pack("!BBHHH", 8, 0, 0, p, 1) + b"ping"))))

        def icmp_bad_quote():
            quote = ip4(V4, self.client4(), 6, tcp(T, self.port()))[:self.r.randrange(0, 28)]
            msg = struct.pack("!BBHHH", 3, 4, 0, 0, 1280) + quote
            return ("ICMP error, truncated quote", self._f(0x0800, ip4("198.51.100.9", V4, 1, msg)), "pass:icmp_bad_quote_pass", None)
        c.append(icmp_bad_quote)
        c.append(bad4("TCP to a VIP address, port without a VIP", "pass:non_vip",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, a.closed_port)))))
        c.append(bad4("IPv4 header truncated", "pass:malformed_pass",
                      lambda s, p: self._f(0x0800, ip4(s, V4, 6, tcp(p, T))[:self.r.randrange(1, 20)])))
        return c


def cmd_send(a):
    rng = random.Random(a.seed)
    g = Gen(a, rng)
    cases = g.cases()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    tally, forwarded, categories = {}, [], {}
    interval = 1.0 / a.rate
    deadline = time.monotonic() + a.max_seconds
    next_t = time.monotonic()
    sent = 0
    for _ in range(a.count):
        if time.monotonic() > deadline:
            break
        name, frame, verdict, key = rng.choice(cases)()
        if len(frame) < 14:
            continue
        s.send(frame)
        sent += 1
        tally[verdict] = tally.get(verdict, 0) + 1
        categories[name] = categories.get(name, 0) + 1
        if verdict == "fwd":
            forwarded.append(key)
        next_t += interval
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    json.dump({"sent": sent, "tally": tally, "forwarded": forwarded, "categories": categories}, open(a.out, "w"))
    print("sent %d frames in %d categories" % (sent, len(categories)))


def parse_arrival(frame, lb_mac, vips):
    """(family, inner src, sport) of a barrage frame the balancer forwarded, or None."""
    if frame[6:12] != lb_mac:
        return None
    off, et = 14, struct.unpack("!H", frame[12:14])[0]
    if et in (0x8100, 0x88A8):
        et, off = struct.unpack("!H", frame[16:18])[0], 18
    outer_proto = None
    for _ in range(2):  # outer (IPIP) then inner
        if et == 0x0800 and len(frame) >= off + 20:
            ihl = (frame[off] & 0xF) * 4
            proto, src, dst = frame[off + 9], frame[off + 12:off + 16], frame[off + 16:off + 20]
            if proto in (4, 41) and outer_proto is None:
                outer_proto = proto
                et, off = (0x0800 if proto == 4 else 0x86DD), off + ihl
                continue
            fam, l4 = 4, off + ihl
            src_s, dst_s = socket.inet_ntop(socket.AF_INET, src), socket.inet_ntop(socket.AF_INET, dst)
        elif et == 0x86DD and len(frame) >= off + 40:
            proto, src, dst = frame[off + 6], frame[off + 8:off + 24], frame[off + 24:off + 40]
            if proto in (4, 41) and outer_proto is None:
                outer_proto = proto
                et, off = (0x0800 if proto == 4 else 0x86DD), off + 40
                continue
            fam, l4 = 6, off + 40
            src_s, dst_s = socket.inet_ntop(socket.AF_INET6, src), socket.inet_ntop(socket.AF_INET6, dst)
        else:
            return None
        if dst_s not in vips:
            return None
        sport = struct.unpack("!H", frame[l4:l4 + 2])[0] if proto in (6, 17) and len(frame) >= l4 + 2 else 0
        return [fam, src_s, sport]
    return None


def cmd_sniff(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.bind((a.iface, 0))
    s.settimeout(0.2)
    lb, vips = mac(a.lb_mac), {a.vip4, str(ipaddress.ip_address(a.vip6))}
    seen, frames = [], 0
    open(a.ready, "w").close()
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            if os.path.exists(a.stop):
                break
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        k = parse_arrival(frame, lb, vips)
        if k:
            seen.append(k)
        frames += 1
    json.dump({"arrivals": seen, "frames": frames}, open(a.out, "w"))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("send")
    ps.add_argument("--iface", required=True)
    ps.add_argument("--src-mac", required=True)
    ps.add_argument("--lb-mac", required=True)
    ps.add_argument("--vip4", required=True)
    ps.add_argument("--vip6", required=True)
    ps.add_argument("--dsr-port", type=int, required=True)
    ps.add_argument("--ipip-port", type=int, required=True)
    ps.add_argument("--closed-port", type=int, required=True)
    ps.add_argument("--vlan-ok", type=int, default=0)
    ps.add_argument("--count", type=int, default=20000)
    ps.add_argument("--rate", type=float, default=5000)
    ps.add_argument("--max-seconds", type=float, default=30)
    ps.add_argument("--seed", type=int, default=1)
    ps.add_argument("--out", required=True)
    pn = sub.add_parser("sniff")
    pn.add_argument("--iface", required=True)
    pn.add_argument("--lb-mac", required=True)
    pn.add_argument("--vip4", required=True)
    pn.add_argument("--vip6", required=True)
    pn.add_argument("--ready", required=True)
    pn.add_argument("--stop", required=True)
    pn.add_argument("--max-seconds", type=float, default=60)
    pn.add_argument("--out", required=True)
    a = p.parse_args()
    if a.cmd == "send":
        cmd_send(a)
    else:
        cmd_sniff(a)


if __name__ == "__main__":
    sys.exit(main())
