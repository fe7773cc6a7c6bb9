#!/usr/bin/env python3
"""Functions benchmark: TFCALL through tfproxy vs the same logic as a Redis Function in Lua
(FCALL) on the same Redis, side by side in one run.

Three functions: one returning a constant, one doing one GET, one doing GET+SET+INCR. Each is
driven by redis-benchmark against Redis (FCALL) and three tfproxy instances in front of it: one
reaching Redis over loopback TCP, one over a Unix socket, and one over TCP with
--io-thread-functions no (every call handed to a script thread: the path before runs on I/O threads). Each
instance is its own fleet of one (a library key of its own). Targets alternate call by call
within each round.

Prints, per function: median requests/s at -c 50 and TFCALL/FCALL, the ratio of every round
(each against the FCALL figure of its own round), p50/p99 latency at -c 50 and -c 1, and the CPU
each call cost tfproxy, Redis and redis-benchmark at -c 50 beside its elapsed time: on a machine
whose cores they share, that sum over the cores is the floor under the elapsed time. Last, how
long each call held the atomic gate (INFO's gate_hold_usec over the calls) and what share of the
elapsed time that is: sections are serial, so a share near 1 means they set the pace.

    bench/functions_bench.py [--rounds 5] [--requests 50000] [--compare BIN]

--compare adds another tfproxy binary (an earlier build) over TCP as a fifth target in the same
rounds, so that a change shows against the build before it.
"""
import statistics
import sys

from benchlib import (Processes, arguments, children_cpu_seconds, cli, cpu_seconds, info,
                      redis_benchmark)

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


def gate_held_usec(port, through_tfproxy):
    return int(info(port, "tfproxy")["gate_hold_usec"]) if through_tfproxy else 0


def run(port, clients, requests, command, pids):
    """(requests/s, p50 ms, p99 ms, CPU µs per call of (tfproxy, Redis, redis-benchmark), µs
    of gate hold per call) of one redis-benchmark run; `pids`: the tfproxy measured (or None)
    and Redis."""
    held = gate_held_usec(port, pids[0] is not None)
    before = [cpu_seconds(pid) if pid else 0 for pid in pids] + [children_cpu_seconds()]
    rows = redis_benchmark(port, ["-c", str(clients), "-n", str(requests), "-r", "10000"] +
                           command)
    after = [cpu_seconds(pid) if pid else 0 for pid in pids] + [children_cpu_seconds()]
    held = (gate_held_usec(port, pids[0] is not None) - held) / requests
    row = next(iter(rows.values()))
    cpu = tuple((a - b) / requests * 1e6 for a, b in zip(after, before))
    return (float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]), cpu,
            held)


