#!/usr/bin/env python3
"""TLS soak: a TLS-only tfproxy in front of a TLS-only Redis, under minutes of load from
redis-benchmark --tls (new connections every round, pipelined and not) and clients that leave in
every state -- before their handshake, mid-handshake, with replies owed, blocked -- with a
certificate reload (SIGHUP) every round. Prints tfproxy's memory and descriptors after each
round, so growth shows as a trend.

    bench/tls_soak.py [--rounds 20] [--requests 200000] [--leavers 300]

The suite's bounded version is tests/integration/tls_test.cpp (BoundedSoak...).
"""
import os
import signal
import socket
import ssl
import sys
import time

from benchlib import Processes, arguments, fds, redis_benchmark, rss_kb, tls_pair


def leave_in_every_state(port, context, n):
    for i in range(n):
        raw = socket.create_connection(("127.0.0.1", port))
        if i % 4 == 0:
            raw.close()  # before the handshake
            continue
        if i % 4 == 1:
            raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello, cut
            raw.close()
            continue
        s = context.wrap_socket(raw, server_hostname="localhost")
        if i % 4 == 2:
            s.sendall(b"*2\r\n$3\r\nGET\r\n$4\r\nsoak\r\n" * 100)  # replies owed
        else:
            s.sendall(b"*3\r\n$5\r\nBLPOP\r\n$5\r\nnever\r\n$1\r\n0\r\n")  # blocked
        s.close()


def main():
    ap = arguments(requests=200000, rounds=20)
    ap.add_argument("--leavers", type=int, default=300)
    args = ap.parse_args()

    with Processes() as procs:
        cert, _, tf_port, tls = tls_pair(procs, args.tfproxy)
        pid = procs.procs[-1].pid
        context = ssl.create_default_context(cafile=cert("ca.crt"))
        context.load_cert_chain(cert("client.crt"), cert("client.key"))
        start = time.time()
        total = 0
        for r in range(args.rounds):
            for pipeline in ("1", "16"):
                redis_benchmark(tf_port, tls + ["-c", "50", "-n", str(args.requests), "-P",
                                                pipeline, "-t", "set,get", "-r", "100000"])
                total += 2 * args.requests
            leave_in_every_state(tf_port, context, args.leavers)
            os.kill(pid, signal.SIGHUP)
            time.sleep(0.5)
            print("round %2d  %9d requests  %4d leavers  rss %7d kB  fds %4d  %4.0f s"
                  % (r + 1, total, (r + 1) * args.leavers, rss_kb(pid), fds(pid),
                     time.time() - start), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
