// SPDX-License-Identifier: Apache-2.0
// Read side of the NAT table for Inspector.ListNat / FlushNat: filters, pairing, listing order.
#pragma once

#include <cstdint>
#include <optional>
#include <set>

#include "absl/status/statusor.h"
#include "common/address.h"
#include "dataplane/dataplane.h"
#include "nat/endpoint.h"
#include "nat/gc.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::nat {

inline constexpr uint32_t kDefaultNatLimit = 100;
inline constexpr uint32_t kMaxNatLimit = 10000;

// A validated NatFilter.
struct NatQuery {
  std::optional<uint32_t> vip_id;
  std::optional<EndpointRef> backend;
  std::optional<IpPrefix> client;  // an address is a /32 or /128
  bool matches(const Connection& c) const;
};
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

}  // namespace xlb::nat
