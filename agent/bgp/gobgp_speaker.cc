// SPDX-License-Identifier: Apache-2.0
// GoBgpSpeaker: translates Routes and BgpSettings into GoBGP v3 API calls (AddPath / DeletePath
// with IPAddressPrefix NLRI and path attributes packed in google.protobuf.Any, StartBgp, AddPeer).
#include "bgp/gobgp_speaker.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "attribute.pb.h"
#include "bgp/peer_plan.h"
#include "common/address.h"
#include "config/bgp.h"
#include "config/validate.h"
#include "gobgp.grpc.pb.h"
#include "gobgp.pb.h"
#include "spdlog/spdlog.h"

namespace xlb::bgp {

struct GoBgpSpeaker::Stub {
  std::unique_ptr<apipb::GobgpApi::Stub> api;
};

namespace {

// gobgpd retries an unanswered session this often (its default, 120 s, would keep a recovered
// router or a rejoining host out for minutes).
constexpr uint64_t kConnectRetryS = 3;

absl::Status fromGrpc(const grpc::Status& st, absl::string_view what) {
  if (st.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(st.error_code());
  return absl::Status(code, absl::StrCat("gobgpd ", what, ": ", st.error_message()));
}

apipb::Family familyOf(bool v6) {
  apipb::Family f;
  f.set_afi(v6 ? apipb::Family::AFI_IP6 : apipb::Family::AFI_IP);
  f.set_safi(apipb::Family::SAFI_UNICAST);
  return f;
}

std::string stateName(apipb::PeerState::SessionState s) {
  switch (s) {
    case apipb::PeerState::IDLE:
      return "idle";
    case apipb::PeerState::CONNECT:
      return "connect";
    case apipb::PeerState::ACTIVE:
      return "active";
    case apipb::PeerState::OPENSENT:
      return "opensent";
    case apipb::PeerState::OPENCONFIRM:
      return "openconfirm";
    case apipb::PeerState::ESTABLISHED:
      return "established";
    default:
      return "unknown";
  }
}

uint64_t unixMs(const google::protobuf::Timestamp& t) {
  if (t.seconds() <= 0) return 0;
  return static_cast<uint64_t>(t.seconds()) * 1000 + static_cast<uint64_t>(t.nanos()) / 1000000;
}

// The path of `route`: NLRI, ORIGIN IGP, next hop "self" (unspecified: gobgpd puts its session's
// local address), MED, communities.
apipb::Path toPath(const Route& route) {
  apipb::Path path;
  *path.mutable_family() = familyOf(route.v6);
  std::pair<std::string, std::string> addr_len = absl::StrSplit(route.prefix, '/');
  apipb::IPAddressPrefix nlri;
  nlri.set_prefix(addr_len.first);
  nlri.set_prefix_len(route.v6 ? 128 : 32);
  path.mutable_nlri()->PackFrom(nlri);
  apipb::OriginAttribute origin;
  origin.set_origin(0);  // IGP
  path.add_pattrs()->PackFrom(origin);
  if (route.v6) {
    apipb::MpReachNLRIAttribute mp;
    *mp.mutable_family() = familyOf(true);
    mp.add_next_hops("::");
    mp.add_nlris()->PackFrom(nlri);
    path.add_pattrs()->PackFrom(mp);
  } else {
    apipb::NextHopAttribute nh;
    nh.set_next_hop("0.0.0.0");
    path.add_pattrs()->PackFrom(nh);
  }
  apipb::MultiExitDiscAttribute med;
  med.set_med(route.med);
  path.add_pattrs()->PackFrom(med);
  if (!route.communities.empty()) {
    apipb::CommunitiesAttribute c;
    for (uint32_t v : route.communities) c.add_communities(v);
    path.add_pattrs()->PackFrom(c);
  }
  return path;
}

// A locally originated path back into a Route (MED and communities; others ignored).
Route fromPath(const std::string& prefix, const apipb::Path& path, bool v6) {
  Route r;
  r.prefix = prefix;
  r.v6 = v6;
  for (const auto& any : path.pattrs()) {
    apipb::MultiExitDiscAttribute med;
    apipb::CommunitiesAttribute comms;
    if (any.UnpackTo(&med)) {
      r.med = med.med();
    } else if (any.UnpackTo(&comms)) {
      r.communities.assign(comms.communities().begin(), comms.communities().end());
    }
  }
  std::sort(r.communities.begin(), r.communities.end());
  r.communities.erase(std::unique(r.communities.begin(), r.communities.end()), r.communities.end());
  return r;
}

// A path this host originates (AddPath), not one a router sent: it has no neighbour address
// (gobgpd reports "<nil>" or nothing for its local source).
bool isLocal(const apipb::Path& p) {
  auto addr = parseIpAddress(p.neighbor_ip());
  return !addr.ok() || addr->toString() == "0.0.0.0" || addr->toString() == "::";
}

// Every setting toPeer applies, as one string (kept in memory only: it holds the password).
std::string settingsText(const v1::BgpPeer& p) {
  return absl::StrCat(p.asn(), "|", config::bgpPeerPort(p), "|", config::bgpPeerHoldTime(p), "|",
                      p.password().size(), ":", p.password(), "|", p.description());
}

apipb::Peer toPeer(const v1::BgpPeer& p) {
  apipb::Peer peer;
  auto* conf = peer.mutable_conf();
  conf->set_neighbor_address(config::canonicalAddress(p.address()));
  conf->set_peer_asn(p.asn());
  conf->set_auth_password(p.password());
  conf->set_description(p.description());
  auto* timers = peer.mutable_timers()->mutable_config();
  const uint32_t hold = config::bgpPeerHoldTime(p);
  timers->set_hold_time(hold);
  timers->set_keepalive_interval(std::max<uint32_t>(1, hold / 3));
  timers->set_connect_retry(kConnectRetryS);
  peer.mutable_transport()->set_remote_port(config::bgpPeerPort(p));
  auto addr = parseIpAddress(p.address());
  const bool v6 = addr.ok() && !addr->isV4();
  auto* afi = peer.add_afi_safis()->mutable_config();
  *afi->mutable_family() = familyOf(v6);
  afi->set_enabled(true);
  return peer;
}

// Streams gobgpd's peers (ListPeer) into fn.
absl::Status forEachPeer(apipb::GobgpApi::Stub& api, std::chrono::milliseconds deadline,
                         const std::function<void(const apipb::Peer&)>& fn) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  auto reader = api.ListPeer(&ctx, apipb::ListPeerRequest());
  apipb::ListPeerResponse r;
  while (reader->Read(&r)) fn(r.peer());
  return fromGrpc(reader->Finish(), "ListPeer");
}

}  // namespace

GoBgpSpeaker::GoBgpSpeaker(std::string target, Options options)
    : target_(std::move(target)),
      deadline_(options.deadline),
      listen_port_(options.listen_port == 0 ? -1 : static_cast<int32_t>(options.listen_port)) {
  // A restarted gobgpd must be found again within a few seconds, not after gRPC's default
  // reconnect back-off (up to 120 s).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  stub_ = std::make_unique<Stub>();
  stub_->api = apipb::GobgpApi::NewStub(channel_);
}

GoBgpSpeaker::~GoBgpSpeaker() = default;

absl::Status GoBgpSpeaker::configure(const v1::BgpSettings& settings) {
  std::lock_guard lock(mu_);
  if (auto st = configureGlobal(settings); !st.ok()) return st;
  return configurePeers(settings);
}

absl::Status GoBgpSpeaker::configureGlobal(const v1::BgpSettings& settings) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  apipb::GetBgpResponse cur;
  if (auto st = fromGrpc(stub_->api->GetBgp(&ctx, apipb::GetBgpRequest(), &cur), "GetBgp");
      !st.ok()) {
    return st;
  }
  const std::string router_id = config::canonicalAddress(settings.router_id());
  if (cur.global().asn() == settings.local_asn() && cur.global().router_id() == router_id &&
      cur.global().listen_port() == listen_port_) {
    return absl::OkStatus();
  }
  if (cur.global().asn() != 0) {
    // Another identity or listen port: the BGP instance restarts (sessions drop; routes are
    // re-added after).
    grpc::ClientContext stop_ctx;
    stop_ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    google::protobuf::Empty empty;
    if (auto st =
            fromGrpc(stub_->api->StopBgp(&stop_ctx, apipb::StopBgpRequest(), &empty), "StopBgp");
        !st.ok()) {
      return st;
    }
  }
  apipb::StartBgpRequest req;
  req.mutable_global()->set_asn(settings.local_asn());
  req.mutable_global()->set_router_id(router_id);
  // By default outbound sessions only: the routers need no passive configuration and no second
  // listener competes for port 179 on the host (--bgp-listen-port opts in).
  req.mutable_global()->set_listen_port(listen_port_);
  grpc::ClientContext start_ctx;
  start_ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  google::protobuf::Empty empty;
  return fromGrpc(stub_->api->StartBgp(&start_ctx, req, &empty), "StartBgp");
}

