#!/usr/bin/env bash
# The project's own scripts (tests/drill/linux/) and the fuzz seeds parse,
# with every command inside the compatibility layer.
set -euo pipefail
out=$("$PORTMUX" drill --parse-only "$PM_SOURCE_DIR"/tests/drill/linux/*.pkt \
  "$PM_SOURCE_DIR"/fuzz/corpus/drill_parse/* 2>&1) || { echo "$out"; exit 1; }
if echo "$out" | grep -q 'warning:'; then
  echo "$out"
  echo "FAIL: commands outside the compatibility layer"
  exit 1
fi
echo "$out" | tail -1
