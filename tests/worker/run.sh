#!/usr/bin/env bash
# tests/worker/run.sh - the job queue and crmgate-worker against the real
# PostgreSQL of the test stack (TAP). The stack's own worker is checked
# first, then stopped: the later tests run their own workers (own config:
# short leases and backoff) so that nothing else takes their jobs; it is
# started again at the end. pgbouncer (Debian's) runs on loopback port
# 16442 + CRMGATE_TEST_PORT_OFFSET in transaction pooling mode.
# Every test reads PostgreSQL (jobs, jobs_done) or a process's exit status.
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$REPO" || exit 1
# shellcheck source=../lib.sh
. "$REPO/tests/lib.sh"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
BIN=${CRMGATE_BUILD:-$REPO/build}/bin
CRMGATE="$BIN/crmgate -c $CRMGATE_CONFIG"
WORKER=$BIN/crmgate-worker
T=$(mktemp -d /tmp/crmgate-worker-test.XXXXXX)
chmod 0755 "$T"
PIDS=()
PGB_PID=
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    [ -n "$PGB_PID" ] && kill -TERM "$PGB_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
RUN=$(uniq_id)

q() { sql "$1" 2>>"$T/sql.err"; }

# wconf NAME KEY=VALUE...: a worker config (only a worker section).
wconf() {
    local f=$T/$1.conf kv
    shift
    { echo 'worker {'; for kv in "$@"; do echo "    ${kv%%=*} = ${kv#*=}"; done
      echo '}'; echo 'log {'; echo '    level = "info"'; echo '}'; } >"$f"
    echo "$f"
}

# start_worker CONF LOG [WORKER_DSN [LISTEN_DSN]]: starts a worker in the
# background; sets WPID. Waits for its start line.
start_worker() {
    local conf=$1 log=$2 dsn=${3:-$CRMGATE_WORKER_DSN} ldsn=${4:-$CRMGATE_WORKER_DSN}
    CRMGATE_WORKER_DSN=$dsn CRMGATE_WORKER_LISTEN_DSN=$ldsn \
        "$WORKER" -c "$conf" >>"$log" 2>&1 &
    WPID=$!
    PIDS+=("$WPID")
    wait_for 10 grep -q "started owner=" "$log"
}

# stop_worker PID: SIGTERM and wait; WRC is its exit status.
stop_worker() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    WRC=$?
}

# done_once TAG N: the N jobs whose payload carries tag are each in
# jobs_done exactly once and none is left in jobs.
done_count() {
    q "SELECT count(*) || ' ' || count(DISTINCT id) FROM jobs_done WHERE payload->>'t' = '$1'"
}
left_count() { q "SELECT count(*) FROM jobs WHERE payload->>'t' = '$1'"; }
all_done() { [ "$(done_count "$1")" = "$2 $2" ] && [ "$(left_count "$1")" = 0 ]; }

enqueue_many() { # KIND N TAG [EXTRA_JSON]
    local extra=${4:-'{}'}
    q "SELECT count(crm_job_enqueue('$1', jsonb_build_object('t', '$3', 'n', g) || '$extra'::jsonb)) FROM generate_series(1, $2) g" >/dev/null
}

# --- hostile input first ------------------------------------------------
before=$(q "SELECT count(*) FROM jobs")
$CRMGATE job add 'Bad Kind' >"$T/o" 2>&1
check_eq "job add: a kind with capitals and a space is refused (64)" 64 $?
$CRMGATE job add "$(head -c 101 /dev/zero | tr '\0' a)" >/dev/null 2>&1
check_eq "job add: a 101-byte kind is refused (64)" 64 $?
$CRMGATE job add noop --payload '{"a":' >/dev/null 2>&1
check_eq "job add: truncated JSON payload is refused (64)" 64 $?
$CRMGATE job add noop --payload '[1,2]' >/dev/null 2>&1
check_eq "job add: a payload that is no object is refused (64)" 64 $?
{ printf '{"a":"'; head -c 1100000 /dev/zero | tr '\0' x; printf '"}'; } |
    $CRMGATE job add noop --payload - >"$T/o" 2>&1
