// SPDX-License-Identifier: Apache-2.0
// The discovery thread (manager.h).
#include "discovery/manager.h"

#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/discovery.h"
#include "discovery/pool.h"
#include "spdlog/spdlog.h"

namespace xlb::discovery {
namespace {

constexpr Millis kIdleWait{100};
constexpr Millis kResolvConfCheck{1000};
constexpr Millis kDrainCheck{1000};
constexpr Millis kFollowInterval{250};

NameTiming timingOf(const v1::Vip& spec) {
  const v1::DiscoveryOptions o = config::effectiveDiscoveryOptions(spec);
  return NameTiming{Millis(o.min_ttl_ms()), Millis(o.max_ttl_ms()), Millis(o.hold_empty_ms())};
}

bool sameTiming(const NameTiming& a, const NameTiming& b) {
  return a.min_ttl == b.min_ttl && a.max_ttl == b.max_ttl && a.hold_empty == b.hold_empty;
}

// Identity of the resolver config file: changes when it is rewritten or replaced.
std::string fileSignature(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return absl::StrCat(st.st_ino, "/", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, "/",
                      std::hash<std::string>{}(text.str()));
}

std::string escapeLabel(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

DiscoveryManager::DiscoveryManager(state::State& state, std::unique_ptr<Resolver> resolver,
                                   Options options)
    : state_(state), resolver_(std::move(resolver)), opts_(std::move(options)) {
  if (!opts_.clock) opts_.clock = [] { return Clock::now(); };
  if (!opts_.jitter) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    opts_.jitter = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  }
  resolv_sig_ = fileSignature(opts_.resolv_conf);
}

DiscoveryManager::~DiscoveryManager() {
  stop();
  {
    std::lock_guard lock(mu_);
    entries_.clear();  // the answers the resolver cancels below find no entry
  }
  resolver_.reset();  // while mu_ and the rest still exist: cancelled answers call onAnswer
}

void DiscoveryManager::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void DiscoveryManager::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void DiscoveryManager::run() {
  while (!stop_) {
    tick();
    Millis wait = kIdleWait;
    {
      std::lock_guard lock(mu_);
      const auto now = opts_.clock();
      for (const auto& [k, e] : entries_) {
        if (e->in_flight) continue;
        auto until = std::chrono::duration_cast<Millis>(e->state.nextQuery() - now);
        wait = std::max(Millis(0), std::min(wait, until));
      }
    }
    resolver_->process(wait);
  }
}

void DiscoveryManager::followConfigLocked(Clock::time_point now) {
  auto token = state_.snapshotToken();
  if (token == token_) return;
  // At most one look per kFollowInterval however often the configuration changes. Our own
  // setDiscovered results are kept directly.
  if (now < next_follow_) return;
  next_follow_ = now + kFollowInterval;
  token_ = token;
  // The VIPs as State's entries (shared, not copied: 10,000 VIPs without a name are skipped at
  // the cost of a pointer each); before a config was applied, config() normalizes the adopted ones.
  const std::optional<state::State::ConfigParts> parts = state_.configParts();
  v1::Config adopted;
  std::vector<const v1::Vip*> vips;
  if (parts) {
    vips.reserve(parts->vips.size());
    for (const state::EntryPtr& e : parts->vips.values()) vips.push_back(&e->spec);
  } else {
    adopted = state_.config();
    for (const v1::Vip& vip : adopted.vips()) vips.push_back(&vip);
  }
  std::map<config::VipKey, v1::Vip> specs;
  std::set<EntryKey> live;
  for (const v1::Vip* vip_ptr : vips) {
    const v1::Vip& vip = *vip_ptr;
    if (!config::hasDiscovery(vip)) continue;
    auto key = config::vipKeyOf(vip);
    if (!key.ok()) continue;
    const NameTiming timing = timingOf(vip);
    auto ensure = [&](const std::string& name, v1::BackendSourceKind kind) {
      EntryKey ek{*key, absl::AsciiStrToLower(name)};
      live.insert(ek);
      auto& slot = entries_[ek];
      if (slot && sameTiming(slot->state.timing(), timing) && slot->kind == kind) {
        slot->family = vip.dns().family();
        return;
      }
      auto e = std::make_shared<Entry>(timing, opts_.jitter);
      e->vip = *key;
      e->name = name;
      e->kind = kind;
      e->family = vip.dns().family();
      // The last good set as applied (restored from the saved state after a restart).
      e->state.seed(slot ? slot->state.records() : recordsOf(vip, name));
      slot = std::move(e);
    };
    for (const std::string& n : vip.dns().names()) ensure(n, v1::BACKEND_SOURCE_KIND_DNS);
    if (!vip.srv().empty()) ensure(vip.srv(), v1::BACKEND_SOURCE_KIND_SRV);
    auto prev = specs_.find(*key);
    if (prev == specs_.end() ||
        prev->second.dns().SerializeAsString() != vip.dns().SerializeAsString() ||
        prev->second.srv() != vip.srv() || prev->second.allow_empty() != vip.allow_empty()) {
      dirty_.insert(*key);  // names (or their rules) changed: re-plan the pool
    }
    specs.emplace(*key, vip);
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = live.count(it->first) ? std::next(it) : entries_.erase(it);
  }
  {
    std::lock_guard status_lock(status_mu_);
    for (auto it = status_.begin(); it != status_.end();) {
      it = live.count(it->first) ? std::next(it) : status_.erase(it);
    }
  }
  for (auto it = dirty_.begin(); it != dirty_.end();) {
    it = specs.count(*it) ? std::next(it) : dirty_.erase(it);
  }
  specs_ = std::move(specs);
}

void DiscoveryManager::checkResolvConfLocked(Clock::time_point now) {
  if (now < next_resolv_check_) return;
  next_resolv_check_ = now + kResolvConfCheck;
  std::string sig = fileSignature(opts_.resolv_conf);
  if (sig == resolv_sig_) return;
  resolv_sig_ = sig;
  if (auto st = resolver_->reload(); !st.ok()) {
    spdlog::warn("discovery: re-reading {}: {}", opts_.resolv_conf, std::string(st.message()));
    return;
  }
  ++resolv_reloads_;
  spdlog::info("discovery: {} changed; new questions use it", opts_.resolv_conf);
  // Ask every name again under the new configuration.
  for (auto& [k, e] : entries_) e->state.askNow();
}

void DiscoveryManager::tick() {
  std::unique_lock lock(mu_);
  const auto now = opts_.clock();
  followConfigLocked(now);
  checkResolvConfLocked(now);
  for (auto& [k, e] : entries_) {
    if (e->in_flight || now < e->state.nextQuery()) continue;
    e->in_flight = true;
    ++e->queries;
    std::weak_ptr<Entry> weak = e;
    auto done = [this, weak](Answer a) { onAnswer(weak, std::move(a)); };
    // The callback may run at once (inside query): it takes mu_, so release it meanwhile.
    lock.unlock();
    if (e->kind == v1::BACKEND_SOURCE_KIND_SRV) {
      lookupSrv(*resolver_, e->name, done);
    } else {
      lookupName(*resolver_, e->name, e->family, done);
    }
    lock.lock();
  }
  const bool drain_round = now >= next_drain_check_;
  if (drain_round) next_drain_check_ = now + kDrainCheck;
  for (const auto& [key, spec] : specs_) {
    bool draining = false;
    for (const v1::Backend& b : spec.backends())
      draining = draining || b.source().gone_unix_ms() != 0;
    if (dirty_.count(key) || (drain_round && draining)) applyVipLocked(key, spec);
  }
}

void DiscoveryManager::onAnswer(const std::weak_ptr<Entry>& weak, Answer answer) {
  std::lock_guard lock(mu_);
  auto e = weak.lock();
  if (!e) return;
  auto it = entries_.find(EntryKey{e->vip, absl::AsciiStrToLower(e->name)});
  if (it == entries_.end() || it->second != e) return;  // replaced meanwhile
  e->in_flight = false;
  ++e->outcomes[outcomeName(answer.outcome)];
  const bool was_stale = e->state.stale();
  if (e->state.onAnswer(answer, opts_.clock())) dirty_.insert(e->vip);
  {
    std::lock_guard status_lock(status_mu_);
    status_[it->first] = {e->state.lastOkUnixMs(), e->state.stale()};
  }
  if (!was_stale && e->state.stale()) {
    spdlog::warn("discovery: {} for vip {}: {}; keeping the last good set ({} backends)", e->name,
                 e->vip.toString(), e->state.lastError(), e->state.records().size());
    publish(v1::Event::KIND_DISCOVERY_STALE, e->vip,
            absl::StrCat(e->name, ": ", e->state.lastError(), "; last good set kept (",
                         e->state.records().size(), " backends)"));
  } else if (was_stale && !e->state.stale()) {
    spdlog::info("discovery: {} for vip {} resolves again", e->name, e->vip.toString());
    publish(v1::Event::KIND_DISCOVERY_RECOVERED, e->vip,
            absl::StrCat(e->name, ": resolves again (", outcomeName(answer.outcome), ")"));
  }
}

void DiscoveryManager::applyVipLocked(const config::VipKey& key, const v1::Vip& spec) {
  std::vector<NameSet> names;
  for (const std::string& n : config::discoveryNames(spec)) {
    auto it = entries_.find(EntryKey{key, absl::AsciiStrToLower(n)});
    if (it == entries_.end()) continue;
    names.push_back(NameSet{n, it->second->kind, &it->second->state.records()});
  }
  // Open flows of draining backends, read only when some are draining.
  std::optional<v1::VipStatus> status;
  auto flows = [&](const v1::Backend& b) -> std::optional<uint64_t> {
    if (!status) {
      auto st = state_.vipStatus(key.toProto());
      if (!st.ok()) return std::nullopt;
      status = *st;
    }
    for (const v1::BackendStatus& s : status->backends()) {
      auto ref = config::parseBackendRef(s.address(), "address");
      if (ref.ok() && ref->matches(spec, b)) return s.open_flows();
    }
    return std::nullopt;
  };
  PoolPlan plan = planPool(spec, names, unixMsNow(), flows);
  if (!plan.changed) {
    dirty_.erase(key);
    return;
  }
  auto applied = state_.setDiscovered(key.toProto(), plan.backends);
  if (!applied.ok()) {
    ++apply_errors_;
    spdlog::warn("discovery: vip {}: applying the discovered backends: {}", key.toString(),
                 std::string(applied.status().message()));
    return;  // stays dirty: retried next round
  }
  dirty_.erase(key);
  specs_[key] = *applied;
  std::vector<std::string> parts;
  if (!plan.added.empty()) parts.push_back("added " + absl::StrJoin(plan.added, ", "));
  if (!plan.draining.empty()) parts.push_back("draining " + absl::StrJoin(plan.draining, ", "));
  if (!plan.removed.empty()) parts.push_back("removed " + absl::StrJoin(plan.removed, ", "));
  if (parts.empty()) parts.push_back("weights or records updated");
  if (plan.kept_nonempty) parts.push_back("answers would empty the pool: last set kept");
  const std::string msg = absl::StrJoin(parts, "; ");
  spdlog::info("discovery: vip {}: {}", key.toString(), msg);
  publish(v1::Event::KIND_DISCOVERY_CHANGED, key, msg);
}

void DiscoveryManager::publish(v1::Event::Kind kind, const config::VipKey& vip,
                               const std::string& message) {
  v1::Event e;
  e.set_kind(kind);
  e.set_time_unix_ms(unixMsNow());
  *e.mutable_vip() = vip.toProto();
  e.set_message(message);
  state_.events().publish(e);
}

void DiscoveryManager::fillStatus(const config::VipKey& vip, v1::BackendSource* source) const {
  std::lock_guard lock(status_mu_);
  auto it = status_.find(EntryKey{vip, absl::AsciiStrToLower(source->name())});
  if (it == status_.end()) return;
  source->set_last_resolved_unix_ms(it->second.first);
  source->set_stale(it->second.second);
}

std::vector<DiscoveryManager::NameStatus> DiscoveryManager::names() const {
  std::lock_guard lock(mu_);
  std::vector<NameStatus> out;
  for (const auto& [k, e] : entries_) {
    NameStatus s;
    s.vip = e->vip;
    s.name = e->name;
    s.stale = e->state.stale();
    s.holding_empty = e->state.holdingEmpty();
    s.records = e->state.records().size();
    s.queries = e->queries;
    s.last_ok_unix_ms = e->state.lastOkUnixMs();
    s.last_error = e->state.lastError();
    out.push_back(std::move(s));
  }
  return out;
}

std::string DiscoveryManager::renderMetrics() const {
  std::string out;
  auto names_now = names();
  absl::StrAppend(&out,
                  "# HELP xlb_discovery_stale 1 while the name's lookups fail and its last good "
                  "set is kept.\n# TYPE xlb_discovery_stale gauge\n");
  auto labels = [](const NameStatus& s) {
    return absl::StrCat("{vip=\"", s.vip.toString(), "\",name=\"", escapeLabel(s.name), "\"}");
  };
  for (const auto& s : names_now)
    absl::StrAppend(&out, "xlb_discovery_stale", labels(s), " ", s.stale ? 1 : 0, "\n");
  absl::StrAppend(&out, "# HELP xlb_discovery_backends Backends the name's last good set holds.\n",
                  "# TYPE xlb_discovery_backends gauge\n");
  for (const auto& s : names_now)
    absl::StrAppend(&out, "xlb_discovery_backends", labels(s), " ", s.records, "\n");
  absl::StrAppend(&out,
                  "# HELP xlb_discovery_holding_empty 1 while an NXDOMAIN/empty answer is held.\n",
                  "# TYPE xlb_discovery_holding_empty gauge\n");
  for (const auto& s : names_now)
    absl::StrAppend(&out, "xlb_discovery_holding_empty", labels(s), " ", s.holding_empty ? 1 : 0,
                    "\n");
  absl::StrAppend(&out, "# HELP xlb_discovery_queries_total Lookups sent for the name.\n",
                  "# TYPE xlb_discovery_queries_total counter\n");
  for (const auto& s : names_now)
    absl::StrAppend(&out, "xlb_discovery_queries_total", labels(s), " ", s.queries, "\n");
  absl::StrAppend(&out,
                  "# HELP xlb_discovery_last_success_timestamp_seconds When the name last "
                  "resolved (unix seconds; 0 = not since the agent started).\n",
                  "# TYPE xlb_discovery_last_success_timestamp_seconds gauge\n");
  for (const auto& s : names_now) {
    absl::StrAppend(&out, "xlb_discovery_last_success_timestamp_seconds", labels(s), " ",
                    s.last_ok_unix_ms / 1000, "\n");
  }
  std::lock_guard lock(mu_);
  absl::StrAppend(
      &out,
      "# HELP xlb_discovery_resolv_conf_reloads_total Times --resolv-conf was re-read.\n"
      "# TYPE xlb_discovery_resolv_conf_reloads_total counter\n"
      "xlb_discovery_resolv_conf_reloads_total ",
      resolv_reloads_, "\n",
      "# HELP xlb_discovery_apply_errors_total Discovered sets State refused.\n"
      "# TYPE xlb_discovery_apply_errors_total counter\n"
      "xlb_discovery_apply_errors_total ",
      apply_errors_, "\n");
  return out;
}

}  // namespace xlb::discovery
