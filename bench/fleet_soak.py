#!/usr/bin/env python3
"""Fleet soak: two tfproxy instances in front of one Redis run TFCALL sections (each one closes
the other's gate) and forwarded GETs at once; after every round prints each instance's RSS and
descriptors, the backend's connected clients and the fleet's members.

    bench/fleet_soak.py [--rounds 5] [--requests 100000]   # a million sections by default
"""
import subprocess
import sys

from benchlib import Processes, arguments, cli, fds, rss_kb

JS = """#!js api_version=1.0 name=soak
redis.registerFunction('rw', function(client, key){
  client.call('get', key);
  return client.call('incr', key);
});"""


def load(port, requests, command):
    return subprocess.Popen(["redis-benchmark", "-p", str(port), "-q", "-c", "20", "-n",
                             str(requests), "-r", "10000"] + command,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    args = arguments(requests=100000, rounds=5).parse_args()
    with Processes() as procs:
        redis_port = procs.redis()
        ports = [procs.tfproxy(args.tfproxy, redis_port) for _ in range(2)]
        pids = [p.pid for p in procs.procs[-2:]]
        assert cli(ports[0], "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
        print("| after | RSS a | RSS b | fds a | fds b | backend clients | members |")
        print("|---|---|---|---|---|---|---|")

        def row(label):
            clients = [line for line in cli(redis_port, "INFO", "clients").splitlines()
                       if line.startswith("connected_clients:")][0].split(":")[1]
            members = cli(redis_port, "ZCARD", "tfproxy:libraries:{fleet}:members")
            print("| %s | %.1f MB | %.1f MB | %d | %d | %s | %s |" % (
                label, rss_kb(pids[0]) / 1024.0, rss_kb(pids[1]) / 1024.0, fds(pids[0]),
                fds(pids[1]), clients.strip(), members), flush=True)

        row("start")
        for r in range(args.rounds):
            running = []
            for port in ports:
                running.append(load(port, args.requests,
                                    ["TFCALL", "soak.rw", "1", "k:__rand_int__"]))
                running.append(load(port, args.requests, ["GET", "k:__rand_int__"]))
            for p in running:
                p.wait()
            row("%d sections" % ((r + 1) * args.requests * len(ports)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
