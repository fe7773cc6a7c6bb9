#!/usr/bin/env python3
"""Functions behind a TLS-only Redis and behind a Redis Cluster.

TFCALL of the functions benchmark's `get` and `rw` (bench/functions_bench.py) through tfproxy,
with plaintext clients, in front of:

- a TLS-only Redis (client certificates required), against the same logic as a Lua Redis
  Function (FCALL) sent to that Redis over TLS;
- a cluster of three primaries (the key of each call picks the node).

redis-benchmark -c 50 and -c 1, targets alternating call by call within each round. Prints the
median calls/s of every target and, behind TLS, TFCALL/FCALL.

    bench/functions_backends_bench.py [--rounds 4] [--requests 20000] [--compare BIN]

--compare runs another tfproxy binary (an earlier build) beside the first in the same rounds.
"""
import statistics
import subprocess
import sys

from benchlib import Processes, TlsRedis, arguments, cli, redis_benchmark
from cluster_bench import make_cluster
from functions_bench import JS, LUA

FUNCTIONS = ("get", "rw")
CLIENTS = (50, 1)


def calls_per_second(port, clients, requests, command, tls=()):
    rows = redis_benchmark(port, list(tls) + ["-c", str(clients), "-n", str(requests), "-r",
                                              "10000"] + command + ["1", "key:__rand_int__"])
    return float(next(iter(rows.values()))["rps"])


def main():
    ap = arguments(requests=20000, rounds=4)
    ap.add_argument("--compare", help="another tfproxy binary to measure in the same rounds")
    args = ap.parse_args()
    binaries = [("tfproxy", args.tfproxy)] + ([("compared", args.compare)] if args.compare else [])

    with Processes() as procs:
        redis = TlsRedis(procs)
        subprocess.run(["redis-cli", "-p", str(redis.port)] + redis.client_flags +
                       ["FUNCTION", "LOAD", "REPLACE", LUA], check=True, capture_output=True)
        cluster_seed = make_cluster(procs, 3)[0]
        # target -> (port, command prefix, extra redis-benchmark flags)
        targets = {("tls", "fcall"): (redis.port, ["FCALL"], redis.client_flags)}
        for i, (name, binary) in enumerate(binaries):
            tls_port = procs.tfproxy(binary, redis.backend, "--library-key", "bench:tls%d" % i,
                                     *redis.backend_flags)
            cluster_port = procs.tfproxy(binary, cluster_seed, "--library-key",
                                         "{bench}:cluster%d" % i)
            for port in (tls_port, cluster_port):
                assert cli(port, "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
            targets[("tls", name)] = (tls_port, ["TFCALL"], [])
            targets[("cluster", name)] = (cluster_port, ["TFCALL"], [])

        results = {}  # (backend, target, function, clients) -> [calls/s]
        for _ in range(args.rounds):
            for function in FUNCTIONS:
                for clients in CLIENTS:
                    requests = args.requests if clients > 1 else args.requests // 5
                    for (backend, target), (port, command, tls) in targets.items():
                        name = function if target == "fcall" else "bench." + function
                        results.setdefault((backend, target, function, clients), []).append(
                            calls_per_second(port, clients, requests, command + [name], tls))

    def median(*key):
        return statistics.median(results[key])

    print("redis-benchmark, %d rounds, median calls/s (plaintext clients to tfproxy)" % args.rounds)
    print()
    names = [name for name, _ in binaries]
    print("| backend | function | clients | FCALL over TLS | %s |" % " | ".join(
        "TFCALL, %s | ratio" % n for n in names))
    print("|---|---|---|---|" + "---|---|" * len(names))
    for backend in ("tls", "cluster"):
        for function in FUNCTIONS:
            for clients in CLIENTS:
                cells = []
                fcall = median("tls", "fcall", function, clients) if backend == "tls" else None
                for n in names:
                    t = median(backend, n, function, clients)
                    cells.append("%.0f | %s" % (t, "%.2f" % (t / fcall) if fcall else "-"))
                print("| %s | %s | %d | %s | %s |" % (
                    "TLS-only Redis" if backend == "tls" else "cluster, 3 primaries", function,
                    clients, "%.0f" % fcall if fcall else "-", " | ".join(cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
