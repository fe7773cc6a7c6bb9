// TFUNCTION LOAD/DELETE/LIST and TFCALL against a real redis-server through the real proxy,
// with the exact texts of spec Appendix A.
#include <gtest/gtest.h>

#include "tests/support/client.h"
#include "tests/support/processes.h"
#include "tests/support/suite.h"

namespace tfproxy::testing {
namespace {

class FunctionsTest : public ProxySuite {
 protected:
  static void SetUpTestSuite() { startProcesses({"--enable-debug-command", "yes"}); }
  std::string load(const std::string& code) { return c_->run({"TFUNCTION", "LOAD", code}); }
  std::string loadReplace(const std::string& code) {
    return c_->run({"TFUNCTION", "LOAD", "REPLACE", code});
  }
  std::string error(const std::vector<std::string>& cmd) {
    resp::Value v = c_->call(cmd);
    EXPECT_TRUE(v.isError()) << resp::toDebugString(v);
    return v.str;
  }
};

const char kHello[] = R"(#!js api_version=1.0 name=lib
redis.registerFunction('hello', function(client){ return 'hello world'; });)";

TEST_F(FunctionsTest, LoadCallDelete) {
  EXPECT_EQ(load(kHello), "OK");
  EXPECT_EQ(c_->run({"TFCALL", "lib.hello", "0"}), "\"hello world\"");
  EXPECT_EQ(c_->run({"tfcall", "lib.hello.ignored", "0"}), "\"hello world\"");
  EXPECT_EQ(c_->run({"TFUNCTION", "DELETE", "lib"}), "OK");
  EXPECT_EQ(error({"TFCALL", "lib.hello", "0"}), "Unknown library lib");
}

TEST_F(FunctionsTest, LoadArgumentErrors) {
  EXPECT_EQ(error({"TFUNCTION", "LOAD"}), "Could not find library payload");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "REPLACE"}), "Could not find library payload");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "CONFIG"}), "configuration value was not given");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "CONFIG", "\xff", kHello}),
            "given configuration value is not a valid string");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "CONFIG", "nope", kHello})
                .rfind("configuration must be a valid json, 'nope', ", 0),
            0u);
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "CONFIG", "[1]", kHello}),
            "configuration must be a valid json object");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "\xff\xfe"}), "lib code must a valid string");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "USER", "bob", kHello}), "Unknown argument user");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "DEBUG", kHello}),
            "The debug server address was not specified in the configuration.");
  EXPECT_EQ(error({"TFUNCTION"}), "ERR wrong number of arguments for 'tfunction' command");
  EXPECT_EQ(error({"TFUNCTION", "NOPE"}), "Unknown subcommand nope");
}

TEST_F(FunctionsTest, InternalCommandsAreRefused) {
  // Both names are answered by tfproxy, the longer one too (command names are looked up by
  // their whole length).
  EXPECT_EQ(error({"_RG_INTERNALS.FUNCTION", "x"}),
            "Internal command should only be sent from primary or loaded from AOF");
  EXPECT_EQ(error({"_rg_internals.update_stream_last_read_id", "a", "b", "c", "d"}),
            "Internal command should only be sent from primary or loaded from AOF");
}

