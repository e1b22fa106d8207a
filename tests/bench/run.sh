#!/usr/bin/env bash
# tests/bench/run.sh - crmgate's benchmark (`make bench`).
#
# Runs a private stack under var/bench on its own ports (PostgreSQL 15462,
# SMTP 2555, submission 2557, sink 2590, crmgate-milter inet:8894 or
# var/bench/run/crmgate-milter.sock, null milter inet:8895 or
# var/bench/run/null-milter.sock; each port moved up to the next free one
# when taken, or set by BENCH_PG_PORT, BENCH_SMTP_PORT,
# BENCH_SUBMISSION_PORT, BENCH_SINK_PORT, BENCH_MILTER_PORT,
# BENCH_NULL_PORT), so it never disturbs `make run` or `make test`, and
# measures on this machine:
#   1. SMTP throughput through the private Postfix (CRMGATE_DELIVERY=discard)
#      with smtp-source (BENCH_MESSAGES messages of BENCH_SIZE bytes over
#      BENCH_SESSIONS sessions, to internal recipients so mail is inbound),
#      on both socket kinds: bare (no milter); the null milter (tests/bench/
#      null_milter.c) on a UNIX socket, on loopback TCP, and on TCP with the
#      TCP fix of core/sockopt.c (null-milter --nodelay --quickack); then
#      crmgate-milter capturing into PostgreSQL on a UNIX socket and on TCP.
#      Per run: msg/s, CPU ms per message of the milter, PostgreSQL and
#      Postfix (utime+stime of each process tree, reaped children included,
#      from the start of the timed run until the queue is empty and every
#      capture is committed), and for the capture runs the eom_ms
#      distribution from the milter log, the latency from end of DATA to
#      the capture committed (latency probes, see benchutil.py probe), the
#      time the database needed to catch up (capture may be asynchronous:
#      waits up to BENCH_DRAIN_MAX s), and checks that every message has its
#      row and capture event, none spooled/deferred.
#   2. `crmgate ingest` of BENCH_INGEST generated messages (run first, into
#      the freshly seeded database; then VACUUM ANALYZE, so the SMTP runs
#      meet a database with history and current statistics).
#   3. crmgate-milter's resident memory: idle, while a 50 MB message passes,
#      during 100 parallel sessions (on TCP).
# Every figure is one line "bench: NAME VALUE UNIT" (names without _unix:
# loopback TCP, the default configuration); everything else starts with
# "# ". Exit status 1 when a set-up failed or a check did not hold (targets
# that are missed are reported, not failures).
#
# Knobs (environment): BENCH_MESSAGES [10000] BENCH_SIZE [20480]
# BENCH_SESSIONS [20] BENCH_WARMUP [300] BENCH_INGEST [10000]
# BENCH_BIG_BYTES [52428800] BENCH_PAR_SESSIONS [100] BENCH_PAR_MESSAGES [1000]
# BENCH_SOCKETS [both] (unix or inet: only that kind), BENCH_TCP_AB=1 (also
# the null milter with the listener's TCP_NODELAY alone), BENCH_PROBE_MS
# [50] (one latency probe every so many ms during capture runs),
# BENCH_DRAIN_MAX [120] (s to wait for the database to catch up).
# BENCH_PROFILE=1 also runs `crmgate ingest` of 1,000 messages under
# callgrind (slow, not counted in the figures; output in var/bench/profile).
# BENCH_PERF=1 records 8 s of `perf record` on the milter and the
# PostgreSQL backends during the timed milter runs and prints the top
# symbols. BENCH_PG_SET="NAME=VALUE ..." sets PostgreSQL parameters for the
# crmgate database, for experiments: synchronous_commit=off (what the WAL
# flush costs), or session_preload_libraries=auto_explain
# auto_explain.log_min_duration=0 auto_explain.log_nested_statements=on
# auto_explain.sample_rate=0.02 (plans in var/bench/log/postgres.log).
# Postfix, smtp-sink and friends live in sbin, which a minimal PATH lacks.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
set -u
T_START=$(date +%s.%N)
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$REPO" || exit 1
BENCH_DIR=$REPO/tests/bench
BUILD=${CRMGATE_BUILD:-$REPO/build}
CLI=$BUILD/bin/crmgate
NULL_MILTER=$BUILD/tests/null-milter

MESSAGES=${BENCH_MESSAGES:-10000}
SIZE=${BENCH_SIZE:-20480}
SESSIONS=${BENCH_SESSIONS:-20}
WARMUP=${BENCH_WARMUP:-300}
INGEST_N=${BENCH_INGEST:-10000}
BIG_BYTES=${BENCH_BIG_BYTES:-52428800}
PAR_SESSIONS=${BENCH_PAR_SESSIONS:-100}
PAR_MESSAGES=${BENCH_PAR_MESSAGES:-1000}

export CRMGATE_BUILD=$BUILD
export CRMGATE_VAR=$REPO/var/bench
export CRMGATE_CONFIG=$BENCH_DIR/bench.conf
export CRMGATE_INTERNAL_DOMAINS=example.com CRMGATE_CAPTURE_DOMAIN=crm.example.com
export CRMGATE_DELIVERY=discard CRMGATE_MILTER=off
# A previous run's stack (if any) goes first, whatever ports it used.
scripts/stack stop >/dev/null 2>&1

# free_port BASE: BASE or the next free port up (benchutil.py free-port).
free_port() { python3 "$BENCH_DIR/benchutil.py" free-port "$1"; }
export CRMGATE_PG_PORT CRMGATE_SMTP_PORT CRMGATE_SUBMISSION_PORT CRMGATE_SINK_PORT
export CRMGATE_MILTER_SOCKET CRMGATE_WEB_PORT
CRMGATE_PG_PORT=$(free_port "${BENCH_PG_PORT:-15462}") || exit 1
CRMGATE_SMTP_PORT=$(free_port "${BENCH_SMTP_PORT:-2555}") || exit 1
CRMGATE_SUBMISSION_PORT=$(free_port "${BENCH_SUBMISSION_PORT:-2557}") || exit 1
[[ $CRMGATE_SUBMISSION_PORT != "$CRMGATE_SMTP_PORT" ]] ||
    CRMGATE_SUBMISSION_PORT=$(free_port $((CRMGATE_SMTP_PORT + 1))) || exit 1
