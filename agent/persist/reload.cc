// SPDX-License-Identifier: Apache-2.0
// ConfigReloader: load + validate + applyConfig, errors logged and counted.
#include "persist/reload.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"
#include "config/yaml.h"
#include "spdlog/spdlog.h"

namespace xlb::persist {

absl::Status ConfigReloader::reload() {
  ++reloads_;
  const auto start = std::chrono::steady_clock::now();
  absl::Status st;
  std::vector<std::string> changes;
  if (path_.empty()) {
    st = absl::FailedPreconditionError("no --config file to reload");
  } else if (auto text = config::readConfigFile(path_); !text.ok()) {
    st = text.status();
    // applyConfig never saw it: count it there too, for xlb_apply_errors_total.
    state_.recordFailedApply(std::chrono::steady_clock::now() - start);
  } else if (const std::string digest = config::sourceDigest(*text);
             !digest.empty() && digest == state_.appliedDigest()) {
    // The very document last applied, and nothing changed since: nothing to parse or plan.
    spdlog::info("reload: {} unchanged since it was applied ({})", path_, digest);
    return absl::OkStatus();
  } else if (auto loaded = config::parseConfigFileText(path_, *text); !loaded.ok()) {
    st = loaded.status();
    state_.recordFailedApply(std::chrono::steady_clock::now() - start);
  } else {
    // applyConfig validates (all errors at once) and counts a failure in State's apply stats.
    st = state_.applyConfig(*loaded, false, &changes, digest);
  }
  if (!st.ok()) {
    ++apply_errors_;
    spdlog::error("reload: {} not applied, running state unchanged (apply_errors={}):\n{}",
                  path_.empty() ? "(none)" : path_, apply_errors_.load(),
                  std::string(st.message()));
    return st;
  }
  spdlog::info("reload: applied {} ({} changes)", path_, changes.size());
  logChanges("reload", changes);
  return absl::OkStatus();
}

void logChanges(std::string_view who, const std::vector<std::string>& changes) {
  const size_t shown = std::min(changes.size(), kLoggedChanges);
  for (size_t i = 0; i < shown; ++i) spdlog::info("{}: {}", who, changes[i]);
  if (changes.size() > shown)
    spdlog::info("{}: ... and {} more changes ({} in all)", who, changes.size() - shown,
                 changes.size());
}

}  // namespace xlb::persist
