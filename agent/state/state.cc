// SPDX-License-Identifier: Apache-2.0
// State's write path: validate (config/) -> plan the diff against the model (planner.h) -> run the
// steps in order, rolling back on failure -> commit the model and publish the readers' view.
// Writes are serialized by mu_; reads go through the published view and never wait for them.
#include "state/state.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/yaml.h"
#include "nat/endpoint.h"
#include "spdlog/spdlog.h"
#include "state/plan_internal.h"

namespace xlb::state {

using config::VipKey;

xlb_vip_key toVipKey(const VipKey& key) {
  xlb_vip_key out{};
  std::memcpy(out.addr, key.address.bytes.data(), 16);
  out.port = htons(key.port);
  out.proto = key.protocol == v1::PROTOCOL_UDP ? IPPROTO_UDP : IPPROTO_TCP;
  out.family = key.address.family;
  return out;
}

xlb_addr_key toAddrKey(const IpAddress& address) {
  xlb_addr_key out{};
  std::memcpy(out.addr, address.bytes.data(), 16);
  out.family = address.family;
  return out;
}

uint8_t toDataplaneAlgorithm(v1::Algorithm a) { return config::abiAlgorithm(a); }

xlb_vip_value toVipValue(uint32_t id, const v1::Vip& spec) {
  xlb_vip_value v{};
  v.vip_id = id;
  v.algorithm = toDataplaneAlgorithm(spec.algorithm());
  v.fwd_mode = config::abiForwarding(spec.forwarding());
  v.flags = XLB_VIP_F_NONE;
  if (spec.algorithm() == v1::ALGORITHM_SOURCE_HASH && spec.source_hash_include_port()) {
    v.flags |= XLB_VIP_F_HASH_SRC_PORT;
  }
  return v;
}

absl::StatusOr<BackendKey> backendKeyOf(const VipKey& vip, const v1::Backend& backend) {
  auto addr = parseIpAddress(backend.address());
  if (!addr.ok()) return addr.status();
  return BackendKey{*addr, nat::effectivePort(backend.port(), vip.port)};
}

std::string backendLabel(const VipKey& vip, const BackendKey& backend) {
  return nat::backendLabel(backend.address, backend.port, vip.port);
}

State::State(dataplane::Dataplane& dataplane)
    : dataplane_(dataplane),
      gens_(dataplane.capacity().backends, 0),
      view_(std::make_shared<View>()) {
  model_.vip_ids = IdAllocator(dataplane.capacity().vips);
  model_.backend_ids = IdAllocator(dataplane.capacity().backends);
}

State::~State() { stopHealthApplier(); }

std::shared_ptr<const State::View> State::view() const {
  std::lock_guard lock(view_mu_);
  return view_;
}

void State::publishLocked(bool nat_unchanged) {
  auto v = std::make_shared<View>();
  v->globals = model_.globals;
  v->vips = model_.in_order;  // shares the model's chunks: O(VIPs / 64), not a copy per VIP
  v->by_key = model_.vips;
  v->vlans = model_.vlans;
  v->applied = model_.settings_written;
  v->applied_digest = applied_.source;
  v->config_token = config_token_;
  std::lock_guard lock(view_mu_);
  if (nat_unchanged) v->nat_vips.store(view_->nat_vips.load());
  view_ = std::move(v);
}

std::shared_ptr<const void> State::snapshotToken() const { return view()->config_token; }

PlanInputs State::planInputs() {
  PlanInputs in;
  in.dp = &dataplane_;
  in.gens = &gens_;
  in.resync = resync_;
  in.flag_vlans = flag_vlans_;
  return in;
}

void State::setFlagVlanIds(std::vector<uint32_t> ids) {
  std::lock_guard lock(mu_);
  std::sort(ids.begin(), ids.end());
  flag_vlans_ = std::move(ids);
}

std::vector<uint32_t> State::acceptedVlans() const { return view()->vlans; }

absl::Status State::execute(Plan& plan) {
  for (size_t done = 0; done < plan.steps.size(); ++done) {
    absl::Status st = plan.steps[done].apply();
    if (st.ok()) continue;
    // Undo what this transaction applied, newest first, so the data plane returns to the state
    // model_ still describes.
    std::vector<std::string> rollback_errors;
    for (size_t i = done; i-- > 0;) {
      absl::Status u = plan.steps[i].undo();
      if (!u.ok()) {
        spdlog::error("state: rollback of '{}' failed: {}", plan.steps[i].what, u.ToString());
        rollback_errors.push_back(absl::StrCat(plan.steps[i].what, ": ", u.message()));
      }
    }
    std::string msg = absl::StrCat(plan.steps[done].what, ": ", st.message(), " (rolled back ",
                                   done, done == 1 ? " change" : " changes", "; nothing applied)");
    if (!rollback_errors.empty()) {
      // The data plane may now differ from model_; the next apply rewrites everything.
      resync_ = true;
      msg = absl::StrCat(plan.steps[done].what, ": ", st.message(),
                         "; rollback incomplete, the next change rewrites all entries: ",
                         absl::StrJoin(rollback_errors, "; "));
    }
    spdlog::warn("state: apply failed: {}", msg);
    return absl::Status(st.code(), msg);
  }
  if (!plan.steps.empty()) {
    spdlog::info("state: applied {} data-plane writes ({} VIPs)", plan.steps.size(),
                 plan.next.vips.size());
  }
  return absl::OkStatus();
}

void State::commitLocked(Plan& plan, Commit kind, const std::string& source_digest) {
  std::map<VipKey, EntryPtr> before;
  for (const VipKey& k : plan.changed) {
    auto it = model_.vips.find(k);
    if (it != model_.vips.end()) before.emplace(k, it->second);
  }
  model_ = std::move(plan.next);
  resync_ = false;
  if (kind == Commit::kConfig) {
    applied_.source = source_digest;
    applied_.input.clear();  // applyConfig sets it again when it made this commit
    config_token_ = std::make_shared<int>(0);
  }
  // Readers' view first: whoever reacts to an event (a health transition, a VIP change) reads a
  // view that already holds it.
  bool nat_unchanged = true;
  for (const VipKey& k : plan.changed) {
    auto was = before.find(k);
    auto is = model_.vips.find(k);
    const bool had = was != before.end(), has = is != model_.vips.end();
    if (had != has || (has && !sameNatVipInfo(natVipInfoOf(*was->second),
                                              natVipInfoOf(*is->second)))) {
      nat_unchanged = false;
      break;
    }
  }
  publishLocked(nat_unchanged);
  afterApplyLocked(before, plan.changed);
}

void State::countApply(std::chrono::steady_clock::time_point start, const absl::Status& st) {
  std::lock_guard lock(stats_mu_);
  ++apply_stats_.total;
  if (!st.ok()) ++apply_stats_.errors;
  apply_stats_.last_duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status State::applyLocked(const v1::Config& config, bool dry_run,
                                std::vector<std::string>* changes,
                                const std::string& source_digest) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = [&]() -> absl::Status {
    if (auto st = config::validateConfig(config, dataplane_.capacity()); !st.ok()) return st;
    v1::Config normalized = config::normalize(config);
    if (local_port_range_) {
      // A host whose range cannot be read (no /proc) is not refused; the config is.
      if (auto local = local_port_range_(); local.ok()) {
        if (auto st = nat::checkSnatPortRanges(normalized, *local); !st.ok()) return st;
      }
    }
    auto plan = Planner(model_, planInputs()).planConfig(normalized);
    if (!plan.ok()) return plan.status();
    if (changes != nullptr) *changes = plan->lines;
    if (dry_run) return absl::OkStatus();
    if (auto st = execute(*plan); !st.ok()) return st;
    commitLocked(*plan, Commit::kConfig, source_digest);
    return absl::OkStatus();
  }();
  if (!dry_run) countApply(start, st);
  return st;
}

absl::Status State::applyVipsLocked(std::span<const VipChange> changes, const PlanInputs* inputs,
                                     Commit kind) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = [&]() -> absl::Status {
    auto plan = Planner(model_, inputs != nullptr ? *inputs : planInputs()).planVips(changes);
    if (!plan.ok()) return plan.status();
    if (auto st = execute(*plan); !st.ok()) return st;
    commitLocked(*plan, kind, "");
    return absl::OkStatus();
  }();
  countApply(start, st);
  return st;
}

