#!/usr/bin/env python3
"""Forwarding benchmark: Redis direct vs tfproxy vs twemproxy (nutcracker), same Redis.

Runs redis-benchmark -c 50 SET/GET at -P 1 and -P 16 against each target, alternating targets
round by round so that machine noise hits all of them alike, and prints the median requests/s
with ratios; then the p50 latency one client sees at -c 1, and what each proxy adds to it.

    bench/forward_bench.py [--rounds 5] [--requests 200000] [--threads 1] [--compare BIN]
                           [--busy N]

--compare adds another tfproxy binary (an earlier build) as a target in the same rounds, so that
a change's cost to forwarding shows as a ratio against the build before it. --busy N runs N
processes that only spin on the CPU for the whole run: the cores are then shared with busy
neighbours, as in a sidecar beside a busy application.

Needs redis-server, redis-benchmark and nutcracker on PATH (scripts/setup.sh installs them) and
a built tfproxy (build/server/tfproxy).
"""
import os
import statistics
import subprocess
import sys

from benchlib import Processes, arguments, cpu_seconds, free_port, redis_benchmark


def bench(port, pipeline, requests, clients=50, tests="set,get"):
    rows = redis_benchmark(port, ["-c", str(clients), "-n", str(requests), "-P", str(pipeline),
                                  "-t", tests, "-r", "100000", "-d", "16"])
    return {test: (float(row["rps"]), float(row["p50_latency_ms"])) for test, row in rows.items()}


def main():
    ap = arguments(requests=200000)
    ap.add_argument("--threads", type=int, default=1, help="tfproxy --threads")
    ap.add_argument("--compare", help="another tfproxy binary to measure in the same rounds")
    ap.add_argument("--busy", type=int, default=0, help="processes spinning on the CPU meanwhile")
    args = ap.parse_args()

    with Processes() as procs:
        redis_port = procs.redis()
        tf_port = procs.tfproxy(args.tfproxy, redis_port, "--threads", str(args.threads))
        tw_port, tw_stats = free_port(), free_port()
        conf = os.path.join(procs.tmp, "nutcracker.yml")
        with open(conf, "w") as f:
            f.write("bench:\n  listen: 127.0.0.1:%d\n  redis: true\n  hash: fnv1a_64\n"
                    "  distribution: ketama\n  servers:\n   - 127.0.0.1:%d:1\n"
                    % (tw_port, redis_port))
        procs.spawn(["nutcracker", "-c", conf, "-s", str(tw_stats)], tw_port,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        pids = {"tfproxy": procs.procs[1].pid}
        for _ in range(args.busy):
            procs.procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        targets = [("redis", redis_port), ("tfproxy", tf_port), ("twemproxy", tw_port)]
        if args.compare:
            targets.append(("compared", procs.tfproxy(args.compare, redis_port, "--threads",
                                                      str(args.threads))))
            pids["compared"] = procs.procs[-1].pid
        results = {}  # (target, test, P) -> [rps]
        cpu = {}  # (target, P) -> [CPU microseconds per request] of the tfproxy builds
        for _ in range(args.rounds):
            for pipeline in (1, 16):
                for name, port in targets:
                    n = args.requests * (4 if pipeline > 1 else 1)
                    before = cpu_seconds(pids[name]) if name in pids else 0
                    for test, (rps, _) in bench(port, pipeline, n).items():
                        results.setdefault((name, test, pipeline), []).append(rps)
                    if name in pids:
                        used = cpu_seconds(pids[name]) - before
                        cpu.setdefault((name, pipeline), []).append(used / (2 * n) * 1e6)
        latency = {}
        for _ in range(args.rounds):
            for name, port in targets:
                for test, (_, p50) in bench(port, 1, 20000, clients=1, tests="get").items():
                    latency.setdefault(name, []).append(p50 * 1000.0)

        print("redis-benchmark -c 50, %d rounds, median requests/s (tfproxy --threads %d%s)"
              % (args.rounds, args.threads,
                 ", %d busy processes beside" % args.busy if args.busy else ""))
        print()
        def table(columns, against):
            """One row per test: the median of each target, then tfproxy over each of
            `against`."""
            print("| test | P | %s | %s |" % (" | ".join(label for _, label in columns),
                                            " | ".join("tfproxy/" + label for _, label in against)))
            print("|---|---|" + "---|" * (len(columns) + len(against)))
            for pipeline in (1, 16):
                for test in ("SET", "GET"):
                    m = {name: statistics.median(results[(name, test, pipeline)])
                         for name, _ in columns}
                    print("| %s | %d | %s | %s |" % (
                        test, pipeline, " | ".join("%.0f" % m[name] for name, _ in columns),
                        " | ".join("%.2f" % (m["tfproxy"] / m[a]) for a, _ in against)))

        table([("redis", "Redis direct"), ("tfproxy", "tfproxy"), ("twemproxy", "twemproxy")],
              [("redis", "direct"), ("twemproxy", "twemproxy")])
        if args.compare:
            print()
            table([("tfproxy", "tfproxy"), ("compared", "compared build")],
                  [("compared", "compared")])
            print()
            # Throughput moves between rounds on a shared machine; the process' own CPU time
            # over the same load moves less.
            for pipeline in (1, 16):
                print("CPU per request at -P %d (median, range): tfproxy %.2f us (%.2f-%.2f), "
                      "compared %.2f us (%.2f-%.2f)" % (
                          pipeline, *(f(cpu[(name, pipeline)]) for name in ("tfproxy", "compared")
                                      for f in (statistics.median, min, max))))
        print()
        d = statistics.median(latency["redis"])
        t = statistics.median(latency["tfproxy"])
        w = statistics.median(latency["twemproxy"])
        print("single client GET p50: direct %.0f us, tfproxy %.0f us (+%.0f us), "
              "twemproxy %.0f us (+%.0f us)" % (d, t, t - d, w, w - d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
