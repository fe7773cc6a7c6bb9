#!/usr/bin/env bash
# Fails when a C++ source is not formatted as .clang-format says (clang-format from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
# Tracked files and new ones not yet added (not ignored): a new file is checked before its commit.
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.h' '*.cpp')
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "format: run clang-format -i on the files above" >&2
  exit 1
fi
echo "format: ${#files[@]} files as .clang-format says"
