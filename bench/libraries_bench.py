#!/usr/bin/env python3
"""Hundreds of libraries: tfproxy's resident memory idle and per small library, the time to
load them through a client, and the time a restarted tfproxy takes to restore them all from the
backend before it listens. The baseline is the same tfproxy with no library, in the same run.

    bench/libraries_bench.py [--libraries 500]

Targets (issue 11): idle RSS <= 40 MB, <= 1 MB per small library, 500 restored in < 5 s.
"""
import subprocess
import time

from benchlib import Processes, arguments, cli, free_port, wait_port

LIBRARY = "#!js api_version=1.0 name=lib%d\nredis.registerFunction('f', function(c){ return %d; });"


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


def load_all(port, count):
    """Loads `count` libraries through one redis-cli pipe; returns seconds taken."""
    commands = "".join('TFUNCTION LOAD "%s"\n' % (LIBRARY % (i, i)).replace("\n", "\\n")
                       for i in range(count))
    start = time.time()
    out = subprocess.run(["redis-cli", "-p", str(port)], input=commands, check=True,
                         capture_output=True, text=True).stdout.split()
    elapsed = time.time() - start
    assert out == ["OK"] * count, out[:5]
    return elapsed


def main():
    ap = arguments(requests=0)
    ap.add_argument("--libraries", type=int, default=500)
    args = ap.parse_args()
    n = args.libraries
    with Processes() as p:
        redis_port = p.redis()
        port = p.tfproxy(args.tfproxy, redis_port)
        proxy = p.procs[-1]
        idle = rss_mb(proxy.pid)
        load_s = load_all(port, n)
        loaded = rss_mb(proxy.pid)
        proxy.terminate()
        proxy.wait()
        p.procs.remove(proxy)
        port = free_port()
        start = time.time()
        p.procs.append(subprocess.Popen([args.tfproxy, "--port", str(port), "--backend",
                                         "127.0.0.1:%d" % redis_port, "--log-level", "warn"]))
        wait_port(port, timeout=120)
        restore_s = time.time() - start
        listed = cli(port, "TFUNCTION", "LIST").split("\n").count("engine")
        print("%-40s %10s" % ("measure", "value"))
        print("%-40s %8.1f MB" % ("idle RSS (no library)", idle))
        print("%-40s %8.1f MB" % ("RSS with %d libraries" % n, loaded))
        print("%-40s %8.2f MB" % ("RSS per library", (loaded - idle) / n))
        print("%-40s %8.2f s" % ("load %d through one client" % n, load_s))
        print("%-40s %8.2f s" % ("restore %d at start (until listening)" % n, restore_s))
        print("%-40s %10d" % ("libraries listed after restart", listed))


if __name__ == "__main__":
    main()
