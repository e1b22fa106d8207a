#!/usr/bin/env bash
# tests/web/run.sh - the web layer: runs every tests/web/t*.sh in name
# order (t10_auth.sh, t20_tasks.sh, ...) against the test stack's
# crmgate-web and PostgreSQL. Each script prints TAP lines (tests/lib.sh);
# one that exits non-zero without saying why is reported as a failure.
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
export REPO
for t in "$REPO"/tests/web/t[0-9]*.sh; do
    [ -f "$t" ] || continue
    echo "# $(basename "$t")"
    bash "$t"
    rc=$?
    [ "$rc" -eq 0 ] || echo "not ok - $(basename "$t") exited with status $rc"
done
