#!/usr/bin/env bash
# Starts a local Redis Cluster to try tfproxy on: 3 primaries and 3 replicas of redis-server on
# 127.0.0.1, ports BASE..BASE+5 (BASE 7000 unless given), data under a temporary folder.
#
#   scripts/cluster.sh start [BASE]   # prints the seed address; tfproxy --backend 127.0.0.1:7000
#   scripts/cluster.sh stop [BASE]
#
# `start` waits until every slot is served (cluster_state:ok) before it returns.
set -euo pipefail

action="${1:-start}"
base="${2:-7000}"
dir="${TMPDIR:-/tmp}/tfproxy-cluster-$base"

stop() {
  for i in 0 1 2 3 4 5; do
    redis-cli -p $((base + i)) shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}

case "$action" in
  stop)
    stop
    exit 0
    ;;
  start) ;;
  *)
    echo "usage: $0 start|stop [BASE]" >&2
    exit 2
    ;;
esac

stop
mkdir -p "$dir"
nodes=()
for i in 0 1 2 3 4 5; do
  port=$((base + i))
  mkdir -p "$dir/$port"
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir/$port" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --save '' --appendonly no --logfile "$dir/$port/redis.log" --pidfile "$dir/$port/redis.pid"
  nodes+=("127.0.0.1:$port")
done
for i in 0 1 2 3 4 5; do
  until redis-cli -p $((base + i)) ping >/dev/null 2>&1; do sleep 0.05; done
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log"
for i in 0 1 2 3 4 5; do
  until redis-cli -p $((base + i)) cluster info | grep -q 'cluster_state:ok'; do sleep 0.1; done
done
echo "cluster up: 127.0.0.1:$base-$((base + 5)) (data in $dir); try"
echo "  build/server/tfproxy --backend 127.0.0.1:$base"
