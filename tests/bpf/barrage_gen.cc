// SPDX-License-Identifier: Apache-2.0
// The barrage generator (barrage_gen.h): one category per header field that can be wrong.
#include "barrage_gen.h"

#include <arpa/inet.h>

#include <cstdio>

#include "testbed.h"

namespace xlb::test {

namespace {

constexpr uint8_t kTcp = 6, kUdp = 17;
constexpr const char* kRouter4 = "198.51.100.1";
constexpr const char* kRouter6 = "2001:db8:ffff::1";
const char* const kNonVip4[] = {"10.100.0.11", "10.9.9.9", "192.0.2.99", "10.0.0.1"};
const char* const kNonVip6[] = {"2001:db8::11", "2001:db8:9::9", "fd00::1"};
const uint8_t kFlags[] = {0x02, 0x10, 0x18, 0x11, 0x04, 0x14, 0x12};

std::string addrString(int family, const Addr& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, a.data(), buf, sizeof(buf));
  return buf;
}

void put16(Bytes& f, size_t off, uint16_t v) {
  f[off] = static_cast<uint8_t>(v >> 8);
  f[off + 1] = static_cast<uint8_t>(v);
}

}  // namespace

size_t BarrageGenerator::l3Off(const Bytes& f) {
  const uint16_t type = static_cast<uint16_t>((f[12] << 8) | f[13]);
  return type == 0x8100 || type == 0x88a8 ? 18 : 14;
}

std::string BarrageGenerator::client(int family) {
  char buf[64];
  if (family == 4) {
    // First octets a client can have: 1..126, 128..223.
    uint32_t first = 1 + u(222);
    if (first >= 127) ++first;
    snprintf(buf, sizeof(buf), "%u.%u.%u.%u", first, u(256), u(256), 1 + u(254));
  } else {
    snprintf(buf, sizeof(buf), "2001:db8:c:%x::%x", u(0x10000), 1 + u(0xfffe));
  }
  return buf;
}

BarrageGenerator::Target BarrageGenerator::randomTarget() {
  const uint32_t r = u(100);
  return r < 60 ? Target::kVip : r < 75 ? Target::kVipAddrOtherPort : Target::kNonVip;
}

BarrageGenerator::Spec BarrageGenerator::target(Target t, int family) {
  std::vector<int> candidates;
  for (size_t i = 0; i < vips_.size(); ++i) {
    if (!family || vips_[i].family == family) candidates.push_back(static_cast<int>(i));
  }
  const OracleVip& vip = vips_[candidates[u(static_cast<uint32_t>(candidates.size()))]];
  Spec s;
  if (t == Target::kVip && !flows_.empty() && chance(70)) {
    // An earlier flow again (the flow table sees hits, ICMP errors find entries).
    for (int tries = 0; tries < 8; ++tries) {
      const Spec& old = flows_[u(static_cast<uint32_t>(flows_.size()))];
      if (family && old.family != family) continue;
      s = old;
      s.flags = kFlags[u(sizeof(kFlags))];
      s.payload = u(4) ? u(65) : 0;
      return s;
    }
  }
  s.family = vip.family;
  s.dmac = kLbMac;
  s.src = client(s.family);
  s.sport = static_cast<uint16_t>(1024 + u(64512));
  s.flags = kFlags[u(sizeof(kFlags))];
  s.payload = u(4) ? u(65) : 0;
  s.proto = vip.proto;
  s.dst = addrString(vip.family, vip.addr);
  if (t == Target::kVip) {
    s.dport = vip.port ? vip.port : static_cast<uint16_t>(1 + u(65535));
    s.vip = static_cast<int>(&vip - vips_.data());
    if (flows_.size() < 4000) flows_.push_back(s);
    return s;
  }
  if (t == Target::kNonVip) {
    s.dst = s.family == 4 ? kNonVip4[u(4)] : kNonVip6[u(3)];
    s.proto = chance(50) ? kTcp : kUdp;
    s.dport = chance(50) ? vip.port : static_cast<uint16_t>(u(65536));
    return s;
  }
  // The VIP's address, a port/protocol no VIP listens on.
  for (;;) {
    s.proto = chance(50) ? kTcp : kUdp;
    s.dport = static_cast<uint16_t>(1 + u(65535));
    bool taken = false;
    for (const OracleVip& v : vips_) {
      taken |= v.family == s.family && v.addr == vip.addr && v.proto == s.proto &&
               (v.port == 0 || v.port == s.dport);
    }
    if (!taken) return s;
  }
}

