// SPDX-License-Identifier: Apache-2.0
// Parsing of lbctl's command-line value syntaxes (see args.h for the accepted forms).
#include "args.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/address.h"

namespace xlb::cli {
namespace {

// Splits "HOST:REST" / "[V6]:REST" / bare "HOST". `rest` is empty (has_rest false) when no ":"
// suffix. A bare IPv6 literal without brackets is taken whole (it cannot carry a port).
struct HostSplit {
  std::string host;
  bool has_rest = false;
  std::string rest;
};

absl::StatusOr<HostSplit> splitHost(absl::string_view text, absl::string_view what,
                                    absl::string_view example) {
  HostSplit out;
  if (absl::StartsWith(text, "[")) {
    auto close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", text, "\": missing \"]\" (e.g. ", example, ")"));
    }
    out.host = std::string(text.substr(1, close - 1));
    auto tail = text.substr(close + 1);
    if (!tail.empty()) {
      if (tail[0] != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " \"", text, "\": expected \":\" after \"]\" (e.g. ", example, ")"));
      }
      out.has_rest = true;
      out.rest = std::string(tail.substr(1));
    }
    return out;
  }
  auto colon = text.find(':');
  if (colon != absl::string_view::npos && text.find(':', colon + 1) != absl::string_view::npos) {
    out.host = std::string(text);  // bare IPv6 literal
    return out;
  }
  if (colon == absl::string_view::npos) {
    out.host = std::string(text);
    return out;
  }
  out.host = std::string(text.substr(0, colon));
  out.has_rest = true;
  out.rest = std::string(text.substr(colon + 1));
  return out;
}

absl::Status checkAddress(absl::string_view host, absl::string_view what, absl::string_view text) {
  auto addr = parseIpAddress(host);
  if (!addr.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", text, "\": ", addr.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<xlb::v1::VipKey> parseVipKey(absl::string_view text) {
  constexpr absl::string_view kExample = "10.0.0.10:80/tcp or [2001:db8::10]:443/udp";
  auto slash = text.rfind('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vip \"", text, "\": missing \"/tcp\" or \"/udp\" (expected ADDR:PORT/PROTO, e.g. ",
        kExample, ")"));
  }
  std::string proto = absl::AsciiStrToLower(text.substr(slash + 1));
  xlb::v1::VipKey key;
  if (proto == "tcp") {
    key.set_protocol(xlb::v1::PROTOCOL_TCP);
  } else if (proto == "udp") {
    key.set_protocol(xlb::v1::PROTOCOL_UDP);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("vip \"", text, "\": protocol \"", proto,
                                                   "\" is not tcp or udp (e.g. ", kExample, ")"));
  }
  auto split = splitHost(text.substr(0, slash), "vip", kExample);
  if (!split.ok()) return split.status();
  if (!split->has_rest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vip \"", text, "\": missing port (expected ADDR:PORT/PROTO, port 0 = all ports, e.g. ",
        kExample, ")"));
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(split->rest, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("vip \"", text, "\": port \"", split->rest, "\" is not a number"));
  }
  if (auto st = checkAddress(split->host, "vip", text); !st.ok()) return st;
  key.set_address(split->host);
  key.set_port(port);
  return key;
}

absl::StatusOr<xlb::v1::Backend> parseBackendSpec(absl::string_view text) {
  constexpr absl::string_view kExample = "10.0.1.11, 10.0.1.11:2 or [2001:db8::11]:2";
  auto split = splitHost(text, "backend", kExample);
  if (!split.ok()) return split.status();
  if (auto st = checkAddress(split->host, "backend", text); !st.ok()) return st;
  xlb::v1::Backend b;
  b.set_address(split->host);
  if (split->has_rest) {
    uint32_t weight = 0;
    if (!absl::SimpleAtoi(split->rest, &weight)) {
      return absl::InvalidArgumentError(absl::StrCat("backend \"", text, "\": weight \"",
                                                     split->rest, "\" is not a number (e.g. ",
                                                     kExample, ")"));
    }
    b.set_weight(weight);
  }
  return b;
}

