// SPDX-License-Identifier: Apache-2.0
// StatePersister and the start-up choice between the saved state and the config file.
#include "persist/persister.h"

#include <malloc.h>

#include <chrono>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "config/yaml.h"
#include "spdlog/spdlog.h"

namespace xlb::persist {

absl::StatusOr<StartupConfig> chooseStartupConfig(const StateStore& store, bool have_file,
                                                  const std::string& file_path,
                                                  v1::Config file_config,
                                                  bool config_overrides_state) {
  auto from_file = [&] {
    return StartupConfig{std::move(file_config),
                         have_file ? absl::StrCat("config file ", file_path) : "empty config"};
  };
  if (config_overrides_state) return from_file();
  auto saved = store.load();
  if (saved.ok()) {
    return StartupConfig{std::move(*saved), absl::StrCat("saved state ", store.path())};
  }
  if (absl::IsNotFound(saved.status())) return from_file();
  return saved.status();
}

StatePersister::StatePersister(state::State& state, const StateStore& store, size_t journal_floor)
    : state_(state), store_(store), journal_floor_(journal_floor),
      sub_(state.events().subscribe()) {}

StatePersister::~StatePersister() { stop(); }

void StatePersister::start() {
  stop_ = false;
  thread_ = std::thread([this] { loop(); });
}

void StatePersister::stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
  if (auto st = flush(); !st.ok()) {
    spdlog::error("persist: final save of {}: {}", store_.path(), std::string(st.message()));
  }
}

absl::Status StatePersister::flush() {
  std::lock_guard lock(mu_);
  // Same snapshot as last time: nothing to render (an idle agent with 10,000 VIPs would otherwise
  // compare its whole config twice a second).
  auto token = state_.snapshotToken();
  if (saved_once_ && token == last_token_) return absl::OkStatus();
  absl::Status st;
  if (auto parts = state_.configParts()) {
    st = saveParts(*parts);
  } else {
    // Nothing applied yet: the config as it is, whole.
    persisted_valid_ = false;
    st = store_.save(state_.config());
    if (st.ok()) {
      ++saves_;
      ++whole_saves_;
    }
  }
  if (!st.ok()) {
    ++save_errors_;
    return st;
  }
  last_token_ = std::move(token);
  saved_once_ = true;
  return absl::OkStatus();
}