TEST_F(FunctionsTest, LoadPipelineErrors) {
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "redis.registerFunction('f', ()=>1)"}),
            "Failed to compile library: Invalid or missing prologue. The rules for the prologue "
            "are: a) It starts on the first line. b) It is formatted as follows: \"#!<engine "
            "name> <key>=<value>\".");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "#!js name=x\n"}),
            "Failed to compile library: The api version is missing from the prologue.");
  // The compile error's place follows upstream's text: library, line (the prologue is line 1),
  // column.
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "#!js api_version=1.0 name=x\nfunction ("}),
            "Failed to compile library: SyntaxError: Function statements require a function name "
            "at x:2:1");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "#!js api_version=3.0 name=x\nfunction ("}),
            "Failed to compile library: SyntaxError: Function statements require a function name "
            "at x:2:1");
  EXPECT_EQ(error({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=lib\n\nredis.registerFunction('f', () => {\n"
                   "  var x = ;\n});"}),
            "Failed to compile library: SyntaxError: Unexpected token ';' at lib:4:11");
  // At error-verbosity 2, the source line too.
  ASSERT_EQ(c_->run({"CONFIG", "SET", "redisgears_2.error-verbosity", "2"}), "OK");
  EXPECT_EQ(error({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=lib\n\nredis.registerFunction('f', () => {\n"
                   "  var x = ;\n});"}),
            "Failed to compile library: SyntaxError: Unexpected token ';' at lib:4:11|  var x = ;");
  ASSERT_EQ(c_->run({"CONFIG", "SET", "redisgears_2.error-verbosity", "1"}), "OK");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "#!js api_version=3.0 name=x\nvar a;"}),
            "Failed to compile library: An unsupported API version was requested: 3.0. The "
            "supported versions are 1.0, 1.1.");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "#!js api_version=1.0 name=x\nvar a = 1;"}),
            "Neither function nor other registrations were found.");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", "#!js api_version=1.0 name=x\nthrow 'boom';"}),
            "Failed loading library: boom.");
  EXPECT_EQ(error({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=x\nredis.registerFunction('a-b', ()=>1);"}),
            "Failed loading library: Unallowed function name 'a-b', Unallowed char was given "
            "'-'..");
  EXPECT_EQ(load(kHello), "OK");
  EXPECT_EQ(error({"TFUNCTION", "LOAD", kHello}), "Library lib already exists.");
}

TEST_F(FunctionsTest, RegistrationErrors) {
  auto loadError = [&](const std::string& body) {
    return error({"TFUNCTION", "LOAD", "#!js api_version=1.0 name=r\n" + body});
  };
  EXPECT_EQ(loadError("redis.registerFunction('f', 1);"),
            "Failed loading library: Second argument to 'registerFunction' must be a function.");
  EXPECT_EQ(loadError("redis.registerAsyncFunction('f', 'x');"),
            "Failed loading library: Second argument to 'registerFunction' must be a function.");
  EXPECT_EQ(loadError("redis.registerFunction(1, ()=>1);"),
            "Failed loading library: Can not convert value at position 0 into V8LocalUtf8. Value "
            "is not string..");
  EXPECT_EQ(loadError("redis.registerFunction('f', ()=>1, {flags: [1]});"),
            "Failed loading library: Failed parsing function flags, wrong type of string value.");
  EXPECT_EQ(loadError("redis.registerFunction('f', ()=>1, {flags: ['fast']});"),
            "Failed loading library: Failed parsing function flags, Unknow flag 'fast' was given.");
  EXPECT_EQ(loadError("redis.registerFunction('f', ()=>1, {bogus: 1});"),
            "Failed loading library: Can not convert value at position 2 into Option < "
            "NativeFunctionOptionalArgs >. Unknown properties given: bogus..");
  EXPECT_NE(loadError("redis.registerFunction('f', ()=>1, undefined);")
                .find("Given argument must be an object"),
            std::string::npos);
  EXPECT_EQ(loadError("redis.registerFunction('f', ()=>1); redis.registerFunction('f', ()=>2);"),
            "Failed loading library: Function f already exists.");
  EXPECT_EQ(loadError("redis.registerFunction('', ()=>1);"),
            "Failed loading library: Unallowed function name '', Empty name is not allowed..");
  // Cluster functions (spec §4.6): alone they are no registration; checks in upstream's order.
  EXPECT_EQ(loadError("redis.registerClusterFunction('t', async ()=>1);"),
            "Neither function nor other registrations were found.");
  const std::string f = "redis.registerFunction('f', ()=>1);";
  EXPECT_EQ(loadError(f + "redis.registerClusterFunction('t', 1);"),
            "Failed loading library: Second argument to 'registerClusterFunction' must be a "
            "function.");
  EXPECT_EQ(loadError(f + "redis.registerClusterFunction('t', ()=>1);"),
            "Failed loading library: Remote function must be async.");
  EXPECT_EQ(loadError(f + "redis.registerClusterFunction('', async ()=>1);"),
            "Failed loading library: Unallowed cluster function name '', Empty name is not "
            "allowed..");
  EXPECT_EQ(loadError(f + "redis.registerClusterFunction('t', async ()=>1);"
                          "redis.registerClusterFunction('t', async ()=>2);"),
            "Failed loading library: Remote function t already exists.");
}

// runOnKey and runOnShards against one Redis (spec §4.8): the remote function runs here, once,
// with its arguments and result JSON round-tripped (ArrayBuffers as bytes).
TEST_F(FunctionsTest, ClusterFunctionsOnOneRedis) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=remote
redis.registerClusterFunction('echo', async (client, ...args) => args);
redis.registerClusterFunction('bytes', async (client, b) => b);
redis.registerClusterFunction('get', async (client, key) => client.block((c) => c.call('get', key)));
redis.registerClusterFunction('count', async (client) => client.block((c) => c.call('dbsize')));
redis.registerClusterFunction('throws', async (client) => { throw 'remote failure'; });
redis.registerClusterFunction('never', async (client) => new Promise(() => {}));
redis.registerClusterFunction('write', async (client, key) => client.block((c) => c.call('set', key, 'x')));
redis.registerAsyncFunction('onKey', async (client, name, ...args) =>
    await client.runOnKey('k', name, ...args));
redis.registerAsyncFunction('onShards', async (client, name) =>
    await client.runOnShards(name));
redis.registerAsyncFunction('types', async (client) => {
  const r = await client.runOnKey('k', 'echo', 1, 'two', {three: [3]}, null, new Date(0));
  const b = await client.runOnKey('k', 'bytes', new Uint8Array([1, 2, 255]).buffer);
  return [JSON.stringify(r), b instanceof ArrayBuffer, new Uint8Array(b).join(',')];
});
redis.registerAsyncFunction('unserializable', async (client) =>
    await client.runOnKey('k', 'echo', 1n));
)"),
            "OK");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.types", "0"}),
            R"(["[1,\"two\",{\"three\":[3]},null,\"1970-01-01T00:00:00.000Z\"]", 1, "1,2,255"])");
  ASSERT_EQ(c_->run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.onKey", "0", "get", "k"}), "\"v\"");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.onKey", "0", "nosuch"}),
            "(error) Remote function nosuch does not exists on library remote");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.onKey", "0", "throws"}), "(error) remote failure");
  // A BigInt has no JSON: neither as an argument nor as a result.
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.unserializable", "0"}),
            "(error) Failed serializing arguments");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.onKey", "0", "count"}),
            "(error) Failed deserializing remote function result");
  // Cluster functions run as NO_WRITES.
  EXPECT_NE(c_->run({"TFCALLASYNC", "remote.onKey", "0", "write", "k"}).find("error"),
            std::string::npos);
  // runOnShards: one shard here; failures are listed, not thrown; a remote run that does not end
  // within remote-task-default-timeout adds "Timeout".
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.onShards", "0", "echo"}), "[[[]], []]");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.onShards", "0", "throws"}),
            R"([[], ["remote failure"]])");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "remote.onShards", "0", "never"}), R"([[], ["Timeout"]])");
  resp::Value list = c_->call({"TFUNCTION", "LIST", "LIBRARY", "remote"});
  ASSERT_EQ(list.elements.size(), 1u);
  std::string names;
  for (size_t i = 0; i + 1 < list.elements[0].elements.size(); i += 2) {
    if (list.elements[0].elements[i].str == "cluster_functions") {
      names = resp::toDebugString(list.elements[0].elements[i + 1]);
    }
  }
  EXPECT_EQ(names, R"(["bytes", "count", "echo", "get", "never", "throws", "write"])");
  EXPECT_EQ(c_->run({"DEL", "k"}), "1");
  EXPECT_EQ(c_->run({"TFUNCTION", "DELETE", "remote"}), "OK");
}

