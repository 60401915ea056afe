// SPDX-License-Identifier: Apache-2.0
// PacketBuilder implementation: each layer is serialised by hand, so the tests never trust the code
// under test for checksums or lengths.
#include "packet_builder.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace xlb::test {
namespace {

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void append(Bytes& b, const uint8_t* p, size_t n) { b.insert(b.end(), p, p + n); }

}  // namespace

Mac parseMac(const std::string& text) {
  Mac m{};
  unsigned v[6];
  if (sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    fprintf(stderr, "bad MAC literal %s\n", text.c_str());
    abort();
  }
  for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v[i]);
  return m;
}

std::array<uint8_t, 16> parseAddr(const std::string& text, bool* is_v6) {
  std::array<uint8_t, 16> a{};
  if (inet_pton(AF_INET, text.c_str(), a.data()) == 1) {
    if (is_v6) *is_v6 = false;
    return a;
  }
  if (inet_pton(AF_INET6, text.c_str(), a.data()) == 1) {
    if (is_v6) *is_v6 = true;
    return a;
  }
  fprintf(stderr, "bad address literal %s\n", text.c_str());
  abort();
}

uint16_t inetChecksum(const uint8_t* data, size_t len, uint32_t seed) {
  uint32_t sum = seed;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (len & 1) sum += data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

std::string hexdump(const Bytes& b) {
  std::string out;
  char buf[32];
  for (size_t i = 0; i < b.size(); ++i) {
    if (i % 16 == 0) {
      snprintf(buf, sizeof(buf), "\n%04zx ", i);
      out += buf;
    }
    snprintf(buf, sizeof(buf), " %02x", b[i]);
    out += buf;
  }
  return out;
}

PacketBuilder& PacketBuilder::eth(const std::string& dst, const std::string& src) {
  dst_ = parseMac(dst);
  src_ = parseMac(src);
  return *this;
}
PacketBuilder& PacketBuilder::vlan(uint16_t tci, uint16_t tpid) {
  vlans_.push_back({tpid, tci});
  return *this;
}
PacketBuilder& PacketBuilder::ethertype(uint16_t type) {
  ethertype_ = type;
  return *this;
}
PacketBuilder& PacketBuilder::ipv4(const std::string& src, const std::string& dst, uint8_t tos) {
  family_ = 4;
  ip_src_ = parseAddr(src);
  ip_dst_ = parseAddr(dst);
  tos_ = tos;
  return *this;
}
PacketBuilder& PacketBuilder::ipv6(const std::string& src, const std::string& dst, uint8_t tclass) {
  family_ = 6;
  ip_src_ = parseAddr(src);
  ip_dst_ = parseAddr(dst);
  tos_ = tclass;
  return *this;
}
PacketBuilder& PacketBuilder::tcp(uint16_t sport, uint16_t dport, uint8_t flags) {
  l4_proto_ = 6;
  sport_ = sport;
  dport_ = dport;
  tcp_flags_ = flags;
  return *this;
}
PacketBuilder& PacketBuilder::udp(uint16_t sport, uint16_t dport) {
  l4_proto_ = 17;
  sport_ = sport;
  dport_ = dport;
  return *this;
}
PacketBuilder& PacketBuilder::icmpEcho() {
  l4_proto_ = family_ == 6 ? 58 : 1;
  return *this;
}
PacketBuilder& PacketBuilder::rawL4(uint8_t proto, Bytes body) {
  l4_proto_ = proto;
  raw_l4_ = std::move(body);
  raw_ = true;
  return *this;
}
PacketBuilder& PacketBuilder::payload(Bytes p) {
  payload_ = std::move(p);
  return *this;
}
PacketBuilder& PacketBuilder::ihl(uint8_t words) {
  ihl_ = words;
  return *this;
}
PacketBuilder& PacketBuilder::ipv4Options(Bytes options) {
  v4_options_ = std::move(options);
  return *this;
}
PacketBuilder& PacketBuilder::fragOff(uint16_t v) {
  frag_ = v;
  return *this;
}
PacketBuilder& PacketBuilder::ipLenDelta(int delta) {
  len_delta_ = delta;
  return *this;
}
PacketBuilder& PacketBuilder::ipv6ExtHeader(uint8_t type, Bytes body) {
  ext_ = {type, std::move(body)};
  return *this;
}
PacketBuilder& PacketBuilder::truncateTo(size_t frame_len) {
  truncate_ = frame_len;
  return *this;
}

Bytes PacketBuilder::l4() const {
  if (raw_) return raw_l4_;
  Bytes b;
  if (l4_proto_ == 6) {
    put16(b, sport_);
    put16(b, dport_);
    put32(b, 0x01020304);  // seq
    put32(b, (tcp_flags_ & 0x10) ? 0x0a0b0c0d : 0);
    b.push_back(5 << 4);  // data offset
    b.push_back(tcp_flags_);
    put16(b, 65535);  // window
    put16(b, 0);      // checksum (filled below)
    put16(b, 0);      // urgent
  } else if (l4_proto_ == 17) {
    put16(b, sport_);
    put16(b, dport_);
    put16(b, static_cast<uint16_t>(8 + payload_.size()));
    put16(b, 0);
  } else if (l4_proto_ == 1 || l4_proto_ == 58) {
    b.push_back(l4_proto_ == 1 ? 8 : 128);  // echo request
    b.push_back(0);
    put16(b, 0);
    put32(b, 0x12340001);
  }
  append(b, payload_.data(), payload_.size());
  // Checksum over the pseudo header (RFC 793 / RFC 8200 §8.1).
  uint32_t seed = 0;
  const size_t alen = family_ == 6 ? 16 : 4;
  if (l4_proto_ != 1) {
    for (size_t i = 0; i < alen; i += 2) {
      seed += (ip_src_[i] << 8) | ip_src_[i + 1];
      seed += (ip_dst_[i] << 8) | ip_dst_[i + 1];
    }
    seed += l4_proto_;
    seed += static_cast<uint32_t>(b.size());
  }
  uint16_t c = inetChecksum(b.data(), b.size(), seed);
  if (l4_proto_ == 17 && c == 0) c = 0xffff;
  size_t off = l4_proto_ == 6 ? 16 : l4_proto_ == 17 ? 6 : 2;
  b[off] = static_cast<uint8_t>(c >> 8);
  b[off + 1] = static_cast<uint8_t>(c);
  return b;
}

Bytes PacketBuilder::l3() const {
  Bytes l4b = l4();
  Bytes b;
  if (family_ == 4) {
    const size_t hl = 20 + v4_options_.size();
    uint8_t ihl = ihl_ ? *ihl_ : static_cast<uint8_t>(hl / 4);
    b.push_back(static_cast<uint8_t>(0x40 | (ihl & 0xf)));
    b.push_back(tos_);
    put16(b, static_cast<uint16_t>(hl + l4b.size() + len_delta_));
    put16(b, 0x1c46);  // id
    put16(b, frag_);
    b.push_back(64);
    b.push_back(l4_proto_);
    put16(b, 0);
    append(b, ip_src_.data(), 4);
    append(b, ip_dst_.data(), 4);
    append(b, v4_options_.data(), v4_options_.size());
    uint16_t c = inetChecksum(b.data(), b.size());
    b[10] = static_cast<uint8_t>(c >> 8);
    b[11] = static_cast<uint8_t>(c);
  } else {
    Bytes ext;
    uint8_t next = l4_proto_;
    if (ext_) {
      ext.push_back(l4_proto_);
      ext.push_back(static_cast<uint8_t>((ext_->second.size() + 2) / 8 - 1));
      append(ext, ext_->second.data(), ext_->second.size());
      next = ext_->first;
    }
    put32(b, (6u << 28) | (static_cast<uint32_t>(tos_) << 20) | 0x12345);
    put16(b, static_cast<uint16_t>(ext.size() + l4b.size() + len_delta_));
    b.push_back(next);
    b.push_back(64);
    append(b, ip_src_.data(), 16);
    append(b, ip_dst_.data(), 16);
    append(b, ext.data(), ext.size());
  }
  append(b, l4b.data(), l4b.size());
  return b;
}

Bytes PacketBuilder::build() const {
  Bytes b;
  append(b, dst_.data(), 6);
  append(b, src_.data(), 6);
  for (const auto& [tpid, tci] : vlans_) {
    put16(b, tpid);
    put16(b, tci);
  }
  uint16_t type = ethertype_ ? *ethertype_ : family_ == 6 ? 0x86DD : 0x0800;
  put16(b, type);
  if (family_) {
    Bytes l = l3();
    append(b, l.data(), l.size());
  }
  if (truncate_ && *truncate_ < b.size()) b.resize(*truncate_);
  return b;
}

}  // namespace xlb::test
