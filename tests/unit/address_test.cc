// SPDX-License-Identifier: Apache-2.0
// agent/common/address: prefix-or-address filters, prefix membership, data-plane address bytes.
#include "common/address.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "xlb/abi.h"

namespace xlb {
namespace {

IpAddress addr(const char* text) {
  auto a = parseIpAddress(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : IpAddress{};
}

TEST(AddressTest, PrefixOrAddress) {
  auto host = parseIpPrefixOrAddress("192.0.2.7");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->toString(), "192.0.2.7/32");
  auto host6 = parseIpPrefixOrAddress("2001:db8::7");
  ASSERT_TRUE(host6.ok());
  EXPECT_EQ(host6->toString(), "2001:db8::7/128");
  auto net = parseIpPrefixOrAddress("192.0.2.0/24");
  ASSERT_TRUE(net.ok());
  EXPECT_EQ(net->toString(), "192.0.2.0/24");
  for (const char* bad :
       {"", "client", "192.0.2.7/24", "192.0.2.0/33", "[2001:db8::7]", "10.0.0.1:80"}) {
    EXPECT_EQ(parseIpPrefixOrAddress(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(AddressTest, PrefixContains) {
  auto net = parseIpPrefix("192.0.2.128/25");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->contains(addr("192.0.2.128")));
  EXPECT_TRUE(net->contains(addr("192.0.2.255")));
  EXPECT_FALSE(net->contains(addr("192.0.2.127")));
  EXPECT_FALSE(net->contains(addr("::ffff:192.0.2.200")));  // another family
  auto net6 = parseIpPrefix("2001:db8:0:2::/63");
  ASSERT_TRUE(net6.ok());
  EXPECT_TRUE(net6->contains(addr("2001:db8:0:2::5")));
  EXPECT_TRUE(net6->contains(addr("2001:db8:0:3::5")));
  EXPECT_FALSE(net6->contains(addr("2001:db8:0:4::5")));
  EXPECT_FALSE(net6->contains(addr("2001:db8:0:1::5")));
  auto all = parseIpPrefix("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->contains(addr("203.0.113.9")));
  EXPECT_FALSE(all->contains(addr("2001:db8::1")));
}

TEST(AddressTest, AddressOfDataplaneBytes) {
  uint8_t v4[16] = {10, 0, 0, 2};
  EXPECT_EQ(addressOf(v4, XLB_AF_INET).toString(), "10.0.0.2");
  auto six = addr("2001:db8::2");
  EXPECT_EQ(addressOf(six.bytes.data(), six.family), six);
}

}  // namespace
}  // namespace xlb
