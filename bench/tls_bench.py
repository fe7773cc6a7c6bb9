#!/usr/bin/env python3
"""TLS benchmark: a TLS-only Redis directly vs through tfproxy with TLS on both sides.

Runs redis-benchmark --tls -c 50 SET/GET at -P 1 and -P 16 against each, alternating targets
round by round so that machine noise hits both alike, and prints the median requests/s and the
ratio; then the p50 latency one client sees at -c 1. Client certificates are required on both
servers (Redis' default), so every connection does the full handshake redis-benchmark does.

    bench/tls_bench.py [--rounds 5] [--requests 200000] [--threads 1]

Needs redis-server, redis-benchmark and openssl on PATH and a built tfproxy.
"""
import statistics
import sys

from benchlib import Processes, arguments, redis_benchmark, tls_pair


def main():
    ap = arguments(requests=200000)
    ap.add_argument("--threads", type=int, default=1, help="tfproxy --threads")
    args = ap.parse_args()

    with Processes() as procs:
        _, redis_port, tf_port, tls = tls_pair(procs, args.tfproxy, "--threads",
                                               str(args.threads))

        def bench(port, pipeline, requests, clients=50, tests="set,get"):
            rows = redis_benchmark(port, tls + ["-c", str(clients), "-n", str(requests), "-P",
                                                str(pipeline), "-t", tests, "-r", "100000",
                                                "-d", "16"])
            return {t: (float(r["rps"]), float(r["p50_latency_ms"])) for t, r in rows.items()}

        targets = [("redis", redis_port), ("tfproxy", tf_port)]
        results, latency = {}, {}
        for _ in range(args.rounds):
            for pipeline in (1, 16):
                for name, port in targets:
                    n = args.requests * (4 if pipeline > 1 else 1)
                    for test, (rps, _) in bench(port, pipeline, n).items():
                        results.setdefault((name, test, pipeline), []).append(rps)
            for name, port in targets:
                for _, (_, p50) in bench(port, 1, 20000, clients=1, tests="get").items():
                    latency.setdefault(name, []).append(p50 * 1000.0)

        print("redis-benchmark --tls -c 50, %d rounds, median requests/s (tfproxy --threads %d,"
              " TLS on both sides)" % (args.rounds, args.threads))
        print()
        print("| test | P | Redis direct (TLS) | tfproxy (TLS both sides) | tfproxy/direct |")
        print("|---|---|---|---|---|")
        for pipeline in (1, 16):
            for test in ("SET", "GET"):
                d = statistics.median(results[("redis", test, pipeline)])
                t = statistics.median(results[("tfproxy", test, pipeline)])
                print("| %s | %d | %.0f | %.0f | %.2f |" % (test, pipeline, d, t, t / d))
        print()
        d = statistics.median(latency["redis"])
        t = statistics.median(latency["tfproxy"])
        print("single client GET p50: direct %.0f us, tfproxy %.0f us (+%.0f us)" % (d, t, t - d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
