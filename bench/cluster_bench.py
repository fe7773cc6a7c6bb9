#!/usr/bin/env python3
"""Redis Cluster benchmark: tfproxy in front of a cluster vs cluster-aware redis-benchmark.

For clusters of 1, 2 and 3 primaries (no replicas, all on this machine), runs
redis-benchmark -c 50 SET/GET at -P 1 and -P 16 through tfproxy and with
`redis-benchmark --cluster` straight at the nodes, alternating round by round, and prints the
median requests/s, the ratio, and how each grows with the number of shards.

    bench/cluster_bench.py [--rounds 5] [--requests 200000] [--threads 1] [--shards 1,2,3]

Needs redis-server, redis-cli and redis-benchmark on PATH and a built tfproxy.
"""
import csv
import io
import os
import socket
import statistics
import subprocess
import sys
import time

from benchlib import Processes, arguments, cli, free_port


def port_is_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def make_cluster(procs, primaries):
    """Starts `primaries` cluster-enabled redis-servers and joins them; returns their ports."""
    ports = []
    for i in range(primaries):
        port = free_port()
        while port + 10000 > 65535 or not port_is_free(port + 10000):
            port = free_port()  # the cluster bus listens on port + 10000
        folder = os.path.join(procs.tmp, "node%d-%d" % (primaries, i))
        os.makedirs(folder)
        procs.spawn(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                     "--dir", folder, "--cluster-enabled", "yes", "--cluster-config-file",
                     "nodes.conf"], port, stdout=subprocess.DEVNULL)
        ports.append(port)
    # By hand rather than redis-cli --cluster create, which wants at least three masters.
    for i, port in enumerate(ports):
        first, last = 16384 * i // primaries, 16384 * (i + 1) // primaries - 1
        cli(port, "CLUSTER", "ADDSLOTSRANGE", str(first), str(last))
        if i > 0:
            cli(port, "CLUSTER", "MEET", "127.0.0.1", str(ports[0]))
    deadline = time.time() + 30
    while any("cluster_state:ok" not in cli(p, "CLUSTER", "INFO") for p in ports):
        if time.time() > deadline:
            raise RuntimeError("the cluster did not come up")
        time.sleep(0.1)
    return ports


def bench(port, pipeline, requests, cluster=False):
    argv = ["redis-benchmark", "-p", str(port), "--csv", "-c", "50", "-n", str(requests),
            "-P", str(pipeline), "-t", "set,get", "-r", "100000", "-d", "16"]
    if cluster:
        argv.append("--cluster")  # it refuses a one-node cluster: that one is asked directly
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    # --cluster prints the masters it found before the CSV.
    lines = [line for line in out.splitlines() if line.startswith('"')]
    return {row["test"]: float(row["rps"]) for row in csv.DictReader(io.StringIO("\n".join(lines)))}


def main():
    ap = arguments(requests=200000)
    ap.add_argument("--threads", type=int, default=1, help="tfproxy --threads")
    ap.add_argument("--shards", default="1,2,3")
    args = ap.parse_args()
    shard_counts = [int(n) for n in args.shards.split(",")]

    results = {}  # (shards, target, test, P) -> [rps]
    with Processes() as procs:
        setups = []
        for shards in shard_counts:
            ports = make_cluster(procs, shards)
            tf_port = procs.tfproxy(args.tfproxy, ports[0], "--threads", str(args.threads))
            setups.append((shards, ports[0], tf_port))
        for _ in range(args.rounds):
            for shards, seed, tf_port in setups:
                for pipeline in (1, 16):
                    n = args.requests * (4 if pipeline > 1 else 1)
                    for name, port, cluster in (("direct", seed, shards > 1),
                                                ("tfproxy", tf_port, False)):
                        for test, rps in bench(port, pipeline, n, cluster).items():
                            results.setdefault((shards, name, test, pipeline), []).append(rps)

    print("redis-benchmark -c 50, %d rounds, median requests/s (tfproxy --threads %d; direct is "
          "redis-benchmark --cluster)" % (args.rounds, args.threads))
    print()
    print("| shards | test | P | direct (--cluster) | tfproxy | tfproxy/direct | every round |")
    print("|---|---|---|---|---|---|---|")
    for shards in shard_counts:
        for pipeline in (1, 16):
            for test in ("SET", "GET"):
                d = results[(shards, "direct", test, pipeline)]
                t = results[(shards, "tfproxy", test, pipeline)]
                rounds = " ".join("%.2f" % (a / b) for a, b in zip(t, d))
                print("| %d | %s | %d | %.0f | %.0f | %.2f | %s |" % (
                    shards, test, pipeline, statistics.median(d), statistics.median(t),
                    statistics.median(t) / statistics.median(d), rounds))
    if len(shard_counts) > 1:
        print()
        first = shard_counts[0]
        for name in ("direct", "tfproxy"):
            growth = []
            for shards in shard_counts[1:]:
                a = statistics.median(results[(shards, name, "GET", 1)])
                b = statistics.median(results[(first, name, "GET", 1)])
                growth.append("%d shards %.2fx" % (shards, a / b))
            print("GET -P 1 throughput over %d shard: %s: %s" % (first, name, ", ".join(growth)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