PacketBuilder BarrageGenerator::builder(const Spec& s) {
  PacketBuilder b;
  b.eth(s.dmac.empty() ? kLbMac : s.dmac, kClientMac);
  for (const auto& [tpid, tci] : s.tags) b.vlan(tci, tpid);
  if (s.family == 4) {
    b.ipv4(s.src, s.dst, static_cast<uint8_t>(u(4) ? 0 : u(256)));
  } else {
    b.ipv6(s.src, s.dst, static_cast<uint8_t>(u(4) ? 0 : u(256)));
  }
  if (s.proto == kTcp) {
    b.tcp(s.sport, s.dport, s.flags);
  } else if (s.proto == kUdp) {
    b.udp(s.sport, s.dport);
  } else {
    b.rawL4(s.proto, s.raw);
  }
  Bytes payload(s.payload);
  for (auto& byte : payload) byte = static_cast<uint8_t>(u(256));
  b.payload(payload);
  return b;
}

Case BarrageGenerator::valid() {
  Spec s = target(Target::kVip);
  std::string name = "valid/";
  name += s.proto == kTcp ? "tcp" : "udp";
  name += s.family == 4 ? "4" : "6";
  if (chance(20)) {
    s.tags.push_back({chance(50) ? 0x8100 : 0x88a8, static_cast<uint16_t>((u(8) << 13) | 100)});
    name += "/vlan100";
  }
  Bytes f = build(s);
  if (s.proto == kTcp && s.payload >= 4 && chance(30)) {
    // Options: a data offset up to what the segment holds.
    const size_t max_extra = std::min<size_t>(10, s.payload / 4);
    f[l3Off(f) + (s.family == 4 ? 20 : 40) + 12] =
        static_cast<uint8_t>((5 + 1 + u(max_extra)) << 4);
    name += "/tcp-options";
  }
  if (chance(15)) {
    // Ethernet padding: the frame is longer than the IP packet.
    for (uint32_t n = 1 + u(40); n; --n) f.push_back(static_cast<uint8_t>(u(256)));
    name += "/padded";
  }
  return {name, f, Intent::kValidVip};
}

Case BarrageGenerator::nonVip() {
  Spec s = target(chance(50) ? Target::kNonVip : Target::kVipAddrOtherPort);
  std::string name = "non-vip";
  if (chance(25)) s.dmac = "ff:ff:ff:ff:ff:ff", name += "/broadcast-mac";
  if (chance(25)) s.src = s.family == 4 ? "127.0.0.1" : "ff02::1", name += "/martian-source";
  if (chance(25)) s.tags.push_back({0x8100, static_cast<uint16_t>(u(4096))}), name += "/vlan";
  return {name, build(s), Intent::kNotForwarded};
}

Case BarrageGenerator::l2Mutation() {
  Spec s = target(randomTarget());
  const bool to_vip = s.vip >= 0;
  switch (u(5)) {
    case 0: {
      Bytes f = build(s);
      const uint16_t pick[] = {0x0806, 0x88cc, 0x0000, 0xffff, 0x86dd, 0x0800};
      uint16_t type = pick[u(6)];
      if (type == 0x86dd || type == 0x0800) type = s.family == 4 ? 0x86dd : 0x0800;  // mismatch
      const bool random = chance(30);
      if (random) type = static_cast<uint16_t>(u(65536));
      put16(f, 12, type);
      return {"l2/ethertype", f, random ? Intent::kAny : Intent::kNotForwarded};
    }
    case 1:
      s.tags.push_back({chance(50) ? 0x88a8 : 0x8100, static_cast<uint16_t>(u(4096))});
      s.tags.push_back({0x8100, 100});
      return {"l2/qinq", build(s), Intent::kNotForwarded};
    case 2: {
      Bytes f = build(s);
      put16(f, 12, chance(50) ? 0x8100 : 0x88a8);
      f.resize(14 + u(4));
      return {"l2/vlan-tag-truncated", f, Intent::kNotForwarded};
    }
    case 3: {
      const uint16_t id = chance(20) ? 100 : static_cast<uint16_t>(u(4096));
      s.tags.push_back({chance(50) ? 0x8100 : 0x88a8, static_cast<uint16_t>((u(8) << 13) | id)});
      Intent i = !to_vip     ? Intent::kNotForwarded
                 : id == 100 ? Intent::kValidVip
                             : Intent::kNotForwarded;
      return {"l2/vlan-id", build(s), i};
    }
    default: {
      const char* macs[] = {"ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb", "33:33:00:00:00:01",
                            "03:12:34:56:78:9a"};
      s.dmac = macs[u(4)];
      return {"l2/multicast-mac", build(s), Intent::kNotForwarded};
    }
  }
}

