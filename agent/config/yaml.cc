// SPDX-License-Identifier: Apache-2.0
// Descriptor-driven YAML <-> protobuf conversion for the config file: parsed with libyaml
// (yaml_tree.h), emitted with yaml-cpp.
#include "config/yaml.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/enums.h"
#include "config/validate.h"
#include "config/yaml_tree.h"

namespace xlb::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The prefix protoc style puts on every value of an enum: "PROTOCOL_" for Protocol,
// "FORWARDING_MODE_" for ForwardingMode (CamelCase -> UPPER_SNAKE + "_").
std::string enumPrefix(const EnumDescriptor* e) {
  std::string out;
  for (char c : e->name()) {
    if (absl::ascii_isupper(static_cast<unsigned char>(c)) && !out.empty()) out.push_back('_');
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  out.push_back('_');
  return out;
}

// The YAML spelling of an enum value: the config's enums from their table (enums.h); a status-only
// enum (Health, NatState: emitted, never parsed) lowercase without its prefix, or the full name if
// it lacks the prefix.
std::string enumShortName(const EnumValueDescriptor* v) {
  if (const EnumTable* t = findEnumTable(v->type())) return enumName(*t, v->number());
  std::string prefix = enumPrefix(v->type());
  const std::string& name = v->name();
  if (absl::StartsWith(name, prefix)) return absl::AsciiStrToLower(name.substr(prefix.size()));
  return name;
}

std::string where(const YamlNode& node) {
  const YamlMark mark = node.Mark();
  if (mark.is_null()) return "";
  return absl::StrCat(" (line ", mark.line + 1, ", column ", mark.column + 1, ")");
}

class Parser {
 public:
  std::vector<std::string> errors;

  void parseMessage(const YamlNode& node, Message* msg, const std::string& path) {
    const Descriptor* desc = msg->GetDescriptor();
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      fail(node, path, absl::StrCat("expected a mapping with keys ", knownKeys(desc)));
      return;
    }
    for (const auto& kv : node.entries()) {
      std::string key;
      if (!kv.first.IsScalar()) {
        fail(kv.first, path, "keys must be plain field names");
        continue;
      }
      key = kv.first.Scalar();
      std::string child = path.empty() ? key : absl::StrCat(path, ".", key);
      const FieldDescriptor* field = desc->FindFieldByName(key);
      if (field == nullptr) {
        fail(kv.first, child, absl::StrCat("unknown field (known: ", knownKeys(desc), ")"));
        continue;
      }
      if (kv.second.IsNull()) continue;  // `key:` with no value leaves the field unset
      if (field->is_repeated()) {
        if (!kv.second.IsSequence()) {
          fail(kv.second, child, "expected a list");
          continue;
        }
        for (size_t i = 0; i < kv.second.size(); ++i) {
          parseValue(kv.second[i], msg, field, absl::StrCat(child, "[", i, "]"));
        }
      } else {
        parseValue(kv.second, msg, field, child);
      }
    }
  }

 private:
  void fail(const YamlNode& node, const std::string& path, const std::string& what) {
    errors.push_back(absl::StrCat(path.empty() ? "config" : path, ": ", what, where(node)));
  }

  static std::string knownKeys(const Descriptor* desc) {
    std::vector<std::string> names;
    for (int i = 0; i < desc->field_count(); ++i) names.push_back(desc->field(i)->name());
    return absl::StrJoin(names, ", ");
  }

  void parseValue(const YamlNode& node, Message* msg, const FieldDescriptor* field,
                  const std::string& path) {
    const Reflection* refl = msg->GetReflection();
    const bool rep = field->is_repeated();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      Message* sub = rep ? refl->AddMessage(msg, field) : refl->MutableMessage(msg, field);
      parseMessage(node, sub, path);
      return;
    }
    if (!node.IsScalar()) {
      fail(node, path,
           absl::StrCat("expected a ", typeName(field), ", got a ",
                        node.IsMap() ? "mapping" : "list"));
      return;
    }
    const std::string& text = node.Scalar();
    const std::string quoted = absl::StrCat("\"", text, "\"");
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        rep ? refl->AddString(msg, field, text) : refl->SetString(msg, field, text);
        return;
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool v;
        if (!absl::SimpleAtob(text, &v)) return fail(node, path, quoted + " is not true or false");
        rep ? refl->AddBool(msg, field, v) : refl->SetBool(msg, field, v);
        return;
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        uint32_t v;
        if (!absl::SimpleAtoi(text, &v)) return failInteger(node, field, path, text, UINT32_MAX);
        rep ? refl->AddUInt32(msg, field, v) : refl->SetUInt32(msg, field, v);
        return;
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v;
        if (!absl::SimpleAtoi(text, &v)) return failInteger(node, field, path, text, UINT64_MAX);
        rep ? refl->AddUInt64(msg, field, v) : refl->SetUInt64(msg, field, v);
        return;
      }
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t v;
        if (!absl::SimpleAtoi(text, &v)) return fail(node, path, quoted + " is not an integer");
        rep ? refl->AddInt32(msg, field, v) : refl->SetInt32(msg, field, v);
        return;
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t v;
        if (!absl::SimpleAtoi(text, &v)) return fail(node, path, quoted + " is not an integer");
        rep ? refl->AddInt64(msg, field, v) : refl->SetInt64(msg, field, v);
        return;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double v;
        if (!absl::SimpleAtod(text, &v)) return fail(node, path, quoted + " is not a number");
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
          rep ? refl->AddDouble(msg, field, v) : refl->SetDouble(msg, field, v);
        } else {
          rep ? refl->AddFloat(msg, field, static_cast<float>(v))
              : refl->SetFloat(msg, field, static_cast<float>(v));
        }
        return;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        // UNSPECIFIED means "not written": never accepted.
        const EnumTable* t = findEnumTable(field->enum_type());
        if (t == nullptr) return fail(node, path, "an enum without a spelling table (enums.cc)");
        auto v = parseEnum(*t, path, text);
        if (!v.ok()) {
          errors.push_back(absl::StrCat(v.status().message(), where(node)));
          return;
        }
        rep ? refl->AddEnumValue(msg, field, *v) : refl->SetEnumValue(msg, field, *v);
        return;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return;  // handled above
    }
  }

  // An unsigned field got something else: a negative or too large number is reported against the
  // field's documented range when it has one ("-2 is not in [0, 65535]"), so the YAML and the API
  // give the same message.
  void failInteger(const YamlNode& node, const FieldDescriptor* field, const std::string& path,
                   const std::string& text, uint64_t type_max) {
    int64_t signed_value;
    double d;
    bool numeric = absl::SimpleAtoi(text, &signed_value) || absl::SimpleAtod(text, &d);
    if (numeric && text.find_first_of(".eE") == std::string::npos) {
      auto range = fieldRange(field->full_name());
      if (range) {
        return fail(node, path,
                    absl::StrCat(text, " is not in [", range->first, ", ", range->second, "]"));
      }
      return fail(node, path, absl::StrCat(text, " is not in [0, ", type_max, "]"));
    }
    fail(node, path, absl::StrCat("\"", text, "\" is not an unsigned integer"));
  }

  static std::string enumChoices(const EnumDescriptor* e) {
    const EnumTable* t = findEnumTable(e);
    return t ? config::enumChoices(*t) : "none";
  }

  static std::string typeName(const FieldDescriptor* field) {
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        return "string";
      case FieldDescriptor::CPPTYPE_ENUM:
        return absl::StrCat("value (", enumChoices(field->enum_type()), ")");
      case FieldDescriptor::CPPTYPE_BOOL:
        return "boolean";
      default:
        return "number";
    }
  }
};

