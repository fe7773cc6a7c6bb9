#!/usr/bin/env python3
"""Functions benchmark: TFCALL through tfproxy vs the same logic as a Redis Function in Lua
(FCALL) on the same Redis, side by side in one run.

Three functions: one returning a constant, one doing one GET, one doing GET+SET+INCR. Each is
driven by redis-benchmark -c 50 against both targets, alternating round by round; the table
shows median requests/s and TFCALL/FCALL.

    bench/functions_bench.py [--rounds 5] [--requests 100000]
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


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port)] + list(args), check=True,
                          capture_output=True, text=True).stdout.strip()


def rps(port, requests, command):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-r", "10000",
         "--csv"] + command,
        check=True, capture_output=True, text=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    return float(rows[0]["rps"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--tfproxy", default=os.path.join(ROOT, "build", "server", "tfproxy"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="tfproxy-bench-")
    procs = []
    try:
        redis_port, tf_port = free_port(), free_port()
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no",
             "--dir", tmp], stdout=subprocess.DEVNULL))
        wait_port(redis_port)
        procs.append(subprocess.Popen(
            [args.tfproxy, "--port", str(tf_port), "--backend", "127.0.0.1:%d" % redis_port,
             "--log-level", "warn"]))
        wait_port(tf_port)
        time.sleep(0.3)
        assert cli(tf_port, "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
        assert cli(redis_port, "FUNCTION", "LOAD", "REPLACE", LUA) == "bench"

        results = {}
        for _ in range(args.rounds):
            for name, rest in CASES:
                results.setdefault(("tfcall", name), []).append(
                    rps(tf_port, args.requests, ["TFCALL", "bench." + name] + rest))
                results.setdefault(("fcall", name), []).append(
                    rps(redis_port, args.requests, ["FCALL", name] + rest))

        print("redis-benchmark -c 50, %d rounds, median requests/s" % args.rounds)
        print()
        print("| function | FCALL (Lua, Redis direct) | TFCALL (tfproxy) | TFCALL/FCALL |")
        print("|---|---|---|---|")
        for name, _ in CASES:
            f = statistics.median(results[("fcall", name)])
            t = statistics.median(results[("tfcall", name)])
            print("| %s | %.0f | %.0f | %.2f |" % (name, f, t, t / f))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
