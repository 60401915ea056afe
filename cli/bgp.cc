// SPDX-License-Identifier: Apache-2.0
// `lbctl bgp status | drain [--wait] | undrain`: the host's BGP announcements (xlb.v1.Bgp).
#include <chrono>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "commands.h"

namespace xlb::cli {
namespace {

uint64_t nowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string ago(uint64_t unix_ms, uint64_t now) {
  if (unix_ms == 0) return "-";
  return now > unix_ms ? formatAge(now - unix_ms) : "0ms";
}

void printStatus(const xlb::v1::BgpStatus& s, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    std::cout << toJson(s);
    return;
  }
  if (!s.configured()) {
    std::cout << "BGP: not configured (no bgp section in the config): nothing is announced\n";
    return;
  }
  const uint64_t now = nowMs();
  std::cout << "BGP: AS " << s.local_asn() << ", router id " << s.router_id() << ", gobgpd "
            << s.daemon_address() << " "
            << (s.daemon_connected() ? "connected" : "NOT connected: " + s.daemon_error())
            << ", drain " << s.drain();
  if (s.drain() != "none") std::cout << " (since " << ago(s.drain_since_unix_ms(), now) << ")";
  std::cout << "\n\n";
  Table peers({"PEER", "ASN", "STATE", "FOR", "HOLD", "FLOPS", "PREFIXES", "DESCRIPTION"},
              {false, true, false, false, true, true, true, false});
  for (const auto& p : s.peers()) {
    const bool up = p.session_state() == "established";
    peers.addRow({p.address(), absl::StrCat(p.asn()), p.session_state(),
                  ago(up ? p.established_since_unix_ms() : p.down_since_unix_ms(), now),
                  p.negotiated_hold_time_s() ? absl::StrCat(p.negotiated_hold_time_s(), "s") : "-",
                  absl::StrCat(p.flops()), absl::StrCat(p.announced_prefixes()),
                  p.description().empty() ? "-" : p.description()});
  }
  peers.print(std::cout);
  std::cout << "\n";
  Table prefixes({"PREFIX", "STATE", "FOR", "MED", "COMMUNITIES", "WHY"},
                 {false, false, false, true, false, false});
  for (const auto& p : s.prefixes()) {
    std::vector<std::string> cs(p.communities().begin(), p.communities().end());
    prefixes.addRow({p.prefix(), p.announced() ? "announced" : "withdrawn",
                     ago(p.since_unix_ms(), now), absl::StrCat(p.med()),
                     cs.empty() ? "-" : absl::StrJoin(cs, ","), p.reason()});
  }
  prefixes.print(std::cout);
}

}  // namespace

void addBgpCommands(CLI::App& app, CommandContext& ctx) {
  auto* bgp = app.add_subcommand("bgp", "This host's BGP announcements of the VIPs (gobgpd)");
  bgp->require_subcommand(1);

  auto* status = bgp->add_subcommand(
      "status", "Peers and sessions, each VIP prefix announced or withdrawn and why");
  status->callback([&ctx] {
    ctx.action = [&ctx](Client& c) {
      auto stub = xlb::v1::Bgp::NewStub(c.channel());
      return callAndPrint<xlb::v1::BgpStatus>(
          c,
          [&](grpc::ClientContext* cc, xlb::v1::BgpStatus* r) {
            return stub->GetBgpStatus(cc, xlb::v1::GetBgpStatusRequest(), r);
          },
          [&](const xlb::v1::BgpStatus& r) { printStatus(r, ctx.global.format()); });
    };
  });

  auto wait = std::make_shared<bool>(false);
  auto* drain = bgp->add_subcommand(
      "drain",
      "Take this host out gracefully: re-announce with GRACEFUL_SHUTDOWN (65535:0) and a worse "
      "MED, wait bgp.drain_wait_ms, withdraw; forwarding continues");
  drain->add_flag("--wait", *wait,
                  "Return once every VIP is withdrawn (the RPC deadline is raised to fit)");
  drain->callback([&ctx, wait] {
    ctx.action = [&ctx, wait](Client& c) {
      auto stub = xlb::v1::Bgp::NewStub(c.channel());
      xlb::v1::DrainBgpRequest req;
      req.set_wait(*wait);
      return callAndPrint<xlb::v1::BgpStatus>(
          c,
          [&](grpc::ClientContext* cc, xlb::v1::BgpStatus* r) {
            // The drain takes drain_wait_ms (up to 10 minutes): --timeout would cut it short.
            if (*wait)
              cc->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(11));
            return stub->DrainBgp(cc, req, r);
          },
          [&](const xlb::v1::BgpStatus& r) { printStatus(r, ctx.global.format()); });
    };
  });

  auto* undrain =
      bgp->add_subcommand("undrain", "Announce this host's healthy VIPs again after a drain");
  undrain->callback([&ctx] {
    ctx.action = [&ctx](Client& c) {
      auto stub = xlb::v1::Bgp::NewStub(c.channel());
      return callAndPrint<xlb::v1::BgpStatus>(
          c,
          [&](grpc::ClientContext* cc, xlb::v1::BgpStatus* r) {
            return stub->UndrainBgp(cc, xlb::v1::UndrainBgpRequest(), r);
          },
          [&](const xlb::v1::BgpStatus& r) { printStatus(r, ctx.global.format()); });
    };
  });
}

}  // namespace xlb::cli