absl::Status StatePersister::saveParts(const state::State::ConfigParts& parts) {
  using Kind = StateStore::JournalRecord::Kind;
  // A VIP's text: the saved one while its entry is the same (entries are immutable), else
  // rendered, and the saved one kept when the new text is the same.
  auto textFor = [](const state::EntryPtr& e, const Persisted* old) {
    if (old != nullptr && old->entry == e) return old->text;
    auto text = std::make_shared<const std::string>(config::toYamlVipItem(e->spec));
    return old != nullptr && *old->text == *text ? old->text : text;
  };
  // The VIPs now, in config order. Walked alongside the saved ones: while they match in order
  // (the usual change: some VIPs replaced in place, some appended) each step compares one
  // pointer or one key, and 10,000 VIPs cost microseconds, not a map built per save.
  std::vector<Persisted> next;
  next.reserve(parts.vips.size());
  size_t matched = 0;  // saved VIPs matched in order so far
  bool aligned = true;
  std::vector<const state::EntryPtr*> rest;  // the VIPs after the first mismatch
  for (const state::EntryPtr& e : parts.vips.values()) {
    if (aligned && matched < persisted_.size()) {
      const Persisted& old = persisted_[matched];
      if (old.entry == e || old.key == e->key) {
        next.push_back({e->key, e, textFor(e, &old)});
        ++matched;
        continue;
      }
      aligned = false;
    }
    if (aligned) {  // every saved VIP matched: the rest are new, appended
      next.push_back({e->key, e, textFor(e, nullptr)});
    } else {
      rest.push_back(&e);
    }
  }
  std::string globals = config::toYaml(parts.globals);

  // The journal can replace a VIP in place, remove one, append one and replace the settings: the
  // VIPs that stay must keep their order, and new ones come after all of them.
  bool journal = persisted_valid_;
  std::vector<StateStore::JournalRecord> records;
  if (journal && globals != persisted_globals_) records.push_back({Kind::kGlobals, globals});
  // Records for VIPs next[from..] against the saved VIP each replaces (nullptr: a new one).
  std::vector<const Persisted*> olds(next.size(), nullptr);
  for (size_t i = 0; i < matched; ++i) olds[i] = &persisted_[i];
  if (!rest.empty() || matched < persisted_.size()) {
    // Past the first mismatch: the saved VIPs left, by key.
    std::map<config::VipKey, size_t> left;
    for (size_t i = matched; i < persisted_.size(); ++i) left.emplace(persisted_[i].key, i);
    std::vector<bool> kept(persisted_.size(), false);
    size_t last_kept = matched;  // saved order of the VIPs that stay must hold
    bool appending = false;
    for (const state::EntryPtr* e : rest) {
      auto it = left.find((*e)->key);
      const Persisted* old = it == left.end() ? nullptr : &persisted_[it->second];
      if (old == nullptr) {
        appending = true;
      } else if (appending || it->second < last_kept) {
        journal = false;  // moved
      } else {
        last_kept = it->second;
        kept[it->second] = true;
      }
      next.push_back({(*e)->key, *e, textFor(*e, old)});
      olds.push_back(old);
    }
    if (journal) {
      for (size_t i = matched; i < persisted_.size(); ++i) {
        if (!kept[i]) records.push_back({Kind::kRemove, *persisted_[i].text});
      }
    }
  }
  if (journal) {
    // Replaced VIPs in place, then the appended ones (they come last in `next` too).
    for (size_t i = 0; i < next.size(); ++i) {
      if (olds[i] != nullptr && next[i].text != olds[i]->text) {
        records.push_back({Kind::kVip, *next[i].text});
      }
    }
    for (size_t i = 0; i < next.size(); ++i) {
      if (olds[i] == nullptr) records.push_back({Kind::kVip, *next[i].text});
    }
    size_t bytes = 0;
    for (const auto& r : records) bytes += r.yaml.size() + 48;  // + the record's line
    if (journal_bytes_ + bytes > std::max(journal_floor_, state_bytes_ / 2)) journal = false;
  }
  auto commit = [&] {
    persisted_ = std::move(next);
    persisted_globals_ = std::move(globals);
    persisted_valid_ = true;
  };
  if (journal) {
    if (records.empty()) {  // the same texts: nothing to write
      commit();
      return absl::OkStatus();
    }
    auto appended = store_.appendJournal(records);
    if (appended.ok()) {
      journal_bytes_ += *appended;
      ++saves_;
      commit();
      spdlog::debug("persist: {} changes appended to {}", records.size(), store_.journalPath());
      return absl::OkStatus();
    }
    if (!absl::IsFailedPrecondition(appended.status())) {
      persisted_valid_ = false;  // the next save writes the whole file
      return appended.status();
    }
    // No journal to append to: the whole file below starts one.
  }
  std::vector<const std::string*> items;
  items.reserve(next.size());
  for (const Persisted& p : next) items.push_back(p.text.get());
  std::string rendered = StateStore::renderYaml(config::toYamlFromParts(parts.globals, items));
  if (absl::Status st = store_.saveRendered(rendered); !st.ok()) {
    persisted_valid_ = false;
    return st;
  }
  state_bytes_ = rendered.size();
  journal_bytes_ = StateStore::emptyJournalBytes(rendered);
  ++saves_;
  ++whole_saves_;
  commit();
  spdlog::debug("persist: saved {}", store_.path());
  // The whole text (tens of MB at thousands of VIPs) is freed heap now: return it to the kernel
  // instead of leaving it in the agent's RSS.
  if (rendered.size() > (1u << 20)) {
    std::string().swap(rendered);
    malloc_trim(0);
  }
  return absl::OkStatus();
}

void StatePersister::loop() {
  while (!stop_) {
    // Every applied change publishes an event; health-only ones leave State's snapshot token as
    // it was, so they cost nothing here. The timeout bounds the delay even if an event was lost to
    // an overflowed queue.
    auto ev = sub_->next(std::chrono::milliseconds(500));
    if (sub_->overflowed()) sub_ = state_.events().subscribe();
    if (!ev.has_value() && stop_) break;
    if (auto st = flush(); !st.ok()) {
      // Logged once per failure streak would be nicer; a failing disk is rare and worth the noise.
      spdlog::error("persist: saving {}: {} (the running state is unaffected; retrying)",
                    store_.path(), std::string(st.message()));
    }
  }
}

}  // namespace xlb::persist
