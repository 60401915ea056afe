// SPDX-License-Identifier: Apache-2.0
// SIGHUP reload: the --config file goes through the same validate -> plan -> apply path as the API.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "state/state.h"

namespace xlb::persist {

class ConfigReloader {
 public:
  ConfigReloader(state::State& state, std::string path) : state_(state), path_(std::move(path)) {}

  // Reads, validates and applies the file. On any error the running state is unchanged, the error
  // (every problem found) is logged and returned, and applyErrors() goes up by one.
  absl::Status reload();

  uint64_t reloads() const { return reloads_.load(); }
  uint64_t applyErrors() const { return apply_errors_.load(); }

 private:
  state::State& state_;
  std::string path_;
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> apply_errors_{0};
};

// Logs an apply's plan lines, "<who>: <line>", at most kLoggedChanges of them and then how many
// more there were: a start-up with 10,000 VIPs plans over 100,000 lines, which took the log
// ~0.4 s to write and said nothing a count does not (`lbctl apply --dry-run` lists a plan in full).
inline constexpr size_t kLoggedChanges = 200;
void logChanges(std::string_view who, const std::vector<std::string>& changes);

}  // namespace xlb::persist
