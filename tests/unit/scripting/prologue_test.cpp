#include "scripting/prologue.h"

#include <gtest/gtest.h>

#include "scripting/errors.h"

namespace tfproxy::scripting {
namespace {

std::string errorOf(std::string_view code) {
  std::string error;
  EXPECT_FALSE(parsePrologue(code, &error).has_value()) << code;
  return error;
}

TEST(Prologue, Valid) {
  std::string error;
  auto p = parsePrologue("#!js api_version=1.0 name=lib\nredis.log('x')", &error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->engine, "js");
  EXPECT_EQ(p->name, "lib");
  EXPECT_EQ(p->apiVersion(), "1.0");
  // Any order, a trailing space, CRLF, three-part and zero-padded versions.
  EXPECT_TRUE(parsePrologue("#!js name=lib api_version=1.1 \r\n", &error));
  p = parsePrologue("#!js api_version=01.0.7 name=lib", &error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->apiVersion(), "1.0");
}

TEST(Prologue, InvalidForms) {
  for (std::string_view code : {"", "js api_version=1.0 name=lib", " #!js api_version=1.0 name=lib",
                                "#!js  api_version=1.0 name=lib", "#!js api_version=1.0 name=a=b",
                                "#!js name=foo x", "#!js name", "\n#!js api_version=1.0 name=x"}) {
    EXPECT_EQ(errorOf(code), errors::kInvalidPrologue) << code;
  }
}

TEST(Prologue, ErrorPrecedenceAndTexts) {
  EXPECT_EQ(errorOf("#!js name=a name=b api_version=1.0 api_version=1.1"),
            "Duplicated prologue properties found: name, api_version.");
  EXPECT_EQ(errorOf("#!js name=lib"), errors::kApiVersionMissing);
  EXPECT_EQ(errorOf("#!js api_version=1 name=lib"),
            "The API version has been incorrectly specified: \"1\". The expected format is "
            "\"<major>.<minor>\". An example: \"1.1\".");
  EXPECT_EQ(errorOf("#!js api_version=1.x name=lib").rfind("The API version has been", 0), 0u);
  EXPECT_EQ(errorOf("#!js api_version=1.256 name=lib").rfind("The API version has been", 0), 0u);
  EXPECT_EQ(errorOf("#!js api_version=1.0"), errors::kNameMissing);
  // Unknown keys are reported only once api_version and name are both there.
  EXPECT_EQ(errorOf("#!js foo=bar name=lib"), errors::kApiVersionMissing);
  EXPECT_EQ(errorOf("#!js foo=bar api_version=1.0 name=lib"),
            "Unknown prologue properties provided: \"foo\". Known properties: api_version, name.");
  EXPECT_EQ(errorOf("#!js api_version=1.0 name=my-lib"),
            "Unallowed library name 'my-lib', Unallowed char was given '-'.");
  EXPECT_EQ(errorOf("#!lua api_version=1.0 name=lib"), "Unknown backend lua");
}

TEST(Prologue, ApiVersionSupport) {
  std::string error;
  EXPECT_TRUE(apiVersionSupported(*parsePrologue("#!js api_version=1.1 name=a", &error)));
  auto v2 = parsePrologue("#!js api_version=2.0 name=a", &error);
  ASSERT_TRUE(v2);
  EXPECT_FALSE(apiVersionSupported(*v2));
  EXPECT_EQ(unsupportedApiVersion(*v2),
            "An unsupported API version was requested: 2.0. The supported versions are 1.0, 1.1.");
}

TEST(Names, Rules) {
  EXPECT_FALSE(nameProblem("abc_09_XYZ"));
  EXPECT_EQ(nameProblem(""), "Empty name is not allowed");
  EXPECT_EQ(nameProblem("a.b"), "Unallowed char was given '.'");
}

}  // namespace
}  // namespace tfproxy::scripting