def main():
    ap = arguments(requests=50000)
    ap.add_argument("--compare", help="another tfproxy binary to measure in the same rounds")
    args = ap.parse_args()

    with Processes() as procs:
        redis_port = procs.redis()
        pids = {"fcall": None}
        # Each instance with a library key of its own: two instances sharing one would form a
        # fleet and serialize their sections across both (that cost is bench/fleet_bench.py's).
        redis_pid = procs.procs[-1].pid
        tf_tcp = procs.tfproxy(args.tfproxy, redis_port, "--library-key", "bench:tcp")
        pids["tcp"] = procs.procs[-1].pid
        tf_unix = procs.tfproxy(args.tfproxy, "unix:" + procs.unix_socket(), "--library-key",
                                "bench:unix")
        pids["unix"] = procs.procs[-1].pid
        tf_queued = procs.tfproxy(args.tfproxy, redis_port, "--library-key", "bench:queued",
                                  "--io-thread-functions", "no")
        pids["queued"] = procs.procs[-1].pid
        targets = [("fcall", redis_port, "FCALL", ""), ("tcp", tf_tcp, "TFCALL", "bench."),
                   ("unix", tf_unix, "TFCALL", "bench."),
                   ("queued", tf_queued, "TFCALL", "bench.")]
        labels = {"tcp": "TCP", "unix": "Unix socket", "queued": "TCP, script threads only",
                  "compared": "TCP, compared build"}
        if args.compare:
            targets.append(("compared", procs.tfproxy(args.compare, redis_port, "--library-key",
                                                      "bench:compared"), "TFCALL", "bench."))
            pids["compared"] = procs.procs[-1].pid
        for _, port, command, _ in targets[1:]:
            assert cli(port, "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
        assert cli(redis_port, "FUNCTION", "LOAD", "REPLACE", LUA) == "bench"
        results = {}  # (target, function, clients) -> [(rps, p50, p99)]
        for _ in range(args.rounds):
            for name, rest in CASES:
                for clients, requests in ((50, args.requests), (1, args.requests // 10)):
                    for target, port, command, prefix in targets:
                        results.setdefault((target, name, clients), []).append(
                            run(port, clients, requests, [command, prefix + name] + rest,
                                (pids[target], redis_pid)))

        def median(target, name, clients, field):
            return statistics.median(r[field] for r in results[(target, name, clients)])

        print("redis-benchmark -c 50, %d rounds, median requests/s; TFCALL/FCALL" % args.rounds)
        print()
        print("| function | FCALL (Lua, Redis direct) | %s |" % " | ".join(
            "TFCALL, %s | ratio" % labels[t] for t, *_ in targets[1:]))
        print("|---|---|" + "---|---|" * (len(targets) - 1))
        for name, _ in CASES:
            f = median("fcall", name, 50, 0)
            cells = []
            for target, *_ in targets[1:]:
                t = median(target, name, 50, 0)
                cells.append("%.0f | %.2f" % (t, t / f))
            print("| %s | %.0f | %s |" % (name, f, " | ".join(cells)))
        print()
        print("Every round's TFCALL/FCALL at -c 50 (each against its own round's FCALL):")
        for name, _ in CASES:
            for target, *_ in targets[1:]:
                ratios = [t[0] / f[0] for t, f in zip(results[(target, name, 50)],
                                                       results[("fcall", name, 50)])]
                print("  %-8s %-26s %s" % (name, labels[target],
                                           " ".join("%.2f" % r for r in ratios)))
        print()
        print("Latency, median of rounds, ms: p50 / p99")
        print()
        print("| function | clients | FCALL | %s |" % " | ".join(
            "TFCALL, " + labels[t] for t, *_ in targets[1:]))
        print("|---|---|---|" + "---|" * (len(targets) - 1))
        for name, _ in CASES:
            for clients in (1, 50):
                print("| %s | %d | %s |" % (name, clients, " | ".join(
                    "%.3f / %.3f" % (median(t, name, clients, 1), median(t, name, clients, 2))
                    for t, *_ in targets)))
        def per_function(title, shown, cell):
            """A table with a row per function and a column per target in `shown`."""
            print()
            print(title)
            print()
            print("| function | %s |" % " | ".join(
                "FCALL" if t == "fcall" else "TFCALL, " + labels[t] for t in shown))
            print("|---|" + "---|" * len(shown))
            for name, _ in CASES:
                print("| %s | %s |" % (name, " | ".join(cell(t, name) for t in shown)))

        def cpu(target, name):
            rounds = results[(target, name, 50)]
            tfproxy, redis, client = (statistics.median(r[3][i] for r in rounds) for i in range(3))
            elapsed = 1e6 / median(target, name, 50, 0)
            own = "" if target == "fcall" else "%.1f + " % tfproxy
            return "%s%.1f + %.1f (%.1f)" % (own, redis, client, elapsed)

        def gate(target, name):
            parts = []
            for clients in (50, 1):
                held = statistics.median(r[4] for r in results[(target, name, clients)])
                elapsed = 1e6 / median(target, name, clients, 0)
                parts.append("%.1f (%.2f)" % (held, held / elapsed))
            return " / ".join(parts)

        everything = [t for t, *_ in targets]
        per_function("CPU per call at -c 50, µs, median of rounds: tfproxy + Redis + "
                     "redis-benchmark (elapsed per call)", everything, cpu)
        per_function("Gate held per call, µs, median of rounds (share of the elapsed time per "
                     "call), at -c 50 / -c 1", everything[1:], gate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
