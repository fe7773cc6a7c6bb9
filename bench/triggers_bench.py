#!/usr/bin/env python3
"""Key space triggers benchmark: what a trigger costs forwarded writes.

redis-benchmark -t set (-c 50, random keys "key:<n>") through three tfproxy instances, each in
front of a Redis of its own (a trigger fires for every write its Redis sees, so the targets
must not share one), alternating target by target within each round:

  none     -- no library loaded
  nomatch  -- a library whose key space trigger's prefix matches none of the keys
  match    -- a sync trigger on the benchmark's keys that makes one client.call (INCR)

Prints median requests/s and each target's ratio to "none", at -P 1 and -P 16. The "match"
INCR count is checked against the SETs sent (every write fired its trigger once).

    bench/triggers_bench.py [--rounds 5] [--requests 100000]
"""
import statistics
import sys

from benchlib import Processes, arguments, cli, redis_benchmark

NOMATCH = """#!js api_version=1.0 name=bench
redis.registerKeySpaceTrigger('t', 'nomatch:', function(client, data) {
  client.call('incr', 'fired');
});"""

MATCH = """#!js api_version=1.0 name=bench
redis.registerKeySpaceTrigger('t', 'key:', function(client, data) {
  client.call('incr', 'fired');
});"""


def rps(port, requests, pipeline):
    rows = redis_benchmark(port, ["-c", "50", "-n", str(requests), "-r", "100000", "-P",
                                  str(pipeline), "-t", "set"])
    return float(next(iter(rows.values()))["rps"])


def main():
    args = arguments(requests=100000).parse_args()
    with Processes() as procs:
        targets = []
        for name, library in (("none", None), ("nomatch", NOMATCH), ("match", MATCH)):
            redis = procs.redis()
            port = procs.tfproxy(args.tfproxy, redis)
            if library:
                assert cli(port, "TFUNCTION", "LOAD", library) == "OK"
            targets.append((name, port, redis))
        results = {}
        sent = 0
        for _ in range(args.rounds):
            for pipeline in (1, 16):
                for name, port, _redis in targets:
                    results.setdefault((name, pipeline), []).append(
                        rps(port, args.requests, pipeline))
                    if name == "match":
                        sent += args.requests
        fired = int(cli(targets[2][2], "GET", "fired") or 0)

        print("redis-benchmark -t set -c 50 -r 100000, %d rounds, median requests/s"
              % args.rounds)
        print()
        print("| pipeline | no library | non-matching trigger | ratio | matching sync trigger "
              "(1 call) | ratio |")
        print("|---|---|---|---|---|---|")
        for pipeline in (1, 16):
            n = statistics.median(results[("none", pipeline)])
            x = statistics.median(results[("nomatch", pipeline)])
            m = statistics.median(results[("match", pipeline)])
            print("| -P %d | %.0f | %.0f | %.2f | %.0f | %.2f |"
                  % (pipeline, n, x, x / n, m, m / n))
        print()
        print("matching trigger: %d writes sent, %d trigger runs counted%s"
              % (sent, fired, "" if fired == sent else "  <-- MISMATCH"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