// Block-style YAML exactly as yaml-cpp's YAML::Emitter lays it out (2-space indents, sequences
// indented under their key, "- " items with a mapping's first key inline, "{}" on its own line
// for an empty mapping), written directly: the emitter checked every scalar against its plain-scalar regex,
// which made rendering 10,000 VIPs cost over a second. Scalars that are plainly safe (letters,
// digits, '.', '_', '/', '-', not starting with a punctuation mark and not a YAML keyword) are
// written as they are; anything else is formatted by yaml-cpp itself, so quoting stays exactly
// yaml-cpp's (yaml_emit_test compares the two on tricky values).
bool plainSafe(const std::string& s) {
  if (s.empty() || !absl::ascii_isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '/' &&
        c != '-') {
      return false;
    }
  }
  static const char* const kWords[] = {"null", "Null", "NULL", "true",  "True", "TRUE", "false",
                                       "False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO",
                                       "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N"};
  for (const char* w : kWords) {
    if (s == w) return false;
  }
  return true;
}

// One scalar as yaml-cpp writes it.
std::string yamlCppScalar(const std::string& s) {
  YAML::Emitter e;
  e << s;
  return e.c_str();
}

template <typename T>
std::string yamlCppValue(T v) {
  YAML::Emitter e;
  e << v;
  return e.c_str();
}

