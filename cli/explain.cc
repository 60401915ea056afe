// SPDX-License-Identifier: Apache-2.0
// `lbctl explain`: which backend the data plane would choose for a packet and why
// (Inspector.Explain): not a VIP, a flow-table hit, a re-steer, or the VIP's algorithm; for nat /
// fullnat VIPs the NAT connection (both tuples) or the translation a new one gets, and replies.
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "args.h"
#include "commands.h"
#include "common/address.h"
#include "inspect_args.h"
#include "output.h"

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
    case xlb::v1::ExplainResponse::DECISION_NAT_HIT:
      return "nat-hit";
    case xlb::v1::ExplainResponse::DECISION_NAT_REPLY:
      return "nat-reply";
    case xlb::v1::ExplainResponse::DECISION_DROP:
      return "drop";
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

std::string hostPort(const std::string& address, uint32_t port) {
  auto a = parseIpAddress(address);
  return a.ok() ? formatHostPort(*a, static_cast<uint16_t>(port))
                : absl::StrCat(address, ":", port);
}

// The NAT rows: the connection found (both tuples, its state), or the one a new packet creates.
void addNatRows(const xlb::v1::ExplainNat& n, Table& t) {
  if (n.found()) {
    const auto& c = n.recorded();
    std::string what = n.reply() ? "reply entry of a connection" : "connection found";
    absl::StrAppend(&what, " (", forwardingName(c.forwarding()), "), ", natStateName(c.state()),
                    c.answered()  ? ", answered"
                    : c.replied() ? ", backend replied, not answered"
                                  : ", unanswered",
                    ", idle ", formatAge(c.idle_ms()), ", expires in ",
                    formatAge(c.expires_in_ms()));
    if (n.backend_gone()) absl::StrAppend(&what, "; its backend is gone: re-created");
    t.addRow({"nat", what});
    t.addRow({"client side", absl::StrCat(hostPort(c.client_address(), c.client_port()), " -> ",
                                          hostPort(c.vip_address(), c.vip_port()))});
    t.addRow({"backend side", absl::StrCat(hostPort(c.source_address(), c.source_port()), " -> ",
                                           hostPort(c.backend_address(), c.backend_port()))});
  }
  if (!n.has_predicted()) return;
  const auto& p = n.predicted();
  if (!n.found()) t.addRow({"nat", "none (a new connection)"});
  const std::string tag = n.found() ? "new " : "";
  std::string source;
  if (!p.source_address().empty()) {
    source = hostPort(p.source_address(), p.source_port());
  } else if (n.snat_addresses_size() > 0) {
    source = absl::StrCat("SNAT ", absl::StrJoin(n.snat_addresses(), " or "), ", port from ",
                          n.snat_port_min(), "-", n.snat_port_max());
  } else {
    source = "SNAT address and port (allocated)";
  }
  const std::string backend = p.backend_address().empty()
                                  ? std::string("the chosen backend")
                                  : hostPort(p.backend_address(), p.backend_port());
  t.addRow({tag + "client side", absl::StrCat(hostPort(p.client_address(), p.client_port()), " -> ",
                                              hostPort(p.vip_address(), p.vip_port()))});
  t.addRow({tag + "backend side", absl::StrCat(source, " -> ", backend)});
}

void printExplain(const xlb::v1::ExplainResponse& r) {
  std::cout << r.summary() << "\n\n";
  Table t({"FIELD", "VALUE"});
  t.addRow({"decision", decisionName(r.decision())});
  if (r.has_vip()) {
    std::string vip = formatVipKey(r.vip());
    if (!r.vip_name().empty()) absl::StrAppend(&vip, " (", r.vip_name(), ")");
    t.addRow({"vip", vip});
    t.addRow({"algorithm", algorithmName(r.algorithm())});
    t.addRow({"forwarding", forwardingName(r.forwarding())});
  }
  if (r.has_backend()) t.addRow({"backend", describe(r.backend(), r.table_size())});
  if (r.has_vip() && !r.predictable())
    t.addRow({"backend", "chosen per packet (not predictable): see candidates"});
  if (r.flow_found()) {
    std::string flow = absl::StrCat("recorded on ", describe(r.flow_backend(), r.table_size()),
                                    ", idle ", formatAge(r.flow_idle_ms()));
    if (r.flow_closing()) absl::StrAppend(&flow, ", closing");
    if (r.flow_protected()) absl::StrAppend(&flow, ", protected");
    t.addRow({"flow", flow});
  } else if (r.has_vip() && !r.has_nat()) {
    t.addRow({"flow", "none (a new flow)"});
  }
  if (r.has_nat()) addNatRows(r.nat(), t);
  if (!r.drop_reason().empty()) t.addRow({"dropped", r.drop_reason()});
  if (r.has_syn_backend()) t.addRow({"new SYN", describe(r.syn_backend(), r.table_size())});
  if (!r.hash_input().empty()) {
    t.addRow({"hash", absl::StrFormat("0x%08x over the %s, slot %u of %u", r.hash(), r.hash_input(),
                                      r.slot(), r.table_size())});
  }
  for (const auto& c : r.candidates()) t.addRow({"candidate", describe(c, r.table_size())});
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
  auto* cmd = app.add_subcommand(
      "explain",
      "Which backend the data plane would choose for a packet, and why (NAT: the connection's "
      "both tuples, or the translation a new one gets; a backend's reply to no VIP)");
  cmd->add_option("--src", args->src, "Client (or a NAT backend): IP:PORT ([IPv6]:PORT)")
      ->required();
  cmd->add_option("--dst", args->dst,
                  "Destination (the VIP, or a NAT reply's client / SNAT address): IP:PORT "
                  "([IPv6]:PORT)")
      ->required();
  cmd->add_option("--proto", args->proto, "tcp or udp")->capture_default_str();
  cmd->callback([&ctx, args] {
    ctx.action = [&ctx, args](Client& client) {
      return explain(client, *args, ctx.global.format());
    };
  });
}

}  // namespace xlb::cli
