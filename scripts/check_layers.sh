#!/usr/bin/env bash
# Fails when a module includes a header of a layer above it. The layers, lowest first; each
# may include its own headers and those of the layers before it:
#   base <- resp <- config <- io <- backend <- scripting <- functions <- server
set -euo pipefail
cd "$(dirname "$0")/.."
layers=(base resp config io backend scripting functions server)
status=0
for i in "${!layers[@]}"; do
  module=${layers[$i]}
  above=("${layers[@]:$((i + 1))}")
  [ ${#above[@]} -eq 0 ] && continue
  pattern="#include \"($(IFS='|'; echo "${above[*]}"))/"
  if hits=$(grep -rEn "$pattern" "$module" --include='*.h' --include='*.cpp' --include='*.inc'); then
    echo "layering: $module includes from a layer above it:" >&2
    echo "$hits" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "layering: every module includes only its own layer and those below"
exit $status
