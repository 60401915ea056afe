// SPDX-License-Identifier: Apache-2.0
// The enum spelling table (config/enums.h): complete against the schema, every spelling round-trips
// (table, YAML codec), unknown spellings name the field and the value, ABI numbers match.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "config/enums.h"
#include "config/yaml.h"
#include "xlb/abi.h"

namespace xlb::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;

std::vector<const EnumTable*> allTables() {
  return {&enumTable<v1::Protocol>(),       &enumTable<v1::Algorithm>(),
          &enumTable<v1::ForwardingMode>(), &enumTable<v1::HealthCheckType>(),
          &enumTable<v1::BackendState>(),   &enumTable<v1::AllDownPolicy>()};
}

TEST(ConfigEnumsTest, EverySchemaValueHasExactlyOneSpelling) {
  for (const EnumTable* t : allTables()) {
    const EnumDescriptor* d = t->descriptor();
    EXPECT_EQ(findEnumTable(d), t) << d->name();
    std::set<int> numbers;
    std::set<std::string> names;
    for (const EnumSpelling& s : t->values) {
      EXPECT_NE(s.number, 0) << d->name() << ": UNSPECIFIED is never written";
      EXPECT_NE(d->FindValueByNumber(s.number), nullptr) << d->name() << " " << s.number;
      EXPECT_TRUE(numbers.insert(s.number).second) << d->name() << " " << s.number << " twice";
      EXPECT_TRUE(names.insert(s.name).second) << d->name() << " \"" << s.name << "\" twice";
      EXPECT_EQ(absl::AsciiStrToLower(s.name), s.name) << d->name();
    }
    for (int i = 0; i < d->value_count(); ++i) {
      const int n = d->value(i)->number();
      if (n == 0) continue;
      EXPECT_TRUE(numbers.count(n)) << d->value(i)->name() << " has no spelling";
    }
  }
}

// Every enum field the config file can hold is spelled by the table (the YAML codec relies on it).
void expectTablesForFields(const Descriptor* d, std::set<const Descriptor*>& seen) {
  if (!seen.insert(d).second) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->enum_type() != nullptr) {
      EXPECT_NE(findEnumTable(f->enum_type()), nullptr) << f->full_name();
    }
    if (f->message_type() != nullptr) expectTablesForFields(f->message_type(), seen);
  }
}

TEST(ConfigEnumsTest, EveryConfigEnumFieldHasATable) {
  std::set<const Descriptor*> seen;
  expectTablesForFields(v1::Config::descriptor(), seen);
  EXPECT_EQ(findEnumTable(v1::Health_descriptor()), nullptr) << "status-only, not configured";
}

TEST(ConfigEnumsTest, EverySpellingRoundTrips) {
  for (const EnumTable* t : allTables()) {
    for (const EnumSpelling& s : t->values) {
      const std::string full = t->descriptor()->FindValueByNumber(s.number)->name();
      EXPECT_STREQ(enumName(*t, s.number), s.name);
      for (const std::string& text : {std::string(s.name), absl::AsciiStrToUpper(s.name), full}) {
        auto n = parseEnum(*t, "field", text);
        ASSERT_TRUE(n.ok()) << text << ": " << n.status();
        EXPECT_EQ(*n, s.number) << text;
      }
    }
  }
}

TEST(ConfigEnumsTest, UnknownSpellingNamesTheFieldAndTheValue) {
  auto a = parseEnum<v1::Algorithm>("vips[2].algorithm", "wrr");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.status().message(),
            "vips[2].algorithm: \"wrr\" is not one of maglev, source_hash, round_robin, random, "
            "least_conn");
  EXPECT_EQ(parseEnum<v1::ForwardingMode>("--forwarding", "snat").status().message(),
            "--forwarding: \"snat\" is not one of dsr, ipip, nat, fullnat");
  EXPECT_EQ(parseEnum<v1::HealthCheckType>("health_check.type", "icmp").status().message(),
            "health_check.type: \"icmp\" is not one of none, tcp, http, grpc");
  // UNSPECIFIED means "not written": no spelling of it is accepted.
  for (const char* text : {"unspecified", "ALGORITHM_UNSPECIFIED", "", "0", "1", " maglev"}) {
    EXPECT_FALSE(parseEnum<v1::Algorithm>("algorithm", text).ok()) << "\"" << text << "\"";
  }
}

TEST(ConfigEnumsTest, UnsetReadsAsItsDefault) {
  EXPECT_STREQ(algorithmName(v1::ALGORITHM_UNSPECIFIED), "maglev");
  EXPECT_STREQ(forwardingName(v1::FORWARDING_MODE_UNSPECIFIED), "dsr");
  EXPECT_STREQ(healthCheckTypeName(v1::HEALTH_CHECK_TYPE_UNSPECIFIED), "none");
  EXPECT_STREQ(backendStateName(v1::BACKEND_STATE_UNSPECIFIED), "active");
  EXPECT_STREQ(allDownPolicyName(v1::ALL_DOWN_POLICY_UNSPECIFIED), "keep_last_healthy");
  EXPECT_STREQ(protocolName(v1::PROTOCOL_UNSPECIFIED), "unspecified");
  EXPECT_STREQ(algorithmName(static_cast<v1::Algorithm>(77)), "unknown");
}

