#!/usr/bin/env bash
# Stops what start.sh STATE_DIR started (only those processes, by their pid files) and deletes STATE_DIR.
set -uo pipefail
state=${1:?usage: stop.sh STATE_DIR}
[ -d "$state" ] || exit 0
for name in registry token-server; do
  pid=$(cat "$state/$name.pid" 2>/dev/null || true)
  [ -n "$pid" ] || continue
  # Never signal a recycled pid: it must still be our process.
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -e "$state/config.yml" -e token-server.mjs; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
done
rm -rf -- "$state"
