// The RESP <-> JavaScript conversion tables (spec §5), against a real V8 isolate.
#include "scripting/v8/convert.h"

#include <gtest/gtest.h>

#include "resp/decoder.h"
#include "scripting/v8/platform.h"

namespace tfproxy::scripting {
namespace {

class ConvertTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { platform_ = new Platform("--noexpose-wasm"); }
  static void TearDownTestSuite() {
    delete platform_;
    platform_ = nullptr;
  }

  ConvertTest() {
    allocator_.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = allocator_.get();
    isolate_ = v8::Isolate::New(params);
  }
  ~ConvertTest() override { isolate_->Dispose(); }

  // Decodes `resp` (RESP3 wire text), converts it to JS, and returns `probe(value)` evaluated in
  // JS, or "throws: <text>".
  std::string toJs(const std::string& resp, bool raw, const std::string& probe) {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope is(isolate_);
    v8::HandleScope hs(isolate_);
    auto ctx = v8::Context::New(isolate_);
    v8::Context::Scope cs(ctx);
    resp::Value reply;
    EXPECT_TRUE(resp::decodeValue(resp, &reply)) << resp;
    v8::Local<v8::Value> value;
    std::string error;
    if (!convert::replyToJs(isolate_, ctx, reply, raw, &value, &error)) return "throws: " + error;
    ctx->Global()->Set(ctx, v8::String::NewFromUtf8Literal(isolate_, "v"), value).Check();
    return eval(ctx, probe);
  }

  // Evaluates `js` and converts the result for `protocol`.
  std::string toReply(const std::string& js, resp::Protocol protocol) {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope is(isolate_);
    v8::HandleScope hs(isolate_);
    auto ctx = v8::Context::New(isolate_);
    v8::Context::Scope cs(ctx);
    auto script =
        v8::Script::Compile(ctx, v8::String::NewFromUtf8(isolate_, js.c_str()).ToLocalChecked())
            .ToLocalChecked();
    v8::Local<v8::Value> value = script->Run(ctx).ToLocalChecked();
    std::string out, error;
    resp::ReplyWriter w(&out, protocol);
    if (!convert::jsToReply(isolate_, ctx, value, w, &error)) return "error: " + error;
    return out;
  }

  std::string eval(v8::Local<v8::Context> ctx, const std::string& js) {
    v8::TryCatch tc(isolate_);
    auto script =
        v8::Script::Compile(ctx, v8::String::NewFromUtf8(isolate_, js.c_str()).ToLocalChecked())
            .ToLocalChecked();
    v8::Local<v8::Value> r;
    if (!script->Run(ctx).ToLocal(&r)) return "js exception";
    return convert::utf8(isolate_, r);
  }