TEST_F(FunctionsTest, RegisteringAfterLoadFails) {
  load(R"(#!js api_version=1.0 name=late
redis.registerFunction('again', function(){ redis.registerFunction('x', ()=>1); });)");
  EXPECT_EQ(error({"TFCALL", "late.again", "0"}), "Called 'register_function' out of context");
}

TEST_F(FunctionsTest, ReplaceKeepsOldVersionOnFailure) {
  EXPECT_EQ(load(kHello), "OK");
  EXPECT_EQ(
      error({"TFUNCTION", "LOAD", "REPLACE",
             "#!js api_version=1.0 name=lib\nredis.registerFunction('hello', ()=>1); throw 'no';"}),
      "Failed loading library: no.");
  EXPECT_EQ(c_->run({"TFCALL", "lib.hello", "0"}), "\"hello world\"");
  EXPECT_EQ(loadReplace("#!js api_version=1.1 name=lib\nredis.registerFunction('v2', ()=>2);"),
            "OK");
  EXPECT_EQ(c_->run({"TFCALL", "lib.v2", "0"}), "2");
  EXPECT_EQ(error({"TFCALL", "lib.hello", "0"}), "Unknown function hello");
  // A fresh isolate: no state of the old version survives.
  loadReplace(R"(#!js api_version=1.0 name=lib
var n = 0; redis.registerFunction('count', ()=>++n);)");
  EXPECT_EQ(c_->run({"TFCALL", "lib.count", "0"}), "1");
  EXPECT_EQ(c_->run({"TFCALL", "lib.count", "0"}), "2");
  loadReplace(R"(#!js api_version=1.0 name=lib
var n = 0; redis.registerFunction('count', ()=>++n);)");
  EXPECT_EQ(c_->run({"TFCALL", "lib.count", "0"}), "1");
}

