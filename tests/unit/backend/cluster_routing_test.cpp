// Slots, slot maps and routing decisions for a Redis Cluster backend, without a cluster.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cluster_routing.h"
#include "backend/slot_map.h"

namespace tfproxy::backend {
namespace {

using resp::Value;

TEST(KeySlotTest, MatchesRedisCluster) {
  // Values from Redis' own CLUSTER KEYSLOT.
  EXPECT_EQ(keySlot("foo"), 12182);
  EXPECT_EQ(keySlot("bar"), 5061);
  EXPECT_EQ(keySlot(""), 0);
  EXPECT_EQ(keySlot("123456789"), 12739);  // CRC16/XMODEM check value 0x31C3
  // Hash tags: the first {...} with something inside.
  EXPECT_EQ(keySlot("{user1000}.following"), keySlot("user1000"));
  EXPECT_EQ(keySlot("{user1000}.followers"), keySlot("user1000"));
  EXPECT_EQ(keySlot("foo{}{bar}"), keySlot("foo{}{bar}"));
  EXPECT_NE(keySlot("foo{}{bar}"), keySlot("bar"));
  EXPECT_EQ(keySlot("foo{{bar}}zap"), keySlot("{bar"));
  EXPECT_EQ(keySlot("foo{bar}{zap}"), keySlot("bar"));
}

TEST(NodeAddressTest, ParsesRedirectTargets) {
  auto a = parseNodeAddress("127.0.0.1:7001");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7001);
  auto b = parseNodeAddress("::1:7002@17002");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 7002);
  EXPECT_FALSE(parseNodeAddress("nohost"));
  EXPECT_FALSE(parseNodeAddress("h:99999"));
  EXPECT_EQ(nodeKey(*a), "127.0.0.1:7001");
}

Value node(const std::string& ip, int64_t port, const std::string& id) {
  return Value::array({Value::bulk(ip), Value::integerValue(port), Value::bulk(id)});
}

TEST(SlotMapTest, FromClusterSlots) {
  config::Endpoint asked{"10.0.0.9", 7000, {}};
  Value reply = Value::array({
      Value::array({Value::integerValue(5461), Value::integerValue(10922),
                    node("10.0.0.2", 7001, "b"), node("10.0.0.5", 7004, "e")}),
      Value::array({Value::integerValue(0), Value::integerValue(5460), node("", 7000, "a")}),
      Value::array(
          {Value::integerValue(10923), Value::integerValue(16383), node("10.0.0.3", 7002, "c")}),
  });
  std::string error;
  auto map = SlotMap::fromSlots(reply, asked, &error);
  ASSERT_TRUE(map) << error;
  ASSERT_EQ(map->primaries().size(), 3u);
  // Ordered by lowest slot; an empty host is the node that was asked.
  EXPECT_EQ(nodeKey(map->primaries()[0].endpoint), "10.0.0.9:7000");
  EXPECT_EQ(nodeKey(map->primaries()[1].endpoint), "10.0.0.2:7001");
  EXPECT_EQ(map->ownerOf(0), 0);
  EXPECT_EQ(map->ownerOf(5461), 1);
  EXPECT_EQ(map->ownerOf(16383), 2);
  EXPECT_TRUE(map->complete());
  EXPECT_EQ(map->nodes().size(), 4u);     // the replica too
  EXPECT_FALSE(map->nodes()[1].primary);  // 10.0.0.5, the replica of the first range
}

// A node with TLS names its plaintext port (when it has one) and its TLS port: tfproxy uses the
// one of the kind it talks, and leaves out a node without it.
TEST(SlotMapTest, FromClusterShardsTakesThePortOfTheConnectionKind) {
  auto node = [](int64_t port, int64_t tls_port) {
    std::vector<Value> fields = {Value::bulk("id"),     Value::bulk("n" + std::to_string(tls_port)),
                                 Value::bulk("ip"),     Value::bulk("10.0.0.1"),
                                 Value::bulk("role"),   Value::bulk("master"),
                                 Value::bulk("health"), Value::bulk("online")};
    if (port > 0) {
      fields.push_back(Value::bulk("port"));
      fields.push_back(Value::integerValue(port));
    }
    fields.push_back(Value::bulk("tls-port"));
    fields.push_back(Value::integerValue(tls_port));
    return Value::array(std::move(fields), resp::Type::kMap);
  };
  auto shard = [](int64_t first, int64_t last, Value n) {
    return Value::array({Value::bulk("slots"),
                         Value::array({Value::integerValue(first), Value::integerValue(last)}),
                         Value::bulk("nodes"), Value::array({std::move(n)})},
                        resp::Type::kMap);
  };
  const Value reply =
      Value::array({shard(0, 8191, node(7000, 8000)), shard(8192, 16383, node(0, 8001))});
  std::string error;
  auto tls = SlotMap::fromShards(reply, config::Endpoint{"x", 1, {}}, /*tls=*/true, &error);
  ASSERT_TRUE(tls) << error;
  EXPECT_EQ(nodeKey(tls->primaries()[tls->ownerOf(0)].endpoint), "10.0.0.1:8000");
  EXPECT_EQ(nodeKey(tls->primaries()[tls->ownerOf(16383)].endpoint), "10.0.0.1:8001");
  auto plain = SlotMap::fromShards(reply, config::Endpoint{"x", 1, {}}, /*tls=*/false, &error);
  ASSERT_TRUE(plain) << error;
  EXPECT_EQ(nodeKey(plain->primaries()[plain->ownerOf(0)].endpoint), "10.0.0.1:7000");
  EXPECT_EQ(plain->ownerOf(16383), kNoSlot);  // a TLS-only node
}

