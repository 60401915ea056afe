// SPDX-License-Identifier: Apache-2.0
// The enum spelling tables (see enums.h) and their ties to the data-plane ABI.
#include "config/enums.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "xlb/abi.h"

namespace xlb::config {
namespace {

// The map records carry the proto numbers unchanged (abiAlgorithm / abiForwarding).
static_assert(v1::ALGORITHM_MAGLEV == XLB_ALG_MAGLEV);
static_assert(v1::ALGORITHM_SOURCE_HASH == XLB_ALG_SOURCE_HASH);
static_assert(v1::ALGORITHM_ROUND_ROBIN == XLB_ALG_ROUND_ROBIN);
static_assert(v1::ALGORITHM_RANDOM == XLB_ALG_RANDOM);
static_assert(v1::ALGORITHM_LEAST_CONN == XLB_ALG_LEAST_CONN);
static_assert(v1::Algorithm_MAX == XLB_ALG_LEAST_CONN, "a new algorithm needs an XLB_ALG_*");
static_assert(v1::FORWARDING_MODE_DSR == XLB_FWD_DSR);
static_assert(v1::FORWARDING_MODE_IPIP == XLB_FWD_IPIP);
static_assert(v1::FORWARDING_MODE_NAT == XLB_FWD_NAT);
static_assert(v1::FORWARDING_MODE_FULLNAT == XLB_FWD_FULLNAT);
static_assert(v1::ForwardingMode_MAX == XLB_FWD_FULLNAT,
              "a new forwarding mode needs an XLB_FWD_*");

constexpr EnumSpelling kProtocols[] = {
    {v1::PROTOCOL_TCP, "tcp"},
    {v1::PROTOCOL_UDP, "udp"},
};
constexpr EnumSpelling kAlgorithms[] = {
    {v1::ALGORITHM_MAGLEV, "maglev"},           {v1::ALGORITHM_SOURCE_HASH, "source_hash"},
    {v1::ALGORITHM_ROUND_ROBIN, "round_robin"}, {v1::ALGORITHM_RANDOM, "random"},
    {v1::ALGORITHM_LEAST_CONN, "least_conn"},
};
constexpr EnumSpelling kForwardingModes[] = {
    {v1::FORWARDING_MODE_DSR, "dsr"},
    {v1::FORWARDING_MODE_IPIP, "ipip"},
    {v1::FORWARDING_MODE_NAT, "nat"},
    {v1::FORWARDING_MODE_FULLNAT, "fullnat"},
};
constexpr EnumSpelling kHealthCheckTypes[] = {
    {v1::HEALTH_CHECK_TYPE_NONE, "none"},
    {v1::HEALTH_CHECK_TYPE_TCP, "tcp"},
    {v1::HEALTH_CHECK_TYPE_HTTP, "http"},
    {v1::HEALTH_CHECK_TYPE_GRPC, "grpc"},
};
constexpr EnumSpelling kBackendStates[] = {
    {v1::BACKEND_STATE_ACTIVE, "active"},
    {v1::BACKEND_STATE_DRAINING, "draining"},
};
constexpr EnumSpelling kAllDownPolicies[] = {
    {v1::ALL_DOWN_POLICY_KEEP_LAST_HEALTHY, "keep_last_healthy"},
    {v1::ALL_DOWN_POLICY_DROP, "drop"},
};
constexpr EnumSpelling kDnsFamilies[] = {
    {v1::DNS_FAMILY_ANY, "any"},
    {v1::DNS_FAMILY_IPV4, "ipv4"},
    {v1::DNS_FAMILY_IPV6, "ipv6"},
};
constexpr EnumSpelling kBackendSourceKinds[] = {
    {v1::BACKEND_SOURCE_KIND_LITERAL, "literal"},
    {v1::BACKEND_SOURCE_KIND_DNS, "dns"},
    {v1::BACKEND_SOURCE_KIND_SRV, "srv"},
};

// Protocol has no default: an unset protocol is an error the validator reports.
constexpr EnumTable kProtocolTable{v1::Protocol_descriptor, kProtocols, "unspecified"};
constexpr EnumTable kAlgorithmTable{v1::Algorithm_descriptor, kAlgorithms, "maglev"};
constexpr EnumTable kForwardingTable{v1::ForwardingMode_descriptor, kForwardingModes, "dsr"};
// Unset on a VIP is no check; on a backend override, inherit the VIP's (validate.h).
constexpr EnumTable kHealthCheckTypeTable{v1::HealthCheckType_descriptor, kHealthCheckTypes,
                                          "none"};
constexpr EnumTable kBackendStateTable{v1::BackendState_descriptor, kBackendStates, "active"};
constexpr EnumTable kAllDownPolicyTable{v1::AllDownPolicy_descriptor, kAllDownPolicies,
                                        "keep_last_healthy"};
constexpr EnumTable kDnsFamilyTable{v1::DnsFamily_descriptor, kDnsFamilies, "any"};
constexpr EnumTable kBackendSourceKindTable{v1::BackendSourceKind_descriptor, kBackendSourceKinds,
                                            "literal"};
constexpr const EnumTable* kTables[] = {
    &kProtocolTable,      &kAlgorithmTable,    &kForwardingTable, &kHealthCheckTypeTable,
    &kBackendStateTable,  &kAllDownPolicyTable, &kDnsFamilyTable, &kBackendSourceKindTable,
};

}  // namespace

const EnumTable* findEnumTable(const google::protobuf::EnumDescriptor* descriptor) {
  for (const EnumTable* t : kTables) {
    if (t->descriptor() == descriptor) return t;
  }
  return nullptr;
}

const char* enumName(const EnumTable& table, int number) {
  if (number == 0) return table.unset_name;
  for (const EnumSpelling& s : table.values) {
    if (s.number == number) return s.name;
  }
  return "unknown";
}

absl::StatusOr<int> parseEnum(const EnumTable& table, absl::string_view field,
                              absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (const EnumSpelling& s : table.values) {
    if (lower == s.name) return s.number;
  }
  // The full proto names only after the spellings: they need the descriptor.
  const std::string upper = absl::AsciiStrToUpper(text);
  const google::protobuf::EnumDescriptor* d = table.descriptor();
  for (const EnumSpelling& s : table.values) {
    const auto* v = d->FindValueByNumber(s.number);
    if (v != nullptr && upper == v->name()) return s.number;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": \"", text, "\" is not one of ", enumChoices(table)));
}