Case BarrageGenerator::ipv4Mutation() {
  Spec s = target(randomTarget(), 4);
  const bool to_vip = s.vip >= 0;
  Bytes f = build(s);
  const size_t l3 = l3Off(f);
  switch (u(7)) {
    case 0: {
      uint8_t v = static_cast<uint8_t>(u(16));
      if (v == 4) v = 6;
      f[l3] = static_cast<uint8_t>((v << 4) | 5);
      return {"v4/version", f, Intent::kNotForwarded};
    }
    case 1:
      f[l3] = static_cast<uint8_t>(0x40 | u(5));
      return {"v4/ihl-short", f, Intent::kNotForwarded};
    case 2: {
      if (chance(50)) {
        f[l3] = static_cast<uint8_t>(0x40 | (6 + u(10)));
        return {"v4/ihl-long", f, Intent::kNotForwarded};
      }
      Bytes opts(4 * (1 + u(10)));
      for (auto& b : opts) b = static_cast<uint8_t>(u(256));
      return {"v4/options", builder(s).ipv4Options(opts).build(), Intent::kNotForwarded};
    }
    case 3: {
      const uint16_t tot = static_cast<uint16_t>((f[l3 + 2] << 8) | f[l3 + 3]);
      put16(f, l3 + 2,
            chance(50) ? static_cast<uint16_t>(u(65536)) : static_cast<uint16_t>(tot + u(61) - 30));
      return {"v4/total-length", f, Intent::kAny};
    }
    case 4: {
      uint16_t field = static_cast<uint16_t>((chance(50) ? 0x4000 : 0) | (chance(50) ? 0x2000 : 0) |
                                             (chance(50) ? u(0x2000) : 0));
      if (!(field & 0x3fff)) field |= 0x2000;
      put16(f, l3 + 6, field);
      return {"v4/fragment", f, Intent::kNotForwarded};
    }
    case 5: {
      // DF and the reserved bit are not fragmentation: still balanced.
      put16(f, l3 + 6, chance(50) ? 0x8000 : static_cast<uint16_t>(chance(50) ? 0xc000 : 0));
      return {"v4/flags-not-fragment", f, to_vip ? Intent::kValidVip : Intent::kNotForwarded};
    }
    default:
      f[l3 + 9] = static_cast<uint8_t>(u(256));
      return {"v4/protocol", f, Intent::kAny};
  }
}

Case BarrageGenerator::ipv6Mutation() {
  Spec s = target(randomTarget(), 6);
  const bool to_vip = s.vip >= 0;
  Bytes f = build(s);
  const size_t l3 = l3Off(f);
  switch (u(5)) {
    case 0: {
      uint8_t v = static_cast<uint8_t>(u(16));
      if (v == 6) v = 4;
      f[l3] = static_cast<uint8_t>((v << 4) | (f[l3] & 0xf));
      return {"v6/version", f, Intent::kNotForwarded};
    }
    case 1: {
      const uint16_t plen = static_cast<uint16_t>((f[l3 + 4] << 8) | f[l3 + 5]);
      const uint32_t r = u(3);
      put16(f, l3 + 4,
            r == 0   ? 0
            : r == 1 ? static_cast<uint16_t>(u(65536))
                     : static_cast<uint16_t>(plen + u(61) - 30));
      return {"v6/payload-length", f, r == 0 ? Intent::kNotForwarded : Intent::kAny};
    }
    case 2: {
      const uint8_t ext[] = {0, 43, 44, 51, 60, 135, 139, 140};
      Bytes body(6);
      for (auto& b : body) b = static_cast<uint8_t>(u(256));
      return {"v6/extension-header", builder(s).ipv6ExtHeader(ext[u(8)], body).build(),
              Intent::kNotForwarded};
    }
    case 3:
      f[l3 + 6] = static_cast<uint8_t>(u(256));
      return {"v6/next-header", f, Intent::kAny};
    default:
      // Traffic class, flow label and hop limit are not judged.
      f[l3 + 1] = static_cast<uint8_t>(u(256));
      f[l3 + 2] = static_cast<uint8_t>(u(256));
      f[l3 + 7] = static_cast<uint8_t>(u(256));
      return {"v6/flow-label-hop-limit", f, to_vip ? Intent::kValidVip : Intent::kNotForwarded};
  }
}

