// tfproxy in front of a Redis Cluster: commands routed by slot, multi-key commands split and
// merged, the key space walked across primaries, tfproxy as a one-node cluster to cluster
// clients, and slots moved while clients write.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/fleet_library.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"
#include "tests/support/seed_examples.h"

namespace tfproxy::testing {
namespace {

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new RedisCluster(3); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  // Stopped, not killed: it leaves the fleet (and hands its trigger lease on) at once.
  void TearDown() override {
    if (proxy_) proxy_->stop();
  }
  void SetUp() override {
    proxy_ = std::make_unique<Proxy>(std::vector<std::string>{"--backend", cluster_->seed()});
    Client c(proxy_->port());
    ASSERT_EQ(c.run({"FLUSHALL"}), "OK");
  }
  // The primary that holds `key`, asked directly: its value there (nil elsewhere).
  std::string valueOnOwner(const std::string& key) {
    for (auto& node : cluster_->nodes()) {
      Client direct(node->port());
      resp::Value v = direct.call({"GET", key});
      if (!v.isError()) return resp::toDebugString(v);  // the others answer MOVED
    }
    return "no owner";
  }

  static RedisCluster* cluster_;
  std::unique_ptr<Proxy> proxy_;
};
RedisCluster* ClusterTest::cluster_ = nullptr;

// The node (an index in cluster.nodes()) serving `key`, as the first node's map says (no
// command touches the key: a read would be a key space event of its own).
size_t ownerOf(RedisCluster& cluster, const std::string& key) {
  Client first(cluster.nodes()[0]->port());
  const int64_t slot = first.call({"CLUSTER", "KEYSLOT", key}).integer;
  for (const resp::Value& range : first.call({"CLUSTER", "SLOTS"}).elements) {
    if (range.elements[0].integer <= slot && slot <= range.elements[1].integer) {
      for (size_t i = 0; i < cluster.nodes().size(); ++i) {
        if (cluster.nodes()[i]->port() == range.elements[2].elements[1].integer) return i;
      }
    }
  }
  return SIZE_MAX;
}

// `per_node` keys starting with `prefix` on each of the first `primaries` nodes, grouped by node.
std::vector<std::string> keysOnEveryPrimary(RedisCluster& cluster, const std::string& prefix,
                                            size_t per_node, size_t primaries = 3) {
  std::vector<std::vector<std::string>> by_node(primaries);
  for (int i = 0; std::any_of(by_node.begin(), by_node.end(),
                              [&](const auto& keys) { return keys.size() < per_node; });
       ++i) {
    const std::string key = prefix + std::to_string(i);
    const size_t node = ownerOf(cluster, key);
    if (node < primaries && by_node[node].size() < per_node) by_node[node].push_back(key);
  }
  std::vector<std::string> out;
  for (const auto& keys : by_node) out.insert(out.end(), keys.begin(), keys.end());
  return out;
}

std::vector<std::string> listOf(Client& c, const std::string& key) {
  std::vector<std::string> out;
  for (const resp::Value& v : c.call({"LRANGE", key, "0", "-1"}).elements) out.push_back(v.str);
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST_F(ClusterTest, KeysAreRoutedToTheirSlotsOwner) {
  Client c(proxy_->port());
  Client node(cluster_->nodes()[0]->port());
  std::set<int64_t> slots;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "key:" + std::to_string(i);
    ASSERT_EQ(c.run({"SET", key, std::to_string(i)}), "OK");
    slots.insert(node.call({"CLUSTER", "KEYSLOT", key}).integer);
  }
  for (int i = 0; i < 100; ++i) {
    const std::string key = "key:" + std::to_string(i);
    EXPECT_EQ(c.run({"GET", key}), "\"" + std::to_string(i) + "\"");
    EXPECT_EQ(valueOnOwner(key), "\"" + std::to_string(i) + "\"") << key;
  }
  EXPECT_GT(slots.size(), 50u);
  // A pipeline over every node keeps its order.
  std::string pipeline;
  for (int i = 0; i < 100; ++i) {
    c.sendCommand({"INCR", "key:" + std::to_string(i)});
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(resp::toDebugString(c.read()), std::to_string(i + 1));
}

TEST_F(ClusterTest, MultiKeyCommandsAreSplitAndMerged) {
  Client c(proxy_->port());
  ASSERT_EQ(c.run({"MSET", "a", "1", "b", "2", "c", "3", "d", "4"}), "OK");
  EXPECT_EQ(c.run({"MGET", "d", "nosuch", "a", "c", "b", "a"}),
            R"(["4", (nil), "1", "3", "2", "1"])");
  EXPECT_EQ(c.run({"EXISTS", "a", "b", "nosuch", "a"}), "3");
  EXPECT_EQ(c.run({"TOUCH", "a", "b", "c"}), "3");
  EXPECT_EQ(c.run({"DEL", "a", "b", "nosuch"}), "2");
  EXPECT_EQ(c.run({"UNLINK", "c", "d"}), "2");
  EXPECT_EQ(c.run({"MGET", "a", "b", "c", "d"}), "[(nil), (nil), (nil), (nil)]");
  // What cannot be split answers Redis Cluster's error; one hash tag is one slot.
  EXPECT_EQ(c.run({"SUNIONSTORE", "x", "y", "z"}),
            "(error) CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(c.run({"SADD", "{u}a", "1"}), "1");
  EXPECT_EQ(c.run({"SADD", "{u}b", "2"}), "1");
  EXPECT_EQ(c.run({"SUNION", "{u}a", "{u}b"}), R"(["1", "2"])");
  EXPECT_EQ(c.run({"SET", "{u}c", "v"}), "OK");
  EXPECT_EQ(c.run({"EVAL", "return redis.call('GET', KEYS[1])", "1", "{u}c"}), "\"v\"");
  EXPECT_EQ(c.run({"EVAL", "return 1", "2", "p", "q"}),
            "(error) CROSSSLOT Keys in request don't hash to the same slot");
  // An error from one part is the reply.
  EXPECT_EQ(c.run({"MSET", "e", "1", "f", "2"}), "OK");
  EXPECT_EQ(c.run({"SADD", "g", "1"}), "1");
  EXPECT_EQ(c.run({"MGET", "e", "g", "f"}), R"(["1", (nil), "2"])");
}

TEST_F(ClusterTest, KeylessCommandsSeeTheWholeKeySpace) {
  Client c(proxy_->port());
  std::set<std::string> written;
  for (int i = 0; i < 300; ++i) {
    written.insert("k" + std::to_string(i));
    ASSERT_EQ(c.run({"SET", "k" + std::to_string(i), "v"}), "OK");
  }
  EXPECT_EQ(c.run({"DBSIZE"}), "300");
  EXPECT_EQ(c.call({"KEYS", "*"}).elements.size(), 300u);
  // SCAN walks every primary with one cursor; every key once.
  std::multiset<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    resp::Value reply = c.call({"SCAN", cursor, "COUNT", "50"});
    ASSERT_EQ(reply.elements.size(), 2u) << resp::toDebugString(reply);
    cursor = reply.elements[0].str;
    for (const auto& key : reply.elements[1].elements) seen.insert(key.str);
    ASSERT_LT(++calls, 1000);
  } while (cursor != "0");
  EXPECT_EQ(seen.size(), 300u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), written);
  EXPECT_EQ(c.run({"SCAN", "1023"}), "(error) ERR invalid cursor");
  EXPECT_NE(c.run({"RANDOMKEY"}), "(nil)");
  EXPECT_EQ(c.run({"PING"}), "PONG");
  EXPECT_EQ(c.run({"FLUSHALL"}), "OK");
  EXPECT_EQ(c.run({"DBSIZE"}), "0");
  EXPECT_EQ(c.run({"RANDOMKEY"}), "(nil)");
  for (auto& node : cluster_->nodes()) {
    Client direct(node->port());
    EXPECT_EQ(direct.run({"DBSIZE"}), "0");
  }
  // Redis Cluster has database 0 only.
  EXPECT_EQ(c.run({"SELECT", "1"}), "(error) ERR SELECT is not allowed in cluster mode");
}

TEST_F(ClusterTest, ClusterClientsSeeAOneNodeCluster) {
  Client c(proxy_->port());
  const std::string port = std::to_string(proxy_->port());
  resp::Value slots = c.call({"CLUSTER", "SLOTS"});
  ASSERT_EQ(slots.elements.size(), 1u);
  EXPECT_EQ(slots.elements[0].elements[0].integer, 0);
  EXPECT_EQ(slots.elements[0].elements[1].integer, 16383);
  EXPECT_EQ(slots.elements[0].elements[2].elements[0].str, "127.0.0.1");
  EXPECT_EQ(slots.elements[0].elements[2].elements[1].integer, proxy_->port());
  const std::string id = c.call({"CLUSTER", "MYID"}).str;
  EXPECT_EQ(id.size(), 40u);
  EXPECT_EQ(c.call({"CLUSTER", "NODES"}).str,
            id + " 127.0.0.1:" + port + "@0 myself,master - 0 0 1 connected 0-16383\n");
  EXPECT_NE(c.call({"CLUSTER", "INFO"}).str.find("cluster_state:ok"), std::string::npos);
  EXPECT_EQ(c.run({"CLUSTER", "KEYSLOT", "foo"}), "12182");
  resp::Value shards = c.call({"CLUSTER", "SHARDS"});
  ASSERT_EQ(shards.elements.size(), 1u);
  EXPECT_EQ(resp::toDebugString(shards.elements[0].elements[1]), "[0, 16383]");
  ASSERT_EQ(c.run({"SET", "foo", "1"}), "OK");
  EXPECT_EQ(c.run({"CLUSTER", "COUNTKEYSINSLOT", "12182"}), "1");
  EXPECT_EQ(c.run({"CLUSTER", "GETKEYSINSLOT", "12182", "10"}), R"(["foo"])");
  EXPECT_EQ(c.run({"CLUSTER", "FAILOVER"}),
            "(error) ERR tfproxy shows itself as a one-node cluster and does not serve CLUSTER "
            "FAILOVER");
  EXPECT_EQ(c.run({"READONLY"}), "OK");
  EXPECT_EQ(c.run({"READWRITE"}), "OK");
  EXPECT_EQ(c.run({"ASKING"}), "OK");

  // redis-cli in cluster mode follows nothing: every slot is tfproxy's.
  std::string out;
  FILE* cli = ::popen(("redis-cli -c -p " + port + " GET foo 2>&1").c_str(), "r");
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, cli) != nullptr) out += buffer;
  ::pclose(cli);
  EXPECT_EQ(out, "1\n");

  // redis-py's cluster client (Debian's python3-redis) through tfproxy.
  const std::string script = R"(
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host='127.0.0.1', port=int(sys.argv[1]))
print(len(rc.get_nodes()))
for i in range(50):
    rc.set('py:%d' % i, i)
