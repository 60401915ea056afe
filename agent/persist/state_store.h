// SPDX-License-Identifier: Apache-2.0
// The agent's desired state on disk: one YAML file under --state-dir, replaced atomically.
#pragma once

#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::persist {

// <dir>/state.yaml holds a Config in the config-file dialect, framed by a header and a trailer line
// so that a truncated or foreign file is recognised as corrupt instead of read as "fewer VIPs".
// save() writes <dir>/.state.yaml.tmp, fsyncs it, renames it over state.yaml and fsyncs the
// directory: after a crash at any point the file is either the old state or the new one.
//
// <dir>/state.journal holds the changes made since state.yaml was written, so that one VIP's
// change writes that VIP (~1 KB) instead of the whole file (8.8 MB at 10,000 VIPs x 10 backends).
// Its first line names the state.yaml it follows (a hash and the size of its bytes): save() starts
// a new journal for the file it writes, and a journal naming another file (a crash between the two
// renames) is ignored. Each record is a line "@ <kind> <bytes> <hash>" and its YAML; a record cut
// short by a crash, and everything after it, is ignored, as if the crash had come before it.
class StateStore {
 public:
  explicit StateStore(std::string dir);

  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }
  const std::string& journalPath() const { return journal_path_; }

  // NOT_FOUND when there is no state file; DATA_LOSS (message names the file, what is wrong and
  // how to recover) when it is unreadable, truncated, not YAML of the schema or fails validation.
  // The journal's complete records are applied over state.yaml.
  absl::StatusOr<v1::Config> load() const;

  // Creates the directory (0750) when missing. The file is mode 0640. A new, empty journal
  // follows it.
  absl::Status save(const v1::Config& config) const;
  // The same for text render() already produced (no second rendering of a large config).
  absl::Status saveRendered(const std::string& data) const;

  struct JournalRecord {
    enum class Kind { kVip, kRemove, kGlobals };
    Kind kind;
    // kVip: the VIP's toYamlVipItem(), which replaces the VIP of its key or, for a new key, goes
    // last. kRemove: the removed VIP's toYamlVipItem() (its key is what counts). kGlobals:
    // toYaml() of the config without its VIPs, which replaces every setting outside `vips`.
    std::string yaml;
  };
  // Appends the records to the journal in one write and fsyncs it. FAILED_PRECONDITION when there
  // is no journal (no save() since the directory was created by an older agent, or it was
  // removed): the caller saves the whole state instead. Returns the bytes appended.
  absl::StatusOr<size_t> appendJournal(std::span<const JournalRecord> records) const;
  // Bytes of the journal that save() starts (its first line only).
  static size_t emptyJournalBytes(const std::string& data);

  // The exact bytes save() writes for `config` (tests, and change detection).
  static std::string render(const v1::Config& config);
  // The same around YAML already produced (config::toYaml or toYamlFromParts).
  static std::string renderYaml(const std::string& yaml);

  static constexpr const char* kHeader = "# xlb-agent desired state v1 (written by xlb-agent, do not edit)";
  static constexpr const char* kTrailer = "# end of xlb-agent desired state";

 private:
  // Applies the journal's complete records to `config`, parsed from `state_text` (state.yaml).
  absl::Status applyJournal(const std::string& state_text, v1::Config* config) const;

  std::string dir_;
  std::string path_;
  std::string journal_path_;
};

}  // namespace xlb::persist
