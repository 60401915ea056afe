// SPDX-License-Identifier: Apache-2.0
// Announcer: gate verdicts -> debounced decisions -> routes in the daemon; drain; peers; status.
#include "bgp/announcer.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "config/bgp.h"
#include "config/validate.h"
#include "spdlog/spdlog.h"

namespace xlb::bgp {
namespace {

uint64_t nowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string communitiesText(const std::vector<uint32_t>& cs) {
  std::string out;
  for (size_t i = 0; i < cs.size(); ++i) {
    absl::StrAppend(&out, i ? " " : "", config::formatCommunity(cs[i]));
  }
  return out;
}

std::string labelValue(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c == '\n' ? ' ' : c);
  }
  return out;
}

}  // namespace

Announcer::Announcer(Speaker& speaker, InputFn input, EventFn publish, Options options)
    : speaker_(speaker),
      input_(std::move(input)),
      publish_(std::move(publish)),
      options_(std::move(options)) {
  loadDrain();
}

Announcer::~Announcer() { stop(); }

void Announcer::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      tickLocked(nowUnixMs());
      cv_.wait_for(lock, std::chrono::milliseconds(check_interval_ms_),
                   [this] { return stop_ || wake_; });
      wake_ = false;
    }
  });
}

void Announcer::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  drained_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Announcer::tick(uint64_t now_ms) {
  std::lock_guard lock(mu_);
  tickLocked(now_ms);
}

void Announcer::wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Announcer::publishSnapshotLocked() {
  auto snap = std::make_shared<Snapshot>();
  snap->status = buildStatusLocked();
  snap->announces = announces_;
  snap->withdraws = withdraws_;
  snap->daemon_errors = daemon_errors_;
  std::lock_guard lock(snapshot_mu_);
  snapshot_ = std::move(snap);
}

void Announcer::tickLocked(uint64_t now_ms) {
  GateInput in = input_();
  if (!in.config->has_bgp()) {
    if (configured_) {
      spdlog::info("bgp: the config has no bgp section any more: withdrawing every VIP");
      withdrawAllLocked(now_ms, "bgp section removed from the config");
      markActiveLocked(false);
    } else if (!checked_leftovers_) {
      checked_leftovers_ = true;
      std::ifstream marker(options_.active_file);
      if (options_.active_file.empty() || !marker) {
        // No earlier agent of this host announced: leave the daemon alone.
      } else if (auto routes = speaker_.listRoutes(); routes.ok() && !routes->empty()) {
        spdlog::info("bgp: no bgp section, but gobgpd at {} originates {} routes: withdrawing them",
                     speaker_.address(), routes->size());
        daemon_routes_ = std::move(*routes);
        withdrawAllLocked(now_ms, "no bgp section in the config");
        markActiveLocked(false);
      } else if (routes.ok()) {
        markActiveLocked(false);
      }
    }
    configured_ = false;
    prefixes_.clear();
    peers_.clear();
    publishSnapshotLocked();
    return;
  }
  configured_ = true;
  checked_leftovers_ = true;
  markActiveLocked(true);
  settings_ = in.config->bgp();
  check_interval_ms_ = config::bgpCheckIntervalMs(settings_);
  if (drain_ == Drain::kDraining && now_ms >= drain_since_ms_ + config::bgpDrainWaitMs(settings_)) {
    drain_ = Drain::kDrained;
    saveDrainLocked();
    publishLocked(v1::Event::KIND_BGP_DRAIN, {},
                  "host drain: wait over, withdrawing every VIP (forwarding continues)", now_ms);
    spdlog::info("bgp: drain wait over: withdrawing every VIP");
  }
  evaluateLocked(in, now_ms);
  if (syncDaemonLocked(settings_, now_ms)) {
    reconcileLocked(settings_, now_ms);
    if (connected_ && now_ms >= next_peer_poll_ms_) pollPeersLocked(now_ms);
  }
  publishSnapshotLocked();
  if (drain_ != Drain::kDraining) drained_cv_.notify_all();
}

bool Announcer::syncDaemonLocked(const v1::BgpSettings& settings, uint64_t now_ms) {
  const std::string bytes = settings.SerializeAsString();
  if (connected_ && bytes == settings_bytes_ && now_ms < next_sync_ms_) return true;
  if (!connected_ && now_ms < next_sync_ms_) return false;  // retry back-off
  if (auto st = speaker_.configure(settings); !st.ok()) {
    daemonErrorLocked(st, now_ms);
    return false;
  }
  auto routes = speaker_.listRoutes();
  if (!routes.ok()) {
    daemonErrorLocked(routes.status(), now_ms);
    return false;
  }
  if (!connected_) {
    spdlog::info("bgp: gobgpd at {}: AS {} router id {}, {} peers; it originates {} routes",
                 speaker_.address(), settings.local_asn(), settings.router_id(),
                 settings.peers_size(), routes->size());
  }
  daemon_routes_ = std::move(*routes);
  connected_ = true;
  daemon_error_.clear();
  settings_bytes_ = bytes;
  next_sync_ms_ = now_ms + static_cast<uint64_t>(options_.resync.count());
  return true;
}

