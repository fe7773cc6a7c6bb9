#!/usr/bin/python3
"""The clients scenario through redis-py (Debian's python3-redis). Usage: redis_py.py PORT"""
import os
import sys
import time

import redis

port = int(sys.argv[1])
failures = []


def expect(what, got, wanted):
    if got != wanted:
        failures.append("%s: got %r, wanted %r" % (what, got, wanted))


def expect_error(what, call, text):
    try:
        call()
        failures.append("%s: no error, wanted %r" % (what, text))
    except redis.ResponseError as e:
        expect(what, str(e), text)


r = redis.Redis(port=port, decode_responses=True)
expect("PING", r.ping(), True)
expect("SET", r.set("py:k", "v"), True)
expect("GET", r.get("py:k"), "v")
r.delete("py:n")
pipe = r.pipeline(transaction=False)
for _ in range(100):
    pipe.incr("py:n")
expect("pipeline", pipe.execute()[-1], 100)
tx = r.pipeline(transaction=True)
tx.set("py:m", 1).incr("py:m")
expect("MULTI", tx.execute(), [True, 2])

pubsub = r.pubsub()
pubsub.subscribe("py:channel")
pubsub.get_message(timeout=1)  # the subscription's confirmation
expect("PUBLISH", r.publish("py:channel", "hello"), 1)
message = None
deadline = time.time() + 5
while message is None and time.time() < deadline:
    message = pubsub.get_message(timeout=1)
expect("message", message and message["data"], "hello")
pubsub.close()

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenario.js")) as f:
    code = f.read()
expect("TFUNCTION LOAD", r.execute_command("TFUNCTION", "LOAD", "REPLACE", code), "OK")
expect("TFCALL", r.execute_command("TFCALL", "clients.greet", 1, "py:greeting", "py"),
       "hello py")
r.delete("py:later")
expect("TFCALLASYNC", r.execute_command("TFCALLASYNC", "clients.later", 1, "py:later"), 1)
expect_error("unknown function", lambda: r.execute_command("TFCALL", "clients.missing", 0),
             "Unknown function missing")
expect_error("thrown", lambda: r.execute_command("TFCALL", "clients.fail", 0),
             "failed on purpose")
expect("shape", r.execute_command("TFCALL", "clients.shape", 0), ["name", "tfproxy", "answer", 42])
listed = r.execute_command("TFUNCTION", "LIST", "LIBRARY", "clients")
expect("TFUNCTION LIST", listed[0][listed[0].index("name") + 1], "clients")

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
print("ok")
