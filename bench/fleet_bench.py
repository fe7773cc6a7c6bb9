#!/usr/bin/env python3
"""Fleet benchmark: 1, 2 and 3 tfproxy instances in front of one Redis, the load spread over
them, with one gate for the whole fleet (the default) and, in the same run, with each instance's
gate its own (--fleet no: atomic against its own clients only) -- the cost of fleet atomicity.

On every instance at once: redis-benchmark -c 10 running TFCALL of a function that makes three
Redis calls (GET, SET, INCR on one key), and redis-benchmark -c 10 running forwarded GETs. Prints
p50 and p99 of each kind and the total requests/s, per gate and fleet size; only the instances
of a row run during it.

    bench/fleet_bench.py [--rounds 3] [--requests 50000]
"""
import statistics
import subprocess
import sys
import time

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


MODES = (("own gates (--fleet no)", ["--fleet", "no"]), ("one fleet gate", []))


def run_fleet(procs, args, redis_port, n, flags):
    """Starts n instances, runs the loads on all of them at once, stops them."""
    first = len(procs.procs)
    ports = [procs.tfproxy(args.tfproxy, redis_port, *flags) for _ in range(n)]
    time.sleep(0.5)  # the instances join and restore the library
    running = []
    for port in ports:
        running.append(("tfcall", start_load(
            port, args.requests, ["TFCALL", "fleet.rw", "1", "k:__rand_int__"])))
        running.append(("get", start_load(port, args.requests, ["GET", "k:__rand_int__"])))
    results = [(kind, finish(proc)) for kind, proc in running]
    for p in procs.procs[first:]:
        p.terminate()
        p.wait()
    del procs.procs[first:]
    return results


def main():
    args = arguments(requests=50000, rounds=3).parse_args()
    with Processes() as procs:
        redis_port = procs.redis()
        port = procs.tfproxy(args.tfproxy, redis_port)
        assert cli(port, "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
        procs.procs.pop().terminate()
        results = {}  # (mode, instances, kind) -> [(rps, p50 us, p99 us)]
        for _ in range(args.rounds):
            for mode, flags in MODES:
                for n in (1, 2, 3):
                    for kind, row in run_fleet(procs, args, redis_port, n, flags):
                        results.setdefault((mode, n, kind), []).append(row)

        print("fleet of N tfproxy instances in front of one Redis, per instance redis-benchmark "
              "-c 10 TFCALL (3 calls) and -c 10 GET at once; %d rounds, medians" % args.rounds)
        print()
        print("| gate | instances | TFCALL p50 | TFCALL p99 | TFCALL req/s (all) | GET p50 |"
              " GET p99 | GET req/s (all) |")
        print("|---|---|---|---|---|---|---|---|")
        for mode, _ in MODES:
            for n in (1, 2, 3):
                row = []
                for kind in ("tfcall", "get"):
                    runs = results[(mode, n, kind)]
                    row += ["%.0f us" % statistics.median(r[1] for r in runs),
                            "%.0f us" % statistics.median(r[2] for r in runs),
                            # rounds x instances runs: the fleet's rate is the per-round sum
                            "%.0f" % (sum(r[0] for r in runs) / args.rounds)]
                print("| %s | %d | %s |" % (mode, n, " | ".join(row)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
