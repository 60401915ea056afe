// SPDX-License-Identifier: Apache-2.0
// `lbctl explain`: which backend the data plane would choose for a packet and why
// (Inspector.Explain): not a VIP, a flow-table hit, a re-steer, or the VIP's algorithm.
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "args.h"
#include "commands.h"
#include "inspect_args.h"

namespace xlb::cli {
namespace {

struct ExplainArgs {
  std::string src;
  std::string dst;
  std::string proto = "tcp";
};

std::string decisionName(xlb::v1::ExplainResponse::Decision d) {
  switch (d) {
    case xlb::v1::ExplainResponse::DECISION_PASS:
      return "pass";
    case xlb::v1::ExplainResponse::DECISION_FLOW_HIT:
      return "flow-hit";
    case xlb::v1::ExplainResponse::DECISION_RESTEER:
      return "resteer";
    case xlb::v1::ExplainResponse::DECISION_NEW_FLOW:
      return "new-flow";
    case xlb::v1::ExplainResponse::DECISION_NO_BACKEND:
      return "no-backend";
    default:
      return "unspecified";
  }
}

std::string describe(const xlb::v1::ExplainBackend& b, uint32_t table_size) {
  std::string out = b.address().empty() ? absl::StrCat("id ", b.id(), " (reassigned)")
                                        : absl::StrCat(b.address(), " (id ", b.id());
  if (!b.address().empty()) {
    absl::StrAppend(&out, ", weight ", b.weight());
    if (table_size > 0) absl::StrAppend(&out, ", ", b.table_slots(), "/", table_size, " slots");
    absl::StrAppend(&out, ", ", b.open_flows(), " open flows");
    if (!b.active()) absl::StrAppend(&out, ", not active");
    if (b.draining()) absl::StrAppend(&out, ", draining");
    absl::StrAppend(&out, ")");
  }
  return out;
}

void printExplain(const xlb::v1::ExplainResponse& r) {
  std::cout << r.summary() << "\n\n";
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("decision", decisionName(r.decision()));
  if (r.has_vip()) {
    std::string vip = formatVipKey(r.vip());
    if (!r.vip_name().empty()) absl::StrAppend(&vip, " (", r.vip_name(), ")");
    rows.emplace_back("vip", vip);
    rows.emplace_back("algorithm", algorithmName(r.algorithm()));
    rows.emplace_back("forwarding", forwardingName(r.forwarding()));
  }
  if (r.has_backend()) rows.emplace_back("backend", describe(r.backend(), r.table_size()));
  if (r.has_vip() && !r.predictable())
    rows.emplace_back("backend", "chosen per packet (not predictable): see candidates");
  if (r.flow_found()) {
    std::string flow = absl::StrCat("recorded on ", describe(r.flow_backend(), r.table_size()),
                                    ", idle ", formatAge(r.flow_idle_ms()));
    if (r.flow_closing()) absl::StrAppend(&flow, ", closing");
    if (r.flow_protected()) absl::StrAppend(&flow, ", protected");
    rows.emplace_back("flow", flow);
  } else if (r.has_vip()) {
    rows.emplace_back("flow", "none (a new flow)");
  }
  if (r.has_syn_backend()) rows.emplace_back("new SYN", describe(r.syn_backend(), r.table_size()));
  if (!r.hash_input().empty()) {
    rows.emplace_back("hash", absl::StrFormat("0x%08x over the %s, slot %u of %u", r.hash(),
                                              r.hash_input(), r.slot(), r.table_size()));
  }
  for (const auto& c : r.candidates()) rows.emplace_back("candidate", describe(c, r.table_size()));
  Table t({"FIELD", "VALUE"});
  for (auto& [k, v] : rows) t.addRow({k, v});
  t.print(std::cout);
}

int explain(Client& client, const ExplainArgs& a, OutputFormat format) {
  auto src = parseHostPort(a.src, "--src");
  if (!src.ok()) return reportLocalError(src.status(), kExitUsage);
  auto dst = parseHostPort(a.dst, "--dst");
  if (!dst.ok()) return reportLocalError(dst.status(), kExitUsage);
  auto proto = parseProtocol(a.proto, "--proto");
  if (!proto.ok()) return reportLocalError(proto.status(), kExitUsage);
  xlb::v1::ExplainRequest req;
  req.set_src_address(src->address);
  req.set_src_port(src->port);
  req.set_dst_address(dst->address);
  req.set_dst_port(dst->port);
  req.set_protocol(*proto);
  auto stub = xlb::v1::Inspector::NewStub(client.channel());
  return callAndPrint<xlb::v1::ExplainResponse>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::ExplainResponse* r) { return stub->Explain(c, req, r); },
      [&](const xlb::v1::ExplainResponse& r) {
        if (format == OutputFormat::kJson) {
          std::cout << toJson(r);
        } else {
          printExplain(r);
        }
      });
}

}  // namespace

void addExplainCommand(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<ExplainArgs>();
  auto* cmd = app.add_subcommand("explain",
                                 "Which backend the data plane would choose for a packet, and why");
  cmd->add_option("--src", args->src, "Client: IP:PORT ([IPv6]:PORT)")->required();
  cmd->add_option("--dst", args->dst, "Destination (the VIP): IP:PORT ([IPv6]:PORT)")->required();
  cmd->add_option("--proto", args->proto, "tcp or udp")->capture_default_str();
  cmd->callback([&ctx, args] {
    ctx.action = [&ctx, args](Client& client) {
      return explain(client, *args, ctx.global.format());
    };
  });
}

}  // namespace xlb::cli
