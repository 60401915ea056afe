// SPDX-License-Identifier: Apache-2.0
// A strict parser of the Prometheus text exposition format 0.0.4, for the tests that read /metrics
// (metrics_test.cc, inspect_stats_test.cc): any violation fails the current test.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace xlb::test {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;
};

inline bool validMetricName(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == ':'))
    return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  }
  return true;
}
inline bool validLabelName(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  if (s.rfind("__", 0) == 0) return false;  // reserved
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// Fails the current test (with the line) on any violation.
inline Exposition parseStrict(const std::string& text) {
  Exposition out;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the exposition must end with a line feed";
  std::set<std::string> series;
  std::set<std::string> finished_families;  // families whose samples ended (must not resume)
  std::string current_family;
  size_t pos = 0;
  int lineno = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    SCOPED_TRACE("line " + std::to_string(lineno) + ": " + line);
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream in(line);
      std::string hash, kind, name;
      in >> hash >> kind >> name;
      if (kind != "HELP" && kind != "TYPE") continue;  // plain comment
      EXPECT_TRUE(validMetricName(name));
      if (name != current_family) {
        if (!current_family.empty()) finished_families.insert(current_family);
        EXPECT_EQ(finished_families.count(name), 0u) << "family " << name << " split";
        current_family = name;
      }
      std::string rest;
      std::getline(in >> std::ws, rest);
      if (kind == "TYPE") {
        EXPECT_EQ(out.types.count(name), 0u) << "second TYPE for " << name;
        EXPECT_TRUE(rest == "counter" || rest == "gauge" || rest == "untyped" ||
                    rest == "histogram" || rest == "summary")
            << rest;
        out.types[name] = rest;
      } else {
        EXPECT_EQ(out.help.count(name), 0u) << "second HELP for " << name;
        EXPECT_FALSE(rest.empty()) << "empty HELP";
        out.help[name] = rest;
      }
      continue;
    }
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    EXPECT_TRUE(validMetricName(s.name)) << s.name;
    std::vector<std::string> label_order;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) {
          ADD_FAILURE() << "label without '='";
          return out;
        }
        std::string lname = line.substr(i, eq - i);
        EXPECT_TRUE(validLabelName(lname)) << lname;
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          ADD_FAILURE() << "label value not quoted";
          return out;
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) break;
            char e = line[i++];
            if (e == 'n') {
              value += '\n';
            } else if (e == '\\' || e == '"') {
              value += e;
            } else {
              ADD_FAILURE() << "bad escape \\" << e;
            }
            continue;
          }
          value += c;
        }
        if (!closed) {
          ADD_FAILURE() << "unterminated label value";
          return out;
        }
        EXPECT_EQ(s.labels.count(lname), 0u) << "label " << lname << " twice";
        s.labels[lname] = value;
        label_order.push_back(lname);
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) {
        ADD_FAILURE() << "unterminated label set";
        return out;
      }
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      ADD_FAILURE() << "no space before the value";
      return out;
    }
    const std::string value = line.substr(i + 1);
    EXPECT_EQ(value.find(' '), std::string::npos) << "timestamps are not expected";
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    EXPECT_TRUE(!value.empty() && *end == '\0') << "bad value '" << value << "'";
    // Counters and gauges: the sample name is the family name, declared just before.
    EXPECT_EQ(s.name, current_family) << "sample outside its family's block";
    auto type = out.types.find(s.name);
    EXPECT_NE(type, out.types.end()) << "no TYPE for " << s.name;
    EXPECT_NE(out.help.find(s.name), out.help.end()) << "no HELP for " << s.name;
    if (type != out.types.end() && type->second == "counter") {
      EXPECT_TRUE(s.name.size() > 6 && s.name.substr(s.name.size() - 6) == "_total") << s.name;
      EXPECT_GE(s.value, 0) << "negative counter";
    }
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
    EXPECT_TRUE(series.insert(key).second) << "duplicate series " << key;
    out.samples.push_back(std::move(s));
  }
  return out;
}

// The value of one series; fails when absent.
inline double valueOf(const Exposition& e, const std::string& name,
                      const std::map<std::string, std::string>& labels = {}) {
  for (const Sample& s : e.samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  ADD_FAILURE() << "no series " << name;
  return -1;
}
inline size_t countOf(const Exposition& e, const std::string& name) {
  size_t n = 0;
  for (const Sample& s : e.samples) n += s.name == name;
  return n;
}

}  // namespace xlb::test
