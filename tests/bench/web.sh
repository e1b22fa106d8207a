#!/usr/bin/env bash
# tests/bench/web.sh - crmgate-web under load, with wrk (`make bench` runs
# it last, from tests/bench/run.sh; it also runs alone).
#
# Seeds the large dataset (`crmgate seed $BENCH_WEB_SEED`, by default
# --contacts 100000 --deals 20000 --messages 1000000) into the bench
# database, logs in over HTTP as a chief (bench-chief@example.com) and a
# manager (bench-manager-1@example.com, both made by the seed), then runs
# wrk --latency for BENCH_WEB_SECONDS against every target with the
# session cookie: /tasks, the manager's busiest deal (/deals/ID), and each
# report (/reports/NAME). The manager's figures carry the target's name
# (tasks, deal, report_funnel, ...), the chief's the name plus _chief.
# Per target, lines in run.sh's format:
#   bench: web_<target>_rps N req/s
#   bench: web_<target>_p95_ms_1conn N ms (one client alone: what a user
#                                        waits for; the targets' figure)
#   bench: web_<target>_p95_ms N ms      (the 95th percentile, from
#                                         tests/bench/web.lua's done hook)
#   bench: web_<target>_non2xx N answers (answers that were not 2xx)
# A target that answered anything but 2xx (a page not built yet answers
# 404; a lost session 303) is reported loudly with "# FAIL:" and makes the
# exit status 1, so its numbers are never taken for a page's speed.
#
# Stack: with BENCH_WEB_STACK=shared (what run.sh sets) the caller's stack
# is used (its environment exported; the web service is started here and
# stopped by the caller). Otherwise a private one under var/bench-web on
# free ports (PostgreSQL from 15472, web from 8096), fresh every run and
# stopped at the end.
#
# Knobs: BENCH_WEB_SEED (the seed's arguments; "" skips seeding),
# BENCH_WEB_SECONDS [5], BENCH_WEB_THREADS [2], BENCH_WEB_CONNECTIONS [8],
# BENCH_WEB_ROLES ["manager chief"], BENCH_WEB_TARGETS (space-separated
# NAME=PATH, replacing the default list; {DEAL} in a path is the deal id).
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$REPO" || exit 1
BENCH_DIR=$REPO/tests/bench
BUILD=${CRMGATE_BUILD:-$REPO/build}
CLI=$BUILD/bin/crmgate
SEED_ARGS=${BENCH_WEB_SEED---contacts 100000 --deals 20000 --messages 1000000}
SECS=${BENCH_WEB_SECONDS:-5}
THREADS=${BENCH_WEB_THREADS:-2}
CONNS=${BENCH_WEB_CONNECTIONS:-8}
ROLES=${BENCH_WEB_ROLES:-manager chief}
REPORTS="income sales funnel requests lead-sources conversion closing-reasons
deals mail-activity first-response unresolved"
DEFAULT_TARGETS="tasks=/tasks deal=/deals/{DEAL}"
for r in $REPORTS; do DEFAULT_TARGETS="$DEFAULT_TARGETS report_${r//-/_}=/reports/$r"; done
TARGETS=${BENCH_WEB_TARGETS:-$DEFAULT_TARGETS}
PASSWORD=bench-web-password

say() { printf '# %s\n' "$*"; }
fig() { printf 'bench: %s %s %s\n' "$1" "$2" "$3"; }
failed=0
bad() {
    printf '# FAIL: %s\n' "$*"
    failed=1
}

for p in wrk curl psql; do
    command -v "$p" >/dev/null || {
        echo "# $p not found (scripts/deps.sh installs it)"
        exit 1
    }
done
[[ -x $CLI && -x $BUILD/bin/crmgate-web ]] || {
    echo "# $CLI or crmgate-web not built (make all)"
    exit 1
}

# --- the stack -------------------------------------------------------------
# free_port BASE: BASE or the next free port up (benchutil.py free-port).
free_port() { python3 "$BENCH_DIR/benchutil.py" free-port "$1"; }

