#!/usr/bin/env python3
"""Cluster soak: tfproxy in front of a 3-primary Redis Cluster runs, round after round, forwarded
GET/SET, MSET/MGET over several slots (split and merged), TFCALLs whose client.call touches keys
of every node, and writes that fire a key space trigger and a stream trigger on every primary;
after every round it prints tfproxy's RSS and descriptors, the cluster's connected clients, and
how many trigger runs were counted against the writes that fired them.

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
});
redis.registerKeySpaceTrigger('fired', 't:', (client) => { client.call('incr', 'fired'); });
redis.registerStreamTrigger('read', 's:', (client) => { client.call('incr', 'read'); },
                            {isStreamTrimmed: true});"""


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
        print("| after | RSS | fds | cluster clients | key space runs / writes | stream runs / entries |")
        print("|---|---|---|---|---|---|")

        def row(label):
            clients = 0
            for port in ports:
                info = cli(port, "INFO", "clients")
                clients += int([line for line in info.splitlines()
                                if line.startswith("connected_clients:")][0].split(":")[1])
            fired = cli(tf_port, "GET", "fired") or "0"
            read = cli(tf_port, "GET", "read") or "0"
            print("| %s | %.1f MB | %d | %d | %s / %d | %s / %d |" %
                  (label, rss_kb(pid) / 1024.0, fds(pid), clients, fired, triggered, read,
                   triggered), flush=True)

        triggered = 0
        row("start")
        for r in range(args.rounds):
            running = [
                load(tf_port, args.requests, [], ["-t", "get,set"]),
                load(tf_port, args.requests,
                     ["MSET", "a:__rand_int__", "1", "b:__rand_int__", "2", "c:__rand_int__", "3"]),
                load(tf_port, args.requests, ["MGET", "a:__rand_int__", "b:__rand_int__"]),
                load(tf_port, args.requests,
                     ["TFCALL", "soak.rw", "2", "a:__rand_int__", "b:__rand_int__"]),
                # A write that fires a trigger is an atomic section with a marker round trip to
                # every primary: a tenth as many keep the rounds as long as the others.
                load(tf_port, args.requests // 10, ["SET", "t:__rand_int__", "v"]),
                load(tf_port, args.requests // 10, ["XADD", "s:__rand_int__", "*", "f", "v"],
                     ["-r", "100"]),
            ]
            for p in running:
                p.wait()
            triggered += args.requests // 10
            row("%d of each" % ((r + 1) * args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