absl::Status GoBgpSpeaker::configurePeers(const v1::BgpSettings& settings) {
  // What gobgpd has now.
  std::map<std::string, ObservedPeer> have;
  if (auto st = forEachPeer(*stub_->api, deadline_,
                            [&have](const apipb::Peer& p) {
                              have[p.conf().neighbor_address()] = {
                                  p.conf().peer_asn(),
                                  static_cast<uint32_t>(p.timers().config().hold_time()),
                                  p.transport().remote_port(), p.conf().auth_password(),
                                  p.conf().description()};
                            });
      !st.ok())
    return st;
  std::map<std::string, const v1::BgpPeer*> by_addr;
  for (const v1::BgpPeer& p : settings.peers()) by_addr[config::canonicalAddress(p.address())] = &p;
  for (const PeerChange& c : planPeers(settings, have)) {
    if (c.action == PeerChange::Action::kReplace) {
      // Replaced by this process with these very settings, and gobgpd still reports otherwise:
      // replacing again every resync would only flap the session.
      auto done = replaced_.find(c.address);
      if (done != replaced_.end() && done->second == settingsText(*by_addr.at(c.address))) {
        continue;
      }
    }
    if (c.action != PeerChange::Action::kAdd) {
      spdlog::info("bgp: gobgpd peer {}: {} ({})", c.address,
                   c.action == PeerChange::Action::kDelete ? "deleting" : "replacing", c.why);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
      apipb::DeletePeerRequest del;
      del.set_address(c.address);
      google::protobuf::Empty empty;
      if (auto st = fromGrpc(stub_->api->DeletePeer(&ctx, del, &empty), "DeletePeer " + c.address);
          !st.ok()) {
        return st;
      }
      if (c.action == PeerChange::Action::kDelete) continue;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    apipb::AddPeerRequest add;
    *add.mutable_peer() = toPeer(*by_addr.at(c.address));
    google::protobuf::Empty empty;
    if (auto st = fromGrpc(stub_->api->AddPeer(&ctx, add, &empty), "AddPeer " + c.address);
        !st.ok()) {
      return st;
    }
    if (c.action == PeerChange::Action::kReplace) {
      replaced_[c.address] = settingsText(*by_addr.at(c.address));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, Route>> GoBgpSpeaker::listRoutes() {
  std::map<std::string, Route> out;
  for (bool v6 : {false, true}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    apipb::ListPathRequest req;
    req.set_table_type(apipb::GLOBAL);
    *req.mutable_family() = familyOf(v6);
    auto reader = stub_->api->ListPath(&ctx, req);
    apipb::ListPathResponse r;
    while (reader->Read(&r)) {
      for (const apipb::Path& p : r.destination().paths()) {
        spdlog::debug("bgp: gobgpd path {}: {}", r.destination().prefix(), p.ShortDebugString());
        if (!isLocal(p) || p.is_withdraw()) continue;
        std::pair<std::string, std::string> addr_len =
            absl::StrSplit(r.destination().prefix(), '/');
        std::string prefix =
            absl::StrCat(config::canonicalAddress(addr_len.first), "/", addr_len.second);
        out[prefix] = fromPath(prefix, p, v6);
      }
    }
    if (auto st = fromGrpc(reader->Finish(), "ListPath"); !st.ok()) return st;
  }
  return out;
}

absl::Status GoBgpSpeaker::announce(const Route& route) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  apipb::AddPathRequest req;
  req.set_table_type(apipb::GLOBAL);
  *req.mutable_path() = toPath(route);
  apipb::AddPathResponse resp;
  return fromGrpc(stub_->api->AddPath(&ctx, req, &resp), "AddPath " + route.prefix);
}

absl::Status GoBgpSpeaker::withdraw(const Route& route) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  apipb::DeletePathRequest req;
  req.set_table_type(apipb::GLOBAL);
  *req.mutable_family() = familyOf(route.v6);
  *req.mutable_path() = toPath(route);
  google::protobuf::Empty empty;
  return fromGrpc(stub_->api->DeletePath(&ctx, req, &empty), "DeletePath " + route.prefix);
}

absl::StatusOr<std::vector<PeerInfo>> GoBgpSpeaker::listPeers() {
  std::vector<PeerInfo> out;
  auto st = forEachPeer(*stub_->api, deadline_, [&out](const apipb::Peer& p) {
    PeerInfo info;
    info.address = p.conf().neighbor_address();
    info.asn = p.conf().peer_asn();
    info.description = p.conf().description();
    info.session_state = stateName(p.state().session_state());
    info.uptime_unix_ms = unixMs(p.timers().state().uptime());
    info.downtime_unix_ms = unixMs(p.timers().state().downtime());
    info.negotiated_hold_time_s = static_cast<uint32_t>(p.timers().state().negotiated_hold_time());
    info.flops = p.state().flops();
    out.push_back(std::move(info));
  });
  if (!st.ok()) return st;
  std::sort(out.begin(), out.end(),
            [](const PeerInfo& a, const PeerInfo& b) { return a.address < b.address; });
  return out;
}

}  // namespace xlb::bgp