void Announcer::daemonErrorLocked(const absl::Status& st, uint64_t now_ms) {
  const std::string msg(st.message());
  if (connected_ || msg != daemon_error_) spdlog::warn("bgp: {} (retrying every second)", msg);
  connected_ = false;
  daemon_error_ = msg;
  ++daemon_errors_;
  next_sync_ms_ = now_ms + 1000;
}

void Announcer::evaluateLocked(const GateInput& in, uint64_t now_ms) {
  auto verdicts = evaluateGate(in);
  for (auto it = prefixes_.begin(); it != prefixes_.end();) {
    it = verdicts.count(it->first) ? std::next(it) : prefixes_.erase(it);
  }
  for (auto& [prefix, v] : verdicts) {
    auto [it, fresh] = prefixes_.try_emplace(prefix);
    PrefixState& s = it->second;
    s.verdict = std::move(v);
    if (fresh) {
      // A new VIP address is decided at once; debounce only damps flaps of known ones.
      s.applied_pass = s.verdict.pass;
      s.applied_reason = s.verdict.reason;
      s.since_ms = now_ms;
      continue;
    }
    if (s.verdict.pass == s.applied_pass) {
      s.pending_since.reset();
      s.applied_reason = s.verdict.reason;
      continue;
    }
    if (!s.pending_since) s.pending_since = now_ms;
    // Withdraw after one interval; announce again only once the address has passed for the
    // announce delay as well (its table complete again, see BgpSettings.announce_delay_ms).
    const uint64_t hold = s.verdict.pass
                              ? std::max(check_interval_ms_, config::bgpAnnounceDelayMs(settings_))
                              : check_interval_ms_;
    if (now_ms - *s.pending_since >= hold) {
      s.applied_pass = s.verdict.pass;
      s.applied_reason = s.verdict.reason;
      s.pending_since.reset();
    }
  }
}

void Announcer::reconcileLocked(const v1::BgpSettings& settings, uint64_t now_ms) {
  for (auto& [prefix, s] : prefixes_) {
    const bool want = s.applied_pass && drain_ != Drain::kDrained;
    Route r = s.verdict.route;
    if (drain_ == Drain::kDraining) {
      r.communities.push_back(config::kGracefulShutdownCommunity);
      std::sort(r.communities.begin(), r.communities.end());
      r.communities.erase(std::unique(r.communities.begin(), r.communities.end()),
                          r.communities.end());
      const uint64_t med = uint64_t{r.med} + config::bgpDrainMedPenalty(settings);
      r.med = static_cast<uint32_t>(std::min<uint64_t>(med, UINT32_MAX));
    }
    auto have = daemon_routes_.find(prefix);
    if (want) {
      if (have != daemon_routes_.end() && have->second == r) {
        if (!s.announced) {  // found in the daemon (left by a previous agent): kept as it is
          s.announced = true;
          s.announced_route = r;
          s.since_ms = now_ms;
          spdlog::info("bgp: {} already announced (kept, {})", prefix, s.applied_reason);
        }
        continue;
      }
      if (auto st = speaker_.announce(r); !st.ok()) {
        daemonErrorLocked(st, now_ms);
        return;
      }
      ++announces_;
      daemon_routes_[prefix] = r;
      const bool was = s.announced;
      s.announced = true;
      s.announced_route = r;
      if (!was) s.since_ms = now_ms;
      std::string msg = absl::StrCat(was ? "re-announced " : "announced ", prefix, " med ", r.med);
      if (!r.communities.empty())
        absl::StrAppend(&msg, " communities ", communitiesText(r.communities));
      absl::StrAppend(&msg, drain_ == Drain::kDraining ? " (host draining: graceful shutdown)"
                                                       : absl::StrCat(" (", s.applied_reason, ")"));
      spdlog::info("bgp: {}", msg);
      publishLocked(v1::Event::KIND_BGP_ANNOUNCED, s.verdict.vips, msg, now_ms);
      continue;
    }
    if (have != daemon_routes_.end()) {
      if (auto st = speaker_.withdraw(have->second); !st.ok()) {
        daemonErrorLocked(st, now_ms);
        return;
      }
      ++withdraws_;
      daemon_routes_.erase(have);
      const std::string why =
          drain_ == Drain::kDrained ? "host drained (lbctl bgp drain)" : s.applied_reason;
      const std::string msg = absl::StrCat("withdrew ", prefix, ": ", why);
      spdlog::info("bgp: {}", msg);
      publishLocked(v1::Event::KIND_BGP_WITHDRAWN, s.verdict.vips, msg, now_ms);
    }
    if (s.announced) {
      s.announced = false;
      s.since_ms = now_ms;
    }
  }
  // Routes for addresses no VIP has any more (removed VIPs, or left by an earlier config).
  for (auto it = daemon_routes_.begin(); it != daemon_routes_.end();) {
    if (prefixes_.count(it->first)) {
      ++it;
      continue;
    }
    if (auto st = speaker_.withdraw(it->second); !st.ok()) {
      daemonErrorLocked(st, now_ms);
      return;
    }
    ++withdraws_;
    const std::string msg = absl::StrCat("withdrew ", it->first, ": no VIP on this address");
    spdlog::info("bgp: {}", msg);
    publishLocked(v1::Event::KIND_BGP_WITHDRAWN, {}, msg, now_ms);
    it = daemon_routes_.erase(it);
  }
}

