// SPDX-License-Identifier: Apache-2.0
// Pieces the Inspector tests (inspect_test.cc, inspect_nat_test.cc) share.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "dataplane/fake_dataplane.h"
#include "dataplane/flow_hash.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::test {

// An ExplainRequest for src:sport -> dst:dport.
inline v1::ExplainRequest explainRequest(const std::string& src, uint32_t sport,
                                         const std::string& dst, uint32_t dport,
                                         v1::Protocol proto = v1::PROTOCOL_TCP) {
  v1::ExplainRequest req;
  req.set_src_address(src);
  req.set_src_port(sport);
  req.set_dst_address(dst);
  req.set_dst_port(dport);
  req.set_protocol(proto);
  return req;
}

// "client:port" of every flow listed.
inline std::set<std::string> flowClients(const v1::ListFlowsResponse& r) {
  std::set<std::string> out;
  for (const auto& f : r.flows())
    out.insert(f.client_address() + ":" + std::to_string(f.client_port()));
  return out;
}

// The backend (its key in backend_ids) the fake's table of `vip_id` holds in the slot `hash`
// picks; "?" when that id is not in backend_ids.
inline std::string slotBackend(const dataplane::FakeDataplane& dp, uint32_t vip_id, uint32_t hash,
                               const std::map<std::string, uint32_t>& backend_ids) {
  auto table = dp.table(vip_id);
  const uint32_t id = table.at(dataplane::slotOfHash(hash, static_cast<uint32_t>(table.size())));
  for (const auto& [addr, bid] : backend_ids)
    if (bid == id) return addr;
  return "?";
}

}  // namespace xlb::test
