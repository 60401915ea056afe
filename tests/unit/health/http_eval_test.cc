// SPDX-License-Identifier: Apache-2.0
// HTTP response evaluation of the health checker: status line parsing, status ranges, body substring.
#include <gtest/gtest.h>

#include "health/checker.h"

namespace xlb::health {
namespace {

TEST(HttpStatusTest, ParsesStatusLines) {
  EXPECT_EQ(parseHttpStatus("HTTP/1.1 200 OK\r\n"), 200);
  EXPECT_EQ(parseHttpStatus("HTTP/1.0 503 Service Unavailable\r\n"), 503);
  EXPECT_EQ(parseHttpStatus("HTTP/1.1 20"), -1);
  EXPECT_EQ(parseHttpStatus("SSH-2.0-OpenSSH_9.2\r\n"), -1);
  EXPECT_EQ(parseHttpStatus("HTTP/1.1 2x0 OK\r\n"), -1);
  EXPECT_EQ(parseHttpStatus(""), -1);
}

TEST(HttpEvalTest, StatusRanges) {
  HttpCheck check;  // default 200..399
  EXPECT_TRUE(evaluateHttpResponse(check, "HTTP/1.1 204 No Content\r\n\r\n", true).ok);
  EXPECT_TRUE(evaluateHttpResponse(check, "HTTP/1.1 302 Found\r\n\r\n", true).ok);
  auto r = evaluateHttpResponse(check, "HTTP/1.1 503 Service Unavailable\r\n\r\n", true);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "http 503");
  check.statuses = {{200, 200}, {404, 404}};
  EXPECT_TRUE(evaluateHttpResponse(check, "HTTP/1.1 404 Not Found\r\n\r\n", true).ok);
  EXPECT_FALSE(evaluateHttpResponse(check, "HTTP/1.1 302 Found\r\n\r\n", true).ok);
}

TEST(HttpEvalTest, BodySubstring) {
  HttpCheck check;
  check.body_contains = "healthy";
  EXPECT_TRUE(evaluateHttpResponse(check, "HTTP/1.1 200 OK\r\n\r\nI am healthy\n", true).ok);
  auto r = evaluateHttpResponse(check, "HTTP/1.1 200 OK\r\nX-Note: healthy\r\n\r\nsick\n", true);
  EXPECT_FALSE(r.ok);  // the header is not the body
  EXPECT_EQ(r.reason, "http 200: body does not contain \"healthy\"");
}

TEST(HttpEvalTest, EmptyAndGarbage) {
  HttpCheck check;
  EXPECT_EQ(evaluateHttpResponse(check, "", true).reason,
            "http: connection closed without a response");
  EXPECT_EQ(evaluateHttpResponse(check, "hello", true).reason, "http: malformed status line");
}

}  // namespace
}  // namespace xlb::health
