#!/usr/bin/env bash
# tests/voip/run.sh - the VoIP layer: each tests/voip/tNN_*.sh in order
# (t10 the webhooks as a provider sends them, forged, stale, repeated and a
# flood; t20 the worker's part: matching, leads, requests, call-back tasks,
# recordings and click-to-call against a fake provider; t30 replayed call
# sequences end to end). Each prints TAP; the stack is up
# (tests/run-all.sh).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
for t in "$HERE"/t[0-9][0-9]_*.sh; do
    echo "# $(basename "$t")"
    bash "$t"
done
