// SPDX-License-Identifier: Apache-2.0
// The example and demo configs shipped in deploy/ must load and pass validation unchanged.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "config/validate.h"
#include "config/yaml.h"

namespace {

void expectValid(const std::string& name) {
  const std::string path = std::string(XLB_SOURCE_DIR) + "/deploy/" + name;
  auto config = xlb::config::loadConfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_GT(config->vips_size(), 0);
  auto st = xlb::config::validateConfig(*config);
  EXPECT_TRUE(st.ok()) << path << ": " << st;
  // What `lbctl config get` prints must read back as the same config.
  auto again = xlb::config::parseConfigYaml(xlb::config::toYaml(*config));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), config->SerializeAsString());
}

TEST(DeployConfig, ExampleIsValid) { expectValid("xlb.yaml"); }
TEST(DeployConfig, DemoIsValid) { expectValid("demo.yaml"); }

// The commented-out NAT examples of xlb.yaml (top-level snat_pool, a nat and a fullnat VIP) are
// valid once uncommented: from the snat_pool comment on, a comment whose text starts with
// "snat_pool:", "- " or an indentation is YAML.
TEST(DeployConfig, CommentedNatExampleIsValidUncommented) {
  std::ifstream in(std::string(XLB_SOURCE_DIR) + "/deploy/xlb.yaml");
  std::stringstream out;
  const std::regex yaml_comment(R"(^(\s*)# ((snat_pool:|- |  ).*)$)");
  bool region = false;
  int uncommented = 0;
  for (std::string line; std::getline(in, line);) {
    region |= line.rfind("# SNAT pool of fullnat VIPs", 0) == 0;
    std::smatch m;
    if (region && std::regex_match(line, m, yaml_comment)) {
      line = m.str(1) + m.str(2);
      ++uncommented;
    }
    out << line << "\n";
  }
  EXPECT_GT(uncommented, 20);
  auto config = xlb::config::parseConfigYaml(out.str());
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << out.str();
  ASSERT_TRUE(config->has_snat_pool());
  int nat = 0;
  for (const auto& vip : config->vips()) {
    nat += vip.forwarding() == xlb::v1::FORWARDING_MODE_NAT ||
           vip.forwarding() == xlb::v1::FORWARDING_MODE_FULLNAT;
  }
  EXPECT_EQ(nat, 2);
  auto st = xlb::config::validateConfig(*config);
  EXPECT_TRUE(st.ok()) << st;
}

}  // namespace
