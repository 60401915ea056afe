// SPDX-License-Identifier: Apache-2.0
// lbctl output: aligned text tables, protobuf JSON, error lines.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::cli {

enum class OutputFormat { kTable, kJson };

// A text table: a header row and data rows, columns left-aligned and separated by two spaces;
// columns marked numeric are right-aligned. Trailing spaces are never printed.
class Table {
 public:
  explicit Table(std::vector<std::string> header, std::vector<bool> numeric = {});
  void addRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  void print(std::ostream& out) const;
  std::string toString() const;

 private:
  std::vector<std::string> header_;
  std::vector<bool> numeric_;
  std::vector<std::vector<std::string>> rows_;
};

// Protobuf JSON with the proto field names (snake_case, like the YAML config), defaults included,
// pretty-printed, newline-terminated.
std::string toJson(const google::protobuf::Message& msg);

// The same JSON on one line (no whitespace), newline-terminated: one object per line for streams.
std::string toJsonLine(const google::protobuf::Message& msg);

// "INVALID_ARGUMENT", "NOT_FOUND", ...
std::string statusCodeName(grpc::StatusCode code);

// Renders "lbctl: CODE: message"; a multi-line message (all validation errors at once) gets one
// indented line per error, under "N errors:" or under its own first line when that ends with ":".
std::string formatError(grpc::StatusCode code, const std::string& message);

// Tables for the resources lbctl shows.
// One row per VIP; statuses (matched by key) supply the table size in effect and kernel memory.
Table vipTable(const std::vector<const xlb::v1::Vip*>& vips,
               const std::vector<const xlb::v1::VipStatus*>& statuses = {});
// 1023 B, 4.0 KiB, 2.5 MiB.
std::string formatBytes(uint64_t v);
Table backendTable(const xlb::v1::Vip& vip);
// `backend list`: observed state per backend (ListBackends). SHARE is the backend's share of new
// flows now: its weight over the weights of the backends in rotation ("-" when out of rotation).
// `now_unix_ms` dates the LAST TRANSITION column ("12s ago: up -> down (http 503)").
Table backendStatusTable(const xlb::v1::VipStatus& vip, uint64_t now_unix_ms);

// `lbctl nat list`: one row per NAT connection (PROTO, CLIENT -> VIP, SOURCE -> BACKEND, MODE,
// STATE, REPLIED, IDLE, AGE, EXPIRES), then natSummary's lines: shown / matched / scanned (and
// what to do when truncated) and the table's occupancy.
Table natTable(const xlb::v1::ListNatResponse& r);
std::string natSummary(const xlb::v1::ListNatResponse& r);
// "NAT table: 10 / 524288 entries, 5 connections (1 unanswered); deleted so far: 3 expired, ...".
std::string formatNatTableStats(const xlb::v1::NatTableStats& s);
// `lbctl stats` "NAT table" section (printed when the table has a capacity): occupancy and the
// collector's deletions.
Table natStatsTable(const xlb::v1::NatTableStats& s);
// "syn", "established", "closing", "udp" ("-" when unspecified).
std::string natStateName(xlb::v1::NatState s);

// Age of an event for humans: "850ms", "12s", "3m05s", "2h07m", "3d04h".
std::string formatAge(uint64_t ms);
// "2026-11-25T02:10:03Z" (UTC, second precision; JSON output keeps the milliseconds).
std::string formatUtcTime(uint64_t unix_ms);
// "12s ago: up -> down (connect: connection refused)"; "-" for a backend never transitioned.
std::string formatTransition(const xlb::v1::HealthTransition& t, uint64_t now_unix_ms);
// Where a backend came from: "literal", "dns NAME (A, resolved 3s ago)", "srv NAME (target:port
// prio/weight, resolved 1m ago, gone from DNS 4s ago)".
std::string formatBackendSource(const xlb::v1::BackendSource& s, uint64_t now_unix_ms);
// One `lbctl events` line:
// "2026-11-25T02:10:03Z backend-health 10.100.0.10:80/tcp 10.0.1.12 up -> down: connect: ..."
// Other kinds end with the event's message; VIP and backend are left out when the event has none.
std::string formatEventLine(const xlb::v1::Event& e);

// 1234567 -> "1234567"; bytes -> "1.2 MiB" style is avoided on purpose: scripts parse the table
// too.
std::string formatCount(uint64_t v);

}  // namespace xlb::cli
