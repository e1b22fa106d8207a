#!/usr/bin/env bash
# tests/campaign/run.sh - the campaign layer: each tests/campaign/tNN_*.sh in
# order (t10 the flows through the private Postfix, t20 the worker killed
# mid-campaign, t30 two workers and two milters through pgbouncer). Each
# prints TAP; the stack is up (tests/run-all.sh).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
for t in "$HERE"/t[0-9][0-9]_*.sh; do
    echo "# $(basename "$t")"
    bash "$t"
done
