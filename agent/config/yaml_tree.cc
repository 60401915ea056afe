// SPDX-License-Identifier: Apache-2.0
// YamlTree: libyaml events -> node tree (see yaml_tree.h).
#include "config/yaml_tree.h"

#include <yaml.h>

#include <map>

#include "absl/strings/str_cat.h"

namespace xlb::config {
namespace {

// Owns a libyaml parser and the event being looked at.
class EventParser {
 public:
  explicit EventParser(absl::string_view text) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~EventParser() {
    if (has_event_) yaml_event_delete(&event_);
    yaml_parser_delete(&parser_);
  }
  // The next event; false (and error() says why) on a syntax error.
  bool next() {
    if (has_event_) yaml_event_delete(&event_);
    has_event_ = yaml_parser_parse(&parser_, &event_) != 0;
    return has_event_;
  }
  const yaml_event_t& event() const { return event_; }
  absl::Status error() const {
    const yaml_mark_t& m = parser_.problem_mark;
    return absl::InvalidArgumentError(absl::StrCat(
        "yaml: line ", m.line + 1, ", column ", m.column + 1, ": ",
        parser_.problem ? parser_.problem : "syntax error",
        parser_.context ? absl::StrCat(" ", parser_.context) : std::string()));
  }

 private:
  yaml_parser_t parser_;
  yaml_event_t event_;
  bool has_event_ = false;
};

bool isNullScalar(const yaml_event_t& e) {
  if (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  const absl::string_view v(reinterpret_cast<const char*>(e.data.scalar.value),
                            e.data.scalar.length);
  return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

std::string anchorOf(const unsigned char* anchor) {
  return anchor ? std::string(reinterpret_cast<const char*>(anchor)) : std::string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<YamlTree>> YamlTree::parse(absl::string_view text) {
  auto tree = std::unique_ptr<YamlTree>(new YamlTree());
  EventParser p(text);
  std::vector<uint32_t> open;  // mappings and sequences being filled
  std::map<std::string, uint32_t> anchors;
  bool in_document = false, done = false;
  auto add = [&](Node n, const std::string& anchor) {
    const uint32_t index = static_cast<uint32_t>(tree->nodes_.size());
    tree->nodes_.push_back(std::move(n));
    if (!anchor.empty()) anchors[anchor] = index;
    if (!open.empty()) {
      tree->nodes_[open.back()].children.push_back(index);
    } else {
      tree->has_root_ = true;
    }
    return index;
  };
  while (!done) {
    if (!p.next()) return p.error();
    const yaml_event_t& e = p.event();
    Node n;
    n.line = static_cast<int>(e.start_mark.line);
    n.column = static_cast<int>(e.start_mark.column);
    switch (e.type) {
      case YAML_STREAM_END_EVENT:
        done = true;
        break;
      case YAML_DOCUMENT_START_EVENT:
        in_document = true;
        break;
      case YAML_DOCUMENT_END_EVENT:
        done = true;  // the first document only
        break;
      case YAML_SCALAR_EVENT:
        if (isNullScalar(e)) {
          n.kind = Kind::kNull;
        } else {
          n.kind = Kind::kScalar;
          n.scalar.assign(reinterpret_cast<const char*>(e.data.scalar.value),
                          e.data.scalar.length);
        }
        add(std::move(n), anchorOf(e.data.scalar.anchor));
        break;
      case YAML_ALIAS_EVENT: {
        auto it = anchors.find(anchorOf(e.data.alias.anchor));
        if (it == anchors.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "yaml: line ", n.line + 1, ", column ", n.column + 1, ": unknown anchor *",
              anchorOf(e.data.alias.anchor)));
        }
        // The alias is the anchored node (shared, read-only).
        if (!open.empty()) {
          tree->nodes_[open.back()].children.push_back(it->second);
        } else {
          tree->has_root_ = true;
        }
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
        n.kind = Kind::kSeq;
        open.push_back(add(std::move(n), anchorOf(e.data.sequence_start.anchor)));
        break;
      case YAML_MAPPING_START_EVENT:
        n.kind = Kind::kMap;
        open.push_back(add(std::move(n), anchorOf(e.data.mapping_start.anchor)));
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        open.pop_back();
        break;
      default:
        break;
    }
  }
  (void)in_document;
  // An alias at the root refers to the first node: the root is always node 0.
  return tree;
}

YamlNode YamlTree::root() const { return has_root_ ? YamlNode(this, 0) : YamlNode(); }

bool YamlNode::IsNull() const {
  return tree_ == nullptr || tree_->nodes_[index_].kind == YamlTree::Kind::kNull;
}
bool YamlNode::IsScalar() const {
  return tree_ != nullptr && tree_->nodes_[index_].kind == YamlTree::Kind::kScalar;
}
bool YamlNode::IsMap() const {
  return tree_ != nullptr && tree_->nodes_[index_].kind == YamlTree::Kind::kMap;
}
bool YamlNode::IsSequence() const {
  return tree_ != nullptr && tree_->nodes_[index_].kind == YamlTree::Kind::kSeq;
}

const std::string& YamlNode::Scalar() const {
  static const std::string empty;
  return tree_ == nullptr ? empty : tree_->nodes_[index_].scalar;
}

YamlMark YamlNode::Mark() const {
  if (tree_ == nullptr) return {};
  const auto& n = tree_->nodes_[index_];
  return {n.line, n.column};
}

size_t YamlNode::size() const {
  return IsSequence() ? tree_->nodes_[index_].children.size() : 0;
}

YamlNode YamlNode::operator[](size_t i) const {
  if (!IsSequence() || i >= tree_->nodes_[index_].children.size()) return {};
  return YamlNode(tree_, tree_->nodes_[index_].children[i]);
}

std::vector<std::pair<YamlNode, YamlNode>> YamlNode::entries() const {
  std::vector<std::pair<YamlNode, YamlNode>> out;
  if (!IsMap()) return out;
  const auto& c = tree_->nodes_[index_].children;
  out.reserve(c.size() / 2);
  for (size_t i = 0; i + 1 < c.size(); i += 2) {
    out.emplace_back(YamlNode(tree_, c[i]), YamlNode(tree_, c[i + 1]));
  }
  return out;
}

}  // namespace xlb::config
