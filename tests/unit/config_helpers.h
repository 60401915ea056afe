// SPDX-License-Identifier: Apache-2.0
// Shared by the config test files: parse a YAML document that must load, or must not (its message),
// or one that loads but fails validation (its message).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/validate.h"
#include "config/yaml.h"

namespace xlb::config {

inline v1::Config parseOk(const std::string& yaml) {
  auto c = parseConfigYaml(yaml);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : v1::Config{};
}

inline std::string parseError(const std::string& yaml) {
  auto c = parseConfigYaml(yaml);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

inline std::string validateError(const std::string& yaml,
                                 absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  auto st = validateConfig(parseOk(yaml));
  EXPECT_EQ(st.code(), code) << st;
  return std::string(st.message());
}

}  // namespace xlb::config
