#!/usr/bin/env python3
"""Key space triggers benchmark: what a trigger costs forwarded writes.

redis-benchmark -t set (-c 50, random keys "key:<n>") through three tfproxy instances, each in
front of a Redis of its own (a trigger fires for every write its Redis sees, so the targets
must not share one), alternating target by target within each round:

  none     -- no library loaded
  notify   -- no library loaded, but the Redis behind it sends key space notifications to a
              subscriber whose pattern matches none of the keys (what turning notifications on
              costs Redis itself, with tfproxy out of the picture)
  nomatch  -- a library whose key space trigger's prefix matches none of the keys
  match    -- a sync trigger on the benchmark's keys that makes one client.call (INCR)

Prints median requests/s and each target's ratio to "none", at -P 1 and -P 16. The "match"
INCR count is checked against the SETs sent (every write fired its trigger once).

Then stream triggers: a backlog of --records entries is processed by a sync trigger and by async
triggers with window 1 and 100 (records/s from load to the last one), and the lag behind XADDs
at a steady rate (--rate per second for 3 s, from a client of Redis itself): the mean and the
last of the trigger's per-record lag (entry ID time to completion).

    bench/triggers_bench.py [--rounds 5] [--requests 100000] [--records 20000] [--rate 1000]
"""
import socket
import statistics
import subprocess
import sys
import time

from benchlib import Processes, arguments, cli, redis_benchmark

NOMATCH = """#!js api_version=1.0 name=bench
redis.registerKeySpaceTrigger('t', 'nomatch:', function(client, data) {
  client.call('incr', 'fired');
});"""

MATCH = """#!js api_version=1.0 name=bench
redis.registerKeySpaceTrigger('t', 'key:', function(client, data) {
  client.call('incr', 'fired');
});"""


STREAMS = {
    "sync, window 1": """redis.registerStreamTrigger('t', 'st', function(c, d) {
  c.call('incr', 'done');
});""",
    "async, window 1": """redis.registerStreamTrigger('t', 'st', async function(c, d) {
  await c.block(function(bc) { bc.call('incr', 'done'); });
});""",
    "async, window 100": """redis.registerStreamTrigger('t', 'st', async function(c, d) {
  await c.block(function(bc) { bc.call('incr', 'done'); });
}, {window: 100});""",
}


def stream_stats(port):
    """total_record_processed, total_lag, last_lag of the first stream of library 'st'."""
    out = cli(port, "TFUNCTION", "LIST", "LIBRARY", "st", "vv").splitlines()
    def after(name):
        return int(out[out.index(name) + 1])
    return after("total_record_processed"), after("total_lag"), after("last_lag")


def stream_backlog(procs, binary, records, body):
    redis = procs.redis()
    port = procs.tfproxy(binary, redis)
    subprocess.run(["redis-benchmark", "-p", str(redis), "-n", str(records), "-c", "20", "-q",
                    "XADD", "st", "*", "f", "v"], check=True, stdout=subprocess.DEVNULL)
    start = time.time()
    assert cli(port, "TFUNCTION", "LOAD", "#!js api_version=1.0 name=st\n" + body) == "OK"
    while int(cli(redis, "GET", "done") or 0) < records:
        time.sleep(0.01)
    return records / (time.time() - start), redis, port


def steady_lag(redis, port, rate, seconds=3):
    s = socket.create_connection(("127.0.0.1", redis))
    command = b"*5\r\n$4\r\nXADD\r\n$2\r\nst\r\n$1\r\n*\r\n$1\r\nf\r\n$1\r\nv\r\n"
    before = stream_stats(port)
    start = time.time()
    sent = 0
    while time.time() - start < seconds:
        s.sendall(command)
        s.recv(100)
        sent += 1
        time.sleep(max(0.0, start + sent / rate - time.time()))
    time.sleep(0.5)
    after = stream_stats(port)
    n = after[0] - before[0]
    return (after[1] - before[1]) / max(n, 1), after[2], n, sent


def rps(port, requests, pipeline):
    rows = redis_benchmark(port, ["-c", "50", "-n", str(requests), "-r", "100000", "-P",
                                  str(pipeline), "-t", "set"])
    return float(next(iter(rows.values()))["rps"])


def main():
    ap = arguments(requests=100000)
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=1000)
    args = ap.parse_args()
    with Processes() as procs:
        targets = []
        for name, library in (("none", None), ("notify", None), ("nomatch", NOMATCH),
                              ("match", MATCH)):
            redis = procs.redis()
            port = procs.tfproxy(args.tfproxy, redis)
            if library:
                assert cli(port, "TFUNCTION", "LOAD", library) == "OK"
            if name == "notify":
                cli(redis, "CONFIG", "SET", "notify-keyspace-events", "KAm")
                procs.procs.append(subprocess.Popen(
                    ["redis-cli", "-p", str(redis), "PSUBSCRIBE", "__keyspace@*__:nomatch:*"],
                    stdout=subprocess.DEVNULL))
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
        fired = int(cli(targets[3][2], "GET", "fired") or 0)

        print("redis-benchmark -t set -c 50 -r 100000, %d rounds, median requests/s"
              % args.rounds)
        print()
        print("| pipeline | no library | no library, Redis notifying | ratio | non-matching "
              "trigger | ratio | ratio to notifying | matching sync trigger (1 call) | ratio |")
        print("|---|---|---|---|---|---|---|---|---|")
        for pipeline in (1, 16):
            n = statistics.median(results[("none", pipeline)])
            o = statistics.median(results[("notify", pipeline)])
            x = statistics.median(results[("nomatch", pipeline)])
            m = statistics.median(results[("match", pipeline)])
            print("| -P %d | %.0f | %.0f | %.2f | %.0f | %.2f | %.2f | %.0f | %.2f |"
                  % (pipeline, n, o, o / n, x, x / n, x / o, m, m / n))
        print()
        print("matching trigger: %d writes sent, %d trigger runs counted%s"
              % (sent, fired, "" if fired == sent else "  <-- MISMATCH"))

        print()
        print("stream triggers: a backlog of %d entries, then XADD at %d/s for 3 s"
              % (args.records, args.rate))
        print()
        print("| callback | backlog records/s | mean lag at %d/s (ms) | last lag (ms) |"
              % args.rate)
        print("|---|---|---|---|")
        for name, body in STREAMS.items():
            speed, redis, port = stream_backlog(procs, args.tfproxy, args.records, body)
            mean, last, n, sent = steady_lag(redis, port, args.rate)
            print("| %s | %.0f | %.1f | %d |%s" % (name, speed, mean, last,
                                                   "" if n == sent else "  (%d of %d)" % (n, sent)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
