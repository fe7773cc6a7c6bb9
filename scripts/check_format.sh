#!/usr/bin/env bash
# Fails when a C++ source is not formatted as .clang-format says (clang-format from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cpp')
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "format: run clang-format -i on the files above" >&2
  exit 1
fi
echo "format: ${#files[@]} files as .clang-format says"