rc=$?
check "job add: a payload over 1 MiB on stdin is refused (rc $rc)" grep -q '1 MiB' "$T/o"
printf '{"a":"\377\376"}' | $CRMGATE job add noop --payload - >/dev/null 2>&1
check_eq "job add: a payload with invalid UTF-8 is refused (64)" 64 $?
$CRMGATE job add noop --unique "$(printf 'k\377\376')" >/dev/null 2>&1
check_eq "job add: invalid UTF-8 unique key is refused (64)" 64 $?
$CRMGATE job add noop --at 'tomorrow' >/dev/null 2>&1
check_eq "job add: --at without a zone/date is refused (64)" 64 $?
check_eq "refused jobs left no row" "$before" "$(q "SELECT count(*) FROM jobs")"
$CRMGATE job list --state bogus >/dev/null 2>&1
check_eq "job list --state bogus is refused (64)" 64 $?
$CRMGATE job list --limit 0 >/dev/null 2>&1
check_eq "job list --limit 0 is refused (64)" 64 $?
$CRMGATE job retry abc >/dev/null 2>&1
check_eq "job retry abc is a usage error (64)" 64 $?
$CRMGATE job retry 999999999 >"$T/o" 2>&1
check_eq "job retry of no discarded job: not found (66)" 66 $?

# --- roles -----------------------------------------------------------------
wdsn=$CRMGATE_WORKER_DSN
check "crmgate_web may enqueue through crm_job_enqueue" \
    psql -X -At -v ON_ERROR_STOP=1 "$CRMGATE_WEB_DSN" -c "SELECT crm_job_enqueue('noop', '{\"t\":\"$RUN-web\"}')"
if psql -X -At "$CRMGATE_WEB_DSN" -c "INSERT INTO jobs (kind) VALUES ('noop')" >/dev/null 2>&1; then
    not_ok "crmgate_web cannot insert into jobs directly"
else ok "crmgate_web cannot insert into jobs directly"; fi
if psql -X -At "$wdsn" -c "SELECT count(*) FROM contacts" >/dev/null 2>&1; then
    not_ok "crmgate_worker cannot read contacts (queue grants only)"
else ok "crmgate_worker cannot read contacts (queue grants only)"; fi
check "crmgate_worker may make jobs_done partitions" \
    psql -X -At -v ON_ERROR_STOP=1 "$wdsn" -c "SELECT crm_jobs_partitions(3)"
check_eq "jobs_done has this month's partition" 1 \
    "$(q "SELECT count(*) FROM pg_class WHERE relname = 'jobs_done_' || to_char(now(), 'YYYYMM')")"

# --- the stack's worker ------------------------------------------------------
st=$(scripts/stack status worker)
check "stack status worker prints 'worker running pid N' ($st)" \
    grep -qxE 'worker running pid [0-9]+' <<<"$st"
tag=$RUN-1000
enqueue_many noop 1000 "$tag"
wait_for 30 all_done "$tag" 1000
check_eq "1000 noop jobs: each in jobs_done exactly once, none left" \
    "1000 1000 0" "$(done_count "$tag") $(left_count "$tag")"
check_eq "the web's enqueued job ran too" 1 \
    "$(q "SELECT count(*) FROM jobs_done WHERE payload->>'t' = '$RUN-web'")"
check_eq "done jobs name their worker (crmgate_worker lease owner)" 1 \
    "$(q "SELECT count(DISTINCT split_part(worker, ':', 2)) FROM jobs_done WHERE payload->>'t' = '$tag'")"