CRMGATE_SINK_PORT=$(free_port "${BENCH_SINK_PORT:-2590}") || exit 1
MILTER_PORT=$(free_port "${BENCH_MILTER_PORT:-8894}") || exit 1
NULL_PORT=$(free_port "${BENCH_NULL_PORT:-$((MILTER_PORT + 1))}") || exit 1
[[ $NULL_PORT != "$MILTER_PORT" ]] || NULL_PORT=$(free_port $((MILTER_PORT + 1))) || exit 1
CRMGATE_WEB_PORT=$(free_port "${BENCH_WEB_PORT:-8094}") || exit 1
# Both socket kinds in one run (BENCH_SOCKETS=both, the default), or only
# one of them (unix | inet). The stack starts crmgate-milter on the kind
# measured last; each capture run restarts it on its own socket.
SOCKETS=${BENCH_SOCKETS:-both}
case $SOCKETS in both | unix | inet) ;; *)
    echo "# BENCH_SOCKETS must be both, unix or inet"
    exit 1
    ;;
esac
MILTER_TCP=inet:$MILTER_PORT@127.0.0.1
MILTER_UNIX=unix:$CRMGATE_VAR/run/crmgate-milter.sock
NULL_TCP=inet:$NULL_PORT@127.0.0.1
NULL_UNIX=unix:$CRMGATE_VAR/run/null-milter.sock
CRMGATE_MILTER_SOCKET=$MILTER_TCP
[[ $SOCKETS == unix ]] && CRMGATE_MILTER_SOCKET=$MILTER_UNIX
want() { [[ $SOCKETS == both || $SOCKETS == "$1" ]]; }
eval "$(scripts/stack env)"

VAR=$CRMGATE_VAR
WORK=$VAR/work               # per-run scratch (snapshots, smtp-source output)
INGEST_DIR=$VAR/ingest       # generated once, kept between runs
WARM_DIR=$VAR/ingest-warmup  # likewise
BIG_FILE=$VAR/big-message.eml
MILTER_LOG=$CRMGATE_LOG_DIR/milter.log
PF_LOG=$CRMGATE_LOG_DIR/postfix.log
STACK_LOG=$VAR/stack.log

# smtp-source sender and recipient: a known CRM contact (tests/bench/
# seed.sql) writing to an internal user, so (c) does the full linking work.
# -N prepends a sequence number to the recipient (1user1@example.com, ...):
# still internal, and no two envelopes alike. smtp-source writes a distinct
# Message-Id per message (<pid.fd.count@host>), so no capture is a duplicate.
SRC_FROM=contact3@acme4.test
SRC_TO=user1@example.com

failed=0
NULL_PID=
SAMPLER_PID=
SAMPLER_OUT=
PROBE_PID=
PROBE_OUT=
PROBES=0
declare -A E=()
PROBE_MS=${BENCH_PROBE_MS:-50}
DRAIN_MAX=${BENCH_DRAIN_MAX:-120}

say() { printf '# %s\n' "$*"; }
fig() { printf 'bench: %s %s %s\n' "$1" "$2" "$3"; }
bad() {
    printf '# FAIL: %s\n' "$*"
    failed=1
}
now() { date +%s.%N; }
# calc EXPR: floating point arithmetic (awk).
calc() { awk "BEGIN { printf \"%s\", $1 }" 2>/dev/null; }
psql_q() {
    psql -X -q -t -A -h 127.0.0.1 -p "$CRMGATE_PG_PORT" -U crmgate -d crmgate "$@"
}
lines_of() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }

cleanup() {
    local rc=$?
    stop_sampler
    stop_probe
    if [[ -n $NULL_PID ]] && kill -0 "$NULL_PID" 2>/dev/null; then
        kill -TERM "$NULL_PID" 2>/dev/null
        wait "$NULL_PID" 2>/dev/null
    fi
    scripts/stack stop >>"$STACK_LOG" 2>&1
    say "stack stopped"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers -------------------------------------------------------------

milter_pid() { scripts/stack status milter 2>/dev/null | awk '/running pid/ { print $4 }'; }
postfix_pid() { scripts/stack status postfix 2>/dev/null | awk '/running pid/ { print $4 }'; }
postgres_pid() { scripts/stack status postgres 2>/dev/null | awk '/running pid/ { print $4 }'; }

rss_now() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

start_sampler() { # PID OUT
    rm -f -- "$2" "$2.stop"
    python3 "$BENCH_DIR/benchutil.py" rss "$1" "$2" &
    SAMPLER_PID=$!
    SAMPLER_OUT=$2
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s $2 ]] && break
        sleep 0.05
    done
}
stop_sampler() {
    [[ -n $SAMPLER_PID ]] || return 0
    : >"$SAMPLER_OUT.stop"
    wait "$SAMPLER_PID" 2>/dev/null
    SAMPLER_PID=
}

cpu_snap() { # OUT
    local -a trees=("postfix=$(postfix_pid)" "postgres=$(postgres_pid)")
    local m
    m=$(milter_pid)
    [[ -n $m ]] && trees+=("crmgate-milter=$m")
    [[ -n $NULL_PID ]] && trees+=("null-milter=$NULL_PID")
    # our other programs not parented by the milter (a journal ingest
    # process of its own, say): counted with the milter's figure
    trees+=("crmgate-other=exe:$BUILD/bin/")
    python3 "$BENCH_DIR/benchutil.py" cpu-snap "$1" "${trees[@]}"
}