print(sum(int(rc.get('py:%d' % i)) for i in range(50)))
print(rc.mget_nonatomic(['py:1', 'py:2', 'nosuch']))
p = rc.pipeline()
for i in range(5):
    p.incr('py:%d' % i)
print(p.execute())
)";
  out.clear();
  cli = ::popen(("/usr/bin/python3 -c \"" + script + "\" " + port + " 2>&1").c_str(), "r");
  while (std::fgets(buffer, sizeof buffer, cli) != nullptr) out += buffer;
  ::pclose(cli);
  EXPECT_EQ(out, "1\n1225\n[b'1', b'2', None]\n[1, 2, 3, 4, 5]\n");
}

// Clients with connection state: a transaction sent in one piece runs on its keys' node, WATCH
// holds there, blocking commands wait on their key's node, pub/sub works across nodes, and a
// RESP3 client keeps its protocol and gets split commands merged.
TEST_F(ClusterTest, ClientsWithStateAreRoutedToo) {
  Client c(proxy_->port());
  for (const std::string key : {"t1", "t2", "t3", "t4", "t5", "t6"}) {
    c.sendCommand({"MULTI"});
    c.sendCommand({"SET", key, "1"});
    c.sendCommand({"INCR", key});
    c.sendCommand({"EXEC"});
    EXPECT_EQ(resp::toDebugString(c.read()), "OK") << key;
    EXPECT_EQ(resp::toDebugString(c.read()), "QUEUED");
    EXPECT_EQ(resp::toDebugString(c.read()), "QUEUED");
    EXPECT_EQ(resp::toDebugString(c.read()), "[OK, 2]") << key;
    EXPECT_EQ(valueOnOwner(key), "\"2\"");
    // Between transactions the client is routed by slot again.
    EXPECT_EQ(c.run({"MGET", "t1", key}), "[\"2\", \"2\"]");
  }
  // WATCH on one node, a change from another client: EXEC fails.
  Client other(proxy_->port());
  EXPECT_EQ(c.run({"WATCH", "w1"}), "OK");
  EXPECT_EQ(other.run({"SET", "w1", "x"}), "OK");
  c.sendCommand({"MULTI"});
  c.sendCommand({"SET", "w1", "y"});
  c.sendCommand({"EXEC"});
  c.read();
  c.read();
  EXPECT_EQ(resp::toDebugString(c.read()), "(nil)");
  EXPECT_EQ(c.run({"GET", "w1"}), "\"x\"");
  // A transaction typed one command at a time: it opens before its node is known and moves
  // there with what it queued.
  for (const std::string key : {"i1", "i2", "i3", "i4"}) {
    EXPECT_EQ(c.run({"MULTI"}), "OK");
    EXPECT_EQ(c.run({"PING"}), "QUEUED");
    EXPECT_EQ(c.run({"SET", key, "v"}), "QUEUED");
    EXPECT_EQ(c.run({"EXEC"}), "[PONG, OK]") << key;
    EXPECT_EQ(valueOnOwner(key), "\"v\"");
  }
  // Blocking commands wait on their key's node, whichever that is.
  for (const std::string list : {"l1", "l2", "l3", "l4"}) {
    Client waiter(proxy_->port());
    waiter.sendCommand({"BLPOP", list, "5"});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(other.run({"RPUSH", list, "v"}), "1");
    EXPECT_EQ(resp::toDebugString(waiter.read()), "[\"" + list + "\", \"v\"]");
  }
  // PUBLISH through any node reaches a subscriber on another.
  Client subscriber(proxy_->port());
  subscriber.sendCommand({"SUBSCRIBE", "news"});
  EXPECT_EQ(resp::toDebugString(subscriber.read()), R"(["subscribe", "news", 1])");
  EXPECT_EQ(other.run({"PUBLISH", "news", "hello"}), "1");
  EXPECT_EQ(resp::toDebugString(subscriber.read()), R"(["message", "news", "hello"])");
  // A RESP3 client: its protocol on every node, split commands merged.
  Client resp3(proxy_->port());
  EXPECT_EQ(resp3.call({"HELLO", "3"}).type, resp::Type::kMap);
  EXPECT_EQ(resp3.run({"MSET", "r1", "1", "r2", "2", "r3", "3"}), "OK");
  EXPECT_EQ(resp3.call({"HGETALL", "nosuch"}).type, resp::Type::kMap);
  EXPECT_EQ(resp3.run({"MGET", "r1", "r2", "r3", "r4"}), R"(["1", "2", "3", (nil)])");
  EXPECT_EQ(resp3.run({"DEL", "r1", "r2", "r3"}), "3");
  // The one-node cluster in RESP3's shapes, also right after a command that needed the client's
  // own connection (answered by tfproxy, not by the node behind that connection).
  resp3.sendCommand({"BLPOP", "r-list", "0.01"});
  resp3.sendCommand({"CLUSTER", "INFO"});
  resp3.sendCommand({"CLUSTER", "SHARDS"});
  resp3.read();
  resp::Value info = resp3.read();
  EXPECT_EQ(info.type, resp::Type::kVerbatim);
  EXPECT_NE(info.str.find("cluster_known_nodes:1"), std::string::npos) << info.str;
  resp::Value shards = resp3.read();
  ASSERT_EQ(shards.elements.size(), 1u);
  EXPECT_EQ(shards.elements[0].type, resp::Type::kMap);
}