# unique keys
a=$($CRMGATE job add noop --unique "u-$RUN" --at +3600)
b=$($CRMGATE job add noop --unique "u-$RUN" --at +3600 --payload '{"x":2}')
check_eq "unique key twice: the same id" "$a" "$b"
check_eq "unique key twice: one job" 1 "$(q "SELECT count(*) FROM jobs WHERE unique_key = 'u-$RUN'")"
check_eq "unique key twice: the first payload kept" '{}' \
    "$(q "SELECT payload FROM jobs WHERE unique_key = 'u-$RUN'")"
q "DELETE FROM jobs WHERE unique_key = 'u-$RUN'" >/dev/null

# unknown kind -> discarded
uid=$($CRMGATE job add "no.such.kind-$RUN" --payload "{\"t\":\"$RUN-unk\"}")
wait_for 10 test "$(q "SELECT state FROM jobs WHERE id = $uid")" = discarded
check_eq "an unknown kind is discarded with 'unknown job kind'" "discarded|unknown job kind" \
    "$(q "SELECT state || '|' || last_error FROM jobs WHERE id = $uid")"

scripts/stack stop worker >/dev/null 2>&1
check "stack stop worker: status says stopped" \
    test "$(scripts/stack status worker)" = "worker stopped"

# --- fail: backoff, discard, list, retry ---------------------------------------
conf=$(wconf fail threads=1 batch=10 retry_base=1 retry_max=60 max_attempts=3 poll_interval_ms=100)
start_worker "$conf" "$T/fail.log"
fid=$($CRMGATE job add fail --payload "{\"t\":\"$RUN-fail\"}")
: >"$T/delays"
for _ in $(seq 1 100); do
    row=$(q "SELECT state, attempts, round(extract(epoch FROM run_at - updated_at)) FROM jobs WHERE id = $fid")
    grep -qxF "$row" "$T/delays" || echo "$row" >>"$T/delays"
    [[ $row == discarded* ]] && break
    sleep 0.1
done
d1=$(awk -F'|' '$1 == "available" && $2 == 1 { print $3 }' "$T/delays" | head -1)
d2=$(awk -F'|' '$1 == "available" && $2 == 2 { print $3 }' "$T/delays" | head -1)
check "fail job retried after a backoff (attempt 1: ${d1:-none} s)" test "${d1:-0}" -ge 1
check "the backoff grows (attempt 2: ${d2:-none} s > ${d1:-none} s)" test "${d2:-0}" -gt "${d1:-99}"
check_eq "fail job discarded after max_attempts (3)" "discarded|3" \
    "$(q "SELECT state || '|' || attempts FROM jobs WHERE id = $fid")"
$CRMGATE job list --state discarded --json >"$T/list.json"
check_eq "job list --state discarded --json shows it with its error" \
    "fail discarded 3 true" \
    "$(jq -r ".jobs[] | select(.id == $fid) | \"\(.kind) \(.state) \(.attempts) \(.last_error | test(\"fails on purpose\"))\"" "$T/list.json")"
check_eq "job list --json: the documented fields" \
    "attempts,id,kind,last_error,max_attempts,run_at,state,unique_key" \
    "$(jq -r '.jobs[0] | keys | join(",")' "$T/list.json")"
$CRMGATE job list --state discarded --kind fail >"$T/list.txt"
check "job list (table) shows the discarded fail job" grep -qE "^$fid	fail	discarded	3	" "$T/list.txt"
check_eq "worker logged the discard" 1 \
    "$(grep -c "job=$fid kind=fail attempt=3/3 outcome=discarded" "$T/fail.log")"
stop_worker "$WPID"
check_eq "stop a worker with SIGTERM: exit 0" 0 "$WRC"
out=$($CRMGATE job retry "$fid")
check_eq "job retry ID prints how many" "1 job retried" "$out"
check_eq "retried job: available, attempts 0, no error" "available|0|" \
    "$(q "SELECT state || '|' || attempts || '|' || coalesce(last_error, '') FROM jobs WHERE id = $fid")"