absl::StatusOr<std::chrono::milliseconds> parseDuration(absl::string_view text,
                                                        absl::string_view what) {
  absl::string_view num = text;
  int64_t scale_ms = 1000;
  if (absl::EndsWith(text, "ms")) {
    num = text.substr(0, text.size() - 2);
    scale_ms = 1;
  } else if (absl::EndsWith(text, "s")) {
    num = text.substr(0, text.size() - 1);
  } else if (absl::EndsWith(text, "m")) {
    num = text.substr(0, text.size() - 1);
    scale_ms = 60 * 1000;
  }
  double value = 0;
  // A sub-millisecond value would silently become 0 ms: refuse it like 0.
  if (num.empty() || !absl::SimpleAtod(num, &value) || !(value > 0) || value > 86400.0 * 1000 ||
      value * static_cast<double>(scale_ms) < 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", text, "\" is not a positive duration (e.g. 5s, 500ms, 1m)"));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(value * static_cast<double>(scale_ms)));
}

absl::StatusOr<std::vector<xlb::v1::StatusRange>> parseStatusRanges(absl::string_view text,
                                                                    absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", text, "\": ", why, " (e.g. 200-399, 200 or 200-299,404)"));
  };
  std::vector<xlb::v1::StatusRange> out;
  if (text.empty()) return bad("empty");
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    absl::string_view lo_text = part, hi_text = part;
    if (auto dash = part.find('-'); dash != absl::string_view::npos) {
      lo_text = part.substr(0, dash);
      hi_text = part.substr(dash + 1);
    }
    uint32_t lo = 0, hi = 0;
    if (lo_text.empty() || hi_text.empty() || !absl::SimpleAtoi(lo_text, &lo) ||
        !absl::SimpleAtoi(hi_text, &hi)) {
      return bad(absl::StrCat("\"", part, "\" is not a status code or LOW-HIGH range"));
    }
    if (lo < 100 || lo > 599 || hi < 100 || hi > 599) {
      return bad(absl::StrCat("\"", part, "\" is outside [100, 599]"));
    }
    if (lo > hi) return bad(absl::StrCat("\"", part, "\": ", lo, " is above ", hi));
    xlb::v1::StatusRange r;
    r.set_low(lo);
    r.set_high(hi);
    out.push_back(r);
  }
  return out;
}

std::string normalizeServer(absl::string_view server) {
  if (absl::StartsWith(server, "/")) return absl::StrCat("unix://", server);
  return std::string(server);
}

std::string protocolName(xlb::v1::Protocol p) {
  switch (p) {
    case xlb::v1::PROTOCOL_TCP:
      return "tcp";
    case xlb::v1::PROTOCOL_UDP:
      return "udp";
    default:
      return "unspecified";
  }
}

std::string forwardingName(xlb::v1::ForwardingMode m) {
  switch (m) {
    case xlb::v1::FORWARDING_MODE_IPIP:
      return "ipip";
    default:
      return "dsr";  // UNSPECIFIED means DSR (proto comment)
  }
}

std::string algorithmName(xlb::v1::Algorithm a) {
  if (a == xlb::v1::ALGORITHM_UNSPECIFIED) return "maglev";  // UNSPECIFIED means MAGLEV
  const auto* value = xlb::v1::Algorithm_descriptor()->FindValueByNumber(a);
  if (value == nullptr) return absl::StrCat("algorithm_", static_cast<int>(a));
  // ALGORITHM_SOURCE_HASH -> "source_hash": the config file's spelling.
  return absl::AsciiStrToLower(absl::StripPrefix(value->name(), "ALGORITHM_"));
}

std::vector<std::string> algorithmNames() {
  std::vector<std::string> names;
  const auto* d = xlb::v1::Algorithm_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() == xlb::v1::ALGORITHM_UNSPECIFIED) continue;
    names.push_back(algorithmName(static_cast<xlb::v1::Algorithm>(d->value(i)->number())));
  }
  return names;
}

absl::StatusOr<xlb::v1::Algorithm> parseAlgorithm(absl::string_view text) {
  const std::string want = absl::AsciiStrToLower(text);
  const auto* d = xlb::v1::Algorithm_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    auto a = static_cast<xlb::v1::Algorithm>(d->value(i)->number());
    if (a != xlb::v1::ALGORITHM_UNSPECIFIED && algorithmName(a) == want) return a;
  }
  return absl::InvalidArgumentError(absl::StrCat("algorithm \"", text, "\" is not one of ",
                                                 absl::StrJoin(algorithmNames(), ", ")));
}

