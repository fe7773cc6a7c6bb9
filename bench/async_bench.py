#!/usr/bin/env python3
"""Async benchmark: GET latency through tfproxy while the seed's scan coroutine runs.

The seed document's background counter (a TFCALLASYNC coroutine that SCANs the key space in
block() steps) runs back to back over 100k hashes, while redis-benchmark -c 50 GETs through the
same tfproxy; the same load with nothing running is the baseline. Rounds alternate between the
two; the table shows median p50/p99 and the busy/idle ratio.

    bench/async_bench.py [--rounds 5] [--requests 200000] [--keys 100000]
"""
import socket
import statistics
import subprocess
import sys
import threading
import time

from benchlib import Processes, arguments, cli, redis_benchmark

# The seed's coroutine, as the user wrote it.
JS = """#!js api_version=1.0 name=lib

redis.registerAsyncFunction('test', async function(async_client, expected_name){
    var count = 0;
    var cursor = '0';
    do{
        async_client.block((client)=>{
            var res = client.call('scan', cursor);
            cursor = res[0];
            var keys = res[1];
            keys.forEach((key) => {
                if (client.call('hget', key, 'name') == expected_name) {
                    count += 1;
                }
            });
        });
    } while(cursor != '0');
    return count;
});"""


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def fill(port, keys):
    data = b"".join(command("HSET", "person:%d" % i, "name", "tom") for i in range(keys))
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=data, check=True,
                   capture_output=True)


class Scanner(threading.Thread):
    """Runs the scan coroutine back to back until stopped; counts the completed scans."""

    def __init__(self, port, keys):
        super().__init__(daemon=True)
        self.port, self.keys = port, keys
        self.running = threading.Event()
        self.between_scans = threading.Event()
        self.between_scans.set()
        self.stopped = False
        self.completed = 0
        self.busy_seconds = 0.0

    def run(self):
        sock = socket.create_connection(("127.0.0.1", self.port))
        request = command("TFCALLASYNC", "lib.test", "0", "tom")
        expected = b":%d\r\n" % self.keys
        while not self.stopped:
            if not self.running.wait(0.1):
                continue
            self.between_scans.clear()
            start = time.time()
            sock.sendall(request)
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += sock.recv(64)
            if reply != expected:
                raise RuntimeError("scan answered %r" % reply)
            self.completed += 1
            self.busy_seconds += time.time() - start
            self.between_scans.set()

    def pause(self):
        """Returns once the running scan has ended and no other starts."""
        self.running.clear()
        self.between_scans.wait()


def measure(port, requests):
    rows = redis_benchmark(port, ["-c", "50", "-n", str(requests), "-t", "get", "-r", "100000"])
    row = rows["GET"]
    return float(row["p50_latency_ms"]), float(row["p99_latency_ms"]), float(row["rps"])


def main():
    ap = arguments(requests=200000)
    ap.add_argument("--keys", type=int, default=100000)
    args = ap.parse_args()

    with Processes() as procs:
        redis_port = procs.redis()
        tf_port = procs.tfproxy(args.tfproxy, redis_port)
        fill(redis_port, args.keys)
        assert cli(tf_port, "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"

        scanner = Scanner(tf_port, args.keys)
        scanner.start()
        results = {"idle": [], "scan": []}
        for _ in range(args.rounds):
            results["idle"].append(measure(tf_port, args.requests))
            scanner.running.set()
            time.sleep(0.2)  # the first block() steps are under way
            results["scan"].append(measure(tf_port, args.requests))
            scanner.pause()
        scanner.stopped = True

        print("redis-benchmark -c 50 -t get through tfproxy, %d rounds, medians" % args.rounds)
        print()
        print("| load | p50 ms | p99 ms | requests/s |")
        print("|---|---|---|---|")
        med = {}
        for name, label in (("idle", "nothing running"),
                            ("scan", "seed scan coroutine running")):
            p50, p99, rps = (statistics.median(col) for col in zip(*results[name]))
            med[name] = (p50, p99)
            print("| %s | %.3f | %.3f | %.0f |" % (label, p50, p99, rps))
        print()
        print("p99 scan/idle: %.2f (target <= 1.5), p50 scan/idle: %.2f"
              % (med["scan"][1] / med["idle"][1], med["scan"][0] / med["idle"][0]))
        if scanner.completed:
            print("scans completed: %d, %.2f s each over %d keys"
                  % (scanner.completed, scanner.busy_seconds / scanner.completed, args.keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