q "UPDATE jobs SET state = 'discarded' WHERE id = $fid" >/dev/null
out=$($CRMGATE job retry --all-discarded)
check "job retry --all-discarded counts them ($out)" grep -qE '^[0-9]+ jobs? retried$' <<<"$out"
check_eq "no discarded job left after --all-discarded" 0 "$(q "SELECT count(*) FROM jobs WHERE state = 'discarded'")"
q "DELETE FROM jobs WHERE kind IN ('fail') OR kind LIKE 'no.such.kind%'" >/dev/null

# --- SIGKILL: leases expire, another worker reclaims ---------------------------
conf=$(wconf kill threads=2 batch=2 lease=5 heartbeat=1 poll_interval_ms=200)
start_worker "$conf" "$T/kill1.log"
w1=$WPID
tag=$RUN-kill
enqueue_many sleep 4 "$tag" '{"ms":3000}'
wait_for 10 test "$(q "SELECT count(*) FROM jobs WHERE payload->>'t' = '$tag' AND state = 'running'")" = 4
check_eq "worker A holds the 4 sleep jobs" 4 \
    "$(q "SELECT count(*) FROM jobs WHERE payload->>'t' = '$tag' AND state = 'running' AND lease_owner LIKE '%:$w1:%'")"
sleep 1.5
kill -KILL "$w1"
wait "$w1" 2>/dev/null
check_eq "after SIGKILL the jobs are still there (leased, not done)" 0 \
    "$(q "SELECT count(*) FROM jobs_done WHERE payload->>'t' = '$tag'")"
start_worker "$conf" "$T/kill2.log"
w2=$WPID
wait_for 30 all_done "$tag" 4
check_eq "worker B reclaimed them after the lease: each done exactly once" "4 4 0" \
    "$(done_count "$tag") $(left_count "$tag")"
check_eq "reclaimed jobs ran a second attempt, by B" "4" \
    "$(q "SELECT count(*) FROM jobs_done WHERE payload->>'t' = '$tag' AND attempts = 2 AND worker LIKE '%:$w2:%'")"
# a reclaimed job that used its last attempt is discarded, not run again
did=$(q "INSERT INTO jobs (kind, payload, state, attempts, max_attempts, lease_owner, lease_expires_at) VALUES ('noop', '{\"t\":\"$RUN-dead\"}', 'running', 1, 1, 'gone:1:t0', now() - interval '1 s') RETURNING id" | head -1)
wait_for 10 test "$(q "SELECT state FROM jobs WHERE id = $did")" = discarded
check_eq "an expired lease on the last attempt: discarded 'lease expired'" \
    "discarded|lease expired|0" \
    "$(q "SELECT state || '|' || last_error || '|' || (SELECT count(*) FROM jobs_done WHERE id = $did) FROM jobs WHERE id = $did")"
q "DELETE FROM jobs WHERE id = $did" >/dev/null
# the heartbeat keeps an 8 s job (lease 5 s) from being taken by B
start_worker "$conf" "$T/kill3.log"
w3=$WPID
hid=$($CRMGATE job add sleep --payload "{\"t\":\"$RUN-hb\",\"ms\":8000}")
wait_for 20 test "$(q "SELECT count(*) FROM jobs_done WHERE id = $hid")" = 1
check_eq "heartbeat: an 8 s job under a 5 s lease ran once (attempts 1)" "1|1" \
    "$(q "SELECT count(*) || '|' || max(attempts) FROM jobs_done WHERE id = $hid")"
stop_worker "$w3"
stop_worker "$w2"

