// SPDX-License-Identifier: Apache-2.0
// The agent's desired state on disk: one YAML file under --state-dir, replaced atomically.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::persist {

// <dir>/state.yaml holds a Config in the config-file dialect, framed by a header and a trailer line
// so that a truncated or foreign file is recognised as corrupt instead of read as "fewer VIPs".
// save() writes <dir>/.state.yaml.tmp, fsyncs it, renames it over state.yaml and fsyncs the
// directory: after a crash at any point the file is either the old state or the new one.
class StateStore {
 public:
  explicit StateStore(std::string dir);

  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }

  // NOT_FOUND when there is no state file; DATA_LOSS (message names the file, what is wrong and
  // how to recover) when it is unreadable, truncated, not YAML of the schema or fails validation.
  absl::StatusOr<v1::Config> load() const;

  // Creates the directory (0750) when missing. The file is mode 0640.
  absl::Status save(const v1::Config& config) const;
  // The same for text render() already produced (no second rendering of a large config).
  absl::Status saveRendered(const std::string& data) const;

  // The exact bytes save() writes for `config` (tests, and change detection).
  static std::string render(const v1::Config& config);
  // The same around YAML already produced (config::toYaml or toYamlFromParts).
  static std::string renderYaml(const std::string& yaml);

  static constexpr const char* kHeader = "# xlb-agent desired state v1 (written by xlb-agent, do not edit)";
  static constexpr const char* kTrailer = "# end of xlb-agent desired state";

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace xlb::persist