  static Platform* platform_;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator_;
  v8::Isolate* isolate_;
};
Platform* ConvertTest::platform_ = nullptr;

TEST_F(ConvertTest, RepliesToJs) {
  EXPECT_EQ(toJs("+OK\r\n", false, "typeof v + ':' + v"), "string:OK");
  EXPECT_EQ(toJs("$5\r\nhello\r\n", false, "v"), "hello");
  EXPECT_EQ(toJs("$2\r\n\xff\xfe\r\n", false, ""), "throws: Could not decode value as string");
  EXPECT_EQ(toJs(":42\r\n", false, "typeof v + ':' + v"), "bigint:42");
  EXPECT_EQ(toJs(",1.5\r\n", false, "typeof v + ':' + v"), "number:1.5");
  EXPECT_EQ(toJs("#t\r\n", false, "v === true"), "true");
  EXPECT_EQ(toJs("_\r\n", false, "v === null"), "true");
  EXPECT_EQ(toJs("*2\r\n:1\r\n$1\r\na\r\n", false, "Array.isArray(v) + ':' + v[1]"), "true:a");
  EXPECT_EQ(toJs("~2\r\n$1\r\na\r\n$1\r\nb\r\n", false, "(v instanceof Set) + ':' + v.size"),
            "true:2");
  EXPECT_EQ(toJs("%2\r\n$1\r\nf\r\n$1\r\nv\r\n:7\r\n$3\r\nnum\r\n", false,
                 "v.f + ':' + v[7] + ':' + Object.keys(v).length"),
            "v:num:2");
  EXPECT_EQ(toJs("%1\r\n$2\r\n\xff\xfe\r\n$1\r\nv\r\n", true, ""),
            "throws: Binary map key is not supported");
  EXPECT_EQ(toJs("%1\r\n*0\r\n$1\r\nv\r\n", false, ""),
            "throws: Given object can not be a object key");
  EXPECT_EQ(toJs("(123456789012345678901234567890\r\n", false,
                 "typeof v + ':' + v + ':' + v.__reply_type"),
            "object:123456789012345678901234567890:big_number");
  EXPECT_EQ(toJs("=9\r\ntxt:hello\r\n", false, "v + ':' + v.__reply_type + ':' + v.__format"),
            "hello:verbatim:txt");
  EXPECT_EQ(toJs("=9\r\ntxt:hello\r\n", true,
                 "(v instanceof ArrayBuffer) + ':' + v.byteLength + ':' + v.__format"),
            "true:5:txt");
  // Raw: strings become ArrayBuffers, but integers, maps keys and structure stay.
  EXPECT_EQ(toJs("*2\r\n$3\r\nabc\r\n:1\r\n", true,
                 "(v[0] instanceof ArrayBuffer) + ':' + v[0].byteLength + ':' + typeof v[1]"),
            "true:3:bigint");
  // An error anywhere makes the whole call throw its text.
  EXPECT_EQ(toJs("-WRONGTYPE bad\r\n", false, ""), "throws: WRONGTYPE bad");
  EXPECT_EQ(toJs("*2\r\n:1\r\n*1\r\n-ERR deep\r\n", false, ""), "throws: ERR deep");
}

TEST_F(ConvertTest, ResultsToReplies) {
  using P = resp::Protocol;
  EXPECT_EQ(toReply("1", P::kResp2), ":1\r\n");
  EXPECT_EQ(toReply("1.0", P::kResp3), ":1\r\n");
  EXPECT_EQ(toReply("1.5", P::kResp2), "$3\r\n1.5\r\n");
  EXPECT_EQ(toReply("1.5", P::kResp3), ",1.5\r\n");
  EXPECT_EQ(toReply("2**31", P::kResp2), "$10\r\n2147483648\r\n");
  EXPECT_EQ(toReply("10n ** 15n", P::kResp3), ":1000000000000000\r\n");
  EXPECT_EQ(toReply("'text'", P::kResp2), "$4\r\ntext\r\n");
  EXPECT_EQ(toReply("var s = new String('OK'); s.__reply_type = 'status'; s", P::kResp2),
            "+OK\r\n");
  EXPECT_EQ(toReply("var s = new String('hi'); s.__reply_type = 'verbatim'; s", P::kResp3),
            "=6\r\ntxt:hi\r\n");
  EXPECT_EQ(toReply("var s = new String('hi'); s.__reply_type = 'verbatim'; s.__format = 'ab'; s",
                    P::kResp3),
            "error: Verbatim format length must be 3.");
  EXPECT_EQ(toReply("new Uint8Array([104, 105]).buffer", P::kResp2), "$2\r\nhi\r\n");
  EXPECT_EQ(toReply("null", P::kResp2), "$-1\r\n");
  EXPECT_EQ(toReply("null", P::kResp3), "_\r\n");
  EXPECT_EQ(toReply("true", P::kResp2), ":1\r\n");
  EXPECT_EQ(toReply("false", P::kResp3), "#f\r\n");
  EXPECT_EQ(toReply("new Set(['a'])", P::kResp3), "~1\r\n$1\r\na\r\n");
  EXPECT_EQ(toReply("new Set([{}])", P::kResp3), "error: Give value is not a key");
  EXPECT_EQ(toReply("[1, 'a', [null]]", P::kResp2), "*3\r\n:1\r\n$1\r\na\r\n*1\r\n$-1\r\n");
  EXPECT_EQ(toReply("({a: 1})", P::kResp3), "%1\r\n$1\r\na\r\n:1\r\n");
  EXPECT_EQ(toReply("({a: 1})", P::kResp2), "*2\r\n$1\r\na\r\n:1\r\n");
  // Inherited enumerable properties count; index-like names become integer keys.
  EXPECT_EQ(toReply("var p = {inherited: 1}; var o = Object.create(p); o[5] = 'x'; o", P::kResp3),
            "%2\r\n:5\r\n$1\r\nx\r\n$9\r\ninherited\r\n:1\r\n");
  EXPECT_EQ(toReply("new Map([[1, 2]])", P::kResp3), "%0\r\n");
  EXPECT_EQ(toReply("undefined", P::kResp2), "$9\r\nundefined\r\n");
  EXPECT_EQ(toReply("Symbol('s')", P::kResp2), "$9\r\nSymbol(s)\r\n");
  EXPECT_EQ(toReply("var a = []; a.push(a); a", P::kResp2), "error: nesting level reached");
}

}  // namespace
}  // namespace tfproxy::scripting