void Announcer::withdrawAllLocked(uint64_t now_ms, const std::string& reason) {
  for (const auto& [prefix, route] : daemon_routes_) {
    if (auto st = speaker_.withdraw(route); !st.ok()) {
      daemonErrorLocked(st, now_ms);
      continue;
    }
    ++withdraws_;
    publishLocked(v1::Event::KIND_BGP_WITHDRAWN, {},
                  absl::StrCat("withdrew ", prefix, ": ", reason), now_ms);
  }
  daemon_routes_.clear();
  settings_bytes_.clear();
}

void Announcer::pollPeersLocked(uint64_t now_ms) {
  next_peer_poll_ms_ = now_ms + static_cast<uint64_t>(options_.peer_poll.count());
  auto peers = speaker_.listPeers();
  if (!peers.ok()) {
    daemonErrorLocked(peers.status(), now_ms);
    return;
  }
  for (const PeerInfo& p : *peers) {
    auto old = std::find_if(peers_.begin(), peers_.end(),
                            [&](const PeerInfo& o) { return o.address == p.address; });
    const std::string before = old == peers_.end() ? "new" : old->session_state;
    if (before == p.session_state) continue;
    const std::string msg =
        absl::StrCat("peer ", p.address, " (AS ", p.asn, "): ", before, " -> ", p.session_state);
    spdlog::info("bgp: {}", msg);
    publishLocked(v1::Event::KIND_BGP_PEER, {}, msg, now_ms);
  }
  peers_ = std::move(*peers);
}

void Announcer::publishLocked(v1::Event::Kind kind, const std::vector<v1::VipKey>& vips,
                              const std::string& message, uint64_t now_ms) {
  if (!publish_) return;
  v1::Event e;
  e.set_kind(kind);
  e.set_time_unix_ms(now_ms);
  if (!vips.empty()) *e.mutable_vip() = vips.front();
  e.set_message(message);
  publish_(e);
}

absl::Status Announcer::drain(bool wait) {
  std::unique_lock lock(mu_);
  if (!configured_) {
    return absl::FailedPreconditionError(
        "the config has no bgp section: this host announces nothing, so there is nothing to "
        "drain (README \"Running several load balancers\")");
  }
  const uint32_t wait_ms = config::bgpDrainWaitMs(settings_);
  if (drain_ == Drain::kNone) {
    drain_ = Drain::kDraining;
    drain_since_ms_ = nowUnixMs();
    saveDrainLocked();
    const std::string msg = absl::StrCat(
        "host drain started: VIPs re-announced with graceful-shutdown (65535:0) and MED +",
        config::bgpDrainMedPenalty(settings_), ", withdrawn in ", wait_ms, " ms");
    spdlog::info("bgp: {}", msg);
    publishLocked(v1::Event::KIND_BGP_DRAIN, {}, msg, drain_since_ms_);
    publishSnapshotLocked();
    wake_ = true;
    cv_.notify_all();
  }
  if (!wait) return absl::OkStatus();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms) +
                        std::chrono::seconds(10);
  // Drained and the withdrawals sent: no route left in the daemon.
  bool done = drained_cv_.wait_until(lock, deadline, [this] {
    return stop_ || drain_ == Drain::kNone ||
           (drain_ == Drain::kDrained && (daemon_routes_.empty() || !connected_));
  });
  if (!done) {
    return absl::DeadlineExceededError(
        absl::StrCat("the drain has not withdrawn every VIP after ", wait_ms,
                     " ms + 10 s: ", daemon_error_.empty() ? "still waiting" : daemon_error_));
  }
  if (drain_ == Drain::kDrained && !daemon_routes_.empty()) {
    return absl::UnavailableError(
        absl::StrCat("drained, but gobgpd could not be told to "
                     "withdraw: ",
                     daemon_error_));
  }
  return absl::OkStatus();
}