// client.call routes like a client's command: keys of every slot, split commands, SCAN over
// every primary -- and the stored library lives on one node and is seen through tfproxy.
TEST_F(ClusterTest, FunctionsReachEverySlot) {
  Client c(proxy_->port());
  deleteLibraries(c);
  const std::string library = R"(#!js api_version=1.0 name=spread
redis.registerFunction('fill', function(client, n) {
  for (let i = 0; i < parseInt(n); i++) client.call('set', 'f' + i, String(i));
  return client.call('mget', 'f0', 'f1', 'f2', 'nosuch');
});
redis.registerFunction('walk', function(client) {
  let cursor = '0', keys = [];
  do {
    const r = client.call('scan', cursor);
    cursor = r[0];
    keys = keys.concat(r[1]);
  } while (cursor != '0');
  return [keys.length, client.call('del', 'f0', 'f1', 'f2'), client.call('exists', 'f0', 'f3')];
});
redis.registerFunction('cross', function(client) {
  return client.call('sunion', 'f5', 'f6');
});)";
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", library}), "OK");
  EXPECT_EQ(c.run({"TFCALL", "spread.fill", "0", "50"}), R"(["0", "1", "2", (nil)])");
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(valueOnOwner("f" + std::to_string(i)), "\"" + std::to_string(i) + "\"");
  }
  EXPECT_EQ(c.run({"TFCALL", "spread.walk", "0"}), "[50, 3, 1]");
  EXPECT_EQ(c.run({"TFCALL", "spread.cross", "0"}),
            "(error) CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(c.run({"DBSIZE"}), "47");
  // A second tfproxy in front of the same cluster serves the stored library.
  Proxy other({"--backend", cluster_->nodes()[2]->address()});
  Client o(other.port());
  EXPECT_EQ(o.run({"TFCALL", "spread.walk", "0"}), "[47, 0, 1]");
  deleteLibraries(c);
  other.stop();  // leaving the fleet at once: the next test's tfproxy does not wait for its lock
}

