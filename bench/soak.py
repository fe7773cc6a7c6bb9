#!/usr/bin/env python3
"""Soak: many calls of every function shape through one tfproxy, printing its memory, the
library's V8 heap and its open descriptors after every step, so growth shows as a trend.

Shapes: a sync function (objects returned), a plain coroutine, a coroutine with block(),
executeAsync, and callAsync inside block(); then every allocation pattern that once ended the
process, repeated, with the isolate checked after each; then clients that leave in every state;
then the replies tfproxy edits (DBSIZE, SCAN, COMMAND INFO, ACL GETUSER) and a library replaced
thousands of times; then key space triggers: writes through tfproxy that fire a sync trigger (with
onTriggerFired) and an async one, and writes of a client of Redis itself.

    bench/soak.py [--calls 1000000] [--step 100000] [--bombs 100] [--replaces 5000]
                  [--trigger-writes 300000]

The suite's bounded versions are tests/integration/hardening_test.cpp, robustness_test.cpp and
keyspace_triggers_test.cpp (BoundedSoak).
"""
import socket
import subprocess
import sys
import time

from benchlib import Processes, arguments, cli, fds, rss_kb

SHAPES_JS = """#!js api_version=1.0 name=shapes
redis.registerFunction('sync', function(c){ return [c.call('ping'), {a: 1}]; });
redis.registerAsyncFunction('coroutine', async function(c){ return 1; });
redis.registerAsyncFunction('block', async function(c){ return c.block(function(bc){ return bc.call('ping'); }); });
redis.registerFunction('executeAsync', function(c){ return c.executeAsync(async function(ac){ return 1; }); });
redis.registerAsyncFunction('callAsync', async function(c){ return await c.block(function(bc){ return bc.callAsync('ping'); }); });
"""

BOMBS_JS = """#!js api_version=1.0 name=bombs
redis.registerFunction('chunks', function(c){ var x = []; for (;;) x.push(new Array(3e6)); });
redis.registerFunction('big_chunks', function(c){ var x = []; for (;;) x.push(new Array(1e7)); });
redis.registerFunction('fill', function(c){ return new Array(30000000).fill(1.5).length; });
redis.registerFunction('sized', function(c, n){ return new Array(parseInt(n)).length; });
redis.registerAsyncFunction('async_chunks', async function(c){ var x = []; for (;;) x.push(new Array(1e7)); });
redis.registerAsyncFunction('async_map', async function(c){ var m = {}; for (var i = 0;; i++) m['k' + i] = i; });
redis.registerFunction('block_chunks', function(c){
  return c.executeAsync(async function(ac){ return ac.block(function(bc){ var x = []; for (;;) x.push(new Array(1e7)); }); });
});
redis.registerFunction('ok', function(c){ return c.call('ping'); });
"""

TRIGGERS_JS = """#!js api_version=1.0 name=triggers
redis.registerKeySpaceTrigger('sync', 'trig:', function(c, d){ c.call('incr', 'fired:' + d.hit); },
  {onTriggerFired: function(c, d){ d.hit = d.event; }});
redis.registerKeySpaceTrigger('async', 'atrig:', async function(c, d){
  await c.block(function(bc){ bc.call('incr', 'fired:async'); });
});
"""

BOMBS = [["TFCALL", "bombs.chunks", "0"], ["TFCALL", "bombs.big_chunks", "0"],
         ["TFCALL", "bombs.fill", "0"], ["TFCALL", "bombs.sized", "0", "40000000"],
         ["TFCALLASYNC", "bombs.async_chunks", "0"], ["TFCALLASYNC", "bombs.async_map", "0"],
         ["TFCALLASYNC", "bombs.block_chunks", "0"]]


def proxy_pid(port):
    out = subprocess.run(["ss", "-Hltnp", "sport = :%d" % port], capture_output=True,
                         text=True).stdout
    return int(out.split("pid=")[1].split(",")[0])


def heap(port, library):
    lines = cli(port, "TFUNCTION", "DEBUG", "js", "isolates_stats").splitlines()
    if library not in lines:
        return -1
    fields = lines[lines.index(library) + 1:]
    return int(fields[fields.index("used_heap_size") + 1])


def report(label, port, pid, library):
    cli(port, "TFUNCTION", "DEBUG", "js", "isolates_gc")
    time.sleep(0.2)
    cli(port, "TFCALL", "shapes.sync", "0")  # refreshes the heap figures after the collection
    print("%-28s rss %7d kB  v8 heap %9d B  fds %4d" % (label, rss_kb(pid), heap(port, library),
                                                       fds(pid)), flush=True)