# smtp_source OUTFILE ARGS...: runs smtp-source against the inbound port,
# its stderr and `time` output in OUTFILE; sets SRC_SECS (wall) and returns
# smtp-source's status.
smtp_source() {
    local out=$1 t0 t1 rc
    shift
    t0=$(now)
    {
        TIMEFORMAT='smtp-source-cpu real=%R user=%U sys=%S'
        time smtp-source "$@" 127.0.0.1:"$CRMGATE_SMTP_PORT" 2>&1
    } >"$out" 2>&1
    rc=$?
    t1=$(now)
    SRC_SECS=$(calc "$t1 - $t0")
    if ((rc != 0)) || grep -qiv '^smtp-source-cpu\|^$' "$out"; then
        say "smtp-source $* exited $rc:"
        sed 's/^/#   /' "$out" | head -n 10
    fi
    return "$rc"
}

wait_queue() {
    if ! scripts/stack wait-queue "${1:-300}" >>"$STACK_LOG" 2>&1; then
        bad "the Postfix queue did not drain (see $STACK_LOG)"
        return 1
    fi
}

set_postfix_milter() { # off | on | SOCKET
    export CRMGATE_MILTER=$1
    if ! scripts/stack restart postfix >>"$STACK_LOG" 2>&1; then
        bad "postfix did not restart with CRMGATE_MILTER=$1 (see $STACK_LOG)"
        tail -n 20 "$STACK_LOG" | sed 's/^/#   /'
        exit 1
    fi
    local m
    m=$(sed -n 's/^smtpd_milters = //p' "$CRMGATE_POSTFIX_CONFIG/main.cf")
    say "postfix restarted: smtpd_milters = ${m:-(none)}"
}