// A client whose own connection serves a blocking command, with more commands pipelined behind
// it: commands over several slots and over the whole key space are split and merged as for any
// client (the session returns to routing by slot once the pop is answered), not refused or
// answered by that one node.
TEST_F(ClusterTest, PipelinedAfterABlockingCommandIsRoutedBySlot) {
  Client c(proxy_->port());
  const std::vector<std::string> keys = keysOnEveryPrimary(*cluster_, "p", 1);
  ASSERT_EQ(c.run({"RPUSH", "list", "x"}), "1");
  c.sendCommand({"BLPOP", "list", "1"});
  c.sendCommand({"MSET", keys[0], "0", keys[1], "1", keys[2], "2"});
  c.sendCommand({"MGET", keys[0], keys[1], keys[2]});
  c.sendCommand({"DBSIZE"});
  c.sendCommand({"DEL", keys[0], keys[1], keys[2]});
  EXPECT_EQ(resp::toDebugString(c.read()), "[\"list\", \"x\"]");
  EXPECT_EQ(resp::toDebugString(c.read()), "OK");
  EXPECT_EQ(resp::toDebugString(c.read()), "[\"0\", \"1\", \"2\"]");
  EXPECT_EQ(resp::toDebugString(c.read()), "3");
  EXPECT_EQ(resp::toDebugString(c.read()), "3");
}

// The seed's blocking pop through callAsync, on lists of every node; a command over several slots
// is refused with a clear error rather than answered from one node.
TEST_F(ClusterTest, AsyncCallsReachEverySlot) {
  Client c(proxy_->port());
  deleteLibraries(c);
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kSeedMyBlpop}), "OK");
  // Another library: a callAsync that would need several nodes.
  const std::string library = R"(#!js api_version=1.0 name=many
redis.registerAsyncFunction('many', async function(client) {
    return await client.block((c) => c.callAsync('mget', 'x1', 'x2', 'x3'));
});)";
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", library}), "OK");
  for (int i = 0; i < 6; ++i) {
    const std::string list = "list" + std::to_string(i);
    Client waiter(proxy_->port());
    waiter.sendCommand({"TFCALLASYNC", "lib.my_blpop", "1", list, "b"});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(c.run({"RPUSH", list, "a", "b"}), "2");
    EXPECT_EQ(resp::toDebugString(waiter.read()), "[\"" + list + "\", \"b\"]");
  }
  EXPECT_EQ(c.run({"TFCALLASYNC", "many.many", "0"}),
            "(error) ERR tfproxy: in front of a cluster, callAsync runs commands of one slot only; "
            "use client.call for mget");
  deleteLibraries(c);
}

// Cluster functions on a cluster: runOnShards runs once per primary, each confined to its own
// keys; runOnKey runs on the key's primary.
TEST_F(ClusterTest, ClusterFunctionsRunPerShard) {
  Client c(proxy_->port());
  deleteLibraries(c);
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=shards
redis.registerClusterFunction('mine', async (client, ...keys) => client.block((c) => {
  const found = [];
  for (const key of keys) {
    try { found.push(c.call('get', key)); } catch (e) { found.push('elsewhere'); }
  }
  return found.filter((v) => v != 'elsewhere').sort();
}));
redis.registerClusterFunction('peek', async (client, key) => client.block((c) => c.call('get', key)));
redis.registerAsyncFunction('all', async (client, ...keys) => {
  const [results, errors] = await client.runOnShards('mine', ...keys);
  const every = results.flat();
  return [results.length, results.filter((r) => r.length > 0).length, every.length,
          new Set(every).size, errors.length];
});
redis.registerAsyncFunction('one', async (client, key, other) =>
    await client.runOnKey(key, 'peek', other));
)"}),
            "OK");
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) {
    keys.push_back("cf" + std::to_string(i));
    ASSERT_EQ(c.run({"SET", keys.back(), std::to_string(i)}), "OK");
  }
  std::vector<std::string> all = {"TFCALLASYNC", "shards.all", "0"};
  all.insert(all.end(), keys.begin(), keys.end());
  // Three shards, each sees its own keys and none twice: together every value once.
  EXPECT_EQ(c.run(all), "[3, 3, 30, 30, 0]");
  // runOnKey: the remote runs where the key is; another shard's key is refused there.
  EXPECT_EQ(c.run({"TFCALLASYNC", "shards.one", "0", "cf1", "cf1"}), "\"1\"");
  std::string refused;
  for (const std::string& other : keys) {
    const std::string r = c.run({"TFCALLASYNC", "shards.one", "0", "cf1", other});
    if (r.find("confined to the keys of its shard") != std::string::npos) refused = other;
  }
  EXPECT_FALSE(refused.empty());
  deleteLibraries(c);
}

// A bounded soak: stateless, split, transaction, blocking and function traffic over every node
// leaves no descriptor, connection or memory behind (bench/cluster_soak.py is the long one).
TEST_F(ClusterTest, BoundedSoak) {
  Client c(proxy_->port());
  deleteLibraries(c);
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=soak
redis.registerFunction('rw', function(client, a, b) {
  client.call('incr', a);
  return client.call('mget', a, b);
});
redis.registerAsyncFunction('each', async (client) => (await client.runOnShards('n'))[0].length);
redis.registerClusterFunction('n', async (client) => 1);
redis.registerKeySpaceTrigger('fired', 'soak:t', (client) => { client.call('incr', 'soak-fired'); });
redis.registerStreamTrigger('read', 'soak:s', (client) => { client.call('incr', 'soak-read'); },
                            {isStreamTrimmed: true});)"}),
            "OK");
  int writes = 0;  // each fires both triggers once
  auto run = [&](int rounds) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        Client s(proxy_->port());
        for (int i = 0; i < rounds; ++i) {
          const std::string a = "soak:" + std::to_string((i * 7 + t) % 500);
          const std::string b = "soak:" + std::to_string((i * 13 + t) % 500);
          s.sendCommand({"SET", a, "1"});
          s.sendCommand({"MGET", a, b, "soak:x"});
          s.sendCommand({"DEL", b, "soak:y"});
          s.sendCommand({"TFCALL", "soak.rw", "2", a, b});
          s.sendCommand({"MULTI"});
          s.sendCommand({"INCR", a});
          s.sendCommand({"EXEC"});
          const std::string list = "soak:list" + std::to_string(i % 7);
          s.sendCommand({"RPUSH", list, "x"});
          s.sendCommand({"BLPOP", list, "1"});  // served at once: the list has an element
          s.sendCommand({"SET", "soak:t" + std::to_string(i % 11), "v"});
          s.sendCommand({"XADD", "soak:s" + std::to_string(i % 5), "*", "f", "v"});
          for (int k = 0; k < 11; ++k) {
            resp::Value v = s.read();
            ASSERT_FALSE(v.isError()) << i << " " << k << " " << v.str;
          }
          if (i % 50 == 0) ASSERT_EQ(s.run({"TFCALLASYNC", "soak.each", "0"}), "3");
        }
      });
    }
    for (auto& th : threads) th.join();
    writes += 2 * rounds;
  };
  Client node(cluster_->nodes()[0]->port());
  auto clients = [&] {
    int total = 0;
    for (auto& n : cluster_->nodes()) {
      Client d(n->port());
      const std::string info = d.call({"INFO", "clients"}).str;
      total += std::stoi(info.substr(info.find("connected_clients:") + 18));
    }
    return total;
  };
  run(200);  // warm-up: connections, pools, V8
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int fds_before = openFds(proxy_->pid());
  const int64_t rss_before = rssKb(proxy_->pid());
  const int clients_before = clients();
  run(2000);
  EXPECT_TRUE(eventually([&] { return openFds(proxy_->pid()) <= fds_before; }))
      << openFds(proxy_->pid()) << " descriptors, " << fds_before << " before";
  if (!kSanitized) EXPECT_LT(rssKb(proxy_->pid()) - rss_before, 8 * 1024) << "kB grown";
  EXPECT_TRUE(eventually([&] { return clients() <= clients_before; }))
      << clients() << " backend clients, " << clients_before << " before";
  // Through tfproxy every trigger ran before its write's reply, and every entry was read.
  EXPECT_EQ(c.call({"GET", "soak-fired"}).str, std::to_string(writes));
  EXPECT_EQ(c.call({"GET", "soak-read"}).str, std::to_string(writes));
  deleteLibraries(c);
}

