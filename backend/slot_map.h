// Redis Cluster's key space as the proxy sees it (design §9): which slot a key hashes to, and
// which primary serves each slot. Built from a node's CLUSTER SHARDS (Redis 7+) or CLUSTER SLOTS
// reply; read-only once built, so every thread may route with the same map.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/options.h"
#include "resp/value.h"

namespace tfproxy::backend {

inline constexpr uint16_t kClusterSlots = 16384;
inline constexpr int kNoSlot = -1;

// The slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag -- the bytes between the first
// '{' and the next '}' when there is at least one of them -- modulo 16384.
uint16_t keySlot(std::string_view key);

struct ClusterNode {
  std::string id;
  config::Endpoint endpoint;
  bool primary = true;
};

class SlotMap {
 public:
  // Parses a CLUSTER SHARDS reply (RESP2 or RESP3). `asked` is the node that answered: a node
  // whose address it does not know itself ("?" or empty) is that one. `tls`: nodes are reached
  // over TLS, at the `tls-port` each names (a node with both a plaintext and a TLS port lists
  // both); without TLS at `port`. Nodes that are not online, or without a port of that kind,
  // are left out. nullopt (and `error`) when the reply is not a slot map.
  static std::optional<SlotMap> fromShards(const resp::Value& reply, const config::Endpoint& asked,
                                           bool tls, std::string* error);
  // Parses a CLUSTER SLOTS reply, as fromShards.
  static std::optional<SlotMap> fromSlots(const resp::Value& reply, const config::Endpoint& asked,
                                          std::string* error);

  // The primaries that serve at least one slot, ordered by their lowest slot: the index of a
  // primary here is what ownerOf() returns and stays the same for an unchanged topology.
  const std::vector<ClusterNode>& primaries() const { return primaries_; }
  // Every node the map names, replicas included (where to ask for the next map).
  const std::vector<ClusterNode>& nodes() const { return nodes_; }
  // The primary serving `slot`, or kNoSlot while nobody does.
  int ownerOf(uint16_t slot) const { return owner_[slot]; }
  // "host:port" of the primary with index `primary` (ownerOf's); empty when there is none.
  std::string primaryAddress(int primary) const;
  // Every slot is served.
  bool complete() const;
  // Same owners for every slot, at the same addresses.
  bool sameAs(const SlotMap& other) const;

 private:
  // Records [first, last] as served by `primary` (its replicas follow in `nodes_`).
  void assign(uint16_t first, uint16_t last, int primary);
  // Sorts primaries by lowest slot and renumbers owner_.
  void finish();

  std::vector<ClusterNode> primaries_;
  std::vector<ClusterNode> nodes_;
  std::array<int16_t, kClusterSlots> owner_{};
};

// "host:port" of an endpoint, the form MOVED and ASK name nodes in.
std::string nodeKey(const config::Endpoint& endpoint);
// Parses "host:port" (IPv6 hosts keep their colons: the port follows the last one).
std::optional<config::Endpoint> parseNodeAddress(std::string_view text);

}  // namespace tfproxy::backend