absl::Status Announcer::undrain() {
  std::lock_guard lock(mu_);
  if (!configured_) {
    return absl::FailedPreconditionError("the config has no bgp section: nothing to undrain");
  }
  if (drain_ != Drain::kNone) {
    drain_ = Drain::kNone;
    drain_since_ms_ = nowUnixMs();
    saveDrainLocked();
    publishLocked(v1::Event::KIND_BGP_DRAIN, {},
                  "host drain undone: healthy VIPs are announced again", drain_since_ms_);
    spdlog::info("bgp: drain undone");
    publishSnapshotLocked();
  }
  wake_ = true;
  cv_.notify_all();
  return absl::OkStatus();
}

const char* Announcer::drainName(Drain d) {
  switch (d) {
    case Drain::kDraining:
      return "draining";
    case Drain::kDrained:
      return "drained";
    default:
      return "none";
  }
}

void Announcer::saveDrainLocked() {
  if (options_.drain_file.empty()) return;
  if (drain_ == Drain::kNone) {
    std::remove(options_.drain_file.c_str());
    return;
  }
  const std::string tmp = options_.drain_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << drainName(drain_) << " " << drain_since_ms_ << "\n";
    if (!f) {
      spdlog::warn("bgp: cannot write {}: the drain would not survive an agent restart", tmp);
      return;
    }
  }
  std::rename(tmp.c_str(), options_.drain_file.c_str());
}

void Announcer::markActiveLocked(bool active) {
  if (options_.active_file.empty() || (active && active_marked_)) return;
  if (active) {
    std::ofstream f(options_.active_file, std::ios::trunc);
    f << "bgp section in effect; gobgpd originates this host's VIPs\n";
    if (!f) {
      spdlog::warn("bgp: cannot write {}", options_.active_file);
      return;
    }
  } else {
    std::remove(options_.active_file.c_str());
  }
  active_marked_ = active;
}

void Announcer::loadDrain() {
  if (options_.drain_file.empty()) return;
  std::ifstream f(options_.drain_file);
  std::string what;
  uint64_t since = 0;
  if (!(f >> what >> since)) return;
  if (what == "draining") drain_ = Drain::kDraining;
  if (what == "drained") drain_ = Drain::kDrained;
  drain_since_ms_ = since;
  if (drain_ != Drain::kNone) {
    spdlog::info("bgp: host drain ({}) carried over from the previous agent", what);
  }
}

v1::BgpStatus Announcer::status() const {
  std::shared_ptr<const Snapshot> snap;
  {
    std::lock_guard lock(snapshot_mu_);
    snap = snapshot_;
  }
  if (snap) return snap->status;
  v1::BgpStatus out;  // before the first round
  out.set_daemon_address(speaker_.address());
  out.set_drain("none");
  return out;
}

