#!/usr/bin/env bash
# The typings of sdk/gears-api, checked as their users use them:
#  1. tsc (strict) accepts typed versions of every example of the user guide and of the API;
#  2. each file in must_fail/ fails with the error its first line names (`// expect: TS2339`);
#  3. every typed library, emitted by tsc and bundled with rollup as a project would bundle it,
#     loads in tfproxy (`tfproxy check`).
# Usage: tests/typings/check.sh TFPROXY_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tfproxy=$1
node_dir=$here/../node
tsc=$node_dir/node_modules/.bin/tsc
if [ ! -x "$tsc" ]; then
  echo "typings: $tsc is missing; scripts/setup.sh installs it (npm ci in tests/node)" >&2
  exit 1
fi
work=$(mktemp -d /tmp/tfproxy-typings-XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0

"$tsc" -p "$here" || { echo "typings: tsc refused the typed examples" >&2; failed=1; }

for file in "$here"/must_fail/*.ts; do
  expected=$(sed -n 's|^// expect: ||p' "$file" | head -1)
  cat > "$work/tsconfig.json" <<JSON
{ "extends": "$here/tsconfig.json", "compilerOptions": { "baseUrl": "$here" },
  "files": ["$here/../../sdk/gears-api/gears-api.d.ts", "$file"], "include": [] }
JSON
  if out=$("$tsc" -p "$work/tsconfig.json" 2>&1); then
    echo "typings: $(basename "$file") compiled, but it must fail with $expected" >&2
    failed=1
  elif ! grep -q "error $expected:" <<<"$out"; then
    echo "typings: $(basename "$file") failed without $expected:" >&2
    echo "$out" >&2
    failed=1
  fi
done

"$tsc" -p "$here" --noEmit false --outDir "$work/emitted"
mkdir -p "$work/bundled"
node "$node_dir/bundle_libraries.mjs" "$work/emitted" "$work/bundled"
for library in "$work"/bundled/*.js; do
  if ! out=$("$tfproxy" check "$library"); then
    echo "typings: the bundled $(basename "$library") does not load: $out" >&2
    failed=1
  fi
done

if [ "$failed" -eq 0 ]; then
  echo "typings: $(ls "$here"/*.ts | wc -l) typed libraries accepted, bundled and loaded;" \
       "$(ls "$here"/must_fail/*.ts | wc -l) mistakes refused"
fi
exit "$failed"
