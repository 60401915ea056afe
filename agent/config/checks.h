// SPDX-License-Identifier: Apache-2.0
// Internal to config/: the error collector and field checks shared by validate.cc and nat.cc.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/address.h"
#include "config/enums.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::config::internal {

// Collects every violation so the operator fixes them all in one round trip.
class Errors {
 public:
  void invalid(absl::string_view path, absl::string_view what) {
    invalid_.push_back(absl::StrCat(path, ": ", what));
  }
  void exhausted(absl::string_view path, absl::string_view what) {
    exhausted_.push_back(absl::StrCat(path, ": ", what));
  }
  absl::Status status() const {
    if (!invalid_.empty()) {
      std::vector<std::string> all = invalid_;
      all.insert(all.end(), exhausted_.begin(), exhausted_.end());
      return absl::InvalidArgumentError(absl::StrJoin(all, "\n"));
    }
    if (!exhausted_.empty()) return absl::ResourceExhaustedError(absl::StrJoin(exhausted_, "\n"));
    return absl::OkStatus();
  }

 private:
  std::vector<std::string> invalid_;
  std::vector<std::string> exhausted_;
};

inline std::string join(absl::string_view path, absl::string_view field) {
  return absl::StrCat(path, ".", field);
}

// Parses and checks an address field (README "Addresses xlb accepts"); returns it when usable.
// `role` words the message ("a backend"); `lookup` fields only need to be unicast.
std::optional<IpAddress> checkAddress(Errors& errors, absl::string_view path,
                                      absl::string_view text, absl::string_view role,
                                      bool lookup = false);
void checkRange(Errors& errors, absl::string_view path, uint64_t value, uint64_t lo, uint64_t hi);

// NAT rules (nat.cc). Per VIP: backend ports, families, which NAT fields the forwarding mode
// allows, the VIP's own pool and timeouts. Per config: the config's pool, each fullnat VIP has a
// pool of its family, pool addresses are never a VIP's or a backend's.
void checkNatVip(Errors& errors, const v1::Vip& vip, absl::string_view path);
void checkNatConfig(Errors& errors, const v1::Config& config);

// BGP rules (bgp.cc): a VIP's bgp (communities, min_healthy_backends); the config's bgp section.
void checkBgpVip(Errors& errors, const v1::Vip& vip, absl::string_view path);
void checkBgpConfig(Errors& errors, const v1::Config& config);

// Backends by name (discovery.cc): a VIP's dns, srv, allow_empty and discovery options, and that
// each discovered backend names a name the VIP lists.
void checkDiscoveryVip(Errors& errors, const v1::Vip& vip, absl::string_view path);

// The port a backend is reached on: its own, or the VIP's when it has none (0).
inline uint32_t effectivePort(const v1::Vip& vip, const v1::Backend& backend) {
  return backend.port() != 0 ? backend.port() : vip.port();
}

}  // namespace xlb::config::internal
