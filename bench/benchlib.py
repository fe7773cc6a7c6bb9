"""Shared pieces of the benchmarks: free ports, starting Redis and tfproxy, redis-benchmark."""
import argparse
import csv
import io
import os
import resource
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


def info(port, section=""):
    """The fields of INFO [section] as a dict of strings."""
    fields = {}
    for line in cli(port, "INFO", section).splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name] = value.strip()
    return fields


def cpu_seconds(pid):
    """User plus system CPU time `pid` has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """User plus system CPU time of the child processes waited for so far (redis-benchmark)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def rss_kb(pid):
    """VmRSS of `pid` in kB (-1 if unknown)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fds(pid):
    """Descriptors `pid` has open."""
    return len(os.listdir("/proc/%d/fd" % pid))


def make_certificates(folder):
    """A CA and a server and a client certificate it signed (for localhost and 127.0.0.1), made
    with the openssl command in `folder`; returns a function from file name to path."""
    def run(*argv):
        subprocess.run(argv, check=True, capture_output=True)
    with open(os.path.join(folder, "san.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    p = lambda name: os.path.join(folder, name)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
        "/CN=bench-ca", "-keyout", p("ca.key"), "-out", p("ca.crt"))
    for name in ("server", "client"):
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-keyout",
            p(name + ".key"), "-out", p(name + ".csr"))
        run("openssl", "x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.crt"), "-CAkey",
            p("ca.key"), "-CAcreateserial", "-days", "30", "-out", p(name + ".crt"), "-extfile",
            p("san.cnf"))
    return p


class TlsRedis:
    """A TLS-only Redis started in `procs` (client certificates required, as Redis' default)
    and what its clients need: `port`, `cert` (file name to path), `server_flags` (the same
    certificate for a TLS server of tfproxy's), `backend` (its rediss:// URL) with
    `backend_flags` (tfproxy's certificate flags to reach it) and `client_flags`
    (redis-benchmark's and redis-cli's)."""

    def __init__(self, procs):
        cert = make_certificates(procs.tmp)
        self.cert = cert
        self.server_flags = ["--tls-cert-file", cert("server.crt"), "--tls-key-file",
                             cert("server.key"), "--tls-ca-cert-file", cert("ca.crt")]
        self.port = free_port()
        procs.spawn(["redis-server", "--port", "0", "--tls-port", str(self.port), "--save", "",
                     "--appendonly", "no", "--dir", procs.tmp] + self.server_flags, self.port,
                    stdout=subprocess.DEVNULL)
        self.backend = "rediss://127.0.0.1:%d" % self.port
        self.backend_flags = ["--backend-tls-ca-cert-file", cert("ca.crt"),
                              "--backend-tls-cert-file", cert("client.crt"),
                              "--backend-tls-key-file", cert("client.key")]
        self.client_flags = ["--tls", "--cacert", cert("ca.crt"), "--cert", cert("client.crt"),
                             "--key", cert("client.key")]


def tls_pair(procs, binary, *flags):
    """A TLS-only Redis and a TLS-only tfproxy in front of it (TLS on both sides, client
    certificates required by both, as Redis' default). Returns (cert, redis_port, tfproxy_port,
    redis-benchmark's TLS arguments); cert maps a file name to its path."""
    redis = TlsRedis(procs)
    tf_port = free_port()
    procs.spawn([binary, "--port", "0", "--tls-port", str(tf_port), "--log-level", "warn",
                 "--backend", redis.backend] + redis.backend_flags + redis.server_flags +
                list(flags), tf_port)
    return redis.cert, redis.port, tf_port, redis.client_flags
