#!/usr/bin/env bash
# tests/run-all.sh - the whole test suite, or some layers of it.
#
# usage: tests/run-all.sh [unit|cli|e2e|milter|web|worker|campaign|voip|fault ...]
#
# First runs tests/runner-selftest.sh (this script's TAP counting on
# synthetic input). Then starts a private test stack (PostgreSQL, Postfix,
# smtp-sink, milter) under var/test on its own ports, so it never disturbs
# `make run`, runs each layer, counts the TAP lines they print (tap_count in
# tests/lib.sh: "ok", "not ok", "# SKIP", "# TODO"), stops the stack and ends
# with one line: "N passed, N failed, N skipped". Exit status 1 if anything
# failed. A skip is never a pass; with CI=true a skip whose reason carries no
# tag from SKIP_ALLOWED_TAGS (tests/lib.sh) fails. A layer that ran no test
# at all fails, and so does the unit layer when no build/tests/test_*
# binary exists, or a unit binary that ran no test. CRMGATE_BUILD selects
# the build (build/asan for make asan); CRMGATE_VALGRIND=1 runs unit tests
# under valgrind; CRMGATE_TEST_PORT_OFFSET moves every port.
# Postfix, smtp-sink and friends live in sbin, which a minimal PATH lacks.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
export REPO
export CRMGATE_BUILD=${CRMGATE_BUILD:-$REPO/build}
case $CRMGATE_BUILD in /*) ;; *) CRMGATE_BUILD=$REPO/$CRMGATE_BUILD ;; esac
export CRMGATE_VAR=$REPO/var/test
export CRMGATE_CONFIG=$REPO/tests/crmgate-test.conf
# Ports below 32768: outside the kernel's ephemeral range, so a busy machine's
# client connections can never hold them.
# CRMGATE_TEST_PORT_OFFSET moves them all, so two checkouts can test at once.
o=${CRMGATE_TEST_PORT_OFFSET:-0}
export CRMGATE_PG_PORT=$((15442 + o)) CRMGATE_SMTP_PORT=$((2535 + o))
export CRMGATE_SUBMISSION_PORT=$((2597 + o)) CRMGATE_SINK_PORT=$((2570 + o))
export CRMGATE_MILTER_SOCKET=inet:$((8892 + o))@127.0.0.1
export CRMGATE_WEB_PORT=$((18080 + o))
export CRMGATE_INTERNAL_DOMAINS="example.com staff.example.org"
export CRMGATE_CAPTURE_DOMAIN=crm.example.com
export CRMGATE_CORPUS=${CRMGATE_CORPUS:-$REPO/../shared/corpus}
eval "$(scripts/stack env)"
# shellcheck source=lib.sh
. "$REPO/tests/lib.sh"

layers=("$@")
[ ${#layers[@]} -eq 0 ] && layers=(unit cli e2e milter web worker campaign voip fault)

passed=0
failed=0
skipped=0
log=$CRMGATE_VAR/../test-output.log
mkdir -p "$(dirname "$log")"
: >"$log"

# run_layer NAME COMMAND...: runs one layer, counts its TAP, adds up.
run_layer() {
    local name=$1; shift
    local start=$SECONDS countfile
    countfile=$(mktemp)
    echo "== $name"
    set -o pipefail
    "$@" 2>>"$log" | tap_count "$name" "$countfile" "$log"
    local rc=$?
    set +o pipefail
    local p f s
    tap_layer_check "$name" "$rc" "$countfile"
    read -r p f s <"$countfile"
    rm -f "$countfile"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    echo "   $name: $p passed, $f failed, $s skipped ($((SECONDS - start)) s)"
}

unit_layer() {
    local t vg=()
    [ "${CRMGATE_VALGRIND:-}" ] && vg=(valgrind -q --error-exitcode=99
        --leak-check=full --errors-for-leak-kinds=definite
        --suppressions="$REPO/tests/valgrind.supp")
    local n=0 out rc
    out=$(mktemp)
    for t in "$CRMGATE_BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        n=$((n + 1))
        echo "# $t"
        CRMGATE_TEST_DSN=$CRMGATE_DSN CRMGATE_TEST_MILTER_DSN=$CRMGATE_MILTER_DSN \
            CRMGATE_TEST_ADMIN_DSN=$CRMGATE_ADMIN_DSN "${vg[@]}" "$t" --tap -k >"$out"
        rc=$?
        cat "$out"
        [ "$rc" -eq 0 ] || echo "not ok - $(basename "$t") exited with status $rc"
        grep -qE '^(not )?ok([[:space:]]|$)' "$out" ||
            echo "not ok - $(basename "$t") ran no test"
    done
    rm -f "$out"
    [ "$n" -gt 0 ] ||
        echo "not ok - no unit test binary in $CRMGATE_BUILD/tests (make all builds them)"
}

stack_up() {
    scripts/stack stop >/dev/null 2>&1
    rm -rf "$CRMGATE_VAR"
    mkdir -p "$CRMGATE_VAR"
    if ! scripts/stack start >>"$log" 2>&1; then
        echo "not ok - test stack failed to start (see $log)"
        tail -20 "$log"
        return 1
    fi
}

cleanup() { scripts/stack stop >/dev/null 2>&1; }
trap cleanup EXIT

mkdir -p "$CRMGATE_VAR"
# The counting itself first: a regression there would make every result
# below meaningless.
run_layer runner "$REPO/tests/runner-selftest.sh"
if stack_up; then
    for l in "${layers[@]}"; do
        case $l in
        unit) run_layer unit unit_layer ;;
        *)
            if [ -x "tests/$l/run.sh" ]; then
                run_layer "$l" "tests/$l/run.sh"
            else
                echo "  [$l] not ok - no tests/$l/run.sh"
                failed=$((failed + 1))
            fi
            ;;
        esac
    done
else
    failed=$((failed + 1))
fi
# Daemons report sanitizer findings (make asan) in their logs, some only at
# exit: stop the stack first, then look.
scripts/stack stop >/dev/null 2>&1
if ! compgen -G "$CRMGATE_VAR/log/*.log" >/dev/null; then
    echo "  not ok - no daemon logs in $CRMGATE_VAR/log to check for sanitizer reports"
    failed=$((failed + 1))
elif grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
    "$CRMGATE_VAR"/log/*.log 2>/dev/null; then
    echo "  not ok - sanitizer reports in the daemon logs above"
    failed=$((failed + 1))
else
    passed=$((passed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
