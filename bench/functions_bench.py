#!/usr/bin/env python3
"""Functions benchmark: TFCALL through tfproxy vs the same logic as a Redis Function in Lua
(FCALL) on the same Redis, side by side in one run.

Three functions: one returning a constant, one doing one GET, one doing GET+SET+INCR. Each is
driven by redis-benchmark -c 50 against Redis (FCALL) and two tfproxy instances in front of it --
one reaching Redis over loopback TCP, one over a Unix socket, each its own fleet of one (a
library key of its own) -- alternating target by target; the table shows median requests/s and
TFCALL/FCALL.

    bench/functions_bench.py [--rounds 5] [--requests 100000]
"""
import statistics
import sys

from benchlib import Processes, arguments, cli, redis_benchmark

JS = """#!js api_version=1.0 name=bench
redis.registerFunction('constant', function(client){ return 1; });
redis.registerFunction('get', function(client, key){ return client.call('get', key); });
redis.registerFunction('rw', function(client, key){
  client.call('get', key);
  client.call('set', key, '1');
  return client.call('incr', key);
});"""

LUA = """#!lua name=bench
redis.register_function('constant', function(keys, args) return 1 end)
redis.register_function('get', function(keys, args) return redis.call('get', keys[1]) end)
redis.register_function('rw', function(keys, args)
  redis.call('get', keys[1])
  redis.call('set', keys[1], '1')
  return redis.call('incr', keys[1])
end)"""

CASES = [
    ("constant", ["0"]),
    ("get", ["1", "key:__rand_int__"]),
    ("rw", ["1", "key:__rand_int__"]),
]


def rps(port, requests, command):
    rows = redis_benchmark(port, ["-c", "50", "-n", str(requests), "-r", "10000"] + command)
    return float(next(iter(rows.values()))["rps"])


def main():
    args = arguments(requests=100000).parse_args()

    with Processes() as procs:
        redis_port = procs.redis()
        # Each instance with a library key of its own: two instances sharing one would form a
        # fleet and serialize their sections across both (that cost is bench/fleet_bench.py's).
        tf_tcp = procs.tfproxy(args.tfproxy, redis_port, "--library-key", "bench:tcp")
        tf_unix = procs.tfproxy(args.tfproxy, "unix:" + procs.unix_socket(), "--library-key",
                                "bench:unix")
        for port in (tf_tcp, tf_unix):
            assert cli(port, "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
        assert cli(redis_port, "FUNCTION", "LOAD", "REPLACE", LUA) == "bench"

        targets = [("fcall", redis_port, "FCALL", ""), ("tcp", tf_tcp, "TFCALL", "bench."),
                   ("unix", tf_unix, "TFCALL", "bench.")]
        results = {}
        for _ in range(args.rounds):
            for name, rest in CASES:
                for target, port, command, prefix in targets:
                    results.setdefault((target, name), []).append(
                        rps(port, args.requests, [command, prefix + name] + rest))

        print("redis-benchmark -c 50, %d rounds, median requests/s" % args.rounds)
        print()
        print("| function | FCALL (Lua, Redis direct) | TFCALL, backend over TCP | ratio "
              "| TFCALL, backend over a Unix socket | ratio |")
        print("|---|---|---|---|---|---|")
        for name, _ in CASES:
            f = statistics.median(results[("fcall", name)])
            t = statistics.median(results[("tcp", name)])
            u = statistics.median(results[("unix", name)])
            print("| %s | %.0f | %.0f | %.2f | %.0f | %.2f |" % (name, f, t, t / f, u, u / f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