# perf_during NAME KIND (BENCH_PERF=1): 8 s of `perf record` on the milter in use
# and on every PostgreSQL client backend, from 3 s into the timed run.
perf_during() {
    local name=$1 kind=$2 mpid backends
    sleep 3
    if [[ $kind == null ]]; then mpid=$NULL_PID; else mpid=$(milter_pid); fi
    backends=$(psql_q -c "SELECT string_agg(pid::text, ',') FROM pg_stat_activity
                           WHERE backend_type = 'client backend'
                             AND pid <> pg_backend_pid()")
    perf record -q -F 499 -g -p "$mpid" -o "$WORK/$name.milter.perf" -- sleep 8 \
        >/dev/null 2>&1 &
    if [[ -n $backends ]]; then
        perf record -q -F 499 -g -p "$backends" -o "$WORK/$name.pg.perf" -- sleep 8 \
            >/dev/null 2>&1
    fi
    wait
}
perf_show() {
    local name=$1 f
    for f in milter pg; do
        [[ -s $WORK/$name.$f.perf ]] || continue
        say "($name) perf: $f, top symbols (self time)"
        perf report -i "$WORK/$name.$f.perf" --no-children -g none \
            --percentage relative --sort dso,sym 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -n 18 | sed 's/^/#   /'
    done
}

# count_events: capture events in the database so far.
count_events() { psql_q -c 'SELECT count(*) FROM capture_events'; }

# wait_events TARGET BOUND: waits (0.2 s steps, at most BOUND s) until the
# database holds TARGET capture events: capture may be asynchronous (the
# milter journals at end of message and ingests behind). Sets EVENTS to the
# last count; false when the bound passed first.
wait_events() {
    local target=$1 bound=$2 t_end
    t_end=$(calc "$(now) + $bound")
    while :; do
        EVENTS=$(count_events)
        ((EVENTS >= target)) && return 0
        awk "BEGIN { exit !($(now) > $t_end) }" && return 1
        sleep 0.2
    done
}

# The latency probe (capture runs): one message every BENCH_PROBE_MS over a
# connection of its own, with a Message-ID of its own, noting when Postfix
# answered the end of DATA (the milter's end-of-message reply included).
start_probe() { # TAG
    PROBE_OUT=$WORK/$1.probe
    rm -f -- "$PROBE_OUT" "$PROBE_OUT.stop"
    python3 "$BENCH_DIR/benchutil.py" probe 127.0.0.1 "$CRMGATE_SMTP_PORT" "$PROBE_OUT" \
        "$PROBE_MS" "$SIZE" "$SRC_FROM" "probe@example.com" "$1" &
    PROBE_PID=$!
}
stop_probe() {
    [[ -n $PROBE_PID ]] || return 0
    : >"$PROBE_OUT.stop"
    wait "$PROBE_PID" 2>/dev/null
    PROBE_PID=
    PROBES=$(grep -c '^probe-' "$PROBE_OUT" 2>/dev/null) || PROBES=0
}
# probe_latency TAG: end of DATA answered -> capture event committed, per
# probe: the commit time of the capture_events row (track_commit_timestamp,
# switched on for the bench cluster) minus the time the probe got its 250.
probe_latency() {
    psql_q -F ' ' -c "SELECT m.message_id,
            extract(epoch FROM coalesce(pg_xact_commit_timestamp(ce.xmin), ce.captured_at)),
            pg_xact_commit_timestamp(ce.xmin) IS NOT NULL
          FROM capture_events ce JOIN messages m ON m.id = ce.message_id
         WHERE m.message_id LIKE 'probe-$1-%'" >"$WORK/$1.probe.db" 2>>"$STACK_LOG"
    python3 "$BENCH_DIR/benchutil.py" probe-stats "$PROBE_OUT" "$WORK/$1.probe.db"
}

# smtp_setup NAME KIND [FIGS]: warm-up, then the timed smtp-source run; sets
# RATE, DRAIN (s from the last message accepted to the queue empty),
# DB_DRAIN (capture: to the last capture event committed) and the line
# offsets of the logs at the start of the timed run. KIND: bare, null or
# capture. FIGS: cpu figures to print (benchutil.py cpu-diff). CPU is
# counted from the start of the timed run until the queue is empty and
# (capture) the last row is in, so work done behind the MTA's back counts.
smtp_setup() {
    local name=$1 kind=$2 figs=${3:-} pf0 t_src snap0=$WORK/$1.cpu0 snap1=$WORK/$1.cpu1
    local -a src=(-s "$SESSIONS" -l "$SIZE" -f "$SRC_FROM" -t "$SRC_TO" -N)
    local ev_start=0
    [[ $kind == capture ]] && ev_start=$(count_events)
    say "--- ($name) warm-up: $WARMUP messages"
    smtp_source "$WORK/$name.warmup.out" "${src[@]}" -m "$WARMUP" ||
        bad "($name) warm-up smtp-source failed"
    wait_queue 120 || return 1
    if [[ $kind == capture ]]; then
        wait_events $((ev_start + WARMUP)) "$DRAIN_MAX" ||
            bad "($name) warm-up: $((EVENTS - ev_start)) of $WARMUP captures after ${DRAIN_MAX} s"
        EV0=$EVENTS
        MSG0=$(psql_q -c 'SELECT count(*) FROM messages')
    fi
    MILTER_LINE0=$(($(lines_of "$MILTER_LOG") + 1))
    NULL_LINE0=$(($(lines_of "$CRMGATE_LOG_DIR/null-milter.log") + 1))
    pf0=$(($(lines_of "$PF_LOG") + 1))
    PROBES=0
    cpu_snap "$snap0"
    # a process snapshot half way through (who uses the two cores)
    (
        sleep "${TOP_AT:-5}"
        top -b -n 1 -w 160 2>/dev/null | head -n 22 >"$WORK/$name.top"
    ) &
    local top_pid=$!
    local perf_pid=
    if [[ ${BENCH_PERF:-} == 1 && $kind != bare ]] && command -v perf >/dev/null; then
        perf_during "$name" "$kind" &
        perf_pid=$!
    fi
    [[ $kind == capture ]] && start_probe "$name"
    say "--- ($name) timed: $MESSAGES messages of $SIZE bytes, $SESSIONS sessions"
    if ! smtp_source "$WORK/$name.out" "${src[@]}" -m "$MESSAGES"; then
        bad "($name) smtp-source failed"
    fi
    t_src=$(now)
    stop_probe
    RATE=$(calc "$MESSAGES / $SRC_SECS")
    wait_queue 300
    DRAIN=$(calc "$(now) - $t_src")
    local total=$((MESSAGES + PROBES))
    if [[ $kind == capture ]]; then
        wait_events $((EV0 + total)) "$DRAIN_MAX" ||
            bad "($name) only $((EVENTS - EV0)) of $total captures in the database ${DRAIN_MAX} s after the last message"
        DB_DRAIN=$(calc "$(now) - $t_src")
        EV1=$EVENTS
        MSG1=$(psql_q -c 'SELECT count(*) FROM messages')
    fi
    cpu_snap "$snap1"
    wait "$top_pid" 2>/dev/null
    say "($name) $MESSAGES messages in $(printf %.2f "$SRC_SECS") s ($(grep -o 'user=.*' "$WORK/$name.out" | sed 's/^/smtp-source cpu /'))${PROBE_OUT:+; $PROBES latency probes}"
    python3 "$BENCH_DIR/benchutil.py" cpu-diff "$snap0" "$snap1" "$total" "$figs"
    if [[ -s $WORK/$name.top ]]; then
        say "($name) top at +${TOP_AT:-5} s:"
        sed -n '1,3p;7,22p' "$WORK/$name.top" | sed 's/^/#   /'
    fi
    if [[ -n $perf_pid ]]; then
        wait "$perf_pid" 2>/dev/null
        perf_show "$name"
    fi
    say "($name) queue drained $(printf %.1f "$DRAIN") s after the last message"
    [[ $kind == capture ]] &&
        say "($name) database: last capture committed $(printf %.1f "$DB_DRAIN") s after the last message"
    # Postfix trouble during the timed run: deferrals, milter errors.
    local deferred milterwarn rejected
    deferred=$(tail -n +"$pf0" "$PF_LOG" | grep -c 'status=deferred')
    rejected=$(tail -n +"$pf0" "$PF_LOG" | grep -c ' reject: \|status=bounced')
    milterwarn=$(tail -n +"$pf0" "$PF_LOG" | grep -ci 'warning:.*milter')
    say "($name) postfix log: deferred=$deferred rejected/bounced=$rejected milter-warnings=$milterwarn"
    ((deferred == 0 && rejected == 0)) || bad "($name) Postfix deferred or rejected mail"
    if ((milterwarn > 0)); then
        tail -n +"$pf0" "$PF_LOG" | grep -i 'warning:.*milter' | head -n 3 | sed 's/^/#   /'
        bad "($name) milter warnings in the Postfix log"
    fi
}

# start_null SOCKET [OPTIONS...]: the null milter on SOCKET, Postfix using it.
start_null() {
    local sock=$1 i
    shift
    case $sock in unix:*) rm -f -- "${sock#unix:}" ;; esac
    "$NULL_MILTER" "$@" "$sock" >>"$CRMGATE_LOG_DIR/null-milter.log" 2>&1 &
    NULL_PID=$!
    for ((i = 0; i < 50; i++)); do
        case $sock in
        unix:*)
            if [[ -S ${sock#unix:} ]]; then
                # the Postfix daemons (user postfix) must be able to connect
                chgrp postfix -- "${sock#unix:}" && chmod 0660 -- "${sock#unix:}"
                break
            fi
            ;;
        *) timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${sock#inet:}" 2>/dev/null && break ;;
        esac
        kill -0 "$NULL_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$NULL_PID" 2>/dev/null || {
        bad "null-milter $* $sock did not start: $(tail -n 2 "$CRMGATE_LOG_DIR/null-milter.log")"
        exit 1
    }
    set_postfix_milter "$sock"
}
stop_null() {
    kill -TERM "$NULL_PID" 2>/dev/null
    wait "$NULL_PID" 2>/dev/null
    NULL_PID=
}

# run_null NAME SOCKET FIG [OPTIONS...]: the null milter's timed run; prints
# FIG (msg/s) and sets RATE.
run_null() {
    local name=$1 sock=$2 fig_name=$3
    shift 3
    start_null "$sock" "$@"
    smtp_setup "$name" null "null-milter:${name//-/_}_milter_cpu_ms_per_msg,postfix:${name//-/_}_postfix_cpu_ms_per_msg"
    stop_null
    fig "$fig_name" "$(printf %.0f "$RATE")" msg/s
}

# run_capture NAME SOCKET SUFFIX: crmgate-milter restarted on SOCKET, its
# timed run, the figures (names + SUFFIX) and the completeness checks; sets
# RATE and EOM_P99.
run_capture() {
    local name=$1 sock=$2 sfx=$3
    export CRMGATE_MILTER_SOCKET=$sock
    if ! scripts/stack restart milter >>"$STACK_LOG" 2>&1; then
        bad "crmgate-milter did not start on $sock (see $STACK_LOG)"
        exit 1
    fi
    MPID=$(milter_pid)
    set_postfix_milter on
    start_sampler "$MPID" "$WORK/$name.rss"
    smtp_setup "$name" capture \
        "crmgate-milter+crmgate-other:milter_cpu_ms_per_msg$sfx,postgres:postgres_cpu_ms_per_msg$sfx,postfix:postfix_cpu_ms_per_msg$sfx"
    stop_sampler
    fig "capture${sfx:-_tcp}_msgs_per_s" "$(printf %.0f "$RATE")" msg/s
    [[ -z $sfx ]] && fig capture_msgs_per_s "$(printf %.0f "$RATE")" msg/s
    fig "capture_db_drain_s$sfx" "$(printf %.1f "$DB_DRAIN")" s

    # eom_ms of the timed run's captures (the null milter answers end of
    # message at once, so what crmgate-milter spends there is the latency it
    # adds).
    local -a eom
    read -r -a eom <<<"$(python3 "$BENCH_DIR/benchutil.py" eom "$MILTER_LOG" "$MILTER_LINE0")"
    E=()
    for kv in "${eom[@]}"; do E[${kv%%=*}]=${kv#*=}; done
    say "($name) milter log: ${eom[*]}"
    fig "eom_added_p50_ms$sfx" "${E[p50]}" ms
    fig "eom_added_p99_ms$sfx" "${E[p99]}" ms
    fig "eom_max_ms$sfx" "${E[max]}" ms
    EOM_P99=${E[p99]}
    [[ -f $WORK/$name.rss ]] && fig "milter_rss_20_sessions_kb$sfx" "$(cat "$WORK/$name.rss")" kB

    # from end of DATA answered to the capture committed (latency probes)
    local -a lat
    read -r -a lat <<<"$(probe_latency "$name")"
    declare -A L=()
    for kv in "${lat[@]}"; do L[${kv%%=*}]=${kv#*=}; done
    say "($name) latency probes (end of DATA answered -> capture committed, ms): ${lat[*]}"
    fig "capture_to_db_p50_ms$sfx" "${L[p50]:-nan}" ms
    fig "capture_to_db_p99_ms$sfx" "${L[p99]:-nan}" ms
    ((${L[missing]:-1} == 0)) || bad "($name) ${L[missing]:-?} latency probes not captured"

    # Every message of the timed run stored: one capture event and one new
    # message row each (smtp-source and the probes; the warm-up is counted
    # before).
    local total=$((MESSAGES + PROBES)) ev_run=$((EV1 - EV0)) msg_run=$((MSG1 - MSG0)) spool_files
    spool_files=$(find "$CRMGATE_SPOOL_DIR" -maxdepth 1 -type f -name '*.msg' 2>/dev/null | wc -l)
    say "($name) database: capture_events +$ev_run, messages +$msg_run for $MESSAGES + $PROBES probes; spool files: $spool_files"
    fig "capture_events_stored$sfx" "$ev_run" events
    fig "capture_messages_rows$sfx" "$msg_run" rows
    fig "capture_spooled$sfx" "$((E[spooled] + E[lost]))" messages
    ((ev_run == total)) || bad "($name) $ev_run capture events for $total messages"
    ((msg_run == total)) || bad "($name) $msg_run message rows for $total distinct messages"
    ((E[stored] == total && E[spooled] == 0 && E[lost] == 0)) ||
        bad "($name) milter log: stored=${E[stored]} spooled=${E[spooled]} lost=${E[lost]} of $total"
    ((spool_files == 0)) || bad "($name) $spool_files files in the spool"
}

# --- the stack -------------------------------------------------------------

command -v smtp-source >/dev/null || {
    echo "# smtp-source not found (package postfix)"
    exit 1
}
for b in "$CLI" "$BUILD/bin/crmgate-milter" "$NULL_MILTER"; do
    [[ -x $b ]] || {
        echo "# $b not built (make all)"
        exit 1
    }
done

say "crmgate bench: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
read -r BUSY_PCT BUSY_TOP <<<"$(python3 "$BENCH_DIR/benchutil.py" busy 2)"
say "machine busy before the bench: ${BUSY_PCT}% of $(nproc) cores (${BUSY_TOP})"
((BUSY_PCT < 10)) ||
    say "WARNING: other programs are using the CPU; every figure below is skewed by them"
fig machine_busy_before_pct "$BUSY_PCT" %
say "stack: $VAR (PostgreSQL :$CRMGATE_PG_PORT, SMTP :$CRMGATE_SMTP_PORT, crmgate-milter $MILTER_TCP / $MILTER_UNIX, null milter $NULL_TCP / $NULL_UNIX)"
# A fresh stack every run; the generated corpora stay.
mkdir -p "$VAR"
find "$VAR" -mindepth 1 -maxdepth 1 ! -name ingest ! -name ingest-warmup \
    ! -name "$(basename "$BIG_FILE")" -exec rm -rf {} +
mkdir -p "$WORK"
: >"$STACK_LOG"

# Corpora (once): the ingest messages and the 50 MB message.
python3 "$BENCH_DIR/gen_ingest.py" "$INGEST_DIR" "$INGEST_N" main || exit 1
python3 "$BENCH_DIR/gen_ingest.py" "$WARM_DIR" "$WARMUP" warmup || exit 1
if [[ ! -s $BIG_FILE ]] || (($(stat -c %s "$BIG_FILE") / 1048576 != BIG_BYTES / 1048576)); then
    python3 "$BENCH_DIR/benchutil.py" big-message "$BIG_FILE" "$BIG_BYTES" || exit 1
fi

# PostgreSQL first: commit timestamps on (capture_to_db_p99_ms reads the
# commit time of each probe's capture event), which takes a restart.
if ! scripts/stack start postgres >>"$STACK_LOG" 2>&1 ||
    ! psql -X -q -h 127.0.0.1 -p "$CRMGATE_PG_PORT" -U postgres -d postgres \
        -c 'ALTER SYSTEM SET track_commit_timestamp = on' >>"$STACK_LOG" 2>&1 ||
    ! scripts/stack restart postgres >>"$STACK_LOG" 2>&1 ||
    ! scripts/stack start milter postfix >>"$STACK_LOG" 2>&1; then
    echo "# the bench stack did not start:"
    tail -n 30 "$STACK_LOG" | sed 's/^/#   /'
    exit 1
fi
psql_q -v ON_ERROR_STOP=1 -f "$BENCH_DIR/seed.sql" >/dev/null || {
    bad "seeding the CRM (tests/bench/seed.sql) failed"
    exit 1
}
say "CRM seeded: $(psql_q -c 'SELECT count(*) FROM contacts') contacts, $(psql_q -c 'SELECT count(*) FROM companies') companies, $(psql_q -c "SELECT count(*) FROM deals WHERE status = 'open'") open deals"
if [[ -n ${BENCH_PG_SET:-} ]]; then
    # Experiments, not the default: e.g. BENCH_PG_SET=synchronous_commit=off
    # shows what the WAL flush at every capture's commit costs. The milter
    # connects lazily, so all its sessions get the settings.
    for kv in $BENCH_PG_SET; do
        psql_q -c "ALTER DATABASE crmgate SET ${kv%%=*} = '${kv#*=}'" ||
            bad "cannot set ${kv%%=*}"
    done
    say "EXPERIMENT: database crmgate SET $BENCH_PG_SET"
fi
MPID=$(milter_pid)
sleep 1
RSS_IDLE=$(rss_now "$MPID")

# --- 2. ingest -----------------------------------------------------------------

# First, on the freshly seeded database: what a first import does.
say "=== 2. crmgate ingest of $INGEST_N generated messages ($(du -sm "$INGEST_DIR" | cut -f1) MB) into the seeded, empty database"
"$CLI" -c "$CRMGATE_CONFIG" --json ingest "$WARM_DIR" >"$WORK/ingest-warmup.json" 2>"$WORK/ingest-warmup.err" ||
    bad "warm-up ingest failed: $(head -n 3 "$WORK/ingest-warmup.err")"
cat "$INGEST_DIR"/*.eml >/dev/null # page cache: time the program, not the disk
cpu_snap "$WORK/ingest.cpu0"
{
    TIMEFORMAT='crmgate-cpu real=%R user=%U sys=%S'
    time "$CLI" -c "$CRMGATE_CONFIG" --json ingest "$INGEST_DIR" >"$WORK/ingest.json" 2>"$WORK/ingest.err"
} 2>"$WORK/ingest.time"
rc=$?
cpu_snap "$WORK/ingest.cpu1"
if ((rc != 0)); then
    bad "crmgate ingest exited $rc: $(head -n 5 "$WORK/ingest.err")"
fi
if [[ -s $WORK/ingest.json ]]; then
    python3 - "$WORK/ingest.json" "$INGEST_N" <<'EOF' || failed=1
import json, sys
j = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
print("# ingest: messages=%(messages)d stored=%(stored)d new=%(new)d "
      "duplicates=%(duplicates)d skipped=%(skipped)d errors=%(errors)d "
      "unreadable=%(unreadable)d seconds=%(seconds).2f" % j)
print("bench: ingest_msgs_per_s %.0f msg/s" % j["rate"])
open(sys.argv[1] + ".rate", "w").write("%.0f\n" % j["rate"])
if j["new"] != n or j["errors"] or j["unreadable"]:
    print("# FAIL: ingest stored %d new of %d" % (j["new"], n))
    sys.exit(1)
EOF
    INGEST_RATE=$(cat "$WORK/ingest.json.rate" 2>/dev/null)
    say "$(cat "$WORK/ingest.time")"
    python3 "$BENCH_DIR/benchutil.py" cpu-diff "$WORK/ingest.cpu0" "$WORK/ingest.cpu1" "$INGEST_N"
fi

# The SMTP runs then meet a database with history, as in production, and
# with fresh statistics: a cached plan made while a table was nearly empty
# (e.g. the foreign-key checks against messages, planned as sequential
# scans) would otherwise be measured instead of the steady state.
psql_q -c 'VACUUM ANALYZE' >/dev/null || bad "VACUUM ANALYZE failed"
say "database before the SMTP runs: $(psql_q -c 'SELECT count(*) FROM messages') messages, vacuumed and analysed"

# --- 1. SMTP throughput ------------------------------------------------------

say "=== 1. SMTP throughput: smtp-source -s $SESSIONS -l $SIZE -m $MESSAGES, Postfix discard transport"
say "sockets: $SOCKETS (lines without _unix are loopback TCP, as configured by default)"

set_postfix_milter off
smtp_setup bare bare "postfix:bare_postfix_cpu_ms_per_msg"
BARE=$RATE
fig bare_msgs_per_s "$(printf %.0f "$BARE")" msg/s

if want unix; then
    run_null null-unix "$NULL_UNIX" null_unix_msgs_per_s
    NULL_UNIX_R=$RATE
    # the floors between the null milter and crmgate: a milter that takes
    # the whole message (envelope, headers, body) and drops it; one that
    # also writes it to a file and fdatasyncs it (a durable journal on this
    # disk, nothing parsed, no database).
    run_null null-collect-unix "$NULL_UNIX" null_collect_unix_msgs_per_s --collect
    NULL_COLLECT_R=$RATE
    mkdir -p "$VAR/null-journal"
    run_null null-journal-unix "$NULL_UNIX" null_journal_unix_msgs_per_s --collect --fsync "$VAR/null-journal"
    NULL_JOURNAL_R=$RATE
    read -r -a NJ <<<"$(python3 "$BENCH_DIR/benchutil.py" eom "$CRMGATE_LOG_DIR/null-milter.log" "$NULL_LINE0")"
    E=()
    for kv in "${NJ[@]}"; do E[${kv%%=*}]=${kv#*=}; done
    fig null_journal_eom_p50_ms_unix "${E[p50]}" ms
    fig null_journal_eom_p99_ms_unix "${E[p99]}" ms
fi
if want inet; then
    run_null null "$NULL_TCP" null_msgs_per_s
    NULLR=$RATE
    fig null_tcp_msgs_per_s "$(printf %.0f "$NULLR")" msg/s
    # the TCP fix on the floor itself: the null milter calling core/sockopt.c
    # as crmgate-milter does (listener TCP_NODELAY, quick ACKs re-armed at
    # MAIL FROM); BENCH_TCP_AB=1 adds the listener option alone.
    if [[ ${BENCH_TCP_AB:-} == 1 ]]; then
        run_null null-nodelay "$NULL_TCP" null_tcp_nodelay_msgs_per_s --nodelay
    fi
    run_null null-tuned "$NULL_TCP" null_tcp_tuned_msgs_per_s --nodelay --quickack
    NULL_TUNED=$RATE
fi

ratio() { printf %.3f "$(calc "$1 / $2")"; }
if want unix; then
    run_capture capture-unix "$MILTER_UNIX" _unix
    CAPT_UNIX=$RATE
    EOM_P99_UNIX=$EOM_P99
fi
if want inet; then
    run_capture capture "$MILTER_TCP" ""
    CAPT=$RATE
    EOM_P99_TCP=$EOM_P99
fi

say "--- ratios"
if want inet; then
    fig capture_vs_null_ratio "$(ratio "$CAPT" "$NULLR")" x
    fig capture_vs_bare_ratio "$(ratio "$CAPT" "$BARE")" x
    fig null_vs_bare_ratio "$(ratio "$NULLR" "$BARE")" x
    fig null_tcp_tuned_vs_null_tcp_ratio "$(ratio "$NULL_TUNED" "$NULLR")" x
fi
if want unix; then
    fig capture_vs_null_ratio_unix "$(ratio "$CAPT_UNIX" "$NULL_UNIX_R")" x
    fig capture_vs_bare_ratio_unix "$(ratio "$CAPT_UNIX" "$BARE")" x
    fig null_vs_bare_ratio_unix "$(ratio "$NULL_UNIX_R" "$BARE")" x
    fig null_collect_vs_null_ratio_unix "$(ratio "$NULL_COLLECT_R" "$NULL_UNIX_R")" x
    fig null_journal_vs_null_ratio_unix "$(ratio "$NULL_JOURNAL_R" "$NULL_UNIX_R")" x
    fig capture_vs_null_journal_ratio_unix "$(ratio "$CAPT_UNIX" "$NULL_JOURNAL_R")" x
fi
if [[ $SOCKETS == both ]]; then
    fig capture_tcp_vs_null_unix_ratio "$(ratio "$CAPT" "$NULL_UNIX_R")" x
    fig null_tcp_vs_null_unix_ratio "$(ratio "$NULLR" "$NULL_UNIX_R")" x
    fig null_tcp_tuned_vs_null_unix_ratio "$(ratio "$NULL_TUNED" "$NULL_UNIX_R")" x
fi
if want inet && awk "BEGIN { exit !($NULLR / $NULL_TUNED < 0.85) }"; then
    say "note: the plain null milter over TCP waits ~40 ms per message for a delayed"
    say "  ACK (Postfix's Nagle x our delayed ACK; core/sockopt.c); with the fix it"
    say "  reaches $(printf %.0f "$NULL_TUNED") msg/s"
fi

# --- 3. milter memory --------------------------------------------------------

say "=== 3. crmgate-milter memory (VmRSS sampled every 0.1 s)"
fig milter_rss_idle_kb "$RSS_IDLE" kB
say "idle after the SMTP runs: $(rss_now "$MPID") kB"

l0=$(($(lines_of "$MILTER_LOG") + 1))
start_sampler "$MPID" "$WORK/big.rss"
smtp_source "$WORK/big.out" -m 1 -s 1 -F "$BIG_FILE" -f "$SRC_FROM" -t "$SRC_TO" ||
    bad "the $BIG_BYTES-byte message was not accepted"
stop_sampler
say "50 MB message: $(stat -c %s "$BIG_FILE") bytes in $(printf %.2f "$SRC_SECS") s; milter: $(tail -n +"$l0" "$MILTER_LOG" | grep -o 'capture .*' | sed 's/message_id=<[^>]*> //' | head -n 1)"
fig milter_rss_50mb_kb "$(cat "$WORK/big.rss")" kB
# The capture is asynchronous (the journal): wait for the ingester's line.
for _ in $(seq 1 300); do
    grep -q ' stored new=' <(tail -n +"$l0" "$MILTER_LOG") && break
    sleep 0.2
done
grep -q ' stored new=' <(tail -n +"$l0" "$MILTER_LOG") || bad "the 50 MB message was not stored"

l0=$(($(lines_of "$MILTER_LOG") + 1))
start_sampler "$MPID" "$WORK/par.rss"
smtp_source "$WORK/par.out" -s "$PAR_SESSIONS" -m "$PAR_MESSAGES" -l "$SIZE" \
    -f "$SRC_FROM" -t "$SRC_TO" -N || bad "smtp-source -s $PAR_SESSIONS failed"
stop_sampler
read -r -a EOM <<<"$(python3 "$BENCH_DIR/benchutil.py" eom "$MILTER_LOG" "$l0")"
E=()
for kv in "${EOM[@]}"; do E[${kv%%=*}]=${kv#*=}; done
say "$PAR_SESSIONS sessions: $PAR_MESSAGES messages in $(printf %.2f "$SRC_SECS") s ($(printf %.0f "$(calc "$PAR_MESSAGES / $SRC_SECS")") msg/s); milter log: ${EOM[*]}"
fig milter_rss_100_sessions_kb "$(cat "$WORK/par.rss")" kB
fig par100_eom_p99_ms "${E[p99]}" ms
fig par100_spooled "$((E[spooled] + E[lost]))" messages
say "idle after 100 sessions: $(rss_now "$MPID") kB"
wait_queue 300

if [[ ${BENCH_PROFILE:-} == 1 ]] && command -v valgrind >/dev/null; then
    prof=$VAR/profile
    mkdir -p "$prof/in"
    python3 "$BENCH_DIR/gen_ingest.py" "$prof/in" 1000 profile >/dev/null
    say "=== profile: callgrind of crmgate ingest of 1000 messages (client side only)"
    valgrind --tool=callgrind --callgrind-out-file="$prof/callgrind.out" \
        "$CLI" -c "$CRMGATE_CONFIG" --json ingest "$prof/in" >/dev/null 2>"$prof/valgrind.err"
    callgrind_annotate --inclusive=no "$prof/callgrind.out" 2>/dev/null |
        sed -n '/^Ir/,$p' | head -n 25 | sed 's/^/#   /'
    say "full profile: callgrind_annotate $prof/callgrind.out"
fi

# --- 4. the web view under load (tests/bench/web.sh) -------------------------
# Seeds the large dataset into this database, then wrk against /tasks, a
# deal page and every report, as a manager and as a chief. BENCH_WEB=0
# skips it; its knobs (BENCH_WEB_*) are described in web.sh.
if [[ ${BENCH_WEB:-1} == 1 ]]; then
    say "=== 4. the web view under load (tests/bench/web.sh)"
    BENCH_WEB_STACK=shared "$BENCH_DIR/web.sh" ||
        bad "the web benchmark reported failures (see its # FAIL lines)"
fi

# --- 5. the job queue (tests/bench/jobs.sh) -----------------------------------
# 100,000 noop jobs claimed, run and acked by crmgate-worker, straight to
# PostgreSQL and through pgbouncer (jobs_per_s_direct, jobs_per_s_pgbouncer).
# BENCH_JOBS=0 skips it; its knobs (BENCH_JOBS_*) are described in jobs.sh.
if [[ ${BENCH_JOBS:-1} == 1 ]]; then
    say "=== 5. the job queue (tests/bench/jobs.sh)"
    BENCH_JOBS_STACK=shared "$BENCH_DIR/jobs.sh" ||
        bad "the job queue benchmark reported failures (see its # FAIL lines)"
fi

# --- 6. SMTP sending with libcurl (tests/bench/smtp.sh) -------------------
# smtp-blast (core/smtp_send.c) against smtp-source into a private
# smtp-sink; its own knobs (BENCH_SMTP_*) are described in smtp.sh.
# BENCH_SMTP=0 skips it.
if [[ ${BENCH_SMTP:-1} == 1 ]]; then
    say "=== 6. SMTP sending through libcurl (tests/bench/smtp.sh)"
    "$BENCH_DIR/smtp.sh" || bad "the SMTP sending benchmark reported failures"
fi

# --- 7. campaign sending (tests/bench/campaign.sh) -------------------------
# 100,000 personalised messages of one campaign sent by one crmgate-worker
# into a private smtp-sink, against smtp-source into the same kind of sink;
# the worker's peak RSS at 10,000 and 100,000 recipients, CPU per message
# of the worker and of PostgreSQL. BENCH_CAMPAIGN=0 skips it; its knobs
# (BENCH_CAMPAIGN_*) are described in campaign.sh.
if [[ ${BENCH_CAMPAIGN:-1} == 1 ]]; then
    say "=== 7. campaign sending (tests/bench/campaign.sh)"
    BENCH_CAMPAIGN_STACK=shared "$BENCH_DIR/campaign.sh" ||
        bad "the campaign benchmark reported failures (see its # FAIL lines)"
fi

# --- 8. the VoIP webhook under load (tests/bench/voip.sh) ---------------------
# Signed NOTIFY_START notifications (90 % known callers among 100,000
# contacts, 10 % unknown; each a new call) with wrk, 4 connections, 20 s:
# voip_start_p99_ms (target <= 10), _p50_ms, _rps, CPU ms per request of
# crmgate-web and PostgreSQL. BENCH_VOIP=0 skips it; its knobs
# (BENCH_VOIP_*) are described in voip.sh.
if [[ ${BENCH_VOIP:-1} == 1 ]]; then
    say "=== 8. the VoIP webhook under load (tests/bench/voip.sh)"
    BENCH_VOIP_STACK=shared "$BENCH_DIR/voip.sh" ||
        bad "the VoIP benchmark reported failures (see its # FAIL lines)"
fi

# Targets: reported, not enforced.
target() { # NAME VALUE OP LIMIT
    if awk "BEGIN { exit !($2 $3 $4) }"; then
        say "target $1 $3 $4: met ($2)"
    else
        say "target $1 $3 $4: MISSED ($2)"
    fi
}
say "--- targets"
if want unix; then
    target capture_vs_null_ratio_unix "$(ratio "$CAPT_UNIX" "$NULL_UNIX_R")" '>=' 0.9
    target eom_added_p99_ms_unix "${EOM_P99_UNIX:-nan}" '<=' 5
fi
[[ $SOCKETS == both ]] &&
    target capture_tcp_vs_null_unix_ratio "$(ratio "$CAPT" "$NULL_UNIX_R")" '>=' 0.9
if want inet; then
    target capture_vs_null_ratio "$(ratio "$CAPT" "$NULLR")" '>=' 0.9
    target eom_added_p99_ms "${EOM_P99_TCP:-nan}" '<=' 5
fi
[[ -n ${INGEST_RATE:-} ]] && target ingest_msgs_per_s "$INGEST_RATE" '>=' 2000

T_END=$(now)
fig total_seconds "$(printf %.0f "$(calc "$T_END - $T_START")")" s
if ((failed)); then
    say "bench: some checks FAILED (see above)"
    exit 1
fi
say "bench: all checks passed"
