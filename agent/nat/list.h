// SPDX-License-Identifier: Apache-2.0
// Read side of the NAT table for Inspector.ListNat / FlushNat (and the NAT rows of ListFlows):
// filters, pairing, listing order.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "absl/status/statusor.h"
#include "common/address.h"
#include "dataplane/dataplane.h"
#include "nat/endpoint.h"
#include "nat/gc.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::nat {

inline constexpr uint32_t kDefaultNatLimit = 100;
inline constexpr uint32_t kMaxNatLimit = 10000;

// A validated NatFilter (and Inspector.ListFlows' filters, which also name a client port).
struct NatQuery {
  std::optional<uint32_t> vip_id;
  std::optional<EndpointRef> backend;  // the backend side the connection is translated to
  std::optional<IpPrefix> client;  // an address is a /32 or /128
  std::optional<uint16_t> client_port;
  bool matches(const Connection& c) const;
};

// One scan of xlb_nat, paired into connections (collector.h pairEntries).
absl::StatusOr<Snapshot> scanNat(dataplane::Dataplane& dp);
// The connections of `snap` that `q` matches, the most recently active first.
std::vector<const Connection*> matching(const Snapshot& snap, const NatQuery& q);
// INVALID_ARGUMENT naming every bad field ("filter.backend: ..."), NOT_FOUND for a VIP (key or
// name) that does not exist.
absl::StatusOr<NatQuery> parseNatFilter(const v1::NatFilter& filter, const NatVipMap& vips);

// limit 0..kMaxNatLimit (0 = kDefaultNatLimit), the most recently active first.
absl::StatusOr<v1::ListNatResponse> listNat(dataplane::Dataplane& dp, const NatVipMap& vips,
                                            const v1::ListNatRequest& req);
// Deletes the matching connections (FWD, then REV); unpaired entries are left to the collector.
absl::StatusOr<v1::FlushNatResponse> flushNat(dataplane::Dataplane& dp, const NatVipMap& vips,
                                              const v1::FlushNatRequest& req);

// One connection as the API shows it.
v1::NatConnection toProto(const Connection& c, const NatVipMap& vips, uint64_t now_ns);
// Its backend side (Flow.nat).
v1::NatTuple toNatTuple(const Connection& c);

}  // namespace xlb::nat