Case BarrageGenerator::transportMutation() {
  Spec s = target(randomTarget());
  const bool to_vip = s.vip >= 0;
  s.payload = u(49);
  Bytes f = build(s);
  const size_t l3 = l3Off(f), l4 = l3 + (s.family == 4 ? 20 : 40);
  const size_t l4_len = f.size() - l4;
  auto setL4Len = [&](size_t n) {
    if (s.family == 4) {
      put16(f, l3 + 2, static_cast<uint16_t>(20 + n));
    } else {
      put16(f, l3 + 4, static_cast<uint16_t>(n));
    }
  };
  if (s.proto == kTcp) {
    switch (u(3)) {
      case 0:
        f[l4 + 12] = static_cast<uint8_t>((u(16) << 4) | (f[l4 + 12] & 0xf));
        return {"tcp/data-offset", f, Intent::kAny};
      case 1:
        f[l4 + 13] = static_cast<uint8_t>(u(256));
        f[l4 + 12] = static_cast<uint8_t>(0x50 | u(16));  // reserved bits and NS/AE
        return {"tcp/flags", f, to_vip ? Intent::kValidVip : Intent::kNotForwarded};
      default:
        setL4Len(u(20));  // the rest of the frame becomes padding
        return {"tcp/cut-by-ip-length", f, Intent::kNotForwarded};
    }
  }
  if (chance(70)) {
    const uint32_t r = u(3);
    const uint16_t len = r == 0   ? static_cast<uint16_t>(u(8))
                         : r == 1 ? static_cast<uint16_t>(l4_len + 1 + u(20))
                                  : static_cast<uint16_t>(u(65536));
    put16(f, l4 + 4, len);
    return {"udp/length", f, r == 2 ? Intent::kAny : Intent::kNotForwarded};
  }
  setL4Len(u(8));
  return {"udp/cut-by-ip-length", f, Intent::kNotForwarded};
}

Case BarrageGenerator::sourceMutation() {
  Spec s = target(chance(80) ? Target::kVip : randomTarget());
  const bool to_vip = s.vip >= 0;
  char buf[64];
  if (chance(25)) {
    // The martian ranges' neighbours are clients.
    const char* near4[] = {"1.0.0.1", "126.255.255.254", "128.0.0.1", "223.255.255.254"};
    const char* near6[] = {"::2", "fe80::1", "fec0::1", "feff::1", "::ffff:10.1.2.3"};
    s.src = s.family == 4 ? near4[u(4)] : near6[u(5)];
    return {"source/near-martian", build(s), to_vip ? Intent::kValidVip : Intent::kNotForwarded};
  }
  if (chance(15)) {
    s.src = s.dst;
  } else if (s.family == 4) {
    const uint32_t firsts[] = {0, 127, 224 + u(16), 240 + u(16)};
    snprintf(buf, sizeof(buf), "%u.%u.%u.%u", firsts[u(4)], u(256), u(256), u(256));
    s.src = chance(10) ? "255.255.255.255" : buf;
  } else {
    const uint32_t r = u(3);
    if (r == 2) snprintf(buf, sizeof(buf), "ff%02x::%x", u(256), u(0x10000));
    s.src = r == 0 ? "::" : r == 1 ? "::1" : buf;
  }
  return {"source/martian", build(s), to_vip ? Intent::kNotForwarded : Intent::kAny};
}

Case BarrageGenerator::truncation() {
  Spec s = target(randomTarget());
  Bytes f = build(s);
  f.resize(14 + u(static_cast<uint32_t>(f.size() - 14)));
  return {"truncated", f, Intent::kAny};
}