# --- SIGTERM: drain ----------------------------------------------------------------
conf=$(wconf drain threads=1 batch=2 drain_timeout=20 poll_interval_ms=200)
start_worker "$conf" "$T/drain.log"
w=$WPID
tag=$RUN-drain
enqueue_many sleep 2 "$tag" '{"ms":5000}'
wait_for 10 test "$(q "SELECT count(*) FROM jobs WHERE payload->>'t' = '$tag' AND state = 'running'")" = 2
sleep 1
t0=$SECONDS
kill -TERM "$w"
wait "$w"
rc=$?
el=$((SECONDS - t0))
check_eq "SIGTERM during a 5 s job: exit 0" 0 "$rc"
check "the worker exited within the drain ($el s <= 20)" test "$el" -le 20
check_eq "the running job finished (in jobs_done)" 1 \
    "$(q "SELECT count(*) FROM jobs_done WHERE payload->>'t' = '$tag'")"
check_eq "the claimed job not started went back: available, attempts 0" "available|0|" \
    "$(q "SELECT state || '|' || attempts || '|' || coalesce(lease_owner, '') FROM jobs WHERE payload->>'t' = '$tag'")"
q "DELETE FROM jobs WHERE payload->>'t' = '$tag'" >/dev/null

# --- two workers, 3000 jobs ---------------------------------------------------------
conf=$(wconf two threads=4 batch=50 poll_interval_ms=100)
start_worker "$conf" "$T/two1.log"
wa=$WPID
start_worker "$conf" "$T/two2.log"
wb=$WPID
tag=$RUN-3000
enqueue_many noop 3000 "$tag"
wait_for 60 all_done "$tag" 3000
check_eq "two workers, 3000 jobs: none done twice, none left" "3000 3000 0" \
    "$(done_count "$tag") $(left_count "$tag")"
check_eq "both workers took part" 2 \
    "$(q "SELECT count(DISTINCT split_part(worker, ':', 2)) FROM jobs_done WHERE payload->>'t' = '$tag'")"
stop_worker "$wa"
stop_worker "$wb"

# --- LISTEN wake-up ------------------------------------------------------------------
conf=$(wconf listen threads=2 poll_interval_ms=60000)
start_worker "$conf" "$T/listen.log"
w=$WPID
wait_for 10 grep -q "listen=up" "$T/listen.log"
sleep 1
lat=$(psql -X -At "$CRMGATE_DSN" <<EOF 2>>"$T/sql.err"
SELECT crm_job_enqueue('noop', '{"t":"$RUN-listen"}');
DO \$\$ BEGIN
  FOR i IN 1 .. 50 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM jobs_done WHERE payload->>'t' = '$RUN-listen');
    PERFORM pg_sleep(0.02);
  END LOOP;
END \$\$;
SELECT count(*) FROM jobs_done WHERE payload->>'t' = '$RUN-listen';
EOF
)
check_eq "LISTEN: a job enqueued with a 60 s poll interval is done within 1 s" 1 "$(tail -1 <<<"$lat")"
stop_worker "$w"
conf=$(wconf nolisten threads=1 poll_interval_ms=60000)
start_worker "$conf" "$T/nolisten.log" "$CRMGATE_WORKER_DSN" off
w=$WPID
sleep 1
$CRMGATE job add noop --payload "{\"t\":\"$RUN-nolisten\"}" >/dev/null
sleep 2
check_eq "without LISTEN and a 60 s poll the job waits (the test can fail)" 0 \
    "$(q "SELECT count(*) FROM jobs_done WHERE payload->>'t' = '$RUN-nolisten'")"
stop_worker "$w"
conf=$(wconf poll threads=1 poll_interval_ms=200)
start_worker "$conf" "$T/poll.log" "$CRMGATE_WORKER_DSN" off
w=$WPID
wait_for 5 test "$(q "SELECT count(*) FROM jobs_done WHERE payload->>'t' = '$RUN-nolisten'")" = 1
check "with no LISTEN connection at all the poll runs it" \
    test "$(q "SELECT count(*) FROM jobs_done WHERE payload->>'t' = '$RUN-nolisten'")" = 1
check "the worker says listen=off" grep -q "listen=off" "$T/poll.log"
stop_worker "$w"

# --- pgbouncer (transaction pooling) -----------------------------------------
PGB=$(command -v pgbouncer || true)
if [ -z "$PGB" ]; then
    not_ok "pgbouncer is installed (scripts/deps.sh installs it)"
