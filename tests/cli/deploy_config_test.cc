// SPDX-License-Identifier: Apache-2.0
// The example and demo configs shipped in deploy/ must load and pass validation unchanged.
#include <gtest/gtest.h>

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

}  // namespace