Case BarrageGenerator::byteFlips() {
  Case c = chance(80) ? valid() : icmpError();
  for (uint32_t n = 1 + u(4); n; --n) {
    c.frame[u(static_cast<uint32_t>(c.frame.size()))] = static_cast<uint8_t>(u(256));
  }
  return {"random-bytes", c.frame, Intent::kAny};
}

Bytes BarrageGenerator::quoteOf(const Spec& flow, size_t keep) {
  PacketBuilder q;
  if (flow.family == 4) {
    q.ipv4(flow.dst, flow.src);
  } else {
    q.ipv6(flow.dst, flow.src);
  }
  if (flow.proto == kTcp) {
    q.tcp(flow.dport, flow.sport, 0x10);
  } else {
    q.udp(flow.dport, flow.sport);
  }
  q.payload(Bytes(u(4) ? 1200 : u(40), 0x5a));
  Bytes b = q.l3();
  if (keep < b.size()) b.resize(keep);
  return b;
}

BarrageGenerator::Spec BarrageGenerator::icmpErrorTo(const Spec& flow, uint8_t type) {
  Spec e;
  e.family = flow.family;
  e.proto = flow.family == 4 ? 1 : 58;
  e.src = flow.family == 4 ? kRouter4 : kRouter6;
  e.dst = flow.dst;
  e.dmac = kLbMac;
  const uint32_t mtu = 1280 + u(221);
  e.raw = {type,
           static_cast<uint8_t>(u(4) ? (flow.family == 4 ? 4 : 0) : u(16)),
           0,
           0,
           static_cast<uint8_t>(mtu >> 24),
           static_cast<uint8_t>(mtu >> 16),
           static_cast<uint8_t>(mtu >> 8),
           static_cast<uint8_t>(mtu)};
  return e;
}

Case BarrageGenerator::icmpEcho() {
  Spec s = target(chance(70) ? Target::kVip : Target::kNonVip);
  const uint8_t types4[] = {8, 0, 5, 13, 4, 12}, types6[] = {128, 129, 133, 135, 136, 4, 0};
  s.proto = s.family == 4 ? 1 : 58;
  const uint8_t type = s.family == 4 ? types4[u(6)] : types6[u(7)];
  s.raw = {type, 0, 0, 0, 0x12, 0x34, 0, 1};
  for (uint32_t n = u(40); n; --n) s.raw.push_back(static_cast<uint8_t>(u(256)));
  return {"icmp/not-an-error", build(s), Intent::kNotForwarded};
}

Case BarrageGenerator::icmpError() {
  Spec flow = target(Target::kVip);
  const bool v4 = flow.family == 4;
  const uint8_t types4[] = {3, 11}, types6[] = {1, 2, 3};
  const bool random_type = chance(10);
  const uint8_t type = random_type ? static_cast<uint8_t>(u(256))
                       : v4        ? types4[u(2)]
                                   : types6[u(3)];
  Spec e = icmpErrorTo(flow, type);
  const size_t min = v4 ? 28 : 48;
  Bytes q = quoteOf(flow, chance(50) ? min + u(60) : 10000);
  e.raw.insert(e.raw.end(), q.begin(), q.end());
  std::string name = random_type ? "icmp/error-random-type" : "icmp/error";
  if (chance(10))
    e.tags.push_back({0x8100, static_cast<uint16_t>(chance(50) ? 100 : u(4096))}), name += "/vlan";
  if (chance(5)) e.dmac = "ff:ff:ff:ff:ff:ff", name += "/broadcast-mac";
  if (chance(5)) e.src = v4 ? "224.0.0.9" : "::1", name += "/martian-source";
  if (chance(3)) {
    e.raw.resize(u(8));
    return {"icmp/header-truncated", build(e), Intent::kNotForwarded};
  }
  return {name, build(e), Intent::kAny};
}

