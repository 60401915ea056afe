// SPDX-License-Identifier: Apache-2.0
// ListNat / FlushNat (nat/list.h) over the fake data plane's table: filters, order, limits,
// errors; and NAT connections counted as open flows of their backend.
#include "nat/list.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "dataplane/fake_dataplane.h"
#include "dataplane/open_flows.h"
#include "nat_fixtures.h"

namespace xlb::nat {
namespace {

using ::testing::HasSubstr;
using testing::makePair;
using testing::Pair;
using testing::PairSpec;

constexpr uint64_t kNow = 100'000 * kNsPerSec;

class NatListTest : public ::testing::Test {
 protected:
  NatListTest() {
    dp_.setMonotonicNowNs(kNow);
    NatVipInfo web;
    web.id = 0;
    web.key = config::VipKey{*parseIpAddress("10.0.0.10"), 80, v1::PROTOCOL_TCP};
    web.name = "web";
    web.mode = v1::FORWARDING_MODE_NAT;
    vips_[0] = web;
    NatVipInfo api;
    api.id = 1;
    api.key = config::VipKey{*parseIpAddress("10.0.0.11"), 443, v1::PROTOCOL_TCP};
    api.name = "api";
    api.mode = v1::FORWARDING_MODE_FULLNAT;
    api.timeouts.syn_ns = 5 * kNsPerSec;
    vips_[1] = api;
    // web: three clients to two backend ports; api: one fullnat connection.
    add({.client = "192.0.2.1",
         .cport = 1000,
         .backend = "10.0.1.1",
         .bport = 8000,
         .created_ns = kNow - 50 * kNsPerSec,
         .fwd_seen_ns = kNow - 30 * kNsPerSec});
    add({.client = "192.0.2.2",
         .cport = 1001,
         .backend = "10.0.1.1",
         .bport = 8001,
         .fwd_state = XLB_NAT_S_SEEN | XLB_NAT_S_ACK,
         .rev_state = XLB_NAT_S_SEEN,
         .created_ns = kNow - 20 * kNsPerSec,
         .fwd_seen_ns = kNow - 1 * kNsPerSec});
    add({.client = "198.51.100.7",
         .cport = 1002,
         .backend = "10.0.1.2",
         .bport = 8000,
         .created_ns = kNow - 10 * kNsPerSec});
    add({.client = "192.0.2.1",
         .cport = 2000,
         .vip = "10.0.0.11",
         .vport = 443,
         .backend = "10.0.1.3",
         .bport = 443,
         .snat = "10.0.9.1",
         .sport = 61234,
         .vip_id = 1,
         .created_ns = kNow - 2 * kNsPerSec});
  }
  void add(const PairSpec& s) {
    Pair p = makePair(s);
    dp_.putNat(p.rev_key, p.rev);
    dp_.putNat(p.fwd_key, p.fwd);
  }
  v1::ListNatResponse list(const v1::NatFilter& f, uint32_t limit = 0) {
    v1::ListNatRequest req;
    *req.mutable_filter() = f;
    req.set_limit(limit);
    auto r = listNat(dp_, vips_, req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::ListNatResponse{};
  }

  dataplane::FakeDataplane dp_;
  NatVipMap vips_;
};

TEST_F(NatListTest, AllMostRecentFirst) {
  v1::ListNatResponse r = list({});
  EXPECT_EQ(r.scanned(), 4u);
  EXPECT_EQ(r.matched(), 4u);
  ASSERT_EQ(r.connections_size(), 4);
  EXPECT_EQ(r.connections(0).client_port(), 1001u);  // seen 1 s ago
  EXPECT_EQ(r.connections(3).client_port(), 1000u);  // seen 30 s ago
  const v1::NatConnection& c = r.connections(0);
  EXPECT_EQ(c.client_address(), "192.0.2.2");
  EXPECT_EQ(c.vip_address(), "10.0.0.10");
  EXPECT_EQ(c.vip_port(), 80u);
  EXPECT_EQ(c.source_address(), "192.0.2.2");  // nat: the client's own
  EXPECT_EQ(c.backend_address(), "10.0.1.1");
  EXPECT_EQ(c.backend_port(), 8001u);
  EXPECT_EQ(c.forwarding(), v1::FORWARDING_MODE_NAT);
  EXPECT_EQ(c.state(), v1::NAT_STATE_ESTABLISHED);
  EXPECT_TRUE(c.replied());
  EXPECT_TRUE(c.answered());
  EXPECT_EQ(c.idle_ms(), 1000u);
  EXPECT_EQ(c.age_ms(), 20000u);
  EXPECT_EQ(c.expires_in_ms(), (21600u - 1u) * 1000u);
  EXPECT_EQ(c.vip_name(), "web");
  const v1::NatConnection& f = r.connections(1);  // the fullnat one, 2 s old
  EXPECT_EQ(f.source_address(), "10.0.9.1");
  EXPECT_EQ(f.source_port(), 61234u);
  EXPECT_EQ(f.forwarding(), v1::FORWARDING_MODE_FULLNAT);
  EXPECT_EQ(f.state(), v1::NAT_STATE_SYN);
  EXPECT_FALSE(f.answered());
  EXPECT_EQ(f.expires_in_ms(), 3000u);  // the VIP's syn timeout, 5 s
  EXPECT_EQ(f.vip_name(), "api");
}

TEST_F(NatListTest, Filters) {
  v1::NatFilter f;
  f.set_vip_name("api");
  EXPECT_EQ(list(f).matched(), 1u);
  f.Clear();
  *f.mutable_vip() = vips_[0].key.toProto();
  EXPECT_EQ(list(f).matched(), 3u);
  f.Clear();
  f.set_backend("10.0.1.1");
  EXPECT_EQ(list(f).matched(), 2u);
  f.set_backend("10.0.1.1:8001");
  ASSERT_EQ(list(f).matched(), 1u);
  EXPECT_EQ(list(f).connections(0).client_port(), 1001u);
  f.Clear();
  f.set_client("192.0.2.1");
  EXPECT_EQ(list(f).matched(), 2u);
  f.set_client("192.0.2.0/24");
  EXPECT_EQ(list(f).matched(), 3u);
  f.set_vip_name("web");
  EXPECT_EQ(list(f).matched(), 2u);
  v1::ListNatResponse lim = list({}, 2);
  EXPECT_EQ(lim.connections_size(), 2);
  EXPECT_EQ(lim.matched(), 4u);
  EXPECT_TRUE(lim.truncated());
}

TEST_F(NatListTest, Errors) {
  v1::ListNatRequest req;
  req.mutable_filter()->set_backend("10.0.1.1:99999");
  req.mutable_filter()->set_client("192.0.2.0/33");
  auto r = listNat(dp_, vips_, req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("filter.backend: \"10.0.1.1:99999\""));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("filter.client: \"192.0.2.0/33\""));
  req.Clear();
  req.set_limit(10001);
  r = listNat(dp_, vips_, req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("limit: 10001"));
  req.Clear();
  req.mutable_filter()->set_vip_name("nope");
  EXPECT_EQ(listNat(dp_, vips_, req).status().code(), absl::StatusCode::kNotFound);
  req.Clear();
  *req.mutable_filter()->mutable_vip() =
      config::VipKey{*parseIpAddress("10.0.0.99"), 80, v1::PROTOCOL_TCP}.toProto();
  r = listNat(dp_, vips_, req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("10.0.0.99:80/tcp"));
  req.mutable_filter()->set_vip_name("web");
  EXPECT_EQ(listNat(dp_, vips_, req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NatListTest, FlushDeletesBothEntriesOfMatches) {
  v1::FlushNatRequest req;
  req.mutable_filter()->set_backend("10.0.1.1");
  auto r = flushNat(dp_, vips_, req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->deleted(), 2u);
  EXPECT_EQ(dp_.natCount(), 4u);
  r = flushNat(dp_, vips_, v1::FlushNatRequest{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deleted(), 2u);
  EXPECT_EQ(dp_.natCount(), 0u);
}

// dataplane::countOpenFlows over NAT pairs: backends 3 and 4 (gen 1, active).
class NatOpenFlows : public ::testing::Test {
 protected:
  NatOpenFlows() {
    xlb_backend b{};
    b.gen = 1;
    b.flags = XLB_BE_F_ACTIVE;
    table_ = {{3, b}, {4, b}};
  }
  void put(const PairSpec& s) {
    Pair p = makePair(s);
    dp_.putNat(p.rev_key, p.rev);
    dp_.putNat(p.fwd_key, p.fwd);
  }
  // Open connections per backend id, as the agent's recount sees them.
  std::vector<uint64_t> counts() {
    auto c = dataplane::countOpenFlows(dp_, table_, 300 * kNsPerSec);
    EXPECT_TRUE(c.ok()) << c.status();
    std::vector<uint64_t> out = c.ok() ? *c : std::vector<uint64_t>{};
    out.resize(std::max<size_t>(out.size(), 5));
    return out;
  }
  dataplane::FakeDataplane dp_;
  std::vector<std::pair<uint32_t, xlb_backend>> table_;
};

TEST_F(NatOpenFlows, ForwardEntriesNotClosingCountForTheirBackend) {
  put({.cport = 1, .backend_id = 3});
  put({.cport = 2, .backend_id = 3, .rev_state = XLB_NAT_S_SEEN});
  put({.cport = 3, .backend_id = 3, .fwd_state = XLB_NAT_S_FIN});  // closing: not open
  put({.cport = 4, .backend_id = 4, .backend_gen = 7});            // older generation
  auto counts = this->counts();
  EXPECT_EQ(counts[3], 2u);
  EXPECT_EQ(counts[4], 0u);
}

// The backend's RST ends a connection the client then never closes (it sends nothing more): the
// data plane takes it out of the open count at that RST and marks the FWD entry RST (bpf test
// BackendResetLeavesTheOpenCountOnce), so the recount agrees from the FWD entry alone. A backend's
// FIN alone does not close it (the client's FIN follows).
TEST_F(NatOpenFlows, ConnectionsTheBackendResetAreNotOpen) {
  put({.cport = 1, .backend_id = 3, .rev_state = XLB_NAT_S_SEEN});  // open
  put({.cport = 2,
       .backend_id = 3,
       .fwd_state = XLB_NAT_S_RST,
       .rev_state = XLB_NAT_S_SEEN | XLB_NAT_S_RST});                               // reset
  put({.cport = 3, .backend_id = 3, .rev_state = XLB_NAT_S_SEEN | XLB_NAT_S_FIN});  // half-closed
  // Reset and closed by the client too: out once, not twice.
  put({.cport = 4, .backend_id = 3, .fwd_state = XLB_NAT_S_FIN, .rev_state = XLB_NAT_S_RST});
  // fullnat, reset by backend 4 (the REV key names the SNAT endpoint).
  put({.cport = 5,
       .snat = "10.0.0.100",
       .sport = 61005,
       .backend_id = 4,
       .fwd_state = XLB_NAT_S_RST,
       .rev_state = XLB_NAT_S_RST});
  put({.cport = 6, .snat = "10.0.0.100", .sport = 61006, .backend_id = 4});  // open
  auto counts = this->counts();
  EXPECT_EQ(counts[3], 2u);  // cport 1 and 3
  EXPECT_EQ(counts[4], 1u);  // cport 6
}

}  // namespace
}  // namespace xlb::nat
