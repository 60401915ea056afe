// SPDX-License-Identifier: Apache-2.0
// PacketBuilder: Ethernet/VLAN/IPv4/IPv6/TCP/UDP/ICMP frames with correct lengths and checksums, plus
// knobs to build each kind of malformed packet the balancer must classify.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xlb::test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

Mac parseMac(const std::string& text);
// 16 bytes, IPv4 in the first 4 (as in the data-plane keys); aborts on a bad literal (test input).
std::array<uint8_t, 16> parseAddr(const std::string& text, bool* is_v6 = nullptr);
uint16_t inetChecksum(const uint8_t* data, size_t len, uint32_t seed = 0);
std::string hexdump(const Bytes& b);

class PacketBuilder {
 public:
  PacketBuilder& eth(const std::string& dst, const std::string& src);
  PacketBuilder& vlan(uint16_t tci, uint16_t tpid = 0x8100);  // call twice for QinQ
  PacketBuilder& ethertype(uint16_t type);  // override (e.g. ARP)
  PacketBuilder& ipv4(const std::string& src, const std::string& dst, uint8_t tos = 0);
  PacketBuilder& ipv6(const std::string& src, const std::string& dst, uint8_t tclass = 0);
  PacketBuilder& tcp(uint16_t sport, uint16_t dport, uint8_t flags);
  PacketBuilder& udp(uint16_t sport, uint16_t dport);
  PacketBuilder& icmpEcho();  // ICMP or ICMPv6 echo request, per IP family
  PacketBuilder& rawL4(uint8_t proto, Bytes body);  // any protocol, body verbatim
  PacketBuilder& payload(Bytes p);

  // Malformations.
  PacketBuilder& ihl(uint8_t words);          // IPv4 IHL field as written (length not adjusted)
  PacketBuilder& ipv4Options(Bytes options);  // appended to the IPv4 header (IHL adjusted)
  PacketBuilder& fragOff(uint16_t host_order_field);  // IPv4 flags+offset field
  PacketBuilder& ipLenDelta(int delta);       // add to the IPv4 total / IPv6 payload length
  PacketBuilder& ipv6ExtHeader(uint8_t type, Bytes body);  // inserted before L4 (8-byte multiple)
  PacketBuilder& truncateTo(size_t frame_len);

  Bytes l3() const;     // the IP packet (header + payload), untruncated
  Bytes build() const;  // the whole frame

 private:
  Bytes l4() const;

  Mac dst_{}, src_{};
  std::vector<std::pair<uint16_t, uint16_t>> vlans_;  // tpid, tci; outermost first
  std::optional<uint16_t> ethertype_;
  int family_ = 0;  // 4 or 6
  std::array<uint8_t, 16> ip_src_{}, ip_dst_{};
  uint8_t tos_ = 0;
  uint8_t l4_proto_ = 0;
  uint16_t sport_ = 0, dport_ = 0;
  uint8_t tcp_flags_ = 0;
  Bytes raw_l4_;
  bool raw_ = false;
  Bytes payload_;
  std::optional<uint8_t> ihl_;
  Bytes v4_options_;
  uint16_t frag_ = 0x4000;  // DF
  int len_delta_ = 0;
  std::optional<std::pair<uint8_t, Bytes>> ext_;
  std::optional<size_t> truncate_;
};

}  // namespace xlb::test
