// SPDX-License-Identifier: Apache-2.0
// The TTLs read from raw DNS answers (discovery/wire.h): the answer section's smallest TTL, and
// RFC 2308's negative TTL — min(SOA TTL, SOA MINIMUM) from the authority section — on answers
// written out byte by byte, one of them exactly as dnsmasq 2.90 sends it.
#include "discovery/wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns_message.h"

namespace xlb::discovery {
namespace {

using testing::DnsMessage;

std::vector<unsigned char> fromHex(const std::string& hex) {
  std::vector<unsigned char> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

TEST(DiscoveryWire, DnsmasqAuthoritativeNxdomainGivesTheSoaMinimum) {
  // dnsmasq 2.90 --auth-zone=neg.test --auth-ttl=7, "y.neg.test A": NXDOMAIN (flags 0x8503:
  // QR AA RD, rcode 3), no answer, one authority record: neg.test SOA TTL 7, MNAME ns.neg.test,
  // RNAME hostmaster.ns.neg.test, serial 0x6b161f89, refresh 1200, retry 180, expire 1209600,
  // MINIMUM 7.
  // clang-format off
  const auto m = fromHex(
      "3c6b85030001000000010000"                                  // header: 1 question, 1 NS
      "0179036e6567047465737400" "00010001"                        // y.neg.test A IN
      "036e6567047465737400" "0006" "0001" "00000007" "0039"       // neg.test SOA IN TTL 7
      "026e73036e65670474657374000a686f73746d6173746572026e73036e65670474657374"
      "00" "6b161f89" "000004b0" "000000b4" "00127500" "00000007");  // serial .. MINIMUM 7
  // clang-format on
  EXPECT_EQ(negativeTtl(m.data(), static_cast<int>(m.size())), 7u);
  EXPECT_EQ(minAnswerTtl(m.data(), static_cast<int>(m.size())), 0u) << "no answer records";
}

TEST(DiscoveryWire, NegativeTtlIsTheSmallerOfSoaTtlAndMinimum) {
  DnsMessage minimum_smaller;
  minimum_smaller.response(1, testing::kRcodeNxDomain, "gone.svc", testing::kTypeA, 0, 1)
      .soa(/*ttl=*/300, /*minimum=*/5);
  EXPECT_EQ(negativeTtl(minimum_smaller.data(), minimum_smaller.size()), 5u);
  DnsMessage ttl_smaller;
  ttl_smaller.response(2, testing::kRcodeNxDomain, "gone.svc", testing::kTypeA, 0, 1)
      .soa(/*ttl=*/3, /*minimum=*/600);
  EXPECT_EQ(negativeTtl(ttl_smaller.data(), ttl_smaller.size()), 3u)
      << "RFC 2308 §5: the SOA's own TTL bounds it too";
  DnsMessage zero;
  zero.response(3, testing::kRcodeNoError, "gone.svc", testing::kTypeAaaa, 0, 1).soa(0, 0);
  EXPECT_EQ(negativeTtl(zero.data(), zero.size()), 0u) << "0 is an answer (clamped later)";
}

TEST(DiscoveryWire, NoSoaInTheAuthoritySectionGivesNoNegativeTtl) {
  DnsMessage bare;  // what dnsmasq sends for a --local domain: rcode 3 and nothing else
  bare.response(4, testing::kRcodeNxDomain, "gone.svc", testing::kTypeA, 0, 0);
  EXPECT_EQ(negativeTtl(bare.data(), bare.size()), std::nullopt);
  DnsMessage ns_only;  // an NS in the authority section is a referral, not a negative TTL
  ns_only.response(5, testing::kRcodeNxDomain, "gone.svc", testing::kTypeA, 0, 1)
      .u16(testing::kPtrQuestion)
      .rr(testing::kTypeNs, 60, 2)
      .u16(testing::kPtrQuestion);
  EXPECT_EQ(negativeTtl(ns_only.data(), ns_only.size()), std::nullopt);
}

TEST(DiscoveryWire, ACnameBeforeTheMissingNameBoundsTheNegativeTtl) {
  // alias.svc CNAME real.svc (TTL 2), real.svc has no A: NODATA with the SOA of real.svc's zone.
  DnsMessage m;
  m.response(6, testing::kRcodeNoError, "alias.svc", testing::kTypeA, 1, 1)
      .u16(testing::kPtrQuestion)
      .rr(testing::kTypeCname, 2, 10)
      .name("real.svc")
      .soa(60, 30);
  EXPECT_EQ(negativeTtl(m.data(), m.size()), 2u);
  EXPECT_EQ(minAnswerTtl(m.data(), m.size()), 2u);
}

TEST(DiscoveryWire, SeveralSoasGiveTheSmallest) {
  DnsMessage m;
  m.response(7, testing::kRcodeNxDomain, "gone.svc", testing::kTypeA, 0, 2).soa(60, 40).soa(60, 9);
  EXPECT_EQ(negativeTtl(m.data(), m.size()), 9u);
}

TEST(DiscoveryWire, MalformedMessagesGiveNoTtl) {
  DnsMessage full;
  full.response(8, testing::kRcodeNxDomain, "gone.svc", testing::kTypeA, 0, 1).soa(60, 5);
  // Every truncation of a good answer: no negative TTL, no read past the end (ASan runs see it).
  for (int len = 0; len < full.size(); ++len) {
    std::vector<unsigned char> cut(full.bytes().begin(), full.bytes().begin() + len);
    EXPECT_EQ(negativeTtl(cut.data(), len), std::nullopt) << "truncated to " << len;
  }
  // RDLENGTH claims less than the SOA's counters need.
  DnsMessage short_rdata;
  short_rdata.response(9, testing::kRcodeNxDomain, "gone.svc", testing::kTypeA, 0, 1)
      .u16(testing::kPtrQuestion)
      .rr(testing::kTypeSoa, 60, 8)
      .u16(testing::kPtrQuestion)
      .u16(testing::kPtrQuestion)
      .u32(1)
      .u32(2);
  EXPECT_EQ(negativeTtl(short_rdata.data(), short_rdata.size()), std::nullopt);
  // A label with the reserved 0x40 bits set is not a name.
  DnsMessage bad_label;
  bad_label.response(10, testing::kRcodeNxDomain, "gone.svc", testing::kTypeA, 0, 1)
      .u8(0x45)
      .rr(testing::kTypeSoa, 60, 24);
  EXPECT_EQ(negativeTtl(bad_label.data(), bad_label.size()), std::nullopt);
}

TEST(DiscoveryWire, MinAnswerTtlReadsOnlyTheAnswerSection) {
  // dnsmasq 2.90 forwarding "x.neg.test A" from the auth server: A 10.0.0.2 TTL 4, and the NS
  // of neg.test (TTL 4) in the authority section.
  // clang-format off
  const auto m = fromHex(
      "197a85800001000100010000" "0178036e656704746573740000010001"
      "c00c" "0001" "0001" "00000004" "0004" "0a000002"
      "036e65670474657374000002000100000004000d026e73036e6567047465737400");
  // clang-format on
  EXPECT_EQ(minAnswerTtl(m.data(), static_cast<int>(m.size())), 4u);
  DnsMessage a;
  a.response(11, testing::kRcodeNoError, "svc", testing::kTypeA, 1, 1)
      .u16(testing::kPtrQuestion)
      .rr(testing::kTypeA, 20, 4)
      .u32(0x0a000001)
      .soa(1, 1);
  EXPECT_EQ(minAnswerTtl(a.data(), a.size()), 20u) << "the authority section's TTLs do not count";
}

}  // namespace
}  // namespace xlb::discovery