// Moves `slot` with its keys to the primary `to` (an index in cluster.nodes()), as
// redis-cli --cluster reshard does for each slot.
void moveSlot(RedisCluster& cluster, int64_t slot, size_t to) {
  Client target(cluster.nodes()[to]->port());
  const std::string to_id = target.call({"CLUSTER", "MYID"}).str;
  size_t from = SIZE_MAX;
  for (const resp::Value& range : target.call({"CLUSTER", "SLOTS"}).elements) {
    if (range.elements[0].integer <= slot && slot <= range.elements[1].integer) {
      for (size_t i = 0; i < cluster.nodes().size(); ++i) {
        if (cluster.nodes()[i]->port() == range.elements[2].elements[1].integer) from = i;
      }
    }
  }
  ASSERT_NE(from, SIZE_MAX);
  if (from == to) return;
  Client source(cluster.nodes()[from]->port());
  const std::string from_id = source.call({"CLUSTER", "MYID"}).str;
  const std::string n = std::to_string(slot);
  ASSERT_EQ(target.run({"CLUSTER", "SETSLOT", n, "IMPORTING", from_id}), "OK");
  ASSERT_EQ(source.run({"CLUSTER", "SETSLOT", n, "MIGRATING", to_id}), "OK");
  for (const resp::Value& key : source.call({"CLUSTER", "GETKEYSINSLOT", n, "1000"}).elements) {
    // NOKEY: the key was deleted (or expired) since it was listed.
    const std::string moved =
        source.run({"MIGRATE", "127.0.0.1", std::to_string(cluster.nodes()[to]->port()), key.str,
                    "0", "5000"});
    ASSERT_TRUE(moved == "OK" || moved == "NOKEY") << moved;
  }
  // The new owner first, then the old, then the rest (as redis-cli does): told in another order,
  // the two can each believe the other owns the slot.
  ASSERT_EQ(target.run({"CLUSTER", "SETSLOT", n, "NODE", to_id}), "OK");
  ASSERT_EQ(source.run({"CLUSTER", "SETSLOT", n, "NODE", to_id}), "OK");
  for (size_t i = 0; i < cluster.nodes().size(); ++i) {
    if (i == from || i == to) continue;
    Client c(cluster.nodes()[i]->port());
    c.call({"CLUSTER", "SETSLOT", n, "NODE", to_id});
  }
  // The new owner's claim carries the highest epoch: late gossip of the old owner (a slot moved
  // twice in a second) cannot take the slot back to one node while the others disagree.
  target.call({"CLUSTER", "BUMPEPOCH"});
  cluster.waitHealthy();
}

// The stored libraries' key moves to another primary: loading and deleting go on there, and a
// new tfproxy finds the libraries.
TEST_F(ClusterTest, LibraryStoreFollowsItsKey) {
  Client c(proxy_->port());
  deleteLibraries(c);
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=one\n"
                   "redis.registerFunction('f', () => 1);"}),
            "OK");
  Client node(cluster_->nodes()[0]->port());
  const int64_t slot = node.call({"CLUSTER", "KEYSLOT", "tfproxy:libraries"}).integer;
  for (size_t to : {1u, 2u}) {
    moveSlot(*cluster_, slot, to);
    const std::string name = "lib" + std::to_string(to);
    ASSERT_EQ(
        c.run({"TFUNCTION", "LOAD",
               "#!js api_version=1.0 name=" + name + "\nredis.registerFunction('f', () => 2);"}),
        "OK");
    Proxy fresh({"--backend", cluster_->seed()});
    Client f(fresh.port());
    EXPECT_EQ(f.run({"TFCALL", "one.f", "0"}), "1");
    EXPECT_EQ(f.run({"TFCALL", name + ".f", "0"}), "2");
    fresh.stop();
  }
  deleteLibraries(c);
}