def leave_in_every_state(port, n):
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"*3\r\n$5\r\nBLPOP\r\n$10\r\nsoak:nokey\r\n$1\r\n0\r\n*1\r\n?x\r\n")
        s.close()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"\x11\x00\n'\n")
        s.close()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk")
        s.close()


def main():
    ap = arguments(requests=0)
    ap.add_argument("--calls", type=int, default=1000000)
    ap.add_argument("--step", type=int, default=100000)
    ap.add_argument("--bombs", type=int, default=100)
    ap.add_argument("--replaces", type=int, default=5000)
    ap.add_argument("--trigger-writes", type=int, default=300000)
    args = ap.parse_args()
    with Processes() as procs:
        redis = procs.redis()
        port = procs.tfproxy(args.tfproxy, redis, "--enable-debug-command", "yes",
                             "--lock-redis-timeout", "20000", "--v8-maxmemory", "64mb")
        pid = proxy_pid(port)
        cli(port, "TFUNCTION", "LOAD", SHAPES_JS)
        report("start", port, pid, "shapes")
        for shape in ["sync", "coroutine", "block", "executeAsync", "callAsync"]:
            command = "TFCALL" if shape == "sync" else "TFCALLASYNC"
            done = 0
            while done < args.calls:
                n = min(args.step, args.calls - done)
                subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(n), "-c", "20",
                                "-q", command, "shapes." + shape, "0"], check=True,
                               stdout=subprocess.DEVNULL)
                done += n
                report("%s %d" % (shape, done), port, pid, "shapes")
        cli(port, "TFUNCTION", "LOAD", BOMBS_JS)
        for i in range(args.bombs):
            for bomb in BOMBS:
                reply = cli(port, *bomb)
                ok = cli(port, "TFCALL", "bombs.ok", "0")
                if ok != "PONG":
                    sys.exit("after %s the library answered %r" % (bomb[1], ok))
            if (i + 1) % 10 == 0 or i + 1 == args.bombs:
                report("bombs x%d (last: %s)" % (i + 1, reply[:30]), port, pid, "bombs")
        for i in range(5):
            leave_in_every_state(port, 2000)
            time.sleep(0.5)
            report("clients left %d" % ((i + 1) * 6000), port, pid, "shapes")
        # Replies tfproxy edits, and ACL rules it keeps, under load.
        cli(port, "ACL", "SETUSER", "soak", "on", ">pw", "~*", "+@all", "-tfcallasync")
        for command in (["DBSIZE"], ["SCAN", "0", "COUNT", "100"], ["COMMAND", "INFO", "TFCALL"],
                        ["ACL", "GETUSER", "soak"]):
            done = 0
            while done < args.calls:
                n = min(args.step, args.calls - done)
                subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(n), "-c", "20",
                                "-q"] + command, check=True, stdout=subprocess.DEVNULL)
                done += n
            report("%s %d" % (" ".join(command[:2]), done), port, pid, "shapes")
        # Libraries replaced over and over: each old isolate goes once nothing holds it.
        for i in range(args.replaces):
            cli(port, "TFUNCTION", "LOAD", "REPLACE", SHAPES_JS)
            if (i + 1) % (args.replaces // 5 or 1) == 0:
                stats = cli(port, "TFUNCTION", "DEBUG", "js", "isolates_aggregated_stats")
                report("replaced %d (%s)" % (i + 1, " ".join(stats.split()[:4])), port, pid,
                       "shapes")
        # Key space triggers: through tfproxy (sync and async) and from a client of Redis.
        cli(port, "TFUNCTION", "LOAD", TRIGGERS_JS)
        for target, key in ((port, "trig:__rand_int__"), (port, "atrig:__rand_int__"),
                            (redis, "trig:__rand_int__")):
            done = 0
            while done < args.trigger_writes:
                n = min(args.step, args.trigger_writes - done)
                subprocess.run(["redis-benchmark", "-p", str(target), "-n", str(n), "-c", "20",
                                "-r", "100000", "-q", "SET", key, "v"], check=True,
                               stdout=subprocess.DEVNULL)
                done += n
                report("%s %s %d" % ("proxied" if target == port else "direct", key.split(":")[0],
                                     done), port, pid, "triggers")


if __name__ == "__main__":
    main()
