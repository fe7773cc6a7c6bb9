"""Shared pieces of the benchmarks: free ports, starting Redis and tfproxy, redis-benchmark."""
import argparse
import csv
import io
import os
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TFPROXY = os.path.join(ROOT, "build", "server", "tfproxy")


def arguments(requests, rounds=5):
    """The options every benchmark takes; add your own, then parse_args()."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--requests", type=int, default=requests)
    ap.add_argument("--tfproxy", default=TFPROXY)
    return ap


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


def redis_benchmark(port, extra):
    """Runs redis-benchmark --csv with `extra` arguments; returns its rows keyed by test."""
    out = subprocess.run(["redis-benchmark", "-p", str(port), "--csv"] + extra,
                         check=True, capture_output=True, text=True).stdout
    return {row["test"]: row for row in csv.DictReader(io.StringIO(out))}


class Processes:
    """The servers of one benchmark run; all stopped on exit of the `with` block."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="tfproxy-bench-")
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()

    def spawn(self, argv, port, **kwargs):
        self.procs.append(subprocess.Popen(argv, **kwargs))
        wait_port(port)
        return port

    def unix_socket(self):
        """The Unix socket path the Redis of this run also listens on."""
        return os.path.join(self.tmp, "redis.sock")

    def redis(self):
        port = free_port()
        return self.spawn(["redis-server", "--port", str(port), "--save", "", "--appendonly",
                           "no", "--dir", self.tmp, "--unixsocket", self.unix_socket(),
                           "--unixsocketperm", "700"], port, stdout=subprocess.DEVNULL)

    def tfproxy(self, binary, backend, *flags):
        """Starts tfproxy in front of `backend`: a Redis port, or a "unix:PATH" string."""
        port = free_port()
        if isinstance(backend, int):
            backend = "127.0.0.1:%d" % backend
        self.spawn([binary, "--port", str(port), "--backend", backend,
                    "--log-level", "warn"] + list(flags), port)
        time.sleep(0.3)  # the first backend status poll
        return port
