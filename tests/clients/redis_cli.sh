#!/usr/bin/env bash
# The clients scenario through redis-cli (RESP2, and RESP3 with -3). Usage: redis_cli.sh PORT
set -uo pipefail
port=$1
here=$(cd "$(dirname "$0")" && pwd)
failed=0
TMPDIR_CLI=$(mktemp -d /tmp/tfproxy-cli-XXXXXX)
trap 'rm -rf "$TMPDIR_CLI"' EXIT
cli() { redis-cli -p "$port" "$@" 2>&1; }
expect() { # expect WANTED COMMAND...
  local wanted=$1; shift
  local got; got=$("$@")
  if [ "$got" != "$wanted" ]; then
    printf 'redis-cli: %s\n  answered: %q\n  wanted:   %q\n' "$*" "$got" "$wanted" >&2
    failed=1
  fi
}

expect PONG cli PING
expect OK cli SET cli:k v
expect v cli GET cli:k
# A pipeline: 100 commands in one write, read back in order.
cli DEL cli:n >/dev/null
expect 100 bash -c "for i in \$(seq 100); do echo INCR cli:n; done | redis-cli -p $port | tail -1"
# MULTI/EXEC in one connection.
expect "$(printf 'OK\nQUEUED\nQUEUED\nOK\n2')" bash -c \
  "printf 'MULTI\nSET cli:m 1\nINCR cli:m\nEXEC\n' | redis-cli -p $port"
# Pub/sub: a subscriber hears what another connection publishes.
redis-cli -p "$port" SUBSCRIBE cli:channel > "$TMPDIR_CLI/sub.out" 2>&1 &
sub=$!
for _ in $(seq 50); do
  [ "$(cli PUBLISH cli:channel hello)" = 1 ] && break
  sleep 0.1
done
sleep 0.2
kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
if ! grep -q '^hello$' "$TMPDIR_CLI/sub.out"; then
  echo "redis-cli: the subscriber did not hear the message: $(cat "$TMPDIR_CLI/sub.out")" >&2
  failed=1
fi
# A library from a file, as upstream's documentation shows it.
expect OK bash -c "redis-cli -p $port -x TFUNCTION LOAD REPLACE < '$here/scenario.js'"
expect "hello cli" cli TFCALL clients.greet 1 cli:greeting cli
cli DEL cli:later >/dev/null
expect 1 cli TFCALLASYNC clients.later 1 cli:later
expect "Unknown function missing" cli TFCALL clients.missing 0
expect "failed on purpose" cli TFCALL clients.fail 0
expect "$(printf 'name\ntfproxy\nanswer\n42')" cli TFCALL clients.shape 0
# RESP3: the function's object is a map (redis-cli prints a map's pairs on one line each).
expect "$(printf 'name tfproxy\nanswer 42')" redis-cli -3 -p "$port" TFCALL clients.shape 0
expect "hello resp3" redis-cli -3 -p "$port" TFCALL clients.greet 1 cli:greeting resp3

[ "$failed" -eq 0 ] && echo ok
exit "$failed"
