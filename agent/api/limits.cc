// SPDX-License-Identifier: Apache-2.0
// Object-count limits per API request (see limits.h for how the defaults were chosen).
#include "api/limits.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace xlb::api {
namespace {

// "raise --flag (up to CAP, the data plane's capacity) or split the request", or, when the limit is
// already the capacity, only the capacity: raising it cannot help.
std::string hint(const char* flag, uint64_t limit, uint64_t capacity, const char* what) {
  if (limit >= capacity) {
    return absl::StrCat(" (", flag, "=", limit, "; the data plane holds at most ", capacity, " ",
                        what, ": split the configuration across balancers)");
  }
  return absl::StrCat(" (", flag, "=", limit, "; raise it, up to the data plane's ", capacity,
                      ", or send fewer per request)");
}

absl::Status exhausted(const std::string& path, uint64_t count, const char* what, uint64_t limit,
                       const char* flag, uint64_t capacity) {
  return absl::ResourceExhaustedError(absl::StrCat(path, ": ", count, " ", what,
                                                   " in one request exceed the limit of ", limit,
                                                   hint(flag, limit, capacity, what)));
}

}  // namespace

absl::Status checkConfigLimits(const v1::Config& config, const RequestLimits& limits,
                               const char* field) {
  const uint64_t vips = static_cast<uint64_t>(config.vips_size());
  if (vips > limits.max_vips_per_request) {
    return exhausted(absl::StrCat(field, ".vips"), vips, "VIPs", limits.max_vips_per_request,
                     "--max-vips-per-request", limits.capacity.vips);
  }
  uint64_t backends = 0;
  for (const v1::Vip& vip : config.vips()) backends += static_cast<uint64_t>(vip.backends_size());
  if (backends > limits.max_backends_per_request) {
    return exhausted(absl::StrCat(field, ".vips[*].backends"), backends, "backends",
                     limits.max_backends_per_request, "--max-backends-per-request",
                     limits.capacity.backends);
  }
  return absl::OkStatus();
}

absl::Status checkVipLimits(const v1::Vip& vip, const RequestLimits& limits, const char* field) {
  const uint64_t backends = static_cast<uint64_t>(vip.backends_size());
  if (backends > limits.max_backends_per_request) {
    return exhausted(absl::StrCat(field, ".backends"), backends, "backends",
                     limits.max_backends_per_request, "--max-backends-per-request",
                     limits.capacity.backends);
  }
  return absl::OkStatus();
}

}  // namespace xlb::api
