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
#include "config/enums.h"
#include "config/validate.h"

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
  const auto& protocols = config::enumTable<xlb::v1::Protocol>();
  std::string proto = absl::AsciiStrToLower(text.substr(slash + 1));
  xlb::v1::VipKey key;
  if (auto p = config::parseEnum(protocols, "protocol", proto); p.ok()) {
    key.set_protocol(static_cast<xlb::v1::Protocol>(*p));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("vip \"", text, "\": protocol \"", proto, "\" is not ",
                     config::enumChoices(protocols, " or "), " (e.g. ", kExample, ")"));
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
  constexpr absl::string_view kExample =
      "ADDR[:WEIGHT] or ADDR:PORT:[WEIGHT], IPv6 in brackets, e.g. 10.0.1.11, 10.0.1.11:2, "
      "10.0.1.11:8080:2, 10.0.1.11:8080: or [2001:db8::11]:8080:2";
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend \"", text, "\": ", why, " (", kExample, ")"));
  };
  std::string host;
  absl::string_view rest;
  bool has_rest = false;
  if (absl::StartsWith(text, "[")) {
    auto close = text.find(']');
    if (close == absl::string_view::npos) return bad("missing \"]\"");
    host = std::string(text.substr(1, close - 1));
    absl::string_view tail = text.substr(close + 1);
    if (!tail.empty()) {
      if (tail[0] != ':') return bad("expected \":\" after \"]\"");
      has_rest = true;
      rest = tail.substr(1);
    }
  } else if (parseIpAddress(text).ok()) {
    host = std::string(text);  // IPv4, or a bare IPv6 literal (which cannot carry a port)
  } else {
    const size_t colon = text.find(':');
    host = std::string(text.substr(0, colon));
    if (colon != absl::string_view::npos) {
      has_rest = true;
      rest = text.substr(colon + 1);
    }
  }
  if (auto st = checkAddress(host, "backend", text); !st.ok()) return st;
  xlb::v1::Backend b;
  b.set_address(host);
  if (!has_rest) return b;
  std::vector<absl::string_view> fields = absl::StrSplit(rest, ':');
  if (fields.size() > 2) return bad("too many \":\" fields");
  // One field is the weight (the form lbctl has always accepted); a port needs the second colon.
  absl::string_view weight = fields.back();
  if (fields.size() == 2) {
    uint32_t port = 0;
    if (fields[0].empty() || !absl::SimpleAtoi(fields[0], &port)) {
      return bad(absl::StrCat("port \"", fields[0], "\" is not a number"));
    }
    b.set_port(port);
    if (weight.empty()) return b;  // ADDR:PORT: = the default weight
  }
  uint32_t w = 0;
  if (!absl::SimpleAtoi(weight, &w)) {
    return bad(absl::StrCat("weight \"", weight, "\" is not a number"));
  }
  b.set_weight(w);
  return b;
}

absl::StatusOr<std::string> parseBackendRefArg(absl::string_view text, absl::string_view what) {
  auto ref = config::parseBackendRef(text, what);
  if (!ref.ok()) return ref.status();
  return std::string(text);
}

absl::StatusOr<xlb::v1::Backend> parseBackendAddArg(absl::string_view text) {
  auto ref = config::parseBackendRef(text, "backend");
  if (!ref.ok()) return ref.status();
  xlb::v1::Backend b;
  // As typed, brackets removed: the agent canonicalizes addresses.
  std::string host(text);
  if (absl::StartsWith(text, "[")) {
    host = std::string(text.substr(1, text.find(']') - 1));
  } else if (ref->port) {
    host = std::string(text.substr(0, text.find(':')));
  }
  b.set_address(host);
  if (ref->port) b.set_port(*ref->port);
  return b;
}

absl::StatusOr<xlb::v1::ForwardingMode> parseForwarding(absl::string_view text) {
  return config::parseEnum<xlb::v1::ForwardingMode>("--forwarding", text);
}

absl::StatusOr<std::vector<std::string>> parseSnatAddresses(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--snat \"", text,
                                                     "\": empty address (ADDR[,ADDR...], e.g. "
                                                     "192.0.2.250,192.0.2.251 or 2001:db8::250)"));
    }
    if (auto a = parseIpAddress(item); !a.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--snat: ", a.status().message()));
    }
    out.emplace_back(item);
  }
  return out;
}

absl::StatusOr<std::pair<uint32_t, uint32_t>> parseSnatPorts(absl::string_view text) {
  auto number = [](absl::string_view t, uint32_t* v) {
    return !t.empty() && absl::ascii_isdigit(static_cast<unsigned char>(t[0])) &&
           absl::SimpleAtoi(t, v);
  };
  const size_t dash = text.find('-');
  uint32_t lo = 0, hi = 0;
  if (dash == absl::string_view::npos || !number(text.substr(0, dash), &lo) ||
      !number(text.substr(dash + 1), &hi)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--snat-ports \"", text, "\" is not MIN-MAX (e.g. 61000-65535; both in [1, 65535])"));
  }
  if (lo < 1 || hi > 65535 || lo > hi) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--snat-ports \"", text, "\": need 1 <= MIN <= MAX <= 65535 (e.g. 61000-65535)"));
  }
  return std::make_pair(lo, hi);
}

