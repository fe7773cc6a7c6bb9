#!/usr/bin/env python3
"""Where the time of a TFCALL goes: a system-wide profile while redis-benchmark -c 50 calls one
of the functions benchmark's functions (bench/functions_bench.py) through tfproxy.

Records every CPU with `perf record -a -g` for a few seconds, then prints each process' share of
the samples (idle included: on a virtual machine, a halted CPU waiting for the other side of a
round trip), the hottest symbols of each, and how long each call held the atomic gate over the
same seconds (INFO). Needs perf and root (or a permissive perf_event_paranoid).

    bench/functions_profile.py [--function get] [--seconds 5] [--keep DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from benchlib import TFPROXY, Processes, cli, info
from functions_bench import CASES, JS


def gate(port):
    fields = info(port, "tfproxy")
    return int(fields["gate_sections"]), int(fields["gate_hold_usec"])


def report(data, *sort):
    """perf report's flat table sorted by `sort`, as (percent, name) rows."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                          "--sort", ",".join(sort)], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].endswith("%") and not line.startswith("#"):
            rows.append((float(parts[0][:-1]), " ".join(parts[1].split())))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tfproxy", default=TFPROXY)
    ap.add_argument("--function", default="get", choices=[name for name, _ in CASES])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--keep", help="a folder to keep perf.data in")
    args = ap.parse_args()
    rest = dict(CASES)[args.function]

    folder = args.keep or tempfile.mkdtemp()
    data = os.path.join(folder, "perf.data")
    with Processes() as procs:
        redis_port = procs.redis()
        port = procs.tfproxy(args.tfproxy, redis_port)
        assert cli(port, "TFUNCTION", "LOAD", "REPLACE", JS) == "OK"
        load = subprocess.Popen(["redis-benchmark", "-p", str(port), "-c", "50", "-n",
                                 "1000000000", "-r", "10000", "TFCALL",
                                 "bench." + args.function] + rest,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)  # warm: the function moves to the I/O thread
            # The gate is read over the middle of the recording, away from perf's start and end.
            perf = subprocess.Popen(["perf", "record", "-a", "-g", "-F", "1999", "-o", data, "--",
                                     "sleep", str(args.seconds)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            before = gate(port)
            started = time.monotonic()
            time.sleep(max(args.seconds - 1, 0.5))
            after = gate(port)
            elapsed = time.monotonic() - started
            if perf.wait() != 0:
                raise RuntimeError("perf record failed")
        finally:
            load.kill()
            load.wait()

    sections = after[0] - before[0]
    held = after[1] - before[1]
    print("TFCALL bench.%s, redis-benchmark -c 50, %.1f s recorded on every CPU"
          % (args.function, args.seconds))
    print()
    print("| process | share of samples |")
    print("|---|---|")
    for percent, name in report(data, "comm")[:6]:
        print("| %s | %.1f%% |" % (name, percent))
    print()
    print("Hottest symbols (share of all samples):")
    for percent, name in report(data, "comm", "sym")[:15]:
        print("  %5.1f%%  %s" % (percent, name))
    print()
    if sections:
        print("gate: %d sections (%.0f/s), %.1f µs held each, held %.0f%% of the time"
              % (sections, sections / elapsed, held / sections, 100.0 * held / (elapsed * 1e6)))
    print("perf data: %s" % data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
