// SPDX-License-Identifier: Apache-2.0
// Keeps backends' next-hop neighbour entries resolved (kernel "managed" neighbours over rtnetlink).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/address.h"

namespace xlb::dataplane {

// The kernel's route toward an address: outgoing interface and the on-link next hop (the gateway, or
// the address itself when it is directly connected).
struct Route {
  int ifindex = 0;
  IpAddress next_hop;
};

// RTM_GETROUTE in the calling thread's network namespace.
absl::StatusOr<Route> lookupRoute(const IpAddress& dst);

// XDP's bpf_fib_lookup() never triggers ARP/ND: a next hop the host never talked to stays unresolved
// and the balancer cannot forward to it (dsr drops, ipip falls back to the kernel). A neighbour entry
// flagged NTF_EXT_MANAGED makes the kernel resolve it now and keep it REACHABLE. Creates (or converts)
// the entry for `dst`'s next hop; returns that route.
absl::StatusOr<Route> ensureManagedNeighbour(const IpAddress& dst);

}  // namespace xlb::dataplane
