#!/usr/bin/python3
"""Soak of functions run on I/O threads: a million TFCALLs (by default) of short functions --
one without Redis calls, one with a GET, one with three calls -- from 50 clients through
redis-benchmark, while a client reads through the same tfproxy (the gate then busy: calls go to
script threads), a coroutine keeps the library busy (calls lent back to their I/O thread), and
clients leave with a call unanswered. Prints tfproxy's RSS, descriptors and the calls that ran on
I/O threads after every step. Flat is the pass mark.

    bench/io_thread_soak.py [--rounds 10] [--requests 100000]

The suite's bounded version is tests/integration/io_thread_runs_test.cpp (BoundedSoak).
"""
import socket
import threading

import redis

from benchlib import Processes, arguments, cli, fds, redis_benchmark, rss_kb
from functions_bench import JS

# The benchmark's three functions, and a coroutine that keeps the library's queue busy.
LIBRARY = JS.replace("name=bench", "name=soak") + """
redis.registerAsyncFunction('busy', async function(client){
  return await client.block(function(c){ return c.callAsync('ping'); });
});"""

SHAPES = [["constant", "0"], ["get", "1", "key:__rand_int__"], ["rw", "1", "key:__rand_int__"]]


def io_thread_calls(client):
    return int(client.info("tfproxy")["function_calls_on_io_threads"])


def main():
    args = arguments(requests=100000, rounds=10).parse_args()
    with Processes() as procs:
        redis_port = procs.redis()
        port = procs.tfproxy(args.tfproxy, redis_port)
        pid = procs.procs[-1].pid
        assert cli(port, "TFUNCTION", "LOAD", LIBRARY) == "OK"
        client = redis.Redis(port=port)
        stop = threading.Event()

        def reader():
            r = redis.Redis(port=port)
            while not stop.is_set():
                r.get("key:1")

        def busy():
            b = redis.Redis(port=port)
            while not stop.is_set():
                assert b.execute_command("TFCALLASYNC", "soak.busy", 0) == b"PONG"

        threads = [threading.Thread(target=reader), threading.Thread(target=busy)]
        for t in threads:
            t.start()
        print("round  calls      rss kB  fds  on I/O threads", flush=True)
        calls = 0
        try:
            for r in range(args.rounds):
                for shape in SHAPES:
                    redis_benchmark(port, ["-c", "50", "-n", str(args.requests // len(SHAPES)),
                                           "-r", "10000", "TFCALL", "soak." + shape[0]] + shape[1:])
                calls += args.requests
                for _ in range(20):  # clients that leave with a call unanswered
                    s = socket.create_connection(("127.0.0.1", port))
                    s.sendall(b"*4\r\n$6\r\nTFCALL\r\n$8\r\nsoak.get\r\n$1\r\n1\r\n$1\r\nk\r\n")
                    s.close()
                print("%5d  %9d  %7d  %4d  %d" % (r + 1, calls, rss_kb(pid), fds(pid),
                                                  io_thread_calls(client)), flush=True)
        finally:
            stop.set()
            for t in threads:
                t.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
