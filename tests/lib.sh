# tests/lib.sh - shared helpers for the shell test layers. Source it.
#
# Every check prints one TAP line, "ok - NAME" or "not ok - NAME", which
# tests/run-all.sh counts with tap_count (below). A check that cannot run on
# this machine prints "ok - NAME # SKIP TAG: why" with a TAG from
# SKIP_ALLOWED_TAGS (skip NAME TAG WHY). The environment comes from
# tests/run-all.sh (the test stack: CRMGATE_DSN, CRMGATE_SMTP_PORT,
# CRMGATE_SINK_DIR, ...).

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${CRMGATE_BUILD:-$REPO/build}/bin
CRMGATE="$BIN/crmgate -c ${CRMGATE_CONFIG:-$REPO/tests/crmgate-test.conf}"

# The one list of reasons a test may be skipped: things a machine may lack,
# or a measurement a build makes meaningless. A skip reason starts with one
# of these tags ("# SKIP no-perf-counters: perf_event_paranoid is 3"). With
# CI=true, a skip with any other reason (or none) counts as a failure: on a
# machine where `make test` installed everything, nothing else may be
# skipped. Add a tag only for a limit of the machine, never for a bug.
SKIP_ALLOWED_TAGS=(
    no-perf-counters # perf events not available (containers, paranoid level)
    no-ipv6          # the machine has no IPv6 loopback
    asan-build       # a memory or timing bound a sanitizer build distorts
    valgrind-run     # the same, for a run under valgrind (make valgrind)
)

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# skip NAME TAG WHY...: a check this machine cannot run (TAG: see above).
skip() { local name=$1 tag=$2; shift 2; echo "ok - $name # SKIP $tag: $*"; }

# skip_allowed REASON: true when REASON starts with an allowed tag (the tag
# ends at white space or ':').
skip_allowed() {
    local tag=${1%%[[:space:]:]*} t
    for t in "${SKIP_ALLOWED_TAGS[@]}"; do
        [ "$tag" = "$t" ] && return 0
    done
    return 1
}

# tap_count NAME COUNTFILE [LOG]: reads TAP on stdin, appends every line to
# LOG (when given), prints failures and skips prefixed with [NAME], and
# writes "PASSED FAILED SKIPPED" to COUNTFILE. Rules:
#   ok ...                      passed
#   not ok ...                  failed
#   ok/not ok ... # SKIP why    skipped (GTest --tap prints "ok N /x # SKIP")
#   1..0 # SKIP why             one skip (a whole program skipped)
#   not ok ... # TODO why       skipped (a known gap, not a pass; GTest's
#                               g_test_incomplete)
#   ok ... # TODO why           passed, with a note to remove the TODO
#   Bail out! ...               failed
# With CI=true, a skip (TODO included) whose reason has no tag from
# SKIP_ALLOWED_TAGS counts as failed instead, with the reason printed.
# Directives are matched case-insensitively, as TAP says.
tap_count() {
    local name=$1 countfile=$2 log=${3:-/dev/null} line p=0 f=0 s=0
    local re_skip='^(not )?ok([[:space:]].*)?#[[:space:]]*skip[a-z]*([[:space:]]+(.*))?$'
    local re_todo='^(not )?ok([[:space:]].*)?#[[:space:]]*todo([[:space:]]+(.*))?$'
    local re_plan_skip='^1\.\.0([[:space:]].*)?#[[:space:]]*skip[a-z]*([[:space:]]+(.*))?$'
    local ci=false reason
    case ${CI:-} in true | 1 | yes) ci=true ;; esac
    local nocase_was
    nocase_was=$(shopt -p nocasematch)
    shopt -s nocasematch
    while IFS= read -r line; do
        echo "$line" >>"$log"
        if [[ $line =~ $re_skip ]]; then
            reason=${BASH_REMATCH[4]}
        elif [[ $line =~ $re_plan_skip ]]; then
            reason=${BASH_REMATCH[3]}
        elif [[ $line =~ $re_todo ]]; then
            if [ -z "${BASH_REMATCH[1]}" ]; then
                p=$((p + 1))
                echo "  [$name] note: passes, remove its TODO: $line"
                continue
            fi
            reason="TODO ${BASH_REMATCH[4]}"
        elif [[ $line =~ ^not\ ok([[:space:]]|$) ]]; then
            f=$((f + 1))
            echo "  [$name] $line"
            continue
        elif [[ $line =~ ^ok([[:space:]]|$) ]]; then
            p=$((p + 1))
            continue
        elif [[ $line =~ ^Bail\ out! ]]; then
            f=$((f + 1))
            echo "  [$name] not ok - $line"
            continue
        else
            [[ $line == "#"* ]] && [ "${VERBOSE:-}" ] && echo "  [$name] $line"
            continue
        fi
        # a skip
        if $ci && ! skip_allowed "$reason"; then
            f=$((f + 1))
            echo "  [$name] not ok - unexpected skip under CI (reason '$reason' has no tag from SKIP_ALLOWED_TAGS in tests/lib.sh): $line"
        else
            s=$((s + 1))
            echo "  [$name] skipped: $line"
        fi
    done
    eval "$nocase_was"
    echo "$p $f $s" >"$countfile"
}

# tap_layer_check NAME STATUS COUNTFILE: the rules for a whole layer, applied
# to what tap_count wrote in COUNTFILE (rewritten in place). A layer that
# exited non-zero without a "not ok" line counts one failure; a layer that
# passed and failed nothing (no test ran, or all were skipped) counts one
# failure.
tap_layer_check() {
    local name=$1 rc=$2 countfile=$3 p f s
    read -r p f s <"$countfile"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "  [$name] not ok - layer exited with status $rc"
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "  [$name] not ok - layer ran no test ($s skipped)"
    fi
    echo "$p $f $s" >"$countfile"
}

# check NAME COMMAND...: ok when the command succeeds.
check() {
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$name"; else not_ok "$name"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [[ "$2" == "$3" ]]; then ok "$1"; else
        not_ok "$1"; echo "#   expected: '$2'"; echo "#   actual:   '$3'"; fi
}

# sql "SELECT ...": prints the result unaligned, tuples only.
sql() { psql -X -At -v ON_ERROR_STOP=1 "$CRMGATE_DSN" -c "$1"; }

# uniq_id: a token unique to this run, for addresses and Message-IDs.
uniq_id() { echo "t$(date +%s%N | tail -c 10)$RANDOM"; }

# wait_for SECONDS COMMAND...: retries the command until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}

# wait_message MESSAGE_ID [SECONDS]: waits until the message is stored.
has_message() { [ -n "$(sql "SELECT id FROM messages WHERE message_id = '$1'")" ]; }
wait_message() { wait_for "${2:-15}" has_message "$1"; }

# smtp PORT FROM TO[,TO...] MESSAGE_ID SUBJECT [swaks options...]
smtp() {
    local port=$1 from=$2 to=$3 mid=$4 subject=$5; shift 5
    swaks --silent 2 --server "127.0.0.1:$port" --from "$from" --to "$to" \
        --header "Message-Id: <$mid>" --header "Subject: $subject" "$@"
}

# sink_rcpts: every recipient delivered to the sink so far, one a line.
sink_rcpts() {
    sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$CRMGATE_SINK_DIR"/* 2>/dev/null
}