// lbctl spells a few values per command and uses no reflection: a table reaches its descriptor
// only for a full proto name ("FORWARDING_MODE_NAT") or an unknown spelling, so spelling builds
// no descriptor of config.proto (building them is ~0.2 ms of every lbctl command). In a fresh
// process: the "threadsafe" death-test style runs the test in a new execution of this binary.
TEST(ConfigEnumsDeathTest, SpellingBuildsNoDescriptor) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const auto* pool = google::protobuf::DescriptorPool::generated_pool();
        const char* file = "xlb/v1/config.proto";
        const bool at_start = pool->InternalIsFileLoaded(file);
        const bool spelled = enumNames(enumTable<v1::ForwardingMode>()).size() == 4 &&
                             std::string(algorithmName(v1::ALGORITHM_RANDOM)) == "random" &&
                             parseEnum<v1::Protocol>("p", "UDP").ok() &&
                             enumChoices(enumTable<v1::AllDownPolicy>()) == "keep_last_healthy, drop";
        const bool after_spelling = pool->InternalIsFileLoaded(file);
        const bool full = parseEnum<v1::Protocol>("p", "PROTOCOL_UDP").ok();
        const bool after_full = pool->InternalIsFileLoaded(file);
        std::fprintf(stderr, "start %d spelled %d after %d full %d after %d\n", at_start, spelled,
                     after_spelling, full, after_full);
        std::exit(!at_start && spelled && !after_spelling && full && after_full ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "start 0 spelled 1 after 0 full 1 after 1");
}

TEST(ConfigEnumsTest, ChoicesForMessages) {
  EXPECT_EQ(enumChoices(enumTable<v1::Protocol>(), " or "), "tcp or udp");
  EXPECT_EQ(enumChoices(enumTable<v1::ForwardingMode>(), " or "), "dsr, ipip, nat or fullnat");
  EXPECT_EQ(enumChoices(enumTable<v1::BackendState>()), "active, draining");
}

// The YAML codec reads and writes the table's spellings (a field of each table's enum).
TEST(ConfigEnumsTest, YamlCodecUsesTheTable) {
  for (const EnumSpelling& s : enumTable<v1::Algorithm>().values) {
    auto c = parseConfigYaml(absl::StrCat("vips:\n  - algorithm: ", s.name, "\n"));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->vips(0).algorithm(), s.number);
    EXPECT_NE(toYaml(*c).find(absl::StrCat("algorithm: ", s.name)), std::string::npos) << s.name;
  }
  for (const EnumSpelling& s : enumTable<v1::ForwardingMode>().values) {
    auto c = parseConfigYaml(absl::StrCat("vips:\n  - forwarding: ", s.name, "\n"));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->vips(0).forwarding(), s.number);
    EXPECT_NE(toYaml(*c).find(absl::StrCat("forwarding: ", s.name)), std::string::npos) << s.name;
  }
  for (const EnumSpelling& s : enumTable<v1::HealthCheckType>().values) {
    auto c = parseConfigYaml(absl::StrCat("vips:\n  - health_check: {type: ", s.name, "}\n"));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->vips(0).health_check().type(), s.number);
    EXPECT_NE(toYaml(*c).find(absl::StrCat("type: ", s.name)), std::string::npos) << s.name;
  }
  EXPECT_EQ(parseConfigYaml("vips:\n  - algorithm: wrr\n").status().message(),
            "vips[0].algorithm: \"wrr\" is not one of maglev, source_hash, round_robin, random, "
            "least_conn (line 2, column 16)");
}

TEST(ConfigEnumsTest, AlgorithmAndForwardingAreTheAbiConstants) {
  EXPECT_EQ(abiAlgorithm(v1::ALGORITHM_UNSPECIFIED), XLB_ALG_MAGLEV);
  EXPECT_EQ(abiAlgorithm(v1::ALGORITHM_MAGLEV), XLB_ALG_MAGLEV);
  EXPECT_EQ(abiAlgorithm(v1::ALGORITHM_SOURCE_HASH), XLB_ALG_SOURCE_HASH);
  EXPECT_EQ(abiAlgorithm(v1::ALGORITHM_ROUND_ROBIN), XLB_ALG_ROUND_ROBIN);
  EXPECT_EQ(abiAlgorithm(v1::ALGORITHM_RANDOM), XLB_ALG_RANDOM);
  EXPECT_EQ(abiAlgorithm(v1::ALGORITHM_LEAST_CONN), XLB_ALG_LEAST_CONN);
  EXPECT_EQ(abiForwarding(v1::FORWARDING_MODE_UNSPECIFIED), XLB_FWD_DSR);
  EXPECT_EQ(abiForwarding(v1::FORWARDING_MODE_IPIP), XLB_FWD_IPIP);
  EXPECT_EQ(abiForwarding(v1::FORWARDING_MODE_NAT), XLB_FWD_NAT);
  EXPECT_EQ(abiForwarding(v1::FORWARDING_MODE_FULLNAT), XLB_FWD_FULLNAT);
  for (const EnumSpelling& s : enumTable<v1::Algorithm>().values) {
    EXPECT_EQ(algorithmFromAbi(abiAlgorithm(static_cast<v1::Algorithm>(s.number))), s.number);
  }
  for (const EnumSpelling& s : enumTable<v1::ForwardingMode>().values) {
    EXPECT_EQ(forwardingFromAbi(abiForwarding(static_cast<v1::ForwardingMode>(s.number))),
              s.number);
  }
  // Unknown values: what the data plane does with them (select like maglev, forward like dsr).
  EXPECT_EQ(algorithmFromAbi(200), v1::ALGORITHM_MAGLEV);
  EXPECT_EQ(forwardingFromAbi(200), v1::FORWARDING_MODE_DSR);
  EXPECT_EQ(abiAlgorithm(static_cast<v1::Algorithm>(99)), XLB_ALG_MAGLEV);
  EXPECT_EQ(abiForwarding(static_cast<v1::ForwardingMode>(99)), XLB_FWD_DSR);
  EXPECT_EQ(abiAlgorithm(v1::ALGORITHM_UNSPECIFIED), XLB_ALG_MAGLEV);
}

}  // namespace
}  // namespace xlb::config