else
    PGB_PORT=$((16442 + ${CRMGATE_TEST_PORT_OFFSET:-0}))
    mkdir -p "$T/pgb"
    printf '"crmgate_worker" ""\n"crmgate" ""\n' >"$T/pgb/users.txt"
    cat >"$T/pgb/pgbouncer.ini" <<EOF
[databases]
crmgate = host=127.0.0.1 port=$CRMGATE_PG_PORT dbname=crmgate
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $T/pgb/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 100
server_reset_query =
logfile = $T/pgb/pgbouncer.log
pidfile = $T/pgb/pgbouncer.pid
EOF
    start_pgb() {
        if [ "$(id -u)" = 0 ]; then
            chown -R postgres: "$T/pgb"
            setpriv --reuid=postgres --regid=postgres --init-groups "$PGB" "$T/pgb/pgbouncer.ini" >>"$T/pgb/out" 2>&1 &
        else
            "$PGB" "$T/pgb/pgbouncer.ini" >>"$T/pgb/out" 2>&1 &
        fi
        wait_for 10 psql -X -At "host=127.0.0.1 port=$PGB_PORT dbname=crmgate user=crmgate_worker" -c 'SELECT 1'
        PGB_PID=$(cat "$T/pgb/pgbouncer.pid" 2>/dev/null)
    }
    start_pgb
    check "pgbouncer answers on 127.0.0.1:$PGB_PORT (transaction pooling)" \
        psql -X -At "host=127.0.0.1 port=$PGB_PORT dbname=crmgate user=crmgate_worker" -c 'SELECT 1'
    bdsn="host=127.0.0.1 port=$PGB_PORT dbname=crmgate user=crmgate_worker"
    conf=$(wconf pgb threads=4 batch=50 poll_interval_ms=200)
    start_worker "$conf" "$T/pgb1.log" "$bdsn" "$CRMGATE_WORKER_DSN"
    wa=$WPID
    start_worker "$conf" "$T/pgb2.log" "$bdsn" "$CRMGATE_WORKER_DSN"
    wb=$WPID
    tag=$RUN-pgb
    enqueue_many noop 2000 "$tag"
    wait_for 60 all_done "$tag" 2000
    check_eq "through pgbouncer: 2000 jobs, each done once" "2000 2000 0" \
        "$(done_count "$tag") $(left_count "$tag")"
    check_eq "no worker logged an SQL error through pgbouncer" 0 \
        "$(cat "$T/pgb1.log" "$T/pgb2.log" | grep -c 'failed')"
    # database frozen: pgbouncer stopped (SIGSTOP), then gone, then back
    tag=$RUN-frozen
    kill -STOP "$PGB_PID"
    enqueue_many noop 300 "$tag"
    sleep 3
    kill -CONT "$PGB_PID"
    kill -TERM "$PGB_PID"
    wait_for 5 test ! -e "$T/pgb/pgbouncer.pid"
    sleep 2
    check "workers survive a frozen and then vanished pgbouncer" kill -0 "$wa" "$wb"
    start_pgb
    wait_for 60 all_done "$tag" 300
    check_eq "after pgbouncer is back the workers resume: 300 jobs done once" \
        "300 300 0" "$(done_count "$tag") $(left_count "$tag")"
    check "the outage was logged, then the recovery" \
        grep -q "database answers again" "$T/pgb1.log" "$T/pgb2.log"
    stop_worker "$wa"
    r1=$WRC
    stop_worker "$wb"
    check_eq "pgbouncer workers exit 0 on SIGTERM" "0 0" "$r1 $WRC"
fi

scripts/stack start worker >/dev/null 2>&1
check "the stack's worker runs again" scripts/stack status worker
if [ -s "$T/sql.err" ]; then
    echo "# sql errors:"; sed 's/^/#   /' "$T/sql.err" | head -20
fi