namespace {

// Lower-case enum value name without its prefix: HEALTH_CHECK_TYPE_TCP -> "tcp".
std::string enumSpelling(const google::protobuf::EnumDescriptor* d, int number,
                         absl::string_view prefix) {
  const auto* value = d->FindValueByNumber(number);
  if (value == nullptr) return absl::StrCat(number);
  return absl::AsciiStrToLower(absl::StripPrefix(value->name(), prefix));
}

// The inverse of enumSpelling for the values other than UNSPECIFIED (0).
absl::StatusOr<int> parseEnumSpelling(const google::protobuf::EnumDescriptor* d,
                                      absl::string_view prefix, absl::string_view what,
                                      absl::string_view text) {
  const std::string want = absl::AsciiStrToLower(text);
  std::vector<std::string> names;
  for (int i = 0; i < d->value_count(); ++i) {
    const int n = d->value(i)->number();
    if (n == 0) continue;
    names.push_back(enumSpelling(d, n, prefix));
    if (names.back() == want) return n;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", text, "\" is not one of ", absl::StrJoin(names, ", ")));
}

}  // namespace

std::string healthCheckTypeName(xlb::v1::HealthCheckType t) {
  if (t == xlb::v1::HEALTH_CHECK_TYPE_UNSPECIFIED) return "none";
  return enumSpelling(xlb::v1::HealthCheckType_descriptor(), t, "HEALTH_CHECK_TYPE_");
}

absl::StatusOr<xlb::v1::HealthCheckType> parseHealthCheckType(absl::string_view text) {
  auto n = parseEnumSpelling(xlb::v1::HealthCheckType_descriptor(), "HEALTH_CHECK_TYPE_",
                             "health check", text);
  if (!n.ok()) return n.status();
  return static_cast<xlb::v1::HealthCheckType>(*n);
}

std::string allDownPolicyName(xlb::v1::AllDownPolicy p) {
  if (p == xlb::v1::ALL_DOWN_POLICY_UNSPECIFIED) return "keep_last_healthy";
  return enumSpelling(xlb::v1::AllDownPolicy_descriptor(), p, "ALL_DOWN_POLICY_");
}

absl::StatusOr<xlb::v1::AllDownPolicy> parseAllDownPolicy(absl::string_view text) {
  auto n = parseEnumSpelling(xlb::v1::AllDownPolicy_descriptor(), "ALL_DOWN_POLICY_",
                             "all-down policy", text);
  if (!n.ok()) return n.status();
  return static_cast<xlb::v1::AllDownPolicy>(*n);
}

std::string backendStateName(xlb::v1::BackendState s) {
  if (s == xlb::v1::BACKEND_STATE_UNSPECIFIED) return "active";
  return enumSpelling(xlb::v1::BackendState_descriptor(), s, "BACKEND_STATE_");
}

std::string healthName(xlb::v1::Health h) {
  if (h == xlb::v1::HEALTH_UNSPECIFIED) return "unknown";
  return enumSpelling(xlb::v1::Health_descriptor(), h, "HEALTH_");
}

std::string eventKindName(xlb::v1::Event::Kind k) {
  std::string name = enumSpelling(xlb::v1::Event::Kind_descriptor(), k, "KIND_");
  for (char& c : name) {
    if (c == '_') c = '-';
  }
  return name;
}

namespace {
std::string formatKey(const std::string& address, uint32_t port, xlb::v1::Protocol proto) {
  std::string host = address;
  if (auto addr = parseIpAddress(address); addr.ok()) host = addr->toString();
  if (host.find(':') != std::string::npos) host = absl::StrCat("[", host, "]");
  return absl::StrCat(host, ":", port, "/", protocolName(proto));
}
}  // namespace

std::string formatVipKey(const xlb::v1::VipKey& key) {
  return formatKey(key.address(), key.port(), key.protocol());
}

std::string formatVipKey(const xlb::v1::Vip& vip) {
  return formatKey(vip.address(), vip.port(), vip.protocol());
}

bool sameAddress(absl::string_view a, absl::string_view b) {
  auto pa = parseIpAddress(a);
  auto pb = parseIpAddress(b);
  if (pa.ok() && pb.ok()) return *pa == *pb;
  return a == b;
}

bool sameVip(const xlb::v1::VipKey& a, const xlb::v1::Vip& b) {
  return a.port() == b.port() && a.protocol() == b.protocol() &&
         sameAddress(a.address(), b.address());
}

}  // namespace xlb::cli
