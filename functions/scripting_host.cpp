#include "functions/scripting_host.h"

#include "backend/cluster_routing.h"
#include "backend/cluster_topology.h"
#include "backend/slot_map.h"
#include "functions/errors.h"

namespace tfproxy::functions {

std::vector<std::string> ScriptingHost::shards() {
  if (cluster_ == nullptr) return {std::string()};
  auto map = cluster_->map();
  std::vector<std::string> out;
  for (size_t i = 0; i < map->primaries().size(); ++i) {
    out.push_back(map->primaryAddress(static_cast<int>(i)));
  }
  return out;
}

std::string ScriptingHost::shardOf(std::string_view key) {
  if (cluster_ == nullptr) return {};
  auto map = cluster_->map();
  return map->primaryAddress(map->ownerOf(backend::keySlot(key)));
}

std::optional<std::string> ScriptingHost::outsideShard(const std::string& shard,
                                                       const std::vector<std::string>& args) {
  if (cluster_ == nullptr || shard.empty() || args.empty()) return std::nullopt;
  std::vector<std::string_view> argv(args.begin(), args.end());
  const backend::CommandInfo* info = backend::routingInfo(backend::CommandTable::builtin(), argv);
  if (info == nullptr) return std::nullopt;
  std::vector<size_t> positions;
  backend::clusterKeyPositions(*info, argv, &positions);
  for (size_t p : positions) {
    if (shardOf(argv[p]) != shard) return std::string(errors::kOutsideShard) + args[p];
  }
  return std::nullopt;
}

}  // namespace tfproxy::functions