TEST(SlotMapTest, FromClusterShardsSkipsNodesNotOnline) {
  auto nodeMap = [](const std::string& ip, int64_t port, const std::string& role,
                    const std::string& health) {
    return Value::array(
        {Value::bulk("id"), Value::bulk(ip + std::to_string(port)), Value::bulk("port"),
         Value::integerValue(port), Value::bulk("ip"), Value::bulk(ip), Value::bulk("endpoint"),
         Value::bulk(ip), Value::bulk("role"), Value::bulk(role), Value::bulk("health"),
         Value::bulk(health)},
        resp::Type::kMap);
  };
  Value reply = Value::array({
      Value::array({Value::bulk("slots"),
                    Value::array({Value::integerValue(0), Value::integerValue(99),
                                  Value::integerValue(200), Value::integerValue(16383)}),
                    Value::bulk("nodes"),
                    Value::array({nodeMap("10.0.0.1", 7000, "master", "online"),
                                  nodeMap("10.0.0.4", 7003, "replica", "loading")})},
                   resp::Type::kMap),
      Value::array(
          {Value::bulk("slots"), Value::array({Value::integerValue(100), Value::integerValue(199)}),
           Value::bulk("nodes"),
           Value::array({nodeMap("10.0.0.2", 7001, "master", "fail"),
                         nodeMap("10.0.0.5", 7004, "master", "online")})},
          resp::Type::kMap),
  });
  std::string error;
  auto map = SlotMap::fromShards(reply, config::Endpoint{"x", 1, {}}, /*tls=*/false, &error);
  ASSERT_TRUE(map) << error;
  ASSERT_EQ(map->primaries().size(), 2u);
  EXPECT_EQ(nodeKey(map->primaries()[map->ownerOf(150)].endpoint), "10.0.0.5:7004");
  EXPECT_EQ(nodeKey(map->primaries()[map->ownerOf(16000)].endpoint), "10.0.0.1:7000");
  EXPECT_EQ(map->nodes().size(), 2u);
  EXPECT_TRUE(map->complete());

  EXPECT_FALSE(SlotMap::fromShards(Value::error("ERR This instance has cluster support disabled"),
                                   config::Endpoint{}, /*tls=*/false, &error));
  EXPECT_EQ(error, "ERR This instance has cluster support disabled");
}

Route route(std::vector<std::string_view> argv) {
  return routeCommand(routingInfo(CommandTable::builtin(), argv), argv);
}

TEST(RouteTest, ByKeysAndRules) {
  EXPECT_EQ(route({"GET", "foo"}).kind, RouteKind::kSlot);
  EXPECT_EQ(route({"GET", "foo"}).slot, 12182);
  EXPECT_EQ(route({"MGET", "{a}1", "{a}2"}).kind, RouteKind::kSlot);
  EXPECT_EQ(route({"MGET", "foo", "bar"}).kind, RouteKind::kSplit);
  EXPECT_EQ(route({"MGET", "foo", "bar"}).merge, Merge::kByKey);
  EXPECT_EQ(route({"MSET", "foo", "1", "bar", "2"}).key_group, 2);
  EXPECT_EQ(route({"SUNION", "foo", "bar"}).kind, RouteKind::kCrossSlot);
  EXPECT_EQ(route({"MSETNX", "foo", "1", "bar", "2"}).kind, RouteKind::kCrossSlot);
  // Keys counted by numkeys, not every argument.
  EXPECT_EQ(route({"EVAL", "return 1", "1", "foo", "bar"}).slot, 12182);
  EXPECT_EQ(route({"EVAL", "return 1", "0", "foo"}).kind, RouteKind::kAnyNode);
  EXPECT_EQ(route({"FCALL", "f", "2", "foo", "bar"}).kind, RouteKind::kCrossSlot);
  EXPECT_EQ(route({"ZUNIONSTORE", "{z}d", "2", "{z}a", "{z}b", "WEIGHTS", "1", "2"}).kind,
            RouteKind::kSlot);
  EXPECT_EQ(route({"XREAD", "COUNT", "1", "STREAMS", "foo", "0"}).slot, 12182);
  EXPECT_EQ(route({"SORT", "foo", "STORE", "bar"}).kind, RouteKind::kCrossSlot);
  EXPECT_EQ(route({"OBJECT", "ENCODING", "foo"}).slot, 12182);
  EXPECT_EQ(route({"MEMORY", "USAGE", "foo"}).slot, 12182);
  // Keyless.
  EXPECT_EQ(route({"PING"}).kind, RouteKind::kAnyNode);
  EXPECT_EQ(route({"DBSIZE"}).kind, RouteKind::kEveryNode);
  EXPECT_EQ(route({"DBSIZE"}).merge, Merge::kSum);
  EXPECT_EQ(route({"SCAN", "0"}).kind, RouteKind::kScan);
  EXPECT_EQ(route({"SCRIPT", "LOAD", "return 1"}).kind, RouteKind::kEveryNode);
  EXPECT_EQ(route({"CLUSTER", "SLOTS"}).kind, RouteKind::kLocal);
  EXPECT_EQ(route({"READONLY"}).kind, RouteKind::kLocal);
  EXPECT_EQ(route({"NOSUCHCOMMAND", "x"}).kind, RouteKind::kAnyNode);
}

}  // namespace
}  // namespace tfproxy::backend
