#!/usr/bin/python3
"""Operations soak: while clients call functions and fire a trigger, scrape /metrics and
/api/state, read INFO tfproxy and TFUNCTION SLOWLOG (every call logged), post admin changes,
rewrite a --library-dir file and send malformed and half-finished HTTP requests -- round after
round -- and print tfproxy's RSS and descriptors after each round. Flat is the pass mark.

    bench/operations_soak.py [--rounds 10] [--requests 20000]

--requests is the scrapes per round (each with a TFCALL, an INFO and a trigger-firing SET).
"""
import os
import socket
import time
import urllib.request

import redis

from benchlib import Processes, arguments, free_port, fds, rss_kb

LIBRARY = """#!js api_version=1.0 name=soak
redis.registerFunction('get', (client, key) => client.call('get', key));
redis.registerKeySpaceTrigger('seen', 'soak:', (client, data) => { client.call('incr', 'seen'); });
// version %d
"""


def http(port, path, body=None):
    headers = {"X-Tfproxy-Admin": "1"} if body is not None else {}
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body,
                                     headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        return e.read()


def bad_requests(port):
    for raw in (b"garbage\r\n\r\n", b"GET /%zz HTTP/1.1\r\n\r\n", b"GET /metr"):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(raw)
        s.close()  # the half-finished one is dropped by tfproxy's timeout or the close


def main():
    args = arguments(requests=20000, rounds=10).parse_args()
    with Processes() as procs:
        folder = os.path.join(procs.tmp, "libraries")
        os.mkdir(folder)
        with open(os.path.join(folder, "soak.js"), "w") as f:
            f.write(LIBRARY % 0)
        redis_port = procs.redis()
        http_port = free_port()
        port = procs.tfproxy(args.tfproxy, redis_port, "--http-port", str(http_port),
                             "--library-dir", folder, "--slowlog-log-slower-than", "0")
        pid = procs.procs[-1].pid
        client = redis.Redis(port=port)
        print("round  rss kB  fds  (each round: %d scrapes, TFCALLs, INFOs, trigger writes)"
              % args.requests, flush=True)
        for r in range(args.rounds):
            start = time.time()
            for i in range(args.requests):
                http(http_port, "/metrics")
                client.execute_command("TFCALL", "soak.get", 1, "k")
                client.execute_command("INFO", "tfproxy")
                client.set("soak:%d" % (i % 100), i)
                if i % 10 == 0:
                    http(http_port, "/api/state")
                    client.execute_command("TFUNCTION", "SLOWLOG", "GET", 5)
                if i % 500 == 0:
                    http(http_port, "/api/config",
                         b"name=lock-redis-timeout&value=%d" % (500 + i % 7))
                    bad_requests(http_port)
            with open(os.path.join(folder, "soak.js"), "w") as f:
                f.write(LIBRARY % (r + 1))
            print("%5d  %6d  %3d  (%.1f s)" % (r + 1, rss_kb(pid), fds(pid), time.time() - start),
                  flush=True)
        print("slowlog kept %s entries; trigger ran %s times" % (
            client.execute_command("TFUNCTION", "SLOWLOG", "LEN"), client.get("seen").decode()))


if __name__ == "__main__":
    main()
