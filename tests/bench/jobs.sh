#!/usr/bin/env bash
# tests/bench/jobs.sh - the job queue's throughput: claim + run + ack of
# BENCH_JOBS_N [100000] "noop" jobs by one crmgate-worker with the default
# worker settings (worker.threads 4, worker.batch 100, or BENCH_JOBS_THREADS
# / BENCH_JOBS_BATCH), synchronous_commit on, first straight to
# PostgreSQL, then through pgbouncer in transaction pooling mode (loopback,
# port from 16482; the LISTEN connection stays direct). `make bench` runs it
# from tests/bench/run.sh; it also runs alone.
#
# The jobs are inserted (one INSERT ... SELECT, then VACUUM ANALYZE) before
# the worker starts; the clock runs from the worker's start until the hot
# table is empty. Then every job must be in jobs_done exactly once.
# Lines in run.sh's format:
#   bench: jobs_per_s_direct N jobs/s
#   bench: jobs_per_s_pgbouncer N jobs/s
# A check that does not hold prints "# FAIL:" and makes the exit status 1.
#
# Stack: with BENCH_JOBS_STACK=shared (what run.sh sets) the caller's
# stack is used (its environment exported); otherwise a private PostgreSQL
# under var/bench-jobs on a free port from 15482, stopped at the end.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$REPO" || exit 1
BUILD=${CRMGATE_BUILD:-$REPO/build}
WORKER=$BUILD/bin/crmgate-worker
N=${BENCH_JOBS_N:-100000}
THREADS=${BENCH_JOBS_THREADS:-}
BATCH=${BENCH_JOBS_BATCH:-}

say() { printf '# %s\n' "$*"; }
fig() { printf 'bench: %s %s %s\n' "$1" "$2" "$3"; }
failed=0
bad() {
    printf '# FAIL: %s\n' "$*"
    failed=1
}
[[ -x $WORKER && -x $BUILD/bin/crmgate ]] || {
    echo "# crmgate-worker not built (make all)"
    exit 1
}

# free_port BASE: BASE or the next free port up (benchutil.py free-port).
free_port() { python3 "$REPO/tests/bench/benchutil.py" free-port "$1"; }

T=$(mktemp -d /tmp/crmgate-jobs-bench.XXXXXX)
chmod 0755 "$T"
WPID=
PGB_PID=
private=0
cleanup() {
    [[ -n $WPID ]] && kill -KILL "$WPID" 2>/dev/null
    [[ -n $PGB_PID ]] && kill -TERM "$PGB_PID" 2>/dev/null
    ((private)) && scripts/stack stop >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT

if [[ ${BENCH_JOBS_STACK:-} != shared ]]; then
    private=1
    export CRMGATE_VAR=$REPO/var/bench-jobs
    export CRMGATE_CONFIG=$REPO/tests/bench/bench.conf
    CRMGATE_PG_PORT=$(free_port 15482)
    export CRMGATE_PG_PORT
    scripts/stack stop >/dev/null 2>&1
    rm -rf "$CRMGATE_VAR"
    mkdir -p "$CRMGATE_VAR"
    scripts/stack start postgres >"$T/stack.log" 2>&1 || {
        cat "$T/stack.log"
        echo "# FAIL: the private stack did not start"
        exit 1
    }
fi
eval "$(scripts/stack env)"
scripts/stack stop worker >/dev/null 2>&1
psqlq() { psql -X -At -v ON_ERROR_STOP=1 "$CRMGATE_DSN" -c "$1"; }

conf=$T/worker.conf
{
    echo 'worker {'
    [[ -n $THREADS ]] && echo "    threads = $THREADS"
    [[ -n $BATCH ]] && echo "    batch = $BATCH"
    echo '}'
    echo 'log {'
    echo '    level = "warn"'
    echo '}'
} >"$conf"

# run NAME WORKER_DSN: one timed run; prints the figure.
run() {
    local name=$1 dsn=$2 t0 t1 left rate
    psqlq "DELETE FROM jobs; TRUNCATE jobs_done" >/dev/null
    psqlq "INSERT INTO jobs (kind, payload) SELECT 'noop', jsonb_build_object('n', g) FROM generate_series(1, $N) g" >/dev/null
    psqlq "VACUUM ANALYZE jobs" >/dev/null
    t0=$(date +%s.%N)
    CRMGATE_WORKER_DSN=$dsn CRMGATE_WORKER_LISTEN_DSN=$CRMGATE_WORKER_DSN \
        "$WORKER" -c "$conf" >>"$T/$name.log" 2>&1 &
    WPID=$!
    while :; do
        left=$(psqlq "SELECT count(*) FROM jobs WHERE kind = 'noop'") || left=-1
        [[ $left == 0 ]] && break
        if ! kill -0 "$WPID" 2>/dev/null; then
            bad "$name: the worker exited (see its log below)"
            sed 's/^/#   /' "$T/$name.log" | tail -5
            return
        fi
        sleep 0.05
    done
    t1=$(date +%s.%N)
    kill -TERM "$WPID"
    wait "$WPID" || bad "$name: the worker did not exit 0"
    WPID=
    rate=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    fig "jobs_per_s_$name" "$rate" jobs/s
    local got
    got=$(psqlq "SELECT count(*) || ' ' || count(DISTINCT id) FROM jobs_done")
    [[ $got == "$N $N" ]] || bad "$name: jobs_done holds '$got', expected '$N $N'"
    grep -q 'failed' "$T/$name.log" && bad "$name: the worker logged failures"
    awk -v r="$rate" 'BEGIN { exit !(r >= 10000) }' &&
        say "target jobs_per_s_$name >= 10000: met ($rate)" ||
        say "target jobs_per_s_$name >= 10000: MISSED ($rate)"
}

say "jobs bench: $N noop jobs, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), synchronous_commit $(psqlq 'SHOW synchronous_commit')"
run direct "$CRMGATE_WORKER_DSN"

PGB=$(command -v pgbouncer || true)
if [[ -z $PGB ]]; then
    bad "pgbouncer not installed (scripts/deps.sh installs it)"
else
    port=$(free_port 16482)
    mkdir -p "$T/pgb"
    printf '"crmgate_worker" ""\n' >"$T/pgb/users.txt"
    cat >"$T/pgb/pgbouncer.ini" <<EOF
[databases]
crmgate = host=127.0.0.1 port=$CRMGATE_PG_PORT dbname=crmgate
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $T/pgb/users.txt
pool_mode = transaction
default_pool_size = 8
max_client_conn = 100
server_reset_query =
logfile = $T/pgb/pgbouncer.log
pidfile = $T/pgb/pgbouncer.pid
EOF
    if [[ $(id -u) == 0 ]]; then
        chown -R postgres: "$T/pgb"
        runuser -u postgres -- "$PGB" -d "$T/pgb/pgbouncer.ini" >/dev/null 2>&1
    else
        "$PGB" -d "$T/pgb/pgbouncer.ini" >/dev/null 2>&1
    fi
    bdsn="host=127.0.0.1 port=$port dbname=crmgate user=crmgate_worker"
    for _ in $(seq 1 50); do
        psql -X -At "$bdsn" -c 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.2
    done
    PGB_PID=$(cat "$T/pgb/pgbouncer.pid" 2>/dev/null)
    if [[ -z $PGB_PID ]]; then
        bad "pgbouncer did not start"
    else
        say "pgbouncer on 127.0.0.1:$port, transaction pooling"
        run pgbouncer "$bdsn"
    fi
fi
psqlq "DELETE FROM jobs; TRUNCATE jobs_done" >/dev/null
exit "$failed"