// Slots move from one primary to another (redis-cli --cluster reshard: MIGRATING/IMPORTING,
// MIGRATE, then the new owner) while clients increment counters through tfproxy: every
// acknowledged increment is there afterwards, and no client saw a redirect.
TEST_F(ClusterTest, ReshardingUnderLoadLosesNothing) {
  constexpr int kKeys = 200;
  std::vector<std::atomic<int>> acknowledged(kKeys);
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex error_mutex;
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      Client c(proxy_->port());
      for (int n = 0; !stop; ++n) {
        const int k = (n * 7 + w * 13) % kKeys;
        resp::Value v = c.call({"INCR", "counter:" + std::to_string(k)});
        if (v.type == resp::Type::kInteger) {
          ++acknowledged[k];
        } else {
          std::lock_guard lock(error_mutex);
          if (errors++ == 0) first_error = resp::toDebugString(v);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string from = cluster_->nodeId(0);
  const std::string to = cluster_->nodeId(1);
  for (int round = 0; round < 2; ++round) {
    const std::string command = "redis-cli --cluster reshard " + cluster_->seed() +
                                " --cluster-from " + (round == 0 ? from : to) + " --cluster-to " +
                                (round == 0 ? to : from) +
                                " --cluster-slots 2000 --cluster-yes >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    cluster_->waitHealthy();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_EQ(errors.load(), 0) << first_error;
  Client c(proxy_->port());
  int total = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "counter:" + std::to_string(k);
    ASSERT_EQ(c.run({"GET", key}),
              acknowledged[k] == 0 ? "(nil)" : "\"" + std::to_string(acknowledged[k]) + "\"")
        << key;
    total += acknowledged[k];
  }
  EXPECT_GT(total, 1000);
  // The moves were seen (MOVED, then the map read again), not just waited out.
  EXPECT_NE(proxy_->log().find("slot map changed"), std::string::npos);
}

// Failover under load, with replicas: a graceful CLUSTER FAILOVER loses nothing acknowledged;
// after kill -9 of a primary, clients get errors only for the commands whose outcome is unknown
// (sent to the dead node), nothing hangs, and writes go on once a replica took over.
// Records "<event>:<key>" for keys starting with "k:", and a function whose own writes fire
// nothing.
const char kKeyspaceRecorder[] = R"(#!js api_version=1.0 name=trig
redis.registerKeySpaceTrigger('rec', 'k:', function(client, data) {
  client.call('rpush', 'log', data.event + ':' + data.key);
});
redis.registerFunction('quietly', function(client) {
  for (let i = 0; i < 12; ++i) client.call('set', 'k:f' + i, 'x');
  return 'done';
});)";

// Records "<stream> <id>" for every entry of a stream starting with "s:".
const char kStreamRecorder[] = R"(#!js api_version=1.0 name=streams
redis.registerStreamTrigger('rec', 's:', function(client, data) {
  client.call('rpush', 'seen', data.stream_name + ' ' + data.id[0] + '-' + data.id[1]);
});)";

// Every primary sends the events of its own keys: writes through tfproxy fire before their
// reply whichever primary serves the key, writes of Redis' own clients fire once, and a
// function's writes fire nothing on any primary.
TEST_F(ClusterTest, KeySpaceTriggersFireOnEveryPrimary) {
  Client c(proxy_->port());
  deleteLibraries(c);
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kKeyspaceRecorder}), "OK");
  const std::vector<std::string> keys = keysOnEveryPrimary(*cluster_, "k:", 2);
  std::vector<std::string> expected;
  for (const std::string& key : keys) {
    ASSERT_EQ(c.run({"SET", key, "v"}), "OK");
    expected.push_back("set:" + key);
    EXPECT_EQ(listOf(c, "log"), expected) << "the trigger ran after the reply of SET " << key;
  }
  // A multi-key write split across the primaries is one section.
  std::vector<std::string> del{"DEL"};
  del.insert(del.end(), keys.begin(), keys.begin() + 3);
  del.insert(del.end(), keys.end() - 3, keys.end());
  ASSERT_EQ(c.call(del).integer, 6);
  for (size_t i = 1; i < del.size(); ++i) expected.push_back("del:" + del[i]);
  EXPECT_EQ(sorted(listOf(c, "log")), sorted(expected));
  // Clients of Redis itself, on each primary.
  for (const std::string& key : keys) {
    Client direct(cluster_->nodes()[ownerOf(*cluster_, key)]->port());
    ASSERT_EQ(direct.call({"LPUSH", key, "x"}).integer, 1);
    expected.push_back("lpush:" + key);
  }
  EXPECT_EQ(eventuallyEquals([&] { return sorted(listOf(c, "log")); }, sorted(expected)),
            sorted(expected));
  ASSERT_EQ(c.call({"TFCALL", "trig.quietly", "0"}).str, "done");
  ASSERT_EQ(c.run({"SET", "k:last", "v"}), "OK");
  expected.push_back("set:k:last");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sorted(listOf(c, "log")), sorted(expected));
  deleteLibraries(c);
}

// Streams on every primary are read on their node; positions stay with tfproxy's hash, so a new
// tfproxy goes on where the last one left, and a stream whose slot moved is read on its new
// node from where it was.
TEST_F(ClusterTest, StreamTriggersReadEveryPrimary) {
  Client c(proxy_->port());
  deleteLibraries(c);
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kStreamRecorder}), "OK");
  const std::vector<std::string> streams = keysOnEveryPrimary(*cluster_, "s:", 1);
  std::vector<std::string> expected;
  for (const std::string& stream : streams) {
    ASSERT_EQ(c.call({"XADD", stream, "1-1", "f", "v"}).str, "1-1");
    expected.push_back(stream + " 1-1");
    EXPECT_EQ(listOf(c, "seen"), expected) << "the entry was read after the reply of XADD";
  }
  for (const std::string& stream : streams) {
    Client direct(cluster_->nodes()[ownerOf(*cluster_, stream)]->port());
    ASSERT_EQ(direct.call({"XADD", stream, "2-1", "f", "v"}).str, "2-1");
    expected.push_back(stream + " 2-1");
  }
  EXPECT_EQ(eventuallyEquals([&] { return sorted(listOf(c, "seen")); }, sorted(expected)),
            sorted(expected));

  // A new tfproxy (the old one stopped, handing its lease on): nothing is read twice.
  ASSERT_EQ(proxy_->stop(), 0);
  proxy_ = std::make_unique<Proxy>(std::vector<std::string>{"--backend", cluster_->seed()});
  Client again(proxy_->port());
  // The first stream's slot moves to the next primary.
  const size_t from = ownerOf(*cluster_, streams[0]);
  const int64_t slot = again.call({"CLUSTER", "KEYSLOT", streams[0]}).integer;
  moveSlot(*cluster_, slot, (from + 1) % 3);
  ASSERT_EQ(ownerOf(*cluster_, streams[0]), (from + 1) % 3);
  for (const std::string& stream : streams) {
    ASSERT_EQ(again.call({"XADD", stream, "3-1", "f", "v"}).str, "3-1");
    expected.push_back(stream + " 3-1");
  }
  EXPECT_EQ(eventuallyEquals([&] { return sorted(listOf(again, "seen")); }, sorted(expected)),
            sorted(expected));
  deleteLibraries(again);
}

