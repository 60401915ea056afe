// SPDX-License-Identifier: Apache-2.0
// lbctl output formatting: tables, JSON, error lines.
#include "output.h"

#include <ctime>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "args.h"
#include "google/protobuf/util/json_util.h"

namespace xlb::cli {

Table::Table(std::vector<std::string> header, std::vector<bool> numeric)
    : header_(std::move(header)), numeric_(std::move(numeric)) {
  numeric_.resize(header_.size(), false);
}

void Table::addRow(std::vector<std::string> cells) {
  cells.resize(header_.size());
  rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const bool last = i + 1 == row.size();
      const size_t pad = width[i] - row[i].size();
      if (numeric_[i]) {
        line.append(pad, ' ');
        line += row[i];
      } else {
        line += row[i];
        if (!last) line.append(pad, ' ');
      }
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  emit(header_);
  for (const auto& r : rows_) emit(r);
}

std::string Table::toString() const {
  std::ostringstream s;
  print(s);
  return s.str();
}

std::string toJson(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(msg, &out, opts);
  if (!st.ok()) return absl::StrCat("{\"error\": \"", std::string(st.message()), "\"}\n");
  if (out.empty() || out.back() != '\n') out += '\n';
  return out;
}

std::string toJsonLine(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(msg, &out, opts);
  if (!st.ok()) return absl::StrCat("{\"error\": \"", std::string(st.message()), "\"}\n");
  return out + "\n";
}

std::string statusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

std::string formatError(grpc::StatusCode code, const std::string& message) {
  std::vector<absl::string_view> lines = absl::StrSplit(message, '\n', absl::SkipEmpty());
  if (lines.size() <= 1) {
    return absl::StrCat("lbctl: ", statusCodeName(code), ": ", message, "\n");
  }
  std::string out;
  if (absl::EndsWith(lines.front(), ":")) {
    // A heading such as "config.yaml:" followed by its errors.
    out = absl::StrCat("lbctl: ", statusCodeName(code), ": ", lines.front(), "\n");
    lines.erase(lines.begin());
  } else {
    out = absl::StrCat("lbctl: ", statusCodeName(code), ": ", lines.size(), " errors:\n");
  }
  for (auto l : lines) absl::StrAppend(&out, "  ", l, "\n");
  return out;
}

std::string formatCount(uint64_t v) { return absl::StrCat(v); }

namespace {
uint32_t effectiveWeight(const xlb::v1::Backend& b) { return b.has_weight() ? b.weight() : 1; }
}  // namespace

std::string formatBytes(uint64_t v) {
  if (v < 1024) return absl::StrCat(v, " B");
  if (v < 1024 * 1024) return absl::StrFormat("%.1f KiB", v / 1024.0);
  return absl::StrFormat("%.1f MiB", v / (1024.0 * 1024.0));
}

Table vipTable(const std::vector<const xlb::v1::Vip*>& vips,
               const std::vector<const xlb::v1::VipStatus*>& statuses) {
  std::map<std::string, const xlb::v1::VipStatus*> by_key;
  for (const auto* st : statuses) by_key[formatVipKey(st->vip())] = st;
  Table t({"VIP", "NAME", "FORWARDING", "ALGORITHM", "TABLE", "KERNEL", "BACKENDS"},
          {false, false, false, false, true, true, false});
  for (const auto* v : vips) {
    std::vector<std::string> bes;
    for (const auto& b : v->backends()) {
      bes.push_back(absl::StrCat(formatBackend(b.address(), b.port()), "*", effectiveWeight(b)));
    }
    auto st = by_key.find(formatVipKey(*v));
    // The size in effect when the agent said it; else the configured one, or "auto" (chosen from
    // the backend count).
    std::string table = st != by_key.end() ? absl::StrCat(st->second->table_size())
                        : v->has_maglev_table_size() ? absl::StrCat(v->maglev_table_size())
                                                     : "auto";
    t.addRow({formatVipKey(*v), v->name().empty() ? "-" : v->name(),
              forwardingName(v->forwarding()), algorithmName(v->algorithm()), table,
              st != by_key.end() ? formatBytes(st->second->kernel_bytes()) : "-",
              bes.empty() ? "-" : absl::StrJoin(bes, ",")});
  }
  return t;
}

Table backendTable(const xlb::v1::Vip& vip) {
  uint64_t total = 0;
  for (const auto& b : vip.backends()) total += effectiveWeight(b);
  Table t({"BACKEND", "WEIGHT", "SHARE"}, {false, true, true});
  for (const auto& b : vip.backends()) {
    const uint32_t w = effectiveWeight(b);
    std::string share = total == 0 ? "0.0%" : absl::StrFormat("%.1f%%", 100.0 * w / total);
    t.addRow({formatBackend(b.address(), b.port()), absl::StrCat(w), share});
  }
  return t;
}

namespace {
std::string endpoint(const std::string& address, uint32_t port) {
  return port == 0 ? address : formatBackend(address, port);
}
}  // namespace

namespace {
// The ANSWERED column: both sides spoke, only the backend did (a spoofed SYN's SYN-ACK), neither.
const char* answeredName(bool answered, bool replied) {
  return answered ? "yes" : replied ? "backend only" : "no";
}
}  // namespace

std::string natStateName(xlb::v1::NatState s) {
  switch (s) {
    case xlb::v1::NAT_STATE_SYN:
      return "syn";
    case xlb::v1::NAT_STATE_ESTABLISHED:
      return "established";
    case xlb::v1::NAT_STATE_CLOSING:
      return "closing";
    case xlb::v1::NAT_STATE_UDP:
      return "udp";
    default:
      return "-";
  }
}

Table natTable(const xlb::v1::ListNatResponse& r) {
  Table t({"PROTO", "CLIENT -> VIP", "SOURCE -> BACKEND", "MODE", "STATE", "ANSWERED", "IDLE",
           "AGE", "EXPIRES"},
          {false, false, false, false, false, false, true, true, true});
  for (const auto& c : r.connections()) {
    t.addRow({protocolName(c.protocol()),
              absl::StrCat(endpoint(c.client_address(), c.client_port()), " -> ",
                           endpoint(c.vip_address(), c.vip_port())),
              absl::StrCat(endpoint(c.source_address(), c.source_port()), " -> ",
                           endpoint(c.backend_address(), c.backend_port())),
              forwardingName(c.forwarding()), natStateName(c.state()),
              answeredName(c.answered(), c.replied()), formatAge(c.idle_ms()),
              formatAge(c.age_ms()), formatAge(c.expires_in_ms())});
  }
  return t;
}

std::string formatNatTableStats(const xlb::v1::NatTableStats& s) {
  return absl::StrCat("NAT table: ", s.entries(), " / ", s.capacity(), " entries, ",
                      s.connections(), " connection", s.connections() == 1 ? "" : "s", " (",
                      s.unanswered(), " unanswered); deleted so far: ", s.expired(), " expired, ",
                      s.pressure_expired(), " unanswered under pressure, ", s.orphans(),
                      " orphan entries; refused (table full): ", s.refused(),
                      s.pressure() ? "; under pressure" : "");
}

Table natStatsTable(const xlb::v1::NatTableStats& n) {
  Table t({"NAT TABLE", "VALUE"}, {false, true});
  t.addRow({"entries", absl::StrCat(formatCount(n.entries()), " / ", formatCount(n.capacity()))});
  t.addRow({"connections", formatCount(n.connections())});
  t.addRow({"unanswered", formatCount(n.unanswered())});
  t.addRow({"expired", formatCount(n.expired())});
  t.addRow({"unanswered expired under pressure", formatCount(n.pressure_expired())});
  t.addRow({"orphan entries deleted", formatCount(n.orphans())});
  t.addRow({"peak entries", formatCount(n.peak_entries())});
  t.addRow({"refused (table full)", formatCount(n.refused())});
  t.addRow({"pressure episodes (full)",
            absl::StrCat(formatCount(n.pressure_episodes()), " (", formatCount(n.full_episodes()),
                         ")", n.pressure() ? ", one going on" : "")});
  return t;
}

std::string natSummary(const xlb::v1::ListNatResponse& r) {
  std::string out =
      absl::StrCat(r.connections_size(), " of ", r.matched(), " matching NAT connection",
                   r.matched() == 1 ? "" : "s", " shown (most recently active first; ", r.scanned(),
                   " connections scanned)");
  if (r.truncated()) absl::StrAppend(&out, "; raise --limit or narrow the filters to see more");
  absl::StrAppend(&out, "\n");
  if (r.has_table()) absl::StrAppend(&out, formatNatTableStats(r.table()), "\n");
  return out;
}

std::string formatAge(uint64_t ms) {
  if (ms < 1000) return absl::StrCat(ms, "ms");
  const uint64_t s = ms / 1000;
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string formatUtcTime(uint64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string formatTransition(const xlb::v1::HealthTransition& t, uint64_t now_unix_ms) {
  if (t.time_unix_ms() == 0) return "-";
  // A clock step backwards must not print a huge unsigned age.
  const uint64_t age = now_unix_ms > t.time_unix_ms() ? now_unix_ms - t.time_unix_ms() : 0;
  std::string out =
      absl::StrCat(formatAge(age), " ago: ", healthName(t.from()), " -> ", healthName(t.to()));
  if (!t.reason().empty()) absl::StrAppend(&out, " (", t.reason(), ")");
  return out;
}

std::string formatBackendSource(const xlb::v1::BackendSource& s, uint64_t now_unix_ms) {
  const bool dns = s.kind() == xlb::v1::BACKEND_SOURCE_KIND_DNS;
  if (!dns && s.kind() != xlb::v1::BACKEND_SOURCE_KIND_SRV) return "literal";
  auto ago = [now_unix_ms](uint64_t t) {
    return formatAge(now_unix_ms > t ? now_unix_ms - t : 0) + " ago";
  };
  std::string out = absl::StrCat(dns ? "dns " : "srv ", s.name(), " (", s.record());
  // The name's last good answer (live, ListBackends), else when this record last changed.
  const uint64_t resolved =
      s.last_resolved_unix_ms() != 0 ? s.last_resolved_unix_ms() : s.resolved_unix_ms();
  if (resolved != 0) absl::StrAppend(&out, ", resolved ", ago(resolved));
  if (s.stale()) absl::StrAppend(&out, ", STALE: lookups fail, last good set kept");
  if (s.gone_unix_ms() != 0) absl::StrAppend(&out, ", gone from DNS ", ago(s.gone_unix_ms()));
  return out + ")";
}

Table backendStatusTable(const xlb::v1::VipStatus& vip, uint64_t now_unix_ms) {
  uint64_t rotation_weight = 0;
  bool named = false;  // the SOURCE column only for pools with discovered backends
  for (const auto& b : vip.backends()) {
    if (b.in_rotation()) rotation_weight += b.weight();
    named = named || b.has_source();
  }
  std::vector<std::string> heads = {"BACKEND",     "WEIGHT",     "SHARE",          "STATE",
                                    "HEALTH",      "IN ROTATION", "OPEN FLOWS", "LAST TRANSITION"};
  std::vector<bool> right = {false, true, true, false, false, false, true, false};
  if (named) {
    heads.push_back("SOURCE");
    right.push_back(false);
  }
  Table t(heads, right);
  for (const auto& b : vip.backends()) {
    std::string share = "-";
    if (b.in_rotation() && rotation_weight > 0) {
      share = absl::StrFormat("%.1f%%", 100.0 * b.weight() / static_cast<double>(rotation_weight));
    }
    std::vector<std::string> row = {b.address(), absl::StrCat(b.weight()), share,
                                    backendStateName(b.state()), healthName(b.health()),
                                    b.in_rotation() ? "yes" : "no", formatCount(b.open_flows()),
                                    formatTransition(b.last_transition(), now_unix_ms)};
    if (named) row.push_back(formatBackendSource(b.source(), now_unix_ms));
    t.addRow(row);
  }
  return t;
}

std::string formatEventLine(const xlb::v1::Event& e) {
  std::string line = absl::StrCat(formatUtcTime(e.time_unix_ms()), " ", eventKindName(e.kind()));
  if (!e.vip().address().empty()) absl::StrAppend(&line, " ", formatVipKey(e.vip()));
  if (!e.backend().empty()) absl::StrAppend(&line, " ", e.backend());
  if (e.kind() == xlb::v1::Event::KIND_BACKEND_HEALTH && e.has_health_transition()) {
    const auto& t = e.health_transition();
    absl::StrAppend(&line, " ", healthName(t.from()), " -> ", healthName(t.to()));
    if (!t.reason().empty()) absl::StrAppend(&line, ": ", t.reason());
  } else if (!e.message().empty()) {
    absl::StrAppend(&line, " ", e.message());
  }
  return line;
}

}  // namespace xlb::cli
