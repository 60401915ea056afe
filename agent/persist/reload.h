// SPDX-License-Identifier: Apache-2.0
// SIGHUP reload: the --config file goes through the same validate -> plan -> apply path as the API.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

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

}  // namespace xlb::persist
