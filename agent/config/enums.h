// SPDX-License-Identifier: Apache-2.0
// The one table of enum spellings. Owns how every value of the config's enums (protocol, algorithm,
// forwarding mode, health check type, backend state, all-down policy, DNS family, backend source)
// is written in the YAML file, on lbctl's command line and in messages, and which data-plane
// constant (xlb/abi.h) an algorithm or forwarding mode is. The YAML codec, the validator and lbctl
// all read it; nothing else spells.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::config {

struct EnumSpelling {
  int number;        // the proto value
  const char* name;  // "source_hash"
};

// Every value of one proto enum but UNSPECIFIED (0), which is never written: it means "not set",
// and reads as `unset_name` (the value it defaults to, e.g. "maglev"). The descriptor is reached
// through a function, not held: the first descriptor a program asks for builds the pool of the
// whole xlb.proto (~0.2 ms), which lbctl, spelling a few values per command, never needs.
struct EnumTable {
  const google::protobuf::EnumDescriptor* (*descriptor)();
  absl::Span<const EnumSpelling> values;
  const char* unset_name;
};

// The table of `descriptor`, or nullptr for an enum that is not configured (status-only enums
// such as Health; the YAML codec writes those by the proto naming rule).
const EnumTable* findEnumTable(const google::protobuf::EnumDescriptor* descriptor);

// The spelling of `number` ("unknown" for a number the table does not have).
const char* enumName(const EnumTable& table, int number);
// A spelling in any case, or the full proto value name ("FORWARDING_MODE_NAT"); never UNSPECIFIED.
// The error names the field and the value: `field: "wrr" is not one of maglev, source_hash, ...`.
absl::StatusOr<int> parseEnum(const EnumTable& table, absl::string_view field,
                              absl::string_view text);
// Every spelling in table order.
std::vector<std::string> enumNames(const EnumTable& table);
// "a, b, c", or with last_separator " or ": "a, b or c".
std::string enumChoices(const EnumTable& table, absl::string_view last_separator = ", ");

// Typed access: enumTable<v1::Algorithm>() and so on, for the six config enums.
template <typename E>
const EnumTable& enumTable();
template <>
const EnumTable& enumTable<v1::Protocol>();
template <>
const EnumTable& enumTable<v1::Algorithm>();
template <>
const EnumTable& enumTable<v1::ForwardingMode>();
template <>
const EnumTable& enumTable<v1::HealthCheckType>();
template <>
const EnumTable& enumTable<v1::BackendState>();
template <>
const EnumTable& enumTable<v1::AllDownPolicy>();
template <>
const EnumTable& enumTable<v1::DnsFamily>();
template <>
const EnumTable& enumTable<v1::BackendSourceKind>();

template <typename E>
const char* enumName(E value) {
  return enumName(enumTable<E>(), static_cast<int>(value));
}
template <typename E>
absl::StatusOr<E> parseEnum(absl::string_view field, absl::string_view text) {
  auto n = parseEnum(enumTable<E>(), field, text);
  if (!n.ok()) return n.status();
  return static_cast<E>(*n);
}

// Named forms of enumName, for call sites that read better with them ("tcp", "maglev", "dsr",
// "none", "active", "keep_last_healthy").
inline const char* protocolName(v1::Protocol p) { return enumName(p); }
inline const char* forwardingName(v1::ForwardingMode f) { return enumName(f); }
inline const char* algorithmName(v1::Algorithm a) { return enumName(a); }
inline const char* healthCheckTypeName(v1::HealthCheckType t) { return enumName(t); }
inline const char* backendStateName(v1::BackendState s) { return enumName(s); }
inline const char* allDownPolicyName(v1::AllDownPolicy p) { return enumName(p); }

// The data-plane constants: the proto numbers are the ABI's (static_assert in enums.cc). Unset or
// unknown values map to what the data plane does with a value it does not know, both ways: select
// like maglev, forward like dsr (the one mapping for the planner, adoption and inspection).
uint8_t abiAlgorithm(v1::Algorithm a);        // XLB_ALG_*
uint8_t abiForwarding(v1::ForwardingMode f);  // XLB_FWD_*
v1::Algorithm algorithmFromAbi(uint8_t alg);
v1::ForwardingMode forwardingFromAbi(uint8_t mode);
// nat or fullnat: the modes that translate addresses (pools, reply endpoints, conntrack).
inline bool isNat(v1::ForwardingMode f) {
  return f == v1::FORWARDING_MODE_NAT || f == v1::FORWARDING_MODE_FULLNAT;
}

}  // namespace xlb::config
