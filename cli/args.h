// SPDX-License-Identifier: Apache-2.0
// Parsing of lbctl's command-line value syntaxes: VIP keys, backend specs, durations, server URIs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::cli {

// "10.0.0.1:80/tcp", "[2001:db8::1]:443/udp", "10.0.0.1:0/tcp" (port 0 = all ports). The port is
// range-checked by the agent (validation lives in one place), so only its syntax is checked here.
absl::StatusOr<xlb::v1::VipKey> parseVipKey(absl::string_view text);

// `vip add --backend` (kBackendSpecHelp): a Backend with an optional port and weight.
//   ADDR / [V6] / bare V6        address only (port 0 = the VIP's port, the default weight)
//   ADDR:WEIGHT / [V6]:WEIGHT    weight (one number after the address is always the weight, as
//                                lbctl read it before backends had ports)
//   ADDR:PORT:WEIGHT / [V6]:PORT:WEIGHT   port and weight
//   ADDR:PORT: / [V6]:PORT:      port, the default weight
// A bare IPv6 literal takes no suffix. Numbers are syntax-checked only (ranges: the agent).
absl::StatusOr<xlb::v1::Backend> parseBackendSpec(absl::string_view text);
inline constexpr char kBackendSpecHelp[] =
    "Backend (repeatable): ADDR (the VIP's port, weight 1), ADDR:WEIGHT, ADDR:PORT:WEIGHT or "
    "ADDR:PORT: (port, weight 1); IPv6 in brackets: [V6], [V6]:WEIGHT, [V6]:PORT:WEIGHT, "
    "[V6]:PORT:. One number after the address is the WEIGHT; a port needs a second colon. A port "
    "other than the VIP's needs --forwarding nat or fullnat. E.g. 10.0.1.11:2, 10.0.1.11:8080:2, "
    "[2001:db8::11]:8080:";

// A backend named by backend del / weight / drain / undrain and --backend filters: "ADDR" (any
// port), "ADDR:PORT" or "[V6]:PORT"; syntax-checked here, passed to the agent as typed (the agent
// resolves it). Errors name `what`.
absl::StatusOr<std::string> parseBackendRefArg(absl::string_view text, absl::string_view what);
// `backend add`'s address: "ADDR", "ADDR:PORT" or "[V6]:PORT" -> Backend {address, port}.
absl::StatusOr<xlb::v1::Backend> parseBackendAddArg(absl::string_view text);

// "dsr", "ipip", "nat", "fullnat" (any case).
absl::StatusOr<xlb::v1::ForwardingMode> parseForwarding(absl::string_view text);
// `--snat`: "ADDR[,ADDR...]", each an IPv4 or IPv6 literal (pool rules: the agent).
absl::StatusOr<std::vector<std::string>> parseSnatAddresses(absl::string_view text);
// `--snat-ports`: "MIN-MAX", 1 <= MIN <= MAX <= 65535.
absl::StatusOr<std::pair<uint32_t, uint32_t>> parseSnatPorts(absl::string_view text);
// `--nat-timeout`: "syn=60,established=6h,closing=10,udp=60" (any subset; s, m, h, d suffixes).
absl::StatusOr<xlb::v1::NatTimeouts> parseNatTimeouts(absl::string_view text);

// A backend for listings: "ADDR" when port is 0, else "ADDR:PORT" / "[V6]:PORT".
std::string formatBackend(absl::string_view address, uint32_t port);

// "5s", "250ms", "1m", "2" (seconds), "1.5s". Must be at least 1 ms. Errors name `what` (the
// option, e.g. "--hc-interval"; "timeout" for the global deadline) and the value.
absl::StatusOr<std::chrono::milliseconds> parseDuration(absl::string_view text,
                                                        absl::string_view what = "timeout");

// HTTP status ranges: "200-399", "200", "200-299,404" -> StatusRange list; each code in
// [100, 599] and low <= high. Errors name `what` (the option) and the value.
absl::StatusOr<std::vector<xlb::v1::StatusRange>> parseStatusRanges(
    absl::string_view text, absl::string_view what = "--hc-http-status");

// "unix:///run/xlb/xlb.sock" and "host:port" pass through; a bare absolute path gets "unix://".
std::string normalizeServer(absl::string_view server);

// "tcp" / "udp" (or "unspecified").
std::string protocolName(xlb::v1::Protocol p);
std::string forwardingName(xlb::v1::ForwardingMode m);
std::string algorithmName(xlb::v1::Algorithm a);
// Every selectable algorithm in config-file spelling ("maglev", ...), from the config's spelling
// table (config/enums.h), so lbctl accepts what the config file does.
std::vector<std::string> algorithmNames();
absl::StatusOr<xlb::v1::Algorithm> parseAlgorithm(absl::string_view text);

// Config-file spellings of the issue-3 enums ("tcp", "draining", "keep_last_healthy", "down").
std::string healthCheckTypeName(xlb::v1::HealthCheckType t);
absl::StatusOr<xlb::v1::HealthCheckType> parseHealthCheckType(absl::string_view text);
std::string allDownPolicyName(xlb::v1::AllDownPolicy p);
absl::StatusOr<xlb::v1::AllDownPolicy> parseAllDownPolicy(absl::string_view text);
std::string backendStateName(xlb::v1::BackendState s);
std::string healthName(xlb::v1::Health h);
// "KIND_BACKEND_HEALTH" -> "backend-health".
std::string eventKindName(xlb::v1::Event::Kind k);

// Canonical "10.0.0.1:80/tcp" / "[2001:db8::1]:80/tcp" form (addresses normalized when parseable).
std::string formatVipKey(const xlb::v1::VipKey& key);
std::string formatVipKey(const xlb::v1::Vip& vip);

// True when both keys name the same VIP (addresses compared after parsing, so "2001:db8:0::1"
// matches "2001:db8::1").
bool sameVip(const xlb::v1::VipKey& a, const xlb::v1::Vip& b);
// True when both strings are the same IP address (textual comparison as a fallback).
bool sameAddress(absl::string_view a, absl::string_view b);

}  // namespace xlb::cli
