#!/usr/bin/env python3
"""Fleet benchmark: 1, 2 and 3 tfproxy instances in front of one Redis, the load spread over
them, in one run.

On every instance at once: redis-benchmark -c 10 running TFCALL of a function that makes three
Redis calls (GET, SET, INCR on one key), and redis-benchmark -c 10 running forwarded GETs. Prints
p50 and p99 of each kind and the total requests/s, per fleet size. This is the baseline against
which the cost of atomicity across a fleet (one gate shared by every instance) is measured.

    bench/fleet_bench.py [--rounds 3] [--requests 50000]
"""
import statistics
import subprocess
import sys

from benchlib import Processes, arguments, cli

JS = """#!js api_version=1.0 name=fleet
redis.registerFunction('rw', function(client, key){
  client.call('get', key);
  client.call('set', key, '1');
  return client.call('incr', key);
});"""


def start_load(port, requests, command):
    """redis-benchmark in the background; its CSV output is read when it ends."""
    return subprocess.Popen(["redis-benchmark", "-p", str(port), "--csv", "-c", "10", "-n",
                             str(requests), "-r", "10000"] + command,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def finish(proc):
    out, _ = proc.communicate()
    row = out.strip().splitlines()[-1].replace('"', "").split(",")
    # test, rps, avg, min, p50, p95, p99, max
    return float(row[1]), float(row[4]) * 1000.0, float(row[6]) * 1000.0


def main():
    args = arguments(requests=50000, rounds=3).parse_args()
    with Processes() as procs:
        redis_port = procs.redis()
        ports = [procs.tfproxy(args.tfproxy, redis_port) for _ in range(3)]
        assert cli(ports[0], "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
        results = {}  # (instances, kind) -> [(rps, p50 us, p99 us)]
        for _ in range(args.rounds):
            for n in (1, 2, 3):
                running = []
                for port in ports[:n]:
                    running.append(("tfcall", start_load(
                        port, args.requests, ["TFCALL", "fleet.rw", "1", "k:__rand_int__"])))
                    running.append(("get", start_load(port, args.requests,
                                                      ["GET", "k:__rand_int__"])))
                for kind, proc in running:
                    results.setdefault((n, kind), []).append(finish(proc))

        print("fleet of N tfproxy instances in front of one Redis, per instance redis-benchmark "
              "-c 10 TFCALL (3 calls) and -c 10 GET at once; %d rounds, medians" % args.rounds)
        print()
        print("| instances | TFCALL p50 | TFCALL p99 | TFCALL req/s (all) | GET p50 | GET p99 |"
              " GET req/s (all) |")
        print("|---|---|---|---|---|---|---|")
        for n in (1, 2, 3):
            row = []
            for kind in ("tfcall", "get"):
                runs = results[(n, kind)]
                row += ["%.0f us" % statistics.median(r[1] for r in runs),
                        "%.0f us" % statistics.median(r[2] for r in runs),
                        # rounds x instances runs: the whole fleet's rate is the per-round sum
                        "%.0f" % (sum(r[0] for r in runs) / args.rounds)]
            print("| %d | %s |" % (n, " | ".join(row)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
