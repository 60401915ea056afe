// SPDX-License-Identifier: Apache-2.0
// Saves the desired state after every applied change (config apply, API edits, drain) and decides at
// start-up whether the saved state or the --config file is applied.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "persist/state_store.h"
#include "state/state.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::persist {

// What the agent applies first, and why (logged).
struct StartupConfig {
  v1::Config config;
  std::string source;  // "saved state /var/lib/xlb/state.yaml", "config file x.yaml", "empty config"
};

// The start-up rule (README "State and reload"):
//  - a saved state exists and is valid, and !config_overrides_state: the saved state is applied
//    (it already contains what the config file last said plus every API change since); the
//    --config file is only read on SIGHUP;
//  - no saved state, or config_overrides_state: the --config file (or an empty config);
//  - a corrupt saved state without config_overrides_state: DATA_LOSS, the agent refuses to start
//    (guessing would silently drop VIPs).
// `file_config` is the already validated --config (empty when !have_file), moved into the result
// when it is chosen.
absl::StatusOr<StartupConfig> chooseStartupConfig(const StateStore& store, bool have_file,
                                                  const std::string& file_path,
                                                  v1::Config file_config,
                                                  bool config_overrides_state);

// Watches State's event bus and saves State::config() whenever it differs from what was last saved.
// Writes happen on its own thread, right after the change is applied; stop() saves one last time.
// A change that replaces, removes or appends VIPs (or changes settings) is appended to the journal
// (StateStore::appendJournal): one VIP's change writes that VIP. The whole file is written when
// VIPs change places (a config that reorders or inserts them), when the journal would outgrow
// max(journal_floor, half of state.yaml), and at the first save.
class StatePersister {
 public:
  static constexpr size_t kJournalFloor = 256 * 1024;
  StatePersister(state::State& state, const StateStore& store,
                 size_t journal_floor = kJournalFloor);
  ~StatePersister();

  void start();
  void stop();

  // Saves now if the state changed since the last save (or nothing was saved yet).
  absl::Status flush();

  uint64_t saves() const { return saves_.load(); }  // whole files and journal appends
  uint64_t wholeSaves() const { return whole_saves_.load(); }
  uint64_t saveErrors() const { return save_errors_.load(); }

 private:
  void loop();
  // Saves the applied config from its parts: each VIP's YAML is kept with its State entry
  // (immutable until the VIP changes), so a one-VIP change renders one VIP, not 10,000.
  absl::Status saveParts(const state::State::ConfigParts& parts);

  state::State& state_;
  const StateStore& store_;
  const size_t journal_floor_;
  std::shared_ptr<state::EventBus::Subscription> sub_;
  std::mutex mu_;  // serialises flush()
  std::shared_ptr<const void> last_token_;  // State::snapshotToken() of the last save
  bool saved_once_ = false;
  // What state.yaml and its journal hold together (valid after a successful save from parts):
  // each VIP's entry and text in config order, and the settings' text.
  struct Persisted {
    config::VipKey key;
    state::EntryPtr entry;
    std::shared_ptr<const std::string> text;  // toYamlVipItem(entry->spec)
  };
  std::vector<Persisted> persisted_;
  std::string persisted_globals_;
  bool persisted_valid_ = false;
  size_t state_bytes_ = 0, journal_bytes_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<uint64_t> saves_{0}, whole_saves_{0};
  std::atomic<uint64_t> save_errors_{0};
};

}  // namespace xlb::persist