if [[ ${BENCH_WEB_STACK:-} == shared ]]; then
    STACK_LOG=${CRMGATE_VAR:?}/web-stack.log
    if ! scripts/stack start web >>"$STACK_LOG" 2>&1; then
        echo "# crmgate-web did not start:"
        tail -n 20 "$STACK_LOG" | sed 's/^/#   /'
        exit 1
    fi
else
    export CRMGATE_BUILD=$BUILD
    export CRMGATE_VAR=$REPO/var/bench-web
    export CRMGATE_CONFIG=$BENCH_DIR/bench.conf
    export CRMGATE_INTERNAL_DOMAINS=example.com CRMGATE_CAPTURE_DOMAIN=crm.example.com
    export CRMGATE_PG_PORT CRMGATE_WEB_PORT
    scripts/stack stop >/dev/null 2>&1
    CRMGATE_PG_PORT=$(free_port "${BENCH_WEB_PG_PORT:-15472}") || exit 1
    CRMGATE_WEB_PORT=$(free_port "${BENCH_WEB_PORT:-8096}") || exit 1
    eval "$(scripts/stack env)"
    rm -rf "$CRMGATE_VAR"
    mkdir -p "$CRMGATE_VAR"
    STACK_LOG=$CRMGATE_VAR/stack.log
    trap 'scripts/stack stop >>"$STACK_LOG" 2>&1; say "web bench stack stopped"' EXIT
    trap 'exit 130' INT TERM
    if ! scripts/stack start postgres web >>"$STACK_LOG" 2>&1; then
        echo "# the web bench stack did not start:"
        tail -n 20 "$STACK_LOG" | sed 's/^/#   /'
        exit 1
    fi
fi
U=http://127.0.0.1:$CRMGATE_WEB_PORT
CRM=("$CLI" -c "$CRMGATE_CONFIG")
psql_q() {
    psql -X -q -t -A -h 127.0.0.1 -p "$CRMGATE_PG_PORT" -U crmgate -d crmgate "$@"
}
WORK=$CRMGATE_VAR/web-work
mkdir -p "$WORK"
say "=== web: crmgate-web on $U, wrk -t$THREADS -c$CONNS -d${SECS}s per target"

# --- data ------------------------------------------------------------------
if [[ -n $SEED_ARGS ]]; then
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086 # the arguments are words
    if ! "${CRM[@]}" seed $SEED_ARGS >"$WORK/seed.out" 2>"$WORK/seed.err"; then
        bad "crmgate seed $SEED_ARGS failed: $(tail -n 3 "$WORK/seed.err")"
        exit 1
    fi
    t1=$(date +%s.%N)
    say "$(cat "$WORK/seed.out")"
    fig web_seed_seconds "$(awk "BEGIN { printf \"%.0f\", $t1 - $t0 }")" s
fi
say "database: $(psql_q -c "SELECT concat_ws(', ', (SELECT count(*) FROM contacts) || ' contacts', (SELECT count(*) FROM deals) || ' deals', (SELECT count(*) FROM messages) || ' messages', (SELECT count(*) FROM tasks) || ' tasks')")"

# login EMAIL: a session over HTTP (the form, its CSRF token, the POST);
# prints the cookie value.
login() {
    local jar=$WORK/jar csrf
    rm -f "$jar"
    curl -s -o "$WORK/form" -c "$jar" "$U/login" || return 1
    csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$WORK/form")
    curl -s -o /dev/null -D "$WORK/lhead" -b "$jar" --data-urlencode "csrf=$csrf" \
        --data-urlencode "email=$1" --data-urlencode "password=$PASSWORD" "$U/login"
    sed -n 's/^Set-Cookie: crmgate_session=\([^;]*\);.*/\1/ip' "$WORK/lhead" | tr -d '\r'
}
declare -A SID EMAIL
EMAIL[manager]=bench-manager-1@example.com
EMAIL[chief]=bench-chief@example.com
for role in $ROLES; do
    e=${EMAIL[$role]:-}
    [[ -n $e ]] || { bad "unknown role $role (manager or chief)"; exit 1; }
    if ! printf '%s\n' "$PASSWORD" | "${CRM[@]}" user passwd "$e" >/dev/null 2>"$WORK/passwd.err"; then
        bad "user passwd $e failed: $(cat "$WORK/passwd.err") (did the seed run?)"
        exit 1
    fi
    SID[$role]=$(login "$e")
    [[ -n ${SID[$role]} ]] || { bad "cannot log in as $e"; exit 1; }
