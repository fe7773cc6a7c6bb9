#include "resp/decoder.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <random>
#include <string>

#include "resp/encoder.h"
#include "resp/framer.h"

namespace tfproxy::resp {
namespace {

Value decoded(const std::string& frame) {
  Value v;
  EXPECT_TRUE(decodeValue(frame, &v)) << frame;
  return v;
}

TEST(Decoder, Resp3Types) {
  EXPECT_EQ(decoded("+OK\r\n"), Value::simple("OK"));
  EXPECT_EQ(decoded(":-7\r\n"), Value::integerValue(-7));
  EXPECT_EQ(decoded("$-1\r\n").type, Type::kNull);
  EXPECT_EQ(decoded("*-1\r\n").type, Type::kNull);
  EXPECT_EQ(decoded("_\r\n").type, Type::kNull);
  EXPECT_TRUE(decoded("#t\r\n").boolean);
  EXPECT_DOUBLE_EQ(decoded(",1.5\r\n").dbl, 1.5);
  EXPECT_TRUE(std::isinf(decoded(",-inf\r\n").dbl));
  Value verbatim = decoded("=9\r\ntxt:hello\r\n");
  EXPECT_EQ(verbatim.type, Type::kVerbatim);
  EXPECT_EQ(verbatim.format, "txt");
  EXPECT_EQ(verbatim.str, "hello");
  EXPECT_EQ(decoded("(12345678901234567890\r\n").str, "12345678901234567890");
  EXPECT_EQ(decoded("!5\r\nERR x\r\n").str, "ERR x");
  Value map = decoded("%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*1\r\n_\r\n");
  ASSERT_EQ(map.type, Type::kMap);
  ASSERT_EQ(map.elements.size(), 4u);
  EXPECT_EQ(map.elements[3].elements[0].type, Type::kNull);
  EXPECT_EQ(decoded("~2\r\n+a\r\n+b\r\n").elements.size(), 2u);
  EXPECT_EQ(decoded(">2\r\n+a\r\n+b\r\n").type, Type::kPush);
  // Attributes are skipped: the annotated value is what the frame means.
  EXPECT_EQ(decoded("|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n"), Value::bulk("v"));
}

TEST(Decoder, RejectsMalformed) {
  Value v;
  EXPECT_FALSE(decodeValue("$5\r\nab\r\n", &v));
  EXPECT_FALSE(decodeValue(":x\r\n", &v));
  EXPECT_FALSE(decodeValue("*2\r\n:1\r\n", &v));
  EXPECT_FALSE(decodeValue("#x\r\n", &v));
}

TEST(Encoder, LowersResp3ForResp2Clients) {
  Value map = Value::array({Value::bulk("k"), Value::integerValue(1)}, Type::kMap);
  std::string r2, r3;
  ReplyWriter(&r2, Protocol::kResp2).value(map);
  ReplyWriter(&r3, Protocol::kResp3).value(map);
  EXPECT_EQ(r2, "*2\r\n$1\r\nk\r\n:1\r\n");
  EXPECT_EQ(r3, "%1\r\n$1\r\nk\r\n:1\r\n");

  std::string a2, a3;
  ReplyWriter w2(&a2, Protocol::kResp2), w3(&a3, Protocol::kResp3);
  for (ReplyWriter* w : {&w2, &w3}) {
    w->null();
    w->boolean(true);
    w->dbl(1.5);
    w->dbl(2147483648.0);
    w->verbatim("txt", "hi");
    w->bigNumber("123");
    w->setHeader(0);
    w->error("ERR two\r\nlines");
  }
  EXPECT_EQ(a2,
            "$-1\r\n:1\r\n$3\r\n1.5\r\n$10\r\n2147483648\r\n$2\r\nhi\r\n$3\r\n123\r\n*0\r\n"
            "-ERR two  lines\r\n");
  EXPECT_EQ(a3,
            "_\r\n#t\r\n,1.5\r\n,2147483648\r\n=6\r\ntxt:hi\r\n(123\r\n~0\r\n"
            "-ERR two  lines\r\n");
}

TEST(Encoder, RoundTripsThroughDecoder) {
  Value v = Value::array({Value::simple("OK"), Value::bulk(std::string("a\0b", 3)),
                          Value::integerValue(-9), Value::null(),
                          Value::array({Value::error("ERR nested")})});
  std::string wire;
  ReplyWriter(&wire, Protocol::kResp3).value(v);
  EXPECT_EQ(decoded(wire), v);
}

// --- Differential test against hiredis' redisReader (RESP2) ---------------------------------

// Random RESP2 values, written with the encoder.
void randomValue(std::mt19937& rng, int depth, std::string* out) {
  ReplyWriter w(out, Protocol::kResp2);
  int kind = std::uniform_int_distribution<int>(0, depth > 3 ? 4 : 6)(rng);
  auto randomString = [&] {
    std::string s(std::uniform_int_distribution<int>(0, 40)(rng), '\0');
    for (char& c : s) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    return s;
  };
  auto lineString = [&] {
    std::string s(std::uniform_int_distribution<int>(0, 20)(rng), 'a');
    for (char& c : s) c = static_cast<char>(std::uniform_int_distribution<int>('a', 'z')(rng));
    return s;
  };
  switch (kind) {
    case 0:
      w.simple(lineString());
      break;
    case 1:
      w.error("ERR " + lineString());
      break;
    case 2:
      w.integer(std::uniform_int_distribution<int64_t>(INT64_MIN, INT64_MAX)(rng));
      break;
    case 3:
      w.bulk(randomString());
      break;
    case 4:
      w.null();
      break;
    default: {
      int n = std::uniform_int_distribution<int>(0, 5)(rng);
      w.arrayHeader(n);
      for (int i = 0; i < n; ++i) randomValue(rng, depth + 1, out);
    }
  }
}

// Compares a hiredis reply tree with our Value.
::testing::AssertionResult same(const redisReply* r, const Value& v) {
  auto fail = [&](const char* what) {
    return ::testing::AssertionFailure() << what << " differs at " << toDebugString(v);
  };
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      if (v.type != Type::kSimpleString || v.str != std::string(r->str, r->len))
        return fail("status");
      break;
    case REDIS_REPLY_ERROR:
      if (v.type != Type::kError || v.str != std::string(r->str, r->len)) return fail("error");
      break;
    case REDIS_REPLY_INTEGER:
      if (v.type != Type::kInteger || v.integer != r->integer) return fail("integer");
      break;
    case REDIS_REPLY_STRING:
      if (v.type != Type::kBulkString || v.str != std::string(r->str, r->len)) return fail("bulk");
      break;
    case REDIS_REPLY_NIL:
      if (v.type != Type::kNull) return fail("nil");
      break;
    case REDIS_REPLY_ARRAY:
      if (v.type != Type::kArray || v.elements.size() != r->elements) return fail("array");
      for (size_t i = 0; i < r->elements; ++i) {
        auto sub = same(r->element[i], v.elements[i]);
        if (!sub) return sub;
      }
      break;
    default:
      return fail("type");
  }
  return ::testing::AssertionSuccess();
}

TEST(Decoder, AgreesWithHiredisOnRandomResp2) {
  std::mt19937 rng(20261127);
  for (int round = 0; round < 2000; ++round) {
    std::string stream;
    int count = std::uniform_int_distribution<int>(1, 8)(rng);
    for (int i = 0; i < count; ++i) randomValue(rng, 0, &stream);

    // hiredis, fed in random pieces.
    redisReader* reader = redisReaderCreate();
    std::vector<redisReply*> theirs;
    size_t pos = 0;
    while (pos < stream.size()) {
      size_t n = std::uniform_int_distribution<size_t>(1, 64)(rng);
      n = std::min(n, stream.size() - pos);
      ASSERT_EQ(redisReaderFeed(reader, stream.data() + pos, n), REDIS_OK);
      pos += n;
      void* reply = nullptr;
      while (redisReaderGetReply(reader, &reply) == REDIS_OK && reply != nullptr) {
        theirs.push_back(static_cast<redisReply*>(reply));
      }
    }
    redisReaderFree(reader);

    // Ours: framer to cut, decoder to build.
    std::vector<Value> ours;
    ReplyFramer framer;
    size_t start = 0;
    while (start < stream.size()) {
      auto r = framer.scan(std::string_view(stream).substr(start));
      ASSERT_EQ(r.status, ReplyFramer::Status::kComplete);
      Value v;
      ASSERT_TRUE(decodeValue(std::string_view(stream).substr(start, r.consumed), &v));
      ours.push_back(v);
      start += r.consumed;
    }

    ASSERT_EQ(ours.size(), theirs.size());
    for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(same(theirs[i], ours[i]));
    for (auto* r : theirs) freeReplyObject(r);
  }
}

}  // namespace
}  // namespace tfproxy::resp
