// SPDX-License-Identifier: Apache-2.0
// Parsing of lbctl's command-line value syntaxes: VIP keys, backend specs, durations, server URIs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::cli {

// "10.0.0.1:80/tcp", "[2001:db8::1]:443/udp", "10.0.0.1:0/tcp" (port 0 = all ports). The port is
// range-checked by the agent (validation lives in one place), so only its syntax is checked here.
absl::StatusOr<xlb::v1::VipKey> parseVipKey(absl::string_view text);

// "10.0.1.1", "10.0.1.1:3", "2001:db8::5", "[2001:db8::5]:3" -> Backend with optional weight.
absl::StatusOr<xlb::v1::Backend> parseBackendSpec(absl::string_view text);

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
// Every selectable algorithm in config-file spelling ("maglev", ...), from the proto descriptor, so
// lbctl accepts whatever the schema it was built with defines.
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
