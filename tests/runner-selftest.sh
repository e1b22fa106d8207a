#!/usr/bin/env bash
# tests/runner-selftest.sh - the test runner's own counting, on synthetic
# TAP: tap_count and tap_layer_check of tests/lib.sh, with and without
# CI=true. tests/run-all.sh runs it first, so a regression in counting (a
# skip counted as a pass, a failure missed, an empty layer passing) shows
# before any real result is trusted. Needs no test stack. Prints TAP; exits
# 1 when any case fails.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
bad=0

# case_count NAME CI EXPECTED("P F S") TAP-TEXT: counts TAP-TEXT with CI set
# to CI and compares the totals.
case_count() {
    local name=$1 ci=$2 want=$3 text=$4 got
    printf '%s\n' "$text" | CI=$ci tap_count selftest "$TMP/count" >"$TMP/out"
    got=$(cat "$TMP/count")
    if [ "$got" = "$want" ]; then
        ok "runner: $name"
    else
        not_ok "runner: $name"
        echo "#   expected '$want' (passed failed skipped), got '$got'"
        sed 's/^/#   /' "$TMP/out"
        bad=$((bad + 1))
    fi
}

# case_layer NAME STATUS COUNTS EXPECTED: tap_layer_check on COUNTS.
case_layer() {
    local name=$1 rc=$2 counts=$3 want=$4 got
    echo "$counts" >"$TMP/count"
    tap_layer_check selftest "$rc" "$TMP/count" >"$TMP/out"
    got=$(cat "$TMP/count")
    if [ "$got" = "$want" ]; then
        ok "runner: $name"
    else
        not_ok "runner: $name"
        echo "#   expected '$want', got '$got'"
        bad=$((bad + 1))
    fi
}

case_count "ok and not ok lines, comments and plans ignored" false "2 1 0" \
    "1..3
# a comment
ok 1 - first
not ok 2 - second
ok 3 - third
okay, not a result
  ok - indented, not a result"
case_count "shell-style lines without numbers" false "1 1 0" \
    "ok - a check
not ok - another"
case_count "GTest --tap skip is a skip, not a pass" false "1 0 2" \
    "# random seed: R02S0
1..3
ok 1 /a # SKIP CRMGATE_TEST_DSN not set
ok 2 /b
ok 3 /c # SKIP no-perf-counters: paranoid 3"
case_count "skip directive case-insensitive, SKIPPED spelling" false "0 0 2" \
    "ok 1 - x # skip reason
ok 2 - y #SKIPPED no-ipv6"
case_count "a skip with no reason" false "0 0 1" "ok 1 - x # SKIP"
case_count "a hash sign in a description is not a directive" false "2 0 0" \
    "ok 1 - issue #12 fixed
ok 2 - counts {skipped: 1} # in JSON"
case_count "a whole program skipped (plan 1..0 with SKIP)" false "0 0 1" \
    "1..0 # SKIP no-perf-counters: no perf"
case_count "not ok with TODO counts as skipped, never passed" false "0 0 1" \
    "not ok 1 /x # TODO not written yet"
case_count "ok with TODO counts as passed" false "1 0 0" "ok 1 /x # TODO done?"
case_count "Bail out! is a failure" false "1 1 0" \
    "ok 1 - a
Bail out! database gone"
case_count "CI: a skip with an allowed tag stays a skip" true "0 0 2" \
    "ok 1 /a # SKIP no-perf-counters: paranoid 3
ok - rss # SKIP asan-build: RSS is not comparable"
case_count "CI: a skip without an allowed tag fails" true "1 2 0" \
    "ok 1 /a # SKIP CRMGATE_TEST_DSN not set
ok 2 /b
ok 3 /c # SKIP"
case_count "CI: a tag must be the whole first word" true "0 1 0" \
    "ok 1 /a # SKIP no-perf-counters-please"
case_count "CI: a TODO fails" true "0 1 0" "not ok 1 /x # TODO later"
case_count "CI=false: an untagged skip is only a skip" false "0 0 1" \
    "ok 1 /a # SKIP CRMGATE_TEST_DSN not set"
case_count "no input: nothing counted" false "0 0 0" ""

case_layer "a layer that ran no test fails" 0 "0 0 0" "0 1 0"
case_layer "a layer whose tests were all skipped fails" 0 "0 0 3" "0 1 3"
case_layer "a layer that exited non-zero without a failure fails" 2 "5 0 0" "5 1 0"
case_layer "a layer with failures keeps its count" 1 "5 2 0" "5 2 0"
case_layer "a clean layer passes" 0 "5 0 1" "5 0 1"

[ "$bad" -eq 0 ]
