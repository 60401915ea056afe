// SPDX-License-Identifier: Apache-2.0
// StatePersister and the start-up choice between the saved state and the config file.
#include "persist/persister.h"

#include <malloc.h>

#include <chrono>

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

StatePersister::StatePersister(state::State& state, const StateStore& store)
    : state_(state), store_(store), sub_(state.events().subscribe()) {}

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
  // render its whole config twice a second).
  auto token = state_.snapshotToken();
  if (saved_once_ && token == last_token_) return absl::OkStatus();
  std::string rendered = renderCurrent();
  if (saved_once_ && rendered == last_saved_) {
    last_token_ = std::move(token);
    return absl::OkStatus();
  }
  // The text compared is the text saved (rendering 10,000 VIPs twice cost seconds).
  absl::Status st = store_.saveRendered(rendered);
  if (!st.ok()) {
    ++save_errors_;
    return st;
  }
  last_saved_ = std::move(rendered);
  last_token_ = std::move(token);
  saved_once_ = true;
  ++saves_;
  // The copy of the config just rendered (tens of MB at thousands of VIPs) is freed heap now:
  // return it to the kernel instead of leaving it in the agent's RSS.
  if (last_saved_.size() > (1u << 20)) malloc_trim(0);
  spdlog::debug("persist: saved {}", store_.path());
  return absl::OkStatus();
}

std::string StatePersister::renderCurrent() {
  auto parts = state_.configParts();
  if (!parts) {
    vip_text_.clear();
    return StateStore::render(state_.config());
  }
  ++render_round_;
  std::vector<const std::string*> items;
  items.reserve(parts->vips.size());
  for (const state::EntryPtr& e : parts->vips.values()) {
    auto [it, fresh] = vip_text_.try_emplace(e.get());
    if (fresh) {
      it->second.entry = e;
      it->second.text = config::toYamlVipItem(e->spec);
    }
    it->second.round = render_round_;
    items.push_back(&it->second.text);  // node_hash_map: values never move
  }
  for (auto it = vip_text_.begin(); it != vip_text_.end();) {
    if (it->second.round != render_round_) {
      vip_text_.erase(it++);
    } else {
      ++it;
    }
  }
  return StateStore::renderYaml(config::toYamlFromParts(parts->globals, items));
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
