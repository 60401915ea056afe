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

// "INVALID_ARGUMENT", "NOT_FOUND", ...
std::string statusCodeName(grpc::StatusCode code);

// Renders "lbctl: CODE: message"; a multi-line message (all validation errors at once) gets one
// indented line per error, under "N errors:" or under its own first line when that ends with ":".
std::string formatError(grpc::StatusCode code, const std::string& message);

// Tables for the resources lbctl shows.
Table vipTable(const std::vector<const xlb::v1::Vip*>& vips);
Table backendTable(const xlb::v1::Vip& vip);

// 1234567 -> "1234567"; bytes -> "1.2 MiB" style is avoided on purpose: scripts parse the table
// too.
std::string formatCount(uint64_t v);

}  // namespace xlb::cli