// Three tfproxy instances in front of one cluster share one gate (the fleet's keys live on one
// primary): a function writing keys of two primaries is never seen half done through any of
// them, a read-modify-write through all three never oversells, and both hold while the fleet's
// slot moves to another primary.
TEST_F(ClusterTest, FleetGateSpansInstancesAndPrimaries) {
  ASSERT_NE(ownerOf(*cluster_, "a"), ownerOf(*cluster_, "b"));
  ASSERT_NE(ownerOf(*cluster_, "stock"), ownerOf(*cluster_, "a"));
  proxy_->stop();  // leaving the fleet at once
  proxy_.reset();
  std::vector<std::unique_ptr<Proxy>> proxies;
  for (int i = 0; i < 3; ++i) {
    proxies.push_back(std::make_unique<Proxy>(
        std::vector<std::string>{"--backend", cluster_->seed(), "--fleet-lease", "1000",
                                 // a section may wait while the fleet moves: not a timeout
                                 "--lock-redis-timeout", "10000"}));
  }
  Client setup(proxies[0]->port());
  deleteLibraries(setup);
  ASSERT_EQ(setup.run({"TFUNCTION", "LOAD", kFleetLibrary}), "OK");
  for (auto& p : proxies) {
    Client c(p->port());
    ASSERT_TRUE(eventually([&] { return c.call({"TFUNCTION", "LIST"}).elements.size() == 1; }));
  }
  ASSERT_EQ(setup.run({"MSET", "a", "0", "b", "0", "stock", "100000", "sold", "0"}), "OK");
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0}, reads{0}, torn{0}, taken{0}, errors{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 3; ++i) {
    // A reply that does not come within 20 s fails the test (with the proxies' logs).
    threads.emplace_back([&, i] {
      try {
        Client c(proxies[i]->port(), std::chrono::seconds(20));
        while (!stop) {
          resp::Value v = c.call({"TFCALL", i == 0 ? "fleet.pair" : "fleet.take", "0"});
          if (v.isError()) {
            ++errors;
          } else {
            ++(i == 0 ? writes : taken);
          }
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "TFCALL through instance " << i << ": " << e.what();
      }
    });
    threads.emplace_back([&, i] {
      try {
        Client c(proxies[i]->port(), std::chrono::seconds(20));
        while (!stop) {
          resp::Value v = c.call({"MGET", "a", "b"});
          if (v.elements.size() != 2 || v.elements[0].str != v.elements[1].str) ++torn;
          ++reads;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "MGET through instance " << i << ": " << e.what();
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Client node(cluster_->nodes()[0]->port());
  const int64_t fleet_slot =
      node.call({"CLUSTER", "KEYSLOT", "tfproxy:libraries:{fleet}:lock"}).integer;
  const size_t fleet_home = ownerOf(*cluster_, "tfproxy:libraries:{fleet}:lock");
  int writes_before = 0;
  try {
    moveSlot(*cluster_, fleet_slot, (fleet_home + 1) % 3);
    writes_before = writes.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "moving the fleet's slot: " << e.what();
  }
  stop = true;
  for (auto& t : threads) t.join();
  if (HasFailure()) {
    for (auto& p : proxies) ADD_FAILURE() << p->log();
  }
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(writes.load(), writes_before + 10) << "sections stopped after the fleet's slot moved";
  EXPECT_GT(reads.load(), 100);
  resp::Value counts = setup.call({"MGET", "stock", "sold"});
  EXPECT_EQ(std::stoi(counts.elements[0].str) + std::stoi(counts.elements[1].str), 100000);
  EXPECT_EQ(std::stoi(counts.elements[1].str), taken.load());
  deleteLibraries(setup);
  for (auto& p : proxies) p->stop();  // leaving the fleet: the next test's proxy is alone
}

TEST(ClusterFailoverTest, FailoverUnderLoad) {
  RedisCluster cluster(3, 1);
  Proxy proxy({"--backend", cluster.seed()});
  constexpr int kKeys = 100;
  std::vector<std::atomic<int>> acknowledged(kKeys);
  std::vector<std::atomic<int>> unknown(kKeys);
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::mutex error_mutex;
  std::set<std::string> errors;
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      Client c(proxy.port(), std::chrono::seconds(20));
      for (int n = 0; !stop; ++n) {
        const int k = (n * 7 + w * 13) % kKeys;
        resp::Value v = c.call({"INCR", "fo:" + std::to_string(k)});
        ++calls;
        if (v.type == resp::Type::kInteger) {
          ++acknowledged[k];
        } else {
          ++unknown[k];
          std::lock_guard lock(error_mutex);
          errors.insert(resp::toDebugString(v));
        }
      }
    });
  }
  auto replicaOf = [&](const std::string& primary_id) -> size_t {
    for (size_t i = 0; i < cluster.nodes().size(); ++i) {
      Client node(cluster.nodes()[i]->port());
      const std::string info = node.call({"INFO", "replication"}).str;
      if (info.find("role:slave") != std::string::npos &&
          node.call({"CLUSTER", "NODES"}).str.find("myself,slave " + primary_id) !=
              std::string::npos) {
        return i;
      }
    }
    return SIZE_MAX;
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // Graceful: the replica of node 0 takes over.
  const size_t replica0 = replicaOf(cluster.nodeId(0));
  ASSERT_NE(replica0, SIZE_MAX);
  {
    Client replica(cluster.nodes()[replica0]->port());
    ASSERT_EQ(replica.run({"CLUSTER", "FAILOVER"}), "OK");
  }
  cluster.waitHealthy();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  {
    std::lock_guard lock(error_mutex);
    EXPECT_TRUE(errors.empty()) << *errors.begin();
  }

  // Crash: node 1 dies; its replica is promoted after the node timeout.
  const size_t replica1 = replicaOf(cluster.nodeId(1));
  ASSERT_NE(replica1, SIZE_MAX);
  cluster.nodes()[1]->kill();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool promoted = false;
  while (!promoted && std::chrono::steady_clock::now() < deadline) {
    Client replica(cluster.nodes()[replica1]->port());
    promoted = replica.call({"INFO", "replication"}).str.find("role:master") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(promoted) << Client(cluster.nodes()[replica1]->port()).call({"CLUSTER", "NODES"}).str
                        << "replica " << replica1;
  // Commands waiting for the dead node's slots are routed again once the map shows the new
  // primary; within the retry budget writes go on.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const int before = calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_GT(calls.load(), before + 100) << "writes did not go on after the failover\n"
                                        << proxy.log();
  {
    std::lock_guard lock(error_mutex);
    for (const std::string& e : errors) {
      EXPECT_EQ(e, "(error) ERR tfproxy: connection to the backend lost");
    }
  }
  // No value is higher than what was sent (nothing was sent twice). Acknowledged writes the dead
  // primary had not replicated yet are Redis' own loss, not checked here.
  Client c(proxy.port(), std::chrono::seconds(20));
  for (int k = 0; k < kKeys; ++k) {
    resp::Value v = c.call({"GET", "fo:" + std::to_string(k)});
    const int64_t value = v.isNull() ? 0 : std::stoll(v.str);
    EXPECT_LE(value, acknowledged[k] + unknown[k]) << k;
  }
}

// A primary fails over while triggers are loaded: the events of its slots come from the new
// primary, and a stream on it is read on from its position.
TEST(ClusterFailoverTest, TriggersFollowAFailover) {
  RedisCluster cluster(3, 1);
  Proxy proxy({"--backend", cluster.seed()});
  Client c(proxy.port(), std::chrono::seconds(20));
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kKeyspaceRecorder}), "OK");
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kStreamRecorder}), "OK");
  const std::string key = keysOnEveryPrimary(cluster, "k:", 1, 1).front();
  const std::string stream = keysOnEveryPrimary(cluster, "s:", 1, 1).front();
  ASSERT_EQ(c.run({"SET", key, "1"}), "OK");
  ASSERT_EQ(c.call({"XADD", stream, "1-1", "f", "v"}).str, "1-1");
  ASSERT_EQ(listOf(c, "log"), std::vector<std::string>{"set:" + key});
  ASSERT_EQ(listOf(c, "seen"), std::vector<std::string>{stream + " 1-1"});

  // The replica of node 0 takes over.
  const std::string primary_id = cluster.nodeId(0);
  size_t replica = SIZE_MAX;
  for (size_t i = 3; i < cluster.nodes().size(); ++i) {
    Client node(cluster.nodes()[i]->port());
    if (node.call({"CLUSTER", "NODES"}).str.find("myself,slave " + primary_id) !=
        std::string::npos) {
      replica = i;
    }
  }
  ASSERT_NE(replica, SIZE_MAX);
  Client direct(cluster.nodes()[replica]->port());
  ASSERT_EQ(direct.run({"CLUSTER", "FAILOVER"}), "OK");
  // Redis gives a manual failover 5 s for the replica to catch up and then drops it (seen once on
  // a loaded machine); it is asked for again then, as an operator would.
  auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually(
      [&] {
        if (direct.call({"INFO", "replication"}).str.find("role:master") != std::string::npos) {
          return true;
        }
        if (std::chrono::steady_clock::now() - asked > std::chrono::seconds(6)) {
          direct.call({"CLUSTER", "FAILOVER"});
          asked = std::chrono::steady_clock::now();
        }
        return false;
      },
      std::chrono::seconds(30)));
  cluster.waitHealthy();
  ASSERT_EQ(ownerOf(cluster, key), replica);

  // Within moments tfproxy listens to the new primary: a direct write there fires.
  int writes = 0;
  EXPECT_TRUE(eventually([&] {
    direct.call({"SET", key, std::to_string(++writes)});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return listOf(c, "log").size() > 1;
  })) << proxy.log();
  // From then on every write fires once, through tfproxy before its reply (once the last direct
  // write's event, if still on its way, is in).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const size_t fired = listOf(c, "log").size();
  ASSERT_EQ(c.run({"SET", key, "through"}), "OK");
  std::vector<std::string> log = listOf(c, "log");
  ASSERT_EQ(log.size(), fired + 1);
  EXPECT_EQ(log.back(), "set:" + key);
  ASSERT_EQ(c.call({"XADD", stream, "2-1", "f", "v"}).str, "2-1");
  EXPECT_EQ(listOf(c, "seen"), (std::vector<std::string>{stream + " 1-1", stream + " 2-1"}));
}

