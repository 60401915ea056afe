// SPDX-License-Identifier: Apache-2.0
// config::toYaml writes block YAML directly; yaml-cpp's YAML::Emitter (the emitter it replaced,
// kept here as the oracle) must produce the same bytes for every kind of value: plain and quoted
// strings, IPv6 addresses, YAML keywords, empty strings and messages, numbers, doubles, enums,
// nested and repeated messages. And what toYaml writes parses back to the same message.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

#include "config/yaml.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::config {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The yaml-cpp emitter as toYaml used it before (the oracle). Enum values are written as toYaml
// writes them (their spelling is not what is compared here), so the enum cases compare layout.
std::string enumText(const Message& msg, const FieldDescriptor* f, int i) {
  // Render the enum through toYaml itself on a one-field copy: its spelling table is private.
  std::unique_ptr<Message> one(msg.New());
  const Reflection* r = msg.GetReflection();
  if (f->is_repeated()) {
    r->AddEnumValue(one.get(), f, r->GetRepeatedEnumValue(msg, f, i));
  } else {
    r->SetEnumValue(one.get(), f, r->GetEnumValue(msg, f));
  }
  std::string y = toYaml(*one);
  auto pos = f->is_repeated() ? y.find("- ") + 2 : y.find(": ") + 2;
  return y.substr(pos, y.size() - pos - 1);
}

void oracleScalar(YAML::Emitter& out, const Message& msg, const FieldDescriptor* f, int i) {
  const Reflection* r = msg.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      out << (rep ? r->GetRepeatedString(msg, f, i) : r->GetString(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out << (rep ? r->GetRepeatedBool(msg, f, i) : r->GetBool(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      out << (rep ? r->GetRepeatedUInt32(msg, f, i) : r->GetUInt32(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      out << (rep ? r->GetRepeatedUInt64(msg, f, i) : r->GetUInt64(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      out << (rep ? r->GetRepeatedInt32(msg, f, i) : r->GetInt32(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      out << (rep ? r->GetRepeatedInt64(msg, f, i) : r->GetInt64(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out << (rep ? r->GetRepeatedDouble(msg, f, i) : r->GetDouble(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out << (rep ? r->GetRepeatedFloat(msg, f, i) : r->GetFloat(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      out << enumText(msg, f, i);
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
}

void oracleMessage(YAML::Emitter& out, const Message& msg) {
  const Reflection* r = msg.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(msg, &fields);
  out << YAML::BeginMap;
  for (const FieldDescriptor* f : fields) {
    out << YAML::Key << f->name() << YAML::Value;
    if (f->is_repeated()) {
      out << YAML::BeginSeq;
      for (int i = 0; i < r->FieldSize(msg, f); ++i) {
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          oracleMessage(out, r->GetRepeatedMessage(msg, f, i));
        } else {
          oracleScalar(out, msg, f, i);
        }
      }
      out << YAML::EndSeq;
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      oracleMessage(out, r->GetMessage(msg, f));
    } else {
      oracleScalar(out, msg, f, -1);
    }
  }
  out << YAML::EndMap;
}

std::string oracle(const Message& msg) {
  YAML::Emitter out;
  oracleMessage(out, msg);
  return std::string(out.c_str()) + "\n";
}

TEST(YamlEmit, SameBytesAsYamlCpp) {
  const std::vector<std::string> names = {
      "svc-0",  "a b",      "a: b",   "#x",       "x #y", "-x",     "null",  "Null", "~",
      "true",   "False",    "yes",    "n",        "",     "fd00::1", "x:",   "é",    "a\nb",
      "'q'",    "\"dq\"",   "10.0.0.0/8", "[x]", "{x}",  "*a",      "&a",    "!t",   "%p",
      "@x",     "`x",       "x,y",    "0x1F",     "1e3",  "123",     "-1",    " lead", "trail ",
      "a\tb",   "web.prod_1", "é:",  "?x",       "|x",   ">x"};
  v1::Config c;
  for (size_t i = 0; i < names.size(); ++i) {
    v1::Vip* v = c.add_vips();
    v->set_name(names[i]);
    v->set_address(i % 2 ? "fd00::10" : "10.0.0.10");
    v->set_port(static_cast<uint32_t>(80 + i));
    v->set_protocol(v1::PROTOCOL_TCP);
    v->set_algorithm(v1::ALGORITHM_SOURCE_HASH);
    v->set_source_hash_include_port(i % 3 == 0);
    if (i % 4 == 0) v->set_maglev_table_size(1021);
    if (i % 5 == 0) v->mutable_health_check();  // present but empty: "{}"
    if (i % 7 == 0) v->mutable_health_check()->set_type(v1::HEALTH_CHECK_TYPE_HTTP);
    if (i % 7 == 0) v->mutable_health_check()->set_interval_ms(static_cast<uint32_t>(100 + i));
    for (int b = 0; b < 2; ++b) {
      v1::Backend* be = v->add_backends();
      be->set_address(b ? "fd00::1:2" : "10.0.1.1");
      be->set_weight(static_cast<uint32_t>(b * 7));
    }
  }
  c.add_vlan_ids(5);
  c.add_vlan_ids(4000);
  c.mutable_encap()->set_source_v6_prefix("fd00:7862::/64");
  const std::string got = toYaml(c);
  EXPECT_EQ(got, oracle(c));
  auto back = parseConfigYaml(got);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), c.SerializeAsString());

  // Empty messages, doubles and a message in a list item's first field.
  EXPECT_EQ(toYaml(v1::Config()), oracle(v1::Config()));
  v1::FlowTableStats f;
  f.set_new_flow_rate(1234.5678);
  f.set_turnover_seconds(1e-7);
  f.set_flood_threshold(3.0);
  EXPECT_EQ(toYaml(f), oracle(f));
  // An empty message as a list item.
  v1::Config e;
  e.add_vips();
  e.add_vips()->set_port(5);
  EXPECT_EQ(toYaml(e), oracle(e));
}

// The persister's per-VIP rendering assembles the same bytes as one toYaml of the whole config,
// with and without globals, with and without VIPs, and with an empty VIP among them.
TEST(YamlEmit, PartsAssembleToTheWholeConfig) {
  auto assemble = [](const v1::Config& c) {
    v1::Config globals = c;
    globals.clear_vips();
    std::vector<std::string> texts;
    for (const v1::Vip& v : c.vips()) texts.push_back(toYamlVipItem(v));
    std::vector<const std::string*> items;
    for (const std::string& t : texts) items.push_back(&t);
    return toYamlFromParts(globals, items);
  };
  v1::Config c;
  EXPECT_EQ(assemble(c), toYaml(c));
  c.add_vlan_ids(7);
  c.mutable_bgp()->set_local_asn(65001);
  EXPECT_EQ(assemble(c), toYaml(c));
  for (int i = 0; i < 3; ++i) {
    v1::Vip* v = c.add_vips();
    v->set_name("svc-" + std::to_string(i));
    v->set_address("10.0.0.1");
    v->set_port(static_cast<uint32_t>(80 + i));
    v->add_backends()->set_address("10.0.1.1");
    v->mutable_health_check();
  }
  c.add_vips();
  EXPECT_EQ(assemble(c), toYaml(c));
  c.clear_vlan_ids();
  c.clear_bgp();
  EXPECT_EQ(assemble(c), toYaml(c));
}

}  // namespace
}  // namespace xlb::config