Case BarrageGenerator::icmpBadQuote() {
  Spec flow = target(Target::kVip);
  const bool v4 = flow.family == 4;
  Spec e = icmpErrorTo(flow, v4 ? 3 : 2);
  Bytes q = quoteOf(flow, 10000);
  std::string name = "icmp/bad-quote";
  switch (u(v4 ? 4 : 3)) {
    case 0:
      q.resize(u(v4 ? 28 : 48));
      name += "/truncated";
      break;
    case 1:
      q[0] = v4 ? static_cast<uint8_t>(0x40 | (u(2) ? u(5) : 6 + u(10)))
                : static_cast<uint8_t>((u(6) << 4) | (q[0] & 0xf));
      name += v4 ? "/ihl" : "/version";
      break;
    case 2:
      if (v4) {
        q[0] = static_cast<uint8_t>((u(2) ? 6 : u(4)) << 4 | 5);
        name += "/version";
      } else {
        PacketBuilder b;
        b.ipv6(flow.dst, flow.src)
            .ipv6ExtHeader(chance(50) ? 44 : 60, Bytes(6, 0))
            .tcp(flow.dport, flow.sport, 0x10);
        q = b.l3();
        name += "/extension-header";
      }
      break;
    default:
      put16(q, 6, static_cast<uint16_t>((u(4) << 13) | (1 + u(0x1fff))));
      name += "/later-fragment";
      break;
  }
  e.raw.insert(e.raw.end(), q.begin(), q.end());
  return {name, build(e), Intent::kNotForwarded};
}

Case BarrageGenerator::icmpForeignQuote() {
  Spec flow = target(Target::kVip);
  const bool v4 = flow.family == 4;
  Spec e = icmpErrorTo(flow, v4 ? 3 : 2);
  std::string name = "icmp/foreign-quote";
  Spec quoted = flow;
  Bytes q;
  switch (u(3)) {
    case 0:
      quoted.dst = v4 ? kNonVip4[u(4)] : kNonVip6[u(3)];  // quoted source: not the VIP
      q = quoteOf(quoted, 10000);
      name += "/source";
      break;
    case 1: {
      // No VIP of the test listens on its port with the other protocol.
      quoted.proto = quoted.proto == kTcp ? kUdp : kTcp;
      q = quoteOf(quoted, 10000);
      name += "/port";
      break;
    }
    default: {
      q = quoteOf(quoted, 10000);
      uint8_t proto = static_cast<uint8_t>(u(256));
      if (proto == kTcp || proto == kUdp) proto = v4 ? 1 : 58;
      const uint8_t ext[] = {0, 43, 44, 51, 60, 135, 139, 140};
      for (uint8_t x : ext) {
        if (!v4 && proto == x) proto = 58;
      }
      q[v4 ? 9 : 6] = proto;
      name += "/protocol";
      break;
    }
  }
  e.raw.insert(e.raw.end(), q.begin(), q.end());
  return {name, build(e), Intent::kNotForwarded};
}

Case BarrageGenerator::next() {
  const uint32_t r = u(100);
  if (r < 22) return valid();
  if (r < 28) return nonVip();
  if (r < 36) return l2Mutation();
  if (r < 46) return ipv4Mutation();
  if (r < 54) return ipv6Mutation();
  if (r < 66) return transportMutation();
  if (r < 71) return sourceMutation();
  if (r < 77) return truncation();
  if (r < 85) return byteFlips();
  if (r < 88) return icmpEcho();
  if (r < 95) return icmpError();
  if (r < 98) return icmpBadQuote();
  return icmpForeignQuote();
}

std::vector<Case> BarrageGenerator::truncationSweep() {
  std::vector<Bytes> templates;
  for (size_t i = 0; i < vips_.size(); ++i) {
    const OracleVip& v = vips_[i];
    Spec s;
    s.family = v.family;
    s.proto = v.proto;
    s.src = v.family == 4 ? "192.0.2.77" : "2001:db8:c::77";
    s.dst = addrString(v.family, v.addr);
    s.dmac = kLbMac;
    s.sport = 33000;
    s.dport = v.port ? v.port : 8080;
    s.flags = 0x02;
    s.payload = 6;
    if (i % 3 == 1) s.tags.push_back({0x8100, 100});
    PacketBuilder b = builder(s);
    templates.push_back(b.build());
    Spec e = icmpErrorTo(s, v.family == 4 ? 3 : 2);
    Bytes q = quoteOf(s, v.family == 4 ? 40 : 60);
    e.raw.insert(e.raw.end(), q.begin(), q.end());
    templates.push_back(builder(e).build());
  }
  std::vector<Case> out;
  for (const Bytes& t : templates) {
    for (size_t len = 14; len <= t.size(); ++len) {
      out.push_back(
          {"sweep/truncated", Bytes(t.begin(), t.begin() + static_cast<long>(len)), Intent::kAny});
    }
  }
  return out;
}

}  // namespace xlb::test