// A cluster reached over TLS (as managed cluster-mode services are): tfproxy connects to each
// node's TLS port -- not the plaintext one the node also names -- for forwarding, functions and
// the triggers' notification connections.
TEST(ClusterTlsTest, EveryPathUsesTheNodesTlsPorts) {
  RedisCluster cluster(3, 0, /*tls=*/true);
  Proxy proxy({"--backend", "rediss://" + cluster.tlsSeed(), "--backend-tls-ca-cert-file",
               testCertificates().ca});
  Client c(proxy.port());
  const std::vector<std::string> keys = keysOnEveryPrimary(cluster, "k:", 1);
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kKeyspaceRecorder}), "OK");
  std::vector<std::string> expected;
  for (const std::string& key : keys) {
    ASSERT_EQ(c.run({"SET", key, key}), "OK");
    expected.push_back("set:" + key);
    // Written on its node (asked over plaintext here).
    EXPECT_EQ(Client(cluster.nodes()[ownerOf(cluster, key)]->port()).call({"GET", key}).str, key);
  }
  EXPECT_EQ(listOf(c, "log"), expected);
  EXPECT_EQ(c.run({"MGET", keys[0], keys[1], keys[2]}),
            "[\"" + keys[0] + "\", \"" + keys[1] + "\", \"" + keys[2] + "\"]");
  EXPECT_EQ(c.call({"TFCALL", "trig.quietly", "0"}).str, "done");
  EXPECT_EQ(c.run({"DBSIZE"}), "16");  // 3 keys, 12 of the function, the log
  EXPECT_EQ(listOf(c, "log"), expected);
  const std::string log = proxy.log();
  EXPECT_EQ(log.find("unreachable"), std::string::npos) << log;
}

}  // namespace
}  // namespace tfproxy::testing