v1::BgpStatus Announcer::buildStatusLocked() const {
  v1::BgpStatus out;
  out.set_configured(configured_);
  out.set_daemon_connected(connected_);
  out.set_daemon_error(daemon_error_);
  out.set_daemon_address(speaker_.address());
  out.set_drain(drainName(drain_));
  out.set_drain_since_unix_ms(drain_since_ms_);
  if (!configured_) return out;
  out.set_local_asn(settings_.local_asn());
  out.set_router_id(settings_.router_id());
  for (const v1::BgpPeer& cfg : settings_.peers()) {
    v1::BgpPeerStatus* p = out.add_peers();
    p->set_address(config::canonicalAddress(cfg.address()));
    p->set_asn(cfg.asn());
    p->set_description(cfg.description());
    p->set_session_state("unknown");
    auto info = std::find_if(peers_.begin(), peers_.end(),
                             [&](const PeerInfo& i) { return i.address == p->address(); });
    if (info != peers_.end()) {
      p->set_session_state(info->session_state);
      p->set_established_since_unix_ms(info->uptime_unix_ms);
      p->set_down_since_unix_ms(info->downtime_unix_ms);
      p->set_negotiated_hold_time_s(info->negotiated_hold_time_s);
      p->set_flops(info->flops);
    }
    auto addr = parseIpAddress(cfg.address());
    const bool v6 = addr.ok() && !addr->isV4();
    uint32_t n = 0;
    for (const auto& [prefix, route] : daemon_routes_) n += route.v6 == v6 ? 1 : 0;
    p->set_announced_prefixes(n);
  }
  for (const auto& [prefix, s] : prefixes_) {
    v1::BgpPrefixStatus* ps = out.add_prefixes();
    ps->set_prefix(prefix);
    for (const v1::VipKey& k : s.verdict.vips) *ps->add_vips() = k;
    ps->set_announced(s.announced);
    std::string reason = s.applied_reason;
    if (drain_ == Drain::kDrained && s.applied_pass) reason = "host drained (lbctl bgp drain)";
    if (drain_ == Drain::kDraining && s.announced) {
      reason = "host draining: announced with graceful-shutdown until the drain wait ends";
    }
    if (s.pending_since) {
      absl::StrAppend(&reason, "; changing: ", s.verdict.reason);
    }
    if (!connected_) absl::StrAppend(&reason, "; gobgpd unreachable");
    ps->set_reason(reason);
    ps->set_since_unix_ms(s.since_ms);
    const Route& r = s.announced ? s.announced_route : s.verdict.route;
    ps->set_med(r.med);
    for (uint32_t c : r.communities) ps->add_communities(config::formatCommunity(c));
    ps->set_graceful_shutdown(s.announced && std::count(r.communities.begin(), r.communities.end(),
                                                        config::kGracefulShutdownCommunity) > 0);
  }
  return out;
}

std::string Announcer::renderMetrics() const {
  std::shared_ptr<const Snapshot> snap;
  {
    std::lock_guard lock(snapshot_mu_);
    snap = snapshot_;
  }
  if (!snap || !snap->status.configured()) return "";
  const v1::BgpStatus& st = snap->status;
  const int drain = st.drain() == "draining" ? 1 : st.drain() == "drained" ? 2 : 0;
  std::ostringstream o;
  o << "# HELP xlb_bgp_daemon_connected 1 when the agent reaches gobgpd and has set it up.\n"
       "# TYPE xlb_bgp_daemon_connected gauge\n"
    << "xlb_bgp_daemon_connected " << (st.daemon_connected() ? 1 : 0) << "\n";
  o << "# HELP xlb_bgp_drain_state Host drain: 0 none, 1 draining (graceful shutdown), 2 "
       "drained (withdrawn).\n"
       "# TYPE xlb_bgp_drain_state gauge\n"
    << "xlb_bgp_drain_state " << drain << "\n";
  o << "# HELP xlb_bgp_peer_up 1 when the BGP session with the peer is established.\n"
       "# TYPE xlb_bgp_peer_up gauge\n";
  for (const auto& p : st.peers()) {
    o << "xlb_bgp_peer_up{peer=\"" << labelValue(p.address()) << "\"} "
      << (p.session_state() == "established" ? 1 : 0) << "\n";
  }
  o << "# HELP xlb_bgp_peer_flops_total Times the BGP session with the peer went down.\n"
       "# TYPE xlb_bgp_peer_flops_total counter\n";
  for (const auto& p : st.peers()) {
    o << "xlb_bgp_peer_flops_total{peer=\"" << labelValue(p.address()) << "\"} " << p.flops()
      << "\n";
  }
  o << "# HELP xlb_bgp_prefix_announced 1 when the VIP prefix is announced by this host.\n"
       "# TYPE xlb_bgp_prefix_announced gauge\n";
  for (const auto& p : st.prefixes()) {
    o << "xlb_bgp_prefix_announced{prefix=\"" << labelValue(p.prefix()) << "\"} "
      << (p.announced() ? 1 : 0) << "\n";
  }
  o << "# HELP xlb_bgp_announcements_total Routes sent to gobgpd (new or changed attributes).\n"
       "# TYPE xlb_bgp_announcements_total counter\n"
    << "xlb_bgp_announcements_total " << snap->announces << "\n";
  o << "# HELP xlb_bgp_withdrawals_total Routes withdrawn through gobgpd.\n"
       "# TYPE xlb_bgp_withdrawals_total counter\n"
    << "xlb_bgp_withdrawals_total " << snap->withdraws << "\n";
  o << "# HELP xlb_bgp_daemon_errors_total Failed calls to gobgpd.\n"
       "# TYPE xlb_bgp_daemon_errors_total counter\n"
    << "xlb_bgp_daemon_errors_total " << snap->daemon_errors << "\n";
  return o.str();
}

}  // namespace xlb::bgp
