// SPDX-License-Identifier: Apache-2.0
// YAML <-> xlb.v1.Config, driven by the proto descriptor so the file and the API share one schema.
#pragma once

#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::config {

// Parses YAML text into a Config. Keys are the proto's snake_case field names; enums are written
// lowercase without their prefix (`protocol: tcp`) or as full enum names (`PROTOCOL_TCP`). Unknown
// keys and type mismatches are errors naming the path (`vips[1].backends[3].weight: "abc" is not an
// unsigned integer (line 9, column 17)`); every such error is reported at once, INVALID_ARGUMENT.
// This only checks shape and types: call validateConfig() for the semantic rules.
absl::StatusOr<v1::Config> parseConfigYaml(absl::string_view text);

// Reads and parses a file; errors are prefixed with the path.
absl::StatusOr<v1::Config> loadConfigFile(const std::string& path);
// The two halves of loadConfigFile, for callers that also want the document's digest: the file's
// bytes, and the parse of bytes read from `path` (errors prefixed with the path).
absl::StatusOr<std::string> readConfigFile(const std::string& path);
absl::StatusOr<v1::Config> parseConfigFileText(const std::string& path, absl::string_view text);

// "sha256:" and the lower-case hex SHA-256 of a config document's bytes: the
// ApplyConfigRequest.source_digest of a config read from them (GetAppliedDigest).
std::string sourceDigest(absl::string_view text);
// A well-formed source digest ("sha256:" + 64 lower-case hex digits).
bool isSourceDigest(absl::string_view digest);

// Renders any message as YAML in the same dialect parseConfigYaml accepts (fields at their default
// value are omitted unless explicitly present).
std::string toYaml(const google::protobuf::Message& message);
// toYaml of a Config, assembled from parts so that a caller can keep the text of VIPs that did
// not change: `vip_items[i]` is toYamlVipItem() of the config's VIP i, and `globals` the config
// without its VIPs. Byte for byte toYaml(config).
std::string toYamlVipItem(const v1::Vip& vip);
std::string toYamlFromParts(const v1::Config& globals,
                            std::span<const std::string* const> vip_items);

}  // namespace xlb::config
