#!/usr/bin/env bash
# Fails when the code or a README cites a section of docs/spec.md ("spec §6.10") or
# docs/design.md ("design §4") that the document does not have.
set -euo pipefail
cd "$(dirname "$0")/.."
sections() {  # the section numbers a document's headings define
  grep -oE '^#{2,3} ([0-9]+(\.[0-9]+)?|Appendix [A-Z])' "$1" | sed -E 's/^#+ //'
}
status=0
check() {  # $1: document, $2: citation word
  local known cited
  known=$(sections "$1")
  cited=$(git ls-files -- ':!docs' | grep -E '\.(h|cpp|inc|md|py|sh|txt)$' |
    xargs grep -ohE "$2 (§ ?[0-9]+(\.[0-9]+)?|Appendix [A-Z])" | sed -E "s/^$2 //; s/§ ?//" |
    sort -u)
  while IFS= read -r c; do
    [ -z "$c" ] && continue
    if ! grep -qxF "$c" <<<"$known"; then
      echo "citations: '$2 $c' names no section of $1" >&2
      status=1
    fi
  done <<<"$cited"
}
check docs/spec.md spec
check docs/design.md design
[ $status -eq 0 ] && echo "citations: every spec § and design § names a section of docs/"
exit $status