absl::StatusOr<xlb::v1::NatTimeouts> parseNatTimeouts(absl::string_view text) {
  constexpr absl::string_view kForm =
      "KIND=SECONDS[,...], KIND one of syn, established, closing, udp; SECONDS a number with an "
      "optional s, m, h or d suffix, e.g. syn=60,established=6h,closing=10,udp=60";
  xlb::v1::NatTimeouts t;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    const size_t eq = item.find('=');
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("--nat-timeout \"", item, "\": ", why, " (", kForm, ")"));
    };
    if (eq == absl::string_view::npos) return bad("missing \"=\"");
    const std::string kind = absl::AsciiStrToLower(item.substr(0, eq));
    absl::string_view value = item.substr(eq + 1);
    uint64_t scale = 1;
    if (!value.empty()) {
      switch (value.back()) {
        case 's':
          scale = 1;
          break;
        case 'm':
          scale = 60;
          break;
        case 'h':
          scale = 3600;
          break;
        case 'd':
          scale = 86400;
          break;
        default:
          scale = 0;
          break;
      }
      if (scale != 0)
        value.remove_suffix(1);
      else
        scale = 1;
    }
    uint64_t n = 0;
    if (value.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(value[0])) ||
        !absl::SimpleAtoi(value, &n) || n * scale > 0xffffffffull) {
      return bad("not a number of seconds");
    }
    const auto secs = static_cast<uint32_t>(n * scale);  // range: the agent's validation
    if (kind == "syn") {
      t.set_syn_s(secs);
    } else if (kind == "established") {
      t.set_established_s(secs);
    } else if (kind == "closing") {
      t.set_closing_s(secs);
    } else if (kind == "udp") {
      t.set_udp_s(secs);
    } else {
      return bad(absl::StrCat("unknown kind \"", kind, "\""));
    }
  }
  return t;
}

std::string formatBackend(absl::string_view address, uint32_t port) {
  if (port == 0) return std::string(address);
  auto a = parseIpAddress(address);
  if (a.ok() && port <= 65535) return formatHostPort(*a, static_cast<uint16_t>(port));
  return absl::StrCat(address, ":", port);
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

// The spellings are the config's (config/enums.h), so lbctl and the YAML file agree.
std::string protocolName(xlb::v1::Protocol p) { return config::protocolName(p); }
std::string forwardingName(xlb::v1::ForwardingMode m) { return config::forwardingName(m); }
std::string algorithmName(xlb::v1::Algorithm a) { return config::algorithmName(a); }

std::vector<std::string> algorithmNames() {
  return config::enumNames(config::enumTable<xlb::v1::Algorithm>());
}

absl::StatusOr<xlb::v1::Algorithm> parseAlgorithm(absl::string_view text) {
  return config::parseEnum<xlb::v1::Algorithm>("--algorithm", text);
}

std::string healthCheckTypeName(xlb::v1::HealthCheckType t) {
  return config::healthCheckTypeName(t);
}

absl::StatusOr<xlb::v1::HealthCheckType> parseHealthCheckType(absl::string_view text) {
  return config::parseEnum<xlb::v1::HealthCheckType>("--health-check", text);
}

std::string allDownPolicyName(xlb::v1::AllDownPolicy p) { return config::allDownPolicyName(p); }

absl::StatusOr<xlb::v1::AllDownPolicy> parseAllDownPolicy(absl::string_view text) {
  return config::parseEnum<xlb::v1::AllDownPolicy>("--all-down", text);
}

std::string backendStateName(xlb::v1::BackendState s) { return config::backendStateName(s); }

namespace {

// Lower-case enum value name without its prefix, for the status-only enums the config does not
// spell: HEALTH_DOWN -> "down".
std::string enumSpelling(const google::protobuf::EnumDescriptor* d, int number,
                         absl::string_view prefix) {
  const auto* value = d->FindValueByNumber(number);
  if (value == nullptr) return absl::StrCat(number);
  return absl::AsciiStrToLower(absl::StripPrefix(value->name(), prefix));
}

}  // namespace

// A switch, not the descriptor: the first descriptor lbctl asks for builds the pools of
// status.proto and config.proto (~0.2 ms of a `backend list` or `backend weight`). A new Health
// value fails the build here (-Wswitch), and cli_test checks the spellings against the schema.
std::string healthName(xlb::v1::Health h) {
  switch (h) {
    case xlb::v1::HEALTH_UNSPECIFIED:
    case xlb::v1::HEALTH_UNKNOWN:
      return "unknown";
    case xlb::v1::HEALTH_UP:
      return "up";
    case xlb::v1::HEALTH_DOWN:
      return "down";
    case xlb::v1::Health_INT_MIN_SENTINEL_DO_NOT_USE_:
    case xlb::v1::Health_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return absl::StrCat(static_cast<int>(h));
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
