#!/usr/bin/env python3
"""Cluster soak: tfproxy in front of a 3-primary Redis Cluster runs, round after round, forwarded
GET/SET, MSET/MGET over several slots (split and merged), transactions, and TFCALLs whose
client.call touches keys of every node; after every round it prints tfproxy's RSS and
descriptors and the cluster's connected clients.

    bench/cluster_soak.py [--rounds 5] [--requests 200000]   # a million of each by default
"""
import subprocess
import sys

from benchlib import Processes, arguments, cli, fds, rss_kb
from cluster_bench import make_cluster

JS = """#!js api_version=1.0 name=soak
redis.registerFunction('rw', function(client, a, b){
  client.call('incr', a);
  return client.call('mget', a, b);
});"""


def load(port, requests, command, extra=()):
    return subprocess.Popen(["redis-benchmark", "-p", str(port), "-q", "-c", "20", "-n",
                             str(requests), "-r", "10000"] + list(extra) + command,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    args = arguments(requests=200000, rounds=5).parse_args()
    with Processes() as procs:
        ports = make_cluster(procs, 3)
        tf_port = procs.tfproxy(args.tfproxy, ports[0])
        pid = procs.procs[-1].pid
        assert cli(tf_port, "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
        print("| after | RSS | fds | cluster clients |")
        print("|---|---|---|---|")

        def row(label):
            clients = 0
            for port in ports:
                info = cli(port, "INFO", "clients")
                clients += int([line for line in info.splitlines()
                                if line.startswith("connected_clients:")][0].split(":")[1])
            print("| %s | %.1f MB | %d | %d |" % (label, rss_kb(pid) / 1024.0, fds(pid), clients),
                  flush=True)

        row("start")
        for r in range(args.rounds):
            running = [
                load(tf_port, args.requests, [], ["-t", "get,set"]),
                load(tf_port, args.requests,
                     ["MSET", "a:__rand_int__", "1", "b:__rand_int__", "2", "c:__rand_int__", "3"]),
                load(tf_port, args.requests, ["MGET", "a:__rand_int__", "b:__rand_int__"]),
                load(tf_port, args.requests,
                     ["TFCALL", "soak.rw", "2", "a:__rand_int__", "b:__rand_int__"]),
            ]
            for p in running:
                p.wait()
            row("%d of each" % ((r + 1) * args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
