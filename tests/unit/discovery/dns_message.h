// SPDX-License-Identifier: Apache-2.0
// Builds DNS messages byte by byte for the discovery tests (RFC 1035 §4.1): a header, the
// question, then records whose owner names and RDATA the test spells out, so every field of an
// answer the resolver has to read is visible in the test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xlb::discovery::testing {

constexpr uint16_t kTypeA = 1, kTypeNs = 2, kTypeCname = 5, kTypeSoa = 6, kTypeAaaa = 28;
constexpr uint16_t kRcodeNoError = 0, kRcodeServFail = 2, kRcodeNxDomain = 3;
constexpr uint16_t kPtrQuestion = 0xc00c;  // compression pointer to the question's name

class DnsMessage {
 public:
  DnsMessage& u8(uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  DnsMessage& u16(uint16_t v) { return u8(v >> 8).u8(v & 0xff); }
  DnsMessage& u32(uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
  // A name as uncompressed labels ("a.b" -> 1 'a' 1 'b' 0).
  DnsMessage& name(const std::string& dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      u8(static_cast<uint8_t>(dot - start));
      for (size_t i = start; i < dot; ++i) u8(static_cast<uint8_t>(dotted[i]));
      start = dot + 1;
    }
    return u8(0);
  }
  // Header of a response (QR, RD, RA set) with the given counts, and one question.
  DnsMessage& response(uint16_t id, uint16_t rcode, const std::string& qname, uint16_t qtype,
                       uint16_t an, uint16_t ns) {
    u16(id).u16(0x8180 | rcode).u16(1).u16(an).u16(ns).u16(0);
    return name(qname).u16(qtype).u16(1);
  }
  // A record's fixed part after its owner name (class IN); RDATA follows.
  DnsMessage& rr(uint16_t type, uint32_t ttl, uint16_t rdlength) {
    return u16(type).u16(1).u32(ttl).u16(rdlength);
  }
  // An SOA in the authority section, owner = the question's name (pointer), MNAME and RNAME as
  // pointers too: RDATA = 2 + 2 + 5 x 4 bytes.
  DnsMessage& soa(uint32_t ttl, uint32_t minimum) {
    u16(kPtrQuestion).rr(kTypeSoa, ttl, 24).u16(kPtrQuestion).u16(kPtrQuestion);
    return u32(2026120701).u32(1200).u32(180).u32(1209600).u32(minimum);
  }
  const std::vector<uint8_t>& bytes() const { return b_; }
  const unsigned char* data() const { return b_.data(); }
  int size() const { return static_cast<int>(b_.size()); }

 private:
  std::vector<uint8_t> b_;
};

}  // namespace xlb::discovery::testing
