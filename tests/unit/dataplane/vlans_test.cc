// SPDX-License-Identifier: Apache-2.0
// BpfDataplane::setAcceptedVlans writes the whole xlb_vlans array (real maps; skipped without root).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "dataplane/bpf_dataplane.h"
#include "xlb/abi.h"

namespace xlb::dataplane {
namespace {

std::vector<uint32_t> readAccepted(const BpfDataplane& dp) {
  const int fd = dp.mapFd("xlb_vlans");
  std::vector<uint32_t> out;
  for (uint32_t id = 0; id <= XLB_MAX_VLAN_ID; ++id) {
    uint32_t v = 0;
    EXPECT_EQ(bpf_map_lookup_elem(fd, &id, &v), 0) << "id " << id;
    if (v != 0) {
      EXPECT_EQ(v, 1u) << "id " << id;
      out.push_back(id);
    }
  }
  return out;
}

TEST(BpfVlansTest, WritesTheWholeSetAndClearsTheRest) {
  BpfOptions opts;
  opts.pin_dir = "";
  auto dp = BpfDataplane::create(opts);
  if (!dp.ok()) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to load the balancer";
    FAIL() << dp.status();
  }
  EXPECT_TRUE(readAccepted(**dp).empty());  // a new map: untagged only
  const std::vector<uint32_t> first = {100, 200, 201, 202, 4094};
  ASSERT_TRUE((*dp)->setAcceptedVlans(first).ok());
  EXPECT_EQ(readAccepted(**dp), first);
  const std::vector<uint32_t> second = {1, 201};
  ASSERT_TRUE((*dp)->setAcceptedVlans(second).ok());
  EXPECT_EQ(readAccepted(**dp), second);  // 100, 200, 202, 4094 cleared
  ASSERT_TRUE((*dp)->setAcceptedVlans({}).ok());
  EXPECT_TRUE(readAccepted(**dp).empty());
  // 0 (priority tag) and 4095 (reserved) are refused without touching the map.
  const std::vector<uint32_t> bad = {7, 4095};
  auto st = (*dp)->setAcceptedVlans(bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "VLAN id 4095 is not in [1, 4094]");
  EXPECT_TRUE(readAccepted(**dp).empty());
}

}  // namespace
}  // namespace xlb::dataplane