TEST_F(FunctionsTest, DeleteErrors) {
  EXPECT_EQ(error({"TFUNCTION", "DELETE"}), "function name was not given");
  EXPECT_EQ(error({"TFUNCTION", "DELETE", "\xff"}), "Couldn't parse as UTF-8 string");
  EXPECT_EQ(error({"TFUNCTION", "DELETE", "nope"}), "library does not exists");
}

TEST_F(FunctionsTest, ListShapes) {
  c_->run({"TFUNCTION", "LOAD", "CONFIG", "{\"x\": 1}",
           R"(#!js api_version=1.0 name=listed
redis.registerFunction('plain', ()=>1);
redis.registerAsyncFunction('asyncfn', async ()=>1, {description: 'desc', flags: [redis.functionFlags.RAW_ARGUMENTS, redis.functionFlags.NO_WRITES]});)"});
  Client resp2(proxy_->port());
  resp2.sendCommand({"TFUNCTION", "LIST"});
  EXPECT_EQ(
      resp2.readRaw(),
      "*1\r\n*22\r\n$11\r\napi_version\r\n$3\r\n1.0\r\n$17\r\ncluster_functions\r\n*0\r\n"
      "$13\r\nconfiguration\r\n$8\r\n{\"x\": 1}\r\n$6\r\nengine\r\n$2\r\njs\r\n$9\r\nfunctions\r\n"
      "*2\r\n$5\r\nplain\r\n$7\r\nasyncfn\r\n$17\r\nkeyspace_triggers\r\n*0\r\n$4\r\nname\r\n"
      "$6\r\nlisted\r\n$19\r\npending_async_calls\r\n*0\r\n$12\r\npending_jobs\r\n:0\r\n"
      "$15\r\nstream_triggers\r\n*0\r\n$4\r\nuser\r\n$7\r\ndefault\r\n");
  Client resp3(proxy_->port());
  resp3.call({"HELLO", "3"});
  resp::Value list = resp3.call({"TFUNCTION", "LIST", "v", "LIBRARY", "listed", "WITHCODE"});
  ASSERT_EQ(list.elements.size(), 1u);
  const resp::Value& lib = list.elements[0];
  ASSERT_EQ(lib.type, resp::Type::kMap);
  EXPECT_EQ(lib.elements[4].str, "code");
  const resp::Value& functions = lib.elements[11];
  ASSERT_EQ(functions.elements.size(), 2u);
  EXPECT_EQ(resp::toDebugString(functions.elements[1]),
            "{\"description\": \"desc\", \"flags\": [\"no-writes\", \"raw-arguments\"], "
            "\"is_async\": true, \"name\": \"asyncfn\"}");
  EXPECT_EQ(resp::toDebugString(functions.elements[0]),
            "{\"description\": (nil), \"flags\": [], \"is_async\": false, \"name\": \"plain\"}");
  EXPECT_EQ(c_->run({"TFUNCTION", "LIST", "LIBRARY", "nothing"}), "[]");
  EXPECT_EQ(error({"TFUNCTION", "LIST", "LIBRARY"}), "Library name was not given");
  EXPECT_EQ(error({"TFUNCTION", "LIST", "BOGUS"}), "Unknown option 'bogus'");
  EXPECT_EQ(error({"TFUNCTION", "LIST", "\xff"}), "Binary option is not allowed");
}

TEST_F(FunctionsTest, TfcallArgumentErrors) {
  load(kHello);
  EXPECT_EQ(error({"TFCALL", "lib.hello"}), "ERR wrong number of arguments for 'tfcall' command");
  EXPECT_EQ(error({"TFCALL", "libhello", "0"}), "Failed extracting function name");
  EXPECT_EQ(error({"TFCALL", "\xff.x", "0"}), "Couldn't parse as UTF-8 string");
  EXPECT_EQ(error({"TFCALL", "lib.hello", "-1"}), "ERR invalid digit found in string");
  EXPECT_EQ(error({"TFCALL", "lib.hello", ""}), "ERR cannot parse integer from empty string");
  EXPECT_EQ(error({"TFCALL", "lib.hello", "99999999999999999999"}),
            "ERR number too large to fit in target type");
  EXPECT_EQ(error({"TFCALL", "nope.hello", "0"}), "Unknown library nope");
  EXPECT_EQ(error({"TFCALL", ".hello", "0"}), "Unknown library ");
  EXPECT_EQ(error({"TFCALL", "lib.nope", "0"}), "Unknown function nope");
  EXPECT_EQ(error({"TFCALL", "lib.hello", "2", "k"}),
            "Not enough arguments was given, expected at least 2 arguments, got 1 arguments.");
  EXPECT_EQ(c_->run({"TFCALL", "lib.hello", "+0"}), "\"hello world\"");
}

TEST_F(FunctionsTest, AsyncFunctionsNeedTfcallasync) {
  load(R"(#!js api_version=1.0 name=a
redis.registerAsyncFunction('sync_body', function(){ return 1; });
redis.registerFunction('coro', async function(){ return 1; });)");
  const std::string declared =
      "The function is declared as async and was called while blocking was not allowed; note "
      "that you cannot invoke async functions from within Lua or MULTI, and you must use "
      "TFCALLASYNC instead.";
  EXPECT_EQ(error({"TFCALL", "a.sync_body", "0"}), declared);
  EXPECT_EQ(error({"TFCALL", "a.coro", "0"}), declared);
  EXPECT_EQ(c_->run({"TFCALLASYNC", "a.sync_body", "0"}), "1");
}

TEST_F(FunctionsTest, ArgumentsAndConversions) {
  load(R"(#!js api_version=1.0 name=conv
redis.registerFunction('args', function(client, ...a){ return a; });
redis.registerFunction('raw', function(client, a){ return [a instanceof ArrayBuffer, a.byteLength]; },
  {flags: [redis.functionFlags.RAW_ARGUMENTS]});
redis.registerFunction('types', function(client){
  return [1, 1.5, 'x', null, true, {k: 'v'}, [2]];
});
redis.registerFunction('nothing', function(client){});
redis.registerFunction('status', function(client){ return client.call('set', 'k', 'v'); });
redis.registerFunction('hash', function(client){
  client.call('hset', 'h', 'f', 'v');
  var r = client.call('hgetall', 'h');
  return [typeof r, r.f, client.call('type', 'h') === 'hash'];
});
redis.registerFunction('numbers', function(client){
  client.call('set', 'n', 5);
  client.call('expire', 'n', 100);
  return [client.call('get', 'n'), client.call('ttl', 'n') > 0n, typeof client.call('incr', 'n')];
});
redis.registerFunction('binary', function(client){
  client.call('set', 'b', new Uint8Array([0, 255, 10]).buffer);
  var raw = client.callRaw('get', 'b');
  return [new Uint8Array(raw)[1], raw];
});)");
  EXPECT_EQ(c_->run({"TFCALL", "conv.args", "2", "k1", "k2", "a1"}), "[\"k1\", \"k2\", \"a1\"]");
  EXPECT_EQ(error({"TFCALL", "conv.args", "0", "\xff"}), "Can not convert argument to string");
  EXPECT_EQ(c_->run({"TFCALL", "conv.raw", "0", "\xff\xfe"}), "[1, 2]");
  EXPECT_EQ(c_->run({"TFCALL", "conv.types", "0"}),
            "[1, \"1.5\", \"x\", (nil), 1, [\"k\", \"v\"], [2]]");
  EXPECT_EQ(c_->run({"TFCALL", "conv.nothing", "0"}), "\"undefined\"");
  EXPECT_EQ(c_->run({"TFCALL", "conv.status", "0"}), "\"OK\"");
  EXPECT_EQ(c_->run({"TFCALL", "conv.hash", "0"}), "[\"object\", \"v\", 1]");
  EXPECT_EQ(c_->run({"TFCALL", "conv.numbers", "0"}), "[\"5\", 1, \"bigint\"]");
  c_->sendCommand({"TFCALL", "conv.binary", "0"});
  EXPECT_EQ(c_->readRaw(), std::string("*2\r\n:255\r\n$3\r\n\0\xff\n\r\n", 19));
  Client r3(proxy_->port());
  r3.call({"HELLO", "3"});
  r3.sendCommand({"TFCALL", "conv.types", "0"});
  EXPECT_EQ(r3.readRaw(),
            "*7\r\n:1\r\n,1.5\r\n$1\r\nx\r\n_\r\n#t\r\n%1\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n:2\r\n");
}

TEST_F(FunctionsTest, ErrorsFromJavaScript) {
  load(R"(#!js api_version=1.0 name=errs
redis.registerFunction('str', function(){ throw 'Some Error'; });
redis.registerFunction('obj', function(){ throw new TypeError('bad thing'); });
redis.registerFunction('redis_error', function(client){ client.call('set', 's', 'x'); return client.call('incr', 's'); });
redis.registerFunction('caught', function(client){
  try { client.call('incr', 's'); } catch (e) { return [typeof e, e, e.message === undefined]; }
});
redis.registerFunction('unknown', function(client){ return client.call('nosuchcommand'); });
redis.registerFunction('arity', function(client){ return client.call('get'); });
redis.registerFunction('bad_arg', function(client){ return client.call('get', {}); });
redis.registerFunction('pending', function(client){ return new Promise(function(){}); });)");
  EXPECT_EQ(error({"TFCALL", "errs.str", "0"}), "Some Error");
  EXPECT_EQ(error({"TFCALL", "errs.obj", "0"}), "TypeError: bad thing");
  EXPECT_EQ(error({"TFCALL", "errs.redis_error", "0"}),
            "ERR value is not an integer or out of range");
  EXPECT_EQ(c_->run({"TFCALL", "errs.caught", "0"}),
            "[\"string\", \"ERR value is not an integer or out of range\", 1]");
  EXPECT_EQ(error({"TFCALL", "errs.unknown", "0"}).rfind("ERR unknown command 'nosuchcommand'", 0),
            0u);
  EXPECT_EQ(error({"TFCALL", "errs.arity", "0"}),
            "ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(error({"TFCALL", "errs.bad_arg", "0"}),
            "Failed consuming arguments. Can not convert value into bytes buffer.");
  EXPECT_EQ(error({"TFCALL", "errs.pending", "0"}),
            "Can not block client for background execution, Blocking is not allow inside "
            "multi/exec, Lua, or within another module (RM_Call).");
  // Verbosity 2 gives the stack, lines joined with '|'.
  EXPECT_EQ(c_->run({"CONFIG", "SET", "redisgears_2.error-verbosity", "2"}), "OK");
  std::string stack = error({"TFCALL", "errs.obj", "0"});
  c_->run({"CONFIG", "SET", "redisgears_2.error-verbosity", "1"});
  EXPECT_EQ(stack.rfind("TypeError: bad thing|", 0), 0u) << stack;
  EXPECT_NE(stack.find("errs:3:"), std::string::npos) << stack;
}

TEST_F(FunctionsTest, CommandRulesFromJavaScript) {
  load(R"(#!js api_version=1.0 name=rules
redis.registerFunction('blpop', function(client){ return client.call('blpop', 'empty', '0'); });
redis.registerFunction('eval', function(client){ return client.call('eval', 'return 1', '0'); });
redis.registerFunction('tfcall', function(client){ return client.call('tfcall', 'rules.blpop', '0'); });
redis.registerFunction('ro', function(client){ return client.call('set', 'x', '1'); },
  {flags: [redis.functionFlags.NO_WRITES]});
redis.registerFunction('ro_read', function(client){ return client.call('get', 'x'); },
  {flags: [redis.functionFlags.NO_WRITES]});
redis.registerFunction('db', function(client){ return client.call('get', 'where'); });
redis.registerFunction('select', function(client){
  const selected = client.call('select', '5');
  client.call('set', 'after_select', 'x');
  return [selected, client.call('get', 'after_select')];
});)");
  EXPECT_EQ(c_->run({"TFCALL", "rules.blpop", "0"}), "(nil)");  // at once, not blocking
  EXPECT_EQ(error({"TFCALL", "rules.eval", "0"}),
            "ERR command 'eval' is not allowed on script mode");
  EXPECT_EQ(error({"TFCALL", "rules.tfcall", "0"}),
            "ERR command 'tfcall' is not allowed on script mode");
  EXPECT_EQ(error({"TFCALL", "rules.ro", "0"}),
            "ERR Write command 'set' was called while write is not allowed.");
  EXPECT_EQ(c_->run({"TFCALL", "rules.ro_read", "0"}), "(nil)");
  // Functions run in the caller's database.
  Client other(proxy_->port());
  other.call({"SELECT", "3"});
  other.call({"SET", "where", "three"});
  EXPECT_EQ(other.run({"TFCALL", "rules.db", "0"}), "\"three\"");
  EXPECT_EQ(c_->run({"TFCALL", "rules.db", "0"}), "(nil)");
  // A SELECT from JavaScript lasts for that one command (spec §6.6): the SET after it writes to
  // the caller's database, and the connection the function used goes back to the pool clean.
  EXPECT_EQ(c_->run({"TFCALL", "rules.select", "0"}), "[\"OK\", \"x\"]");
  Client redis(redis_->port());
  EXPECT_EQ(redis.run({"GET", "after_select"}), "\"x\"");
  redis.call({"SELECT", "5"});
  EXPECT_EQ(redis.run({"EXISTS", "after_select"}), "0");
  EXPECT_EQ(other.run({"TFCALL", "rules.db", "0"}), "\"three\"");
  EXPECT_EQ(c_->run({"TFCALL", "rules.db", "0"}), "(nil)");
}

TEST_F(FunctionsTest, RedisObjectApi) {
  load(R"(#!js api_version=1.0 name=api
redis.registerFunction('info', function(client){
  return [redis.apiVersion(), typeof redis.v8Version(), redis.functionFlags.NO_WRITES,
          redis.functionFlags.ALLOW_OOM, redis.functionFlags.RAW_ARGUMENTS, JSON.stringify(redis.config),
          client.isBlockAllowed()];
});
redis.registerFunction('globals', function(){
  return [typeof eval, typeof SharedArrayBuffer, typeof Atomics, typeof JSON, typeof Math,
          typeof WebAssembly];
});
redis.registerFunction('ai', function(){ try { redis.redisai.create_tensor(); } catch (e) { return e; } });
redis.registerFunction('log', function(){ redis.log('a "quoted"\nline'); return 1; });
redis.log('at load');
redis.registerAsyncFunction('blockallowed', function(client){ return client.isBlockAllowed(); });)");
  EXPECT_EQ(c_->run({"TFCALL", "api.info", "0"}),
            "[\"1.1\", \"string\", \"no-writes\", \"allow-oom\", \"raw-arguments\", \"{}\", 0]");
  EXPECT_EQ(c_->run({"TFCALL", "api.globals", "0"}),
            "[\"undefined\", \"undefined\", \"undefined\", \"object\", \"object\", \"undefined\"]");
  EXPECT_EQ(c_->run({"TFCALL", "api.ai", "0"}), "\"RedisAI is not initialize\"");
  EXPECT_EQ(c_->run({"TFCALL", "api.log", "0"}), "1");
  // The line names the library and the function.
  EXPECT_NE(proxy_->log().find("<redisgears_2> api.log: a \\\"quoted\\\"\\nline"),
            std::string::npos)
      << proxy_->log();
  EXPECT_NE(proxy_->log().find("<redisgears_2> api: at load"), std::string::npos);
  EXPECT_EQ(c_->run({"TFCALLASYNC", "api.blockallowed", "0"}), "1");
  c_->run(
      {"TFUNCTION", "LOAD", "REPLACE", "CONFIG", "{\"limit\": 5}",
       "#!js api_version=1.0 name=api\nredis.registerFunction('cfg', ()=>redis.config.limit);"});
  EXPECT_EQ(c_->run({"TFCALL", "api.cfg", "0"}), "5");
}

TEST_F(FunctionsTest, StaleClientIsInvalid) {
  load(R"(#!js api_version=1.0 name=stale
var saved;
redis.registerFunction('save', function(client){ saved = client; return 1; });
redis.registerFunction('use', function(client){ try { saved.call('ping'); } catch (e) { return e; } });)");
  c_->run({"TFCALL", "stale.save", "0"});
  EXPECT_EQ(c_->run({"TFCALL", "stale.use", "0"}), "\"Used on invalid client\"");
}

TEST_F(FunctionsTest, ConfigCommands) {
  EXPECT_EQ(c_->run({"CONFIG", "GET", "redisgears_2.error-verbosity"}),
            "[\"redisgears_2.error-verbosity\", \"1\"]");
  EXPECT_EQ(c_->run({"TCONFIG_GET", "error-verbosity"}),
            "[\"redisgears_2.error-verbosity\", \"1\"]");
  EXPECT_EQ(c_->run({"TCONFIG_GET", "nope"}), "[]");
  // Patterns that reach the backend's settings too are merged with its reply.
  resp::Value all = c_->call({"CONFIG", "GET", "*"});
  bool ours = false, theirs = false;
  for (size_t i = 0; i + 1 < all.elements.size(); i += 2) {
    ours = ours || all.elements[i].str == "redisgears_2.lock-redis-timeout";
    theirs = theirs || all.elements[i].str == "maxmemory";
  }
  EXPECT_TRUE(ours && theirs);
  EXPECT_EQ(c_->run({"CONFIG", "GET", "maxmemory"}), "[\"maxmemory\", \"0\"]");  // forwarded
  EXPECT_EQ(c_->run({"CONFIG", "SET", "redisgears_2.lock-redis-timeout", "700", "maxmemory-samples",
                     "6"}),
            "OK");
  EXPECT_EQ(c_->run({"TCONFIG_GET", "lock-redis-timeout"}),
            "[\"redisgears_2.lock-redis-timeout\", \"700\"]");
  EXPECT_EQ(Client(redis_->port()).run({"CONFIG", "GET", "maxmemory-samples"}),
            "[\"maxmemory-samples\", \"6\"]");
  EXPECT_EQ(error({"TCONFIG_SET", "nope", "1"}),
            "ERR Unknown option or number of arguments for CONFIG SET - 'redisgears_2.nope'");
  EXPECT_EQ(error({"CONFIG", "SET", "redisgears_2.execution-threads", "2"}),
            "ERR CONFIG SET failed (possibly related to argument 'redisgears_2.execution-threads') "
            "- can't set immutable config");
  EXPECT_EQ(c_->run({"TCONFIG_SET", "lock-redis-timeout", "500"}), "OK");
  EXPECT_EQ(error({"_RG_INTERNALS.FUNCTION", "load"}),
            "Internal command should only be sent from primary or loaded from AOF");
}

TEST_F(FunctionsTest, DebugCommand) {
  load(kHello);
  EXPECT_EQ(c_->run({"TFUNCTION", "DEBUG", "js", "isolates_aggregated_stats"})
                .rfind("[\"active\", 1, \"not_active\", ", 0),
            0u);
  EXPECT_EQ(c_->run({"TFUNCTION", "DEBUG", "js", "isolates_gc"}), "OK");
  EXPECT_EQ(error({"TFUNCTION", "DEBUG", "lua", "x"}),
            "Backend 'lua' does not exists or not yet loaded");
  EXPECT_EQ(error({"TFUNCTION", "DEBUG", "js"}), "Subcommand was not provided");
  EXPECT_EQ(error({"TFUNCTION", "DEBUG", "js", "what"}), "Unknown subcommand 'what'");
}

}  // namespace
}  // namespace tfproxy::testing
