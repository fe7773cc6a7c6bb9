#!/usr/bin/env python3
"""Forwarding benchmark: Redis direct vs tfproxy vs twemproxy (nutcracker), same Redis.

Runs redis-benchmark -c 50 SET/GET at -P 1 and -P 16 against each target, alternating targets
round by round so that machine noise hits all of them alike, and prints the median requests/s
with ratios; then the p50 latency one client sees at -c 1, and what each proxy adds to it.

    bench/forward_bench.py [--rounds 5] [--requests 200000] [--threads 1]

Needs redis-server, redis-benchmark and nutcracker on PATH (scripts/setup.sh installs them) and
a built tfproxy (build/server/tfproxy).
"""
import argparse
import csv
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on %d" % port)


def bench(port, pipeline, requests, clients=50, tests="set,get"):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "-t", tests, "--csv", "-r", "100000", "-d", "16"],
        check=True, capture_output=True, text=True).stdout
    rows = {}
    for row in csv.DictReader(io.StringIO(out)):
        rows[row["test"]] = (float(row["rps"]), float(row["p50_latency_ms"]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--threads", type=int, default=1, help="tfproxy --threads")
    ap.add_argument("--tfproxy", default=os.path.join(ROOT, "build", "server", "tfproxy"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="tfproxy-bench-")
    procs = []
    try:
        redis_port, tf_port, tw_port, tw_stats = free_port(), free_port(), free_port(), free_port()
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no",
             "--dir", tmp], stdout=subprocess.DEVNULL))
        wait_port(redis_port)
        procs.append(subprocess.Popen(
            [args.tfproxy, "--port", str(tf_port), "--backend", "127.0.0.1:%d" % redis_port,
             "--threads", str(args.threads), "--log-level", "warn"]))
        conf = os.path.join(tmp, "nutcracker.yml")
        with open(conf, "w") as f:
            f.write("bench:\n  listen: 127.0.0.1:%d\n  redis: true\n  hash: fnv1a_64\n"
                    "  distribution: ketama\n  servers:\n   - 127.0.0.1:%d:1\n"
                    % (tw_port, redis_port))
        procs.append(subprocess.Popen(["nutcracker", "-c", conf, "-s", str(tw_stats)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(tf_port)
        wait_port(tw_port)

        targets = [("redis", redis_port), ("tfproxy", tf_port), ("twemproxy", tw_port)]
        results = {}  # (target, test, P) -> [rps]
        for _ in range(args.rounds):
            for pipeline in (1, 16):
                for name, port in targets:
                    n = args.requests * (4 if pipeline > 1 else 1)
                    for test, (rps, _) in bench(port, pipeline, n).items():
                        results.setdefault((name, test, pipeline), []).append(rps)
        latency = {}
        for _ in range(args.rounds):
            for name, port in targets:
                for test, (_, p50) in bench(port, 1, 20000, clients=1, tests="get").items():
                    latency.setdefault(name, []).append(p50 * 1000.0)

        print("redis-benchmark -c 50, %d rounds, median requests/s (tfproxy --threads %d)"
              % (args.rounds, args.threads))
        print()
        print("| test | P | Redis direct | tfproxy | twemproxy | tfproxy/direct | tfproxy/twemproxy |")
        print("|---|---|---|---|---|---|---|")
        for pipeline in (1, 16):
            for test in ("SET", "GET"):
                d = statistics.median(results[("redis", test, pipeline)])
                t = statistics.median(results[("tfproxy", test, pipeline)])
                w = statistics.median(results[("twemproxy", test, pipeline)])
                print("| %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f |"
                      % (test, pipeline, d, t, w, t / d, t / w))
        print()
        d = statistics.median(latency["redis"])
        t = statistics.median(latency["tfproxy"])
        w = statistics.median(latency["twemproxy"])
        print("single client GET p50: direct %.0f us, tfproxy %.0f us (+%.0f us), "
              "twemproxy %.0f us (+%.0f us)" % (d, t, t - d, w, w - d))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