void State::recordFailedApply(std::chrono::duration<double> took) {
  std::lock_guard lock(stats_mu_);
  ++apply_stats_.total;
  ++apply_stats_.errors;
  apply_stats_.last_duration_seconds = took.count();
}

ApplyStats State::applyStats() const {
  std::lock_guard lock(stats_mu_);
  return apply_stats_;
}

absl::Status State::applyConfig(const v1::Config& config, bool dry_run,
                                std::vector<std::string>* changes,
                                const std::string& source_digest) {
  // The config as received, hashed: the same message as the last applied one, with nothing changed
  // since, plans nothing, so its validation, normalization and per-VIP diff are skipped (an API
  // client re-sending 10,000 VIPs pays a serialization and a hash, ~10 ms, not ~0.5 s). The
  // schema has no map fields, so equal messages serialize to equal bytes.
  const std::string input_digest = config::sourceDigest(config.SerializeAsString());
  std::lock_guard lock(mu_);
  std::vector<std::string> lines;
  absl::Status st;
  if (!input_digest.empty() && input_digest == applied_.input && !resync_) {
    if (!dry_run) {
      countApply(std::chrono::steady_clock::now(), st);
      if (source_digest != applied_.source) {  // the same config read from another document
        applied_.source = source_digest;
        publishLocked();
      }
    }
  } else {
    st = applyLocked(withDiscoveredLocked(config), dry_run, &lines, source_digest);
    if (st.ok() && !dry_run) applied_.input = input_digest;
  }
  if (st.ok() && !dry_run) {
    v1::Event e;
    e.set_kind(v1::Event::KIND_CONFIG_APPLIED);
    e.set_time_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    e.set_message(absl::StrCat("config applied: ", model_.vips.size(), " VIPs, ", lines.size(),
                               lines.size() == 1 ? " change" : " changes"));
    events_.publish(e);
  }
  if (changes != nullptr) *changes = std::move(lines);
  return st;
}

std::string State::appliedDigest() const { return view()->applied_digest; }

v1::Config State::configLocked() const {
  v1::Config out = model_.globals;
  out.mutable_vips()->Reserve(static_cast<int>(model_.in_order.size()));
  for (const EntryPtr& e : model_.in_order.values()) *out.add_vips() = e->spec;
  return out;
}

v1::Config State::config() const {
  auto v = view();
  v1::Config out = v->globals;
  out.mutable_vips()->Reserve(static_cast<int>(v->vips.size()));
  for (const EntryPtr& e : v->vips.values()) *out.add_vips() = e->spec;
  if (!v->applied) return config::normalize(out);  // nothing applied yet
  return out;
}

std::optional<State::ConfigParts> State::configParts() const {
  auto v = view();
  if (!v->applied) return std::nullopt;
  return ConfigParts{v->globals, v->vips, v->config_token};
}

const VipEntry* State::entryLocked(const VipKey& key) const {
  return model_.vip(key);
}

}  // namespace xlb::state