std::vector<std::string> enumNames(const EnumTable& table) {
  std::vector<std::string> names;
  for (const EnumSpelling& s : table.values) names.emplace_back(s.name);
  return names;
}

std::string enumChoices(const EnumTable& table, absl::string_view last_separator) {
  std::vector<std::string> names = enumNames(table);
  if (names.size() < 2) return absl::StrJoin(names, ", ");
  const std::string last = names.back();
  names.pop_back();
  return absl::StrCat(absl::StrJoin(names, ", "), last_separator, last);
}

template <>
const EnumTable& enumTable<v1::Protocol>() {
  return kProtocolTable;
}
template <>
const EnumTable& enumTable<v1::Algorithm>() {
  return kAlgorithmTable;
}
template <>
const EnumTable& enumTable<v1::ForwardingMode>() {
  return kForwardingTable;
}
template <>
const EnumTable& enumTable<v1::HealthCheckType>() {
  return kHealthCheckTypeTable;
}
template <>
const EnumTable& enumTable<v1::BackendState>() {
  return kBackendStateTable;
}
template <>
const EnumTable& enumTable<v1::AllDownPolicy>() {
  return kAllDownPolicyTable;
}
template <>
const EnumTable& enumTable<v1::DnsFamily>() {
  return kDnsFamilyTable;
}
template <>
const EnumTable& enumTable<v1::BackendSourceKind>() {
  return kBackendSourceKindTable;
}

// Unspecified or unknown values map to what the data plane does with a value it does not know:
// select like maglev, forward like dsr.
uint8_t abiAlgorithm(v1::Algorithm a) {
  return a >= XLB_ALG_MAGLEV && a <= XLB_ALG_LEAST_CONN ? static_cast<uint8_t>(a) : XLB_ALG_MAGLEV;
}

uint8_t abiForwarding(v1::ForwardingMode f) {
  return f >= XLB_FWD_DSR && f <= XLB_FWD_FULLNAT ? static_cast<uint8_t>(f) : XLB_FWD_DSR;
}


v1::Algorithm algorithmFromAbi(uint8_t alg) {
  return static_cast<v1::Algorithm>(abiAlgorithm(static_cast<v1::Algorithm>(alg)));
}

v1::ForwardingMode forwardingFromAbi(uint8_t mode) {
  return static_cast<v1::ForwardingMode>(abiForwarding(static_cast<v1::ForwardingMode>(mode)));
}

}  // namespace xlb::config