std::string scalarText(const Message& msg, const FieldDescriptor* field, int index) {
  const Reflection* refl = msg.GetReflection();
  const bool rep = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string v =
          rep ? refl->GetRepeatedString(msg, field, index) : refl->GetString(msg, field);
      return plainSafe(v) ? v : yamlCppScalar(v);
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? refl->GetRepeatedBool(msg, field, index) : refl->GetBool(msg, field))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? refl->GetRepeatedUInt32(msg, field, index)
                              : refl->GetUInt32(msg, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? refl->GetRepeatedUInt64(msg, field, index)
                              : refl->GetUInt64(msg, field));
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? refl->GetRepeatedInt32(msg, field, index)
                              : refl->GetInt32(msg, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? refl->GetRepeatedInt64(msg, field, index)
                              : refl->GetInt64(msg, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return yamlCppValue(rep ? refl->GetRepeatedDouble(msg, field, index)
                              : refl->GetDouble(msg, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return yamlCppValue(rep ? refl->GetRepeatedFloat(msg, field, index)
                              : refl->GetFloat(msg, field));
    case FieldDescriptor::CPPTYPE_ENUM: {
      const std::string v = enumShortName(rep ? refl->GetRepeatedEnum(msg, field, index)
                                              : refl->GetEnum(msg, field));
      return plainSafe(v) ? v : yamlCppScalar(v);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "";
}

// Writes msg's fields as a block mapping whose keys start at column `indent`; the first key
// continues the current line (after "- " or at the start of the document).
void emitMessage(std::string& out, const Message& msg, size_t indent) {
  const Reflection* refl = msg.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);  // only set fields (and proto3 optionals that are present)
  if (fields.empty()) {
    out += "{}\n";
    return;
  }
  bool first = true;
  for (const FieldDescriptor* field : fields) {
    if (!first) out.append(indent, ' ');
    first = false;
    out += field->name();
    out += ':';
    if (field->is_repeated()) {
      out += '\n';
      for (int i = 0; i < refl->FieldSize(msg, field); ++i) {
        out.append(indent + 2, ' ');
        out += "- ";
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          emitMessage(out, refl->GetRepeatedMessage(msg, field, i), indent + 4);
        } else {
          out += scalarText(msg, field, i);
          out += '\n';
        }
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const Message& sub = refl->GetMessage(msg, field);
      std::vector<const FieldDescriptor*> sub_fields;
      sub.GetReflection()->ListFields(sub, &sub_fields);
      out += '\n';
      out.append(indent + 2, ' ');
      if (sub_fields.empty()) {
        out += "{}\n";  // on a line of its own, as yaml-cpp writes it
      } else {
        emitMessage(out, sub, indent + 2);
      }
    } else {
      out += ' ';
      out += scalarText(msg, field, -1);
      out += '\n';
    }
  }
}

}  // namespace

absl::StatusOr<v1::Config> parseConfigYaml(absl::string_view text) {
  auto tree = YamlTree::parse(text);
  if (!tree.ok()) return tree.status();
  v1::Config config;
  Parser parser;
  parser.parseMessage((*tree)->root(), &config, "");
  if (!parser.errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(parser.errors, "\n"));
  }
  return config;
}

absl::StatusOr<std::string> readConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return std::move(buf).str();
}

absl::StatusOr<v1::Config> parseConfigFileText(const std::string& path, absl::string_view text) {
  auto config = parseConfigYaml(text);
  if (!config.ok()) {
    // One error reads "file: error"; several go one per line under the file name.
    absl::string_view msg = config.status().message();
    return absl::Status(
        config.status().code(),
        absl::StrCat(path, msg.find('\n') == absl::string_view::npos ? ": " : ":\n", msg));
  }
  return config;
}

absl::StatusOr<v1::Config> loadConfigFile(const std::string& path) {
  auto text = readConfigFile(path);
  if (!text.ok()) return text.status();
  return parseConfigFileText(path, *text);
}

std::string sourceDigest(absl::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return "";  // no digest: the client then always sends the config
  }
  return absl::StrCat("sha256:", absl::BytesToHexString(absl::string_view(
                                     reinterpret_cast<const char*>(md), len)));
}

bool isSourceDigest(absl::string_view digest) {
  if (!absl::ConsumePrefix(&digest, "sha256:") || digest.size() != 64) {
    return false;
  }
  return std::all_of(digest.begin(), digest.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::string toYaml(const google::protobuf::Message& message) {
  std::string out;
  emitMessage(out, message, 0);
  return out;
}

// What emitMessage writes for one element of Config.vips (a repeated field at indent 0).
std::string toYamlVipItem(const v1::Vip& vip) {
  std::string out = "  - ";
  emitMessage(out, vip, 4);
  return out;
}

std::string toYamlFromParts(const v1::Config& globals,
                            std::span<const std::string* const> vip_items) {
  if (vip_items.empty()) return toYaml(globals);
  size_t size = 6;
  for (const std::string* item : vip_items) size += item->size();
  std::string out;
  out.reserve(size + 256);
  // vips is field 1: emitMessage lists it before every global.
  out += "vips:\n";
  for (const std::string* item : vip_items) out += *item;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  globals.GetReflection()->ListFields(globals, &fields);
  if (!fields.empty()) emitMessage(out, globals, 0);
  return out;
}

}  // namespace xlb::config