done
MGR_ID=$(psql_q -c "SELECT id FROM users WHERE email_norm = '${EMAIL[manager]}'")
# The manager's deal with the most mail: the heaviest record page.
DEAL=$(psql_q -c "SELECT l.record_id FROM message_links l JOIN deals d ON d.id = l.record_id
    WHERE l.record_type = 'deal' AND d.owner_id = ${MGR_ID:-0} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
[[ -n $DEAL ]] || DEAL=$(psql_q -c "SELECT coalesce(max(id), 0) FROM deals WHERE owner_id = ${MGR_ID:-0}")
say "manager ${EMAIL[manager]} (id $MGR_ID), deal $DEAL"

# --- the runs ----------------------------------------------------------------
for role in $ROLES; do
    for tp in $TARGETS; do
        name=${tp%%=*}
        path=${tp#*=}
        path=${path//\{DEAL\}/$DEAL}
        [[ $role == manager ]] || name=${name}_$role
        status=$(curl -s -o /dev/null -w '%{http_code}' -b "crmgate_session=${SID[$role]}" "$U$path")
        # One client alone: what a user waits for (the issue's targets:
        # reports p95 <= 50 ms, record pages <= 20 ms); then CONNS clients:
        # what the server sustains on this machine's two cores.
        for c in 1 "$CONNS"; do
            out=$WORK/wrk-$name-c$c.out
            wrk -t"$((c < THREADS ? c : THREADS))" -c"$c" -d"${SECS}s" --latency \
                -s "$BENCH_DIR/web.lua" \
                -H "Cookie: crmgate_session=${SID[$role]}" "$U$path" >"$out" 2>&1
            rc=$?
            declare -A R=()
            while read -r k v; do R[$k]=$v; done < <(grep '^wrk_' "$out")
            if ((rc != 0)) || [[ -z ${R[wrk_rps]:-} ]]; then
                bad "web_$name: wrk -c$c failed (exit $rc): $(tail -n 2 "$out" | tr '\n' ' ')"
                unset R
                continue
            fi
            say "web_$name: GET $path as $role, $c connection(s): first answer $status, ${R[wrk_requests]} requests, p50 ${R[wrk_p50_ms]} ms, p99 ${R[wrk_p99_ms]} ms"
            if ((c == 1)); then
                fig "web_${name}_p95_ms_1conn" "${R[wrk_p95_ms]}" ms
            else
                fig "web_${name}_rps" "${R[wrk_rps]}" req/s
                fig "web_${name}_p95_ms" "${R[wrk_p95_ms]}" ms
            fi
            fig "web_${name}_non2xx" "${R[wrk_non2xx]}" answers
            if ((R[wrk_non2xx] > 0)); then
                bad "web_$name: ${R[wrk_non2xx]} of ${R[wrk_requests]} answers were not 2xx (status ${R[wrk_bad_status]}): these figures are NOT the page's speed"
            fi
            if ((R[wrk_socket_errors] > 0)); then
                bad "web_$name: ${R[wrk_socket_errors]} socket errors or timeouts"
            fi
            unset R
        done
    done
done
if ((failed)); then
    say "web bench: some targets FAILED (see above)"
    exit 1
fi
say "web bench: every target answered 2xx"
