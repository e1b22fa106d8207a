#!/usr/bin/env bash
# tests/bench/voip.sh - crmgate-web's answer to Zadarma's NOTIFY_START under
# load, with wrk (`make bench` runs it from tests/bench/run.sh, section 8;
# it also runs alone).
#
# Seeds 100,000 contacts (`crmgate seed $BENCH_VOIP_SEED`, by default
# --contacts 100000, skipped when the database holds that many already),
# gives every user who owns contacts an extension, then precomputes
# BENCH_VOIP_LINES signed NOTIFY_START notifications (HMAC-SHA1 with the
# stack's CRMGATE_ZADARMA_SECRET; each a pbx_call_id of its own, so each
# stores a new call; BENCH_VOIP_KNOWN_PCT (90) % from callers who are
# contacts, the rest from unknown numbers, mixed) and runs wrk
# (tests/bench/voip.lua) with BENCH_VOIP_CONNECTIONS (4) connections for
# BENCH_VOIP_SECONDS (20) s against /voip/zadarma. Each request is the
# whole path: signature check, the event stored once, the call row folded,
# the job queued, the caller looked up among the contacts, leads and
# companies, the JSON answer. Before it, one connection alone for
# BENCH_VOIP_SECONDS_1CONN (10) s (other lines: no request is sent twice).
# Lines in run.sh's format:
#   bench: voip_start_p99_ms_1conn N ms  (one client: the service time)
#   bench: voip_start_p50_ms_1conn N ms
#   bench: voip_start_p99_ms N ms  (4 connections; target <= 10)
#   bench: voip_start_p50_ms N ms
#   bench: voip_start_rps N req/s
#   bench: voip_start_p99_ms_paced N ms  (BENCH_VOIP_PACED_RPS (400) req/s
#                                         offered over 4 connections)
#   bench: voip_start_p50_ms_paced N ms
#   bench: voip_start_rps_paced N req/s
#   bench: voip_start_cpu_ms_per_req_web N ms       (crmgate-web, utime+stime)
#   bench: voip_start_cpu_ms_per_req_postgres N ms  (every PostgreSQL process)
#   bench: voip_start_non2xx N answers
# Checks (a "# FAIL:" line and exit status 1): a known caller is answered
# with a redirect and an unknown one with {} before the run; no answer
# other than 2xx, no socket error; as many new calls rows as requests
# answered (give or take those in flight at the end).
#
# Stack: with BENCH_VOIP_STACK=shared (what run.sh sets) the caller's stack
# is used (its environment exported; the web service is started here and
# stopped by the caller). Otherwise a private one under var/bench-voip on
# free ports (PostgreSQL from 15482, web from 8098), fresh every run and
# stopped at the end.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$REPO" || exit 1
BENCH_DIR=$REPO/tests/bench
BUILD=${CRMGATE_BUILD:-$REPO/build}
CLI=$BUILD/bin/crmgate
SEED_ARGS=${BENCH_VOIP_SEED---contacts 100000}
SECS=${BENCH_VOIP_SECONDS:-20}
SECS_1CONN=${BENCH_VOIP_SECONDS_1CONN:-10}
CONNS=${BENCH_VOIP_CONNECTIONS:-4}
THREADS=${BENCH_VOIP_THREADS:-2}
LINES=${BENCH_VOIP_LINES:-200000}
KNOWN_PCT=${BENCH_VOIP_KNOWN_PCT:-90}
PACED_RPS=${BENCH_VOIP_PACED_RPS:-400}

say() { printf '# %s\n' "$*"; }
fig() { printf 'bench: %s %s %s\n' "$1" "$2" "$3"; }
failed=0
bad() {
    printf '# FAIL: %s\n' "$*"
    failed=1
}

for p in wrk curl psql python3; do
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
free_port() { python3 "$BENCH_DIR/benchutil.py" free-port "$1"; }

if [[ ${BENCH_VOIP_STACK:-} == shared ]]; then
    STACK_LOG=${CRMGATE_VAR:?}/voip-stack.log
    if ! scripts/stack start web >>"$STACK_LOG" 2>&1; then
        echo "# crmgate-web did not start:"
        tail -n 20 "$STACK_LOG" | sed 's/^/#   /'
        exit 1
    fi
else
    export CRMGATE_BUILD=$BUILD
    export CRMGATE_VAR=$REPO/var/bench-voip
    export CRMGATE_CONFIG=$BENCH_DIR/bench.conf
    export CRMGATE_INTERNAL_DOMAINS=example.com CRMGATE_CAPTURE_DOMAIN=crm.example.com
    export CRMGATE_PG_PORT CRMGATE_WEB_PORT
    scripts/stack stop >/dev/null 2>&1
    CRMGATE_PG_PORT=$(free_port "${BENCH_VOIP_PG_PORT:-15482}") || exit 1
    CRMGATE_WEB_PORT=$(free_port "${BENCH_VOIP_WEB_PORT:-8098}") || exit 1
    eval "$(scripts/stack env)"
    rm -rf "$CRMGATE_VAR"
    mkdir -p "$CRMGATE_VAR"
    STACK_LOG=$CRMGATE_VAR/stack.log
    # the stack makes the Zadarma secret; an older stack script does not
    if [[ -z ${CRMGATE_ZADARMA_SECRET:-} ]]; then
        CRMGATE_ZADARMA_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
        export CRMGATE_ZADARMA_SECRET
    fi
    trap 'scripts/stack stop >>"$STACK_LOG" 2>&1; say "voip bench stack stopped"' EXIT
    trap 'exit 130' INT TERM
    if ! scripts/stack start postgres web >>"$STACK_LOG" 2>&1; then
        echo "# the voip bench stack did not start:"
        tail -n 20 "$STACK_LOG" | sed 's/^/#   /'
        exit 1
    fi
fi
SECRET=${CRMGATE_ZADARMA_SECRET:-}
[[ -n $SECRET ]] || {
    echo "# CRMGATE_ZADARMA_SECRET is not set (scripts/stack env exports the stack's)"
    exit 1
}
URL=http://127.0.0.1:$CRMGATE_WEB_PORT/voip/zadarma
CRM=("$CLI" -c "$CRMGATE_CONFIG")
psql_q() {
    psql -X -q -t -A -h 127.0.0.1 -p "$CRMGATE_PG_PORT" -U crmgate -d crmgate "$@"
}
WORK=$CRMGATE_VAR/voip-work
mkdir -p "$WORK"
say "=== voip: NOTIFY_START on $URL, wrk -t$THREADS -c$CONNS -d${SECS}s, $KNOWN_PCT % known callers"

# --- data ------------------------------------------------------------------
have=$(psql_q -c "SELECT count(*) FROM contacts WHERE phone_last9 IS NOT NULL")
if [[ -n $SEED_ARGS ]] && ((${have:-0} < 100000)); then
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086 # the arguments are words
    if ! "${CRM[@]}" seed $SEED_ARGS >"$WORK/seed.out" 2>"$WORK/seed.err"; then
        bad "crmgate seed $SEED_ARGS failed: $(tail -n 3 "$WORK/seed.err")"
        exit 1
    fi
    t1=$(date +%s.%N)
    say "$(cat "$WORK/seed.out")"
    fig voip_seed_seconds "$(awk "BEGIN { printf \"%.0f\", $t1 - $t0 }")" s
fi
# every owner of a contact gets an extension (crmgate user add --extension)
psql_q -c "UPDATE users SET phone_ext = (1000 + id)::text
            WHERE phone_ext IS NULL AND active
              AND id IN (SELECT DISTINCT owner_id FROM contacts)" >/dev/null
# a settled database: no autovacuum of the fresh seed, no checkpoint of
# it, inside the timed runs
psql_q -c "VACUUM ANALYZE contacts, leads, companies, users, calls, call_events, jobs" >/dev/null
psql -X -q -c "CHECKPOINT" "$CRMGATE_ADMIN_DSN" >/dev/null 2>&1 ||
    say "CHECKPOINT failed (no admin connection): the seed's writes may be flushed during the runs"
say "database: $(psql_q -c "SELECT concat_ws(', ', (SELECT count(*) FROM contacts) || ' contacts', (SELECT count(*) FROM contacts WHERE phone_e164 IS NOT NULL) || ' with an E.164 phone', (SELECT count(*) FROM leads) || ' leads', (SELECT count(*) FROM companies) || ' companies', (SELECT count(*) FROM users WHERE phone_ext IS NOT NULL) || ' users with an extension', (SELECT count(*) FROM calls) || ' calls')")"
psql_q -c "SELECT phone_e164 FROM contacts WHERE phone_e164 IS NOT NULL
            ORDER BY random() LIMIT 20000" >"$WORK/known.txt"
nknown=$(wc -l <"$WORK/known.txt")
((nknown > 0)) || {
    bad "no contact has a phone_e164 (did the seed run?)"
    exit 1
}

# --- the requests, precomputed ------------------------------------------------
# call_start in the configured zone (voip.zadarma_timezone; bench.conf: UTC)
TZONE=$(sed -n '/^voip *{/,/^}/s/^ *zadarma_timezone *= *"\([^"]*\)".*/\1/p' "$CRMGATE_CONFIG")
TZONE=${TZONE:-UTC}
TAG=b$(date +%s)
# gen_requests FILE N TAG: N signed NOTIFY_START lines
gen_requests() {
    python3 - "$WORK/known.txt" "$1" "$2" "$KNOWN_PCT" "$SECRET" "$3" "$TZONE" <<'EOF'
import base64, datetime, hashlib, hmac, random, sys, urllib.parse, zoneinfo
known_f, out_f, n, pct, secret, tag, tz = sys.argv[1:8]
n, pct = int(n), int(pct)
known = [l.strip() for l in open(known_f) if l.strip()]
rnd = random.Random(8)
start = (datetime.datetime.now(zoneinfo.ZoneInfo(tz))
         - datetime.timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S")
did = "+493022334455"
key = secret.encode()
with open(out_f, "w") as out:
    for i in range(n):
        if rnd.randrange(100) < pct:
            caller = known[i % len(known)]
        else:
            caller = "+49891%07d" % rnd.randrange(10**7)
        f = [("event", "NOTIFY_START"), ("call_start", start),
             ("pbx_call_id", "%s-%d" % (tag, i)), ("caller_id", caller),
             ("called_did", did)]
        h = hmac.new(key, (caller + did + start).encode(), hashlib.sha1).hexdigest()
        out.write("%s\t%s\n" % (base64.b64encode(h.encode()).decode(),
                                urllib.parse.urlencode(f)))
EOF
}
gen_requests "$WORK/requests.txt" "$LINES" "$TAG"
gen_requests "$WORK/requests-1conn.txt" $((LINES / 4)) "$TAG-1"
gen_requests "$WORK/requests-paced.txt" $((PACED_RPS * SECS * 2)) "$TAG-p"
say "$(wc -l <"$WORK/requests.txt") signed NOTIFY_START requests in $WORK/requests.txt"

# --- sanity: the answers are the routing answers ---------------------------------
# one known and one unknown caller, sent like the bench's lines
probe() { # CALLER CALLID
    local start did=+493022334455 sig
    start=$(TZ=$TZONE date '+%Y-%m-%d %H:%M:%S')
    sig=$(printf '%s%s%s' "$1" "$did" "$start" | openssl dgst -sha1 -hmac "$SECRET" |
        sed 's/^.*= *//' | tr -d '\n' | base64 -w0)
    curl -s -H "Signature: $sig" --data-urlencode event=NOTIFY_START \
        --data-urlencode "call_start=$start" --data-urlencode "pbx_call_id=$2" \
        --data-urlencode "caller_id=$1" --data-urlencode "called_did=$did" "$URL"
}
k=$(probe "$(head -n 1 "$WORK/known.txt")" "$TAG-probe-known")
u=$(probe "+4989100000001" "$TAG-probe-unknown")
say "a known caller is answered $k; an unknown one $u"
[[ $k == *'"redirect"'* && $k == *'"caller_name"'* ]] ||
    bad "a known caller's START was not answered with a redirect and a name: $k"
[[ $(tr -d ' \n' <<<"$u") == '{}' ]] || bad "an unknown caller's START was not answered {}: $u"

# --- one client alone: what the PBX waits for when calls come one at a time ----------
wrk -t1 -c1 -d"${SECS_1CONN}s" --latency -s "$BENCH_DIR/voip.lua" "$URL" \
    -- "$WORK/requests-1conn.txt" 1 >"$WORK/wrk-1conn.out" 2>&1
rc=$?
declare -A R1=()
while read -r key val; do R1[$key]=$val; done < <(grep '^wrk_' "$WORK/wrk-1conn.out")
if ((rc != 0)) || [[ -z ${R1[wrk_rps]:-} ]]; then
    bad "wrk -c1 failed (exit $rc): $(tail -n 3 "$WORK/wrk-1conn.out" | tr '\n' ' ')"
else
    say "wrk -c1: ${R1[wrk_requests]} requests, p50 ${R1[wrk_p50_ms]} ms, p99 ${R1[wrk_p99_ms]} ms, max ${R1[wrk_max_ms]} ms"
    fig voip_start_p99_ms_1conn "${R1[wrk_p99_ms]}" ms
    fig voip_start_p50_ms_1conn "${R1[wrk_p50_ms]}" ms
    ((R1[wrk_non2xx] == 0)) || bad "wrk -c1: ${R1[wrk_non2xx]} answers were not 2xx (status ${R1[wrk_bad_status]})"
fi

# --- the run -----------------------------------------------------------------------
PG_PID=$(scripts/stack status postgres 2>/dev/null | awk '/running pid/ { print $4 }')
WEB_PID=$(scripts/stack status web 2>/dev/null | awk '/running pid/ { print $4 }')
calls0=$(psql_q -c "SELECT count(*) FROM calls")
python3 "$BENCH_DIR/benchutil.py" cpu-snap "$WORK/cpu0" "crmgate-web=$WEB_PID" "postgres=$PG_PID"
wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -s "$BENCH_DIR/voip.lua" "$URL" \
    -- "$WORK/requests.txt" "$THREADS" >"$WORK/wrk.out" 2>&1
rc=$?
python3 "$BENCH_DIR/benchutil.py" cpu-snap "$WORK/cpu1" "crmgate-web=$WEB_PID" "postgres=$PG_PID"
calls1=$(psql_q -c "SELECT count(*) FROM calls")
declare -A R=()
while read -r key val; do R[$key]=$val; done < <(grep '^wrk_' "$WORK/wrk.out")
if ((rc != 0)) || [[ -z ${R[wrk_rps]:-} ]]; then
    bad "wrk failed (exit $rc): $(tail -n 3 "$WORK/wrk.out" | tr '\n' ' ')"
    exit 1
fi
say "wrk: ${R[wrk_requests]} requests, p50 ${R[wrk_p50_ms]} ms, p95 ${R[wrk_p95_ms]} ms, p99 ${R[wrk_p99_ms]} ms, max ${R[wrk_max_ms]} ms; $((calls1 - calls0)) new calls rows"
fig voip_start_p99_ms "${R[wrk_p99_ms]}" ms
fig voip_start_p50_ms "${R[wrk_p50_ms]}" ms
fig voip_start_rps "${R[wrk_rps]}" req/s
python3 "$BENCH_DIR/benchutil.py" cpu-diff "$WORK/cpu0" "$WORK/cpu1" "${R[wrk_requests]}" \
    "crmgate-web:voip_start_cpu_ms_per_req_web,postgres:voip_start_cpu_ms_per_req_postgres" |
    sed 's|ms/msg|ms/request|g'
fig voip_start_non2xx "${R[wrk_non2xx]}" answers
((R[wrk_non2xx] == 0)) ||
    bad "${R[wrk_non2xx]} of ${R[wrk_requests]} answers were not 2xx (status ${R[wrk_bad_status]}): these figures are NOT the webhook's speed"
((R[wrk_socket_errors] == 0)) || bad "${R[wrk_socket_errors]} socket errors or timeouts"
new=$((calls1 - calls0))
if ((R[wrk_requests] <= LINES)) &&
    ((new < R[wrk_requests] || new > R[wrk_requests] + CONNS)); then
    bad "$new new calls rows for ${R[wrk_requests]} requests answered"
fi
((R[wrk_requests] > LINES)) &&
    say "more requests than precomputed lines ($LINES): some were re-deliveries (BENCH_VOIP_LINES)"
say "the run above is closed-loop: $CONNS connections as fast as answers come,"
say "i.e. the 2 shared cores saturated; its p99 is queueing behind the CPU"

# --- a fixed offered rate: a very busy PBX, not a saturated machine ----------------
# BENCH_VOIP_PACED_RPS (400) starts a second over $CONNS connections (34
# million calls a day), the same mix; latency from sending each request.
pause=$(awk "BEGIN { printf \"%d\", 1000 * $CONNS / $PACED_RPS }")
wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -s "$BENCH_DIR/voip.lua" "$URL" \
    -- "$WORK/requests-paced.txt" "$THREADS" "$pause" >"$WORK/wrk-paced.out" 2>&1
rc=$?
declare -A P=()
while read -r key val; do P[$key]=$val; done < <(grep '^wrk_' "$WORK/wrk-paced.out")
if ((rc != 0)) || [[ -z ${P[wrk_rps]:-} ]]; then
    bad "wrk (paced) failed (exit $rc): $(tail -n 3 "$WORK/wrk-paced.out" | tr '\n' ' ')"
else
    say "wrk paced (${pause} ms between a connection's requests): ${P[wrk_requests]} requests, p50 ${P[wrk_p50_ms]} ms, p99 ${P[wrk_p99_ms]} ms, max ${P[wrk_max_ms]} ms"
    fig voip_start_p99_ms_paced "${P[wrk_p99_ms]}" ms
    fig voip_start_p50_ms_paced "${P[wrk_p50_ms]}" ms
    fig voip_start_rps_paced "${P[wrk_rps]}" req/s
    ((P[wrk_non2xx] == 0)) || bad "paced: ${P[wrk_non2xx]} answers were not 2xx"
fi
for line in "1conn:${R1[wrk_p99_ms]:-}" "paced:${P[wrk_p99_ms]:-}" "saturated:${R[wrk_p99_ms]}"; do
    v=${line#*:}
    [[ -n $v ]] || continue
    if awk "BEGIN { exit !($v <= 10) }"; then
        say "target p99 <= 10 ms, ${line%%:*}: met ($v)"
    else
        say "target p99 <= 10 ms, ${line%%:*}: MISSED ($v)"
    fi
done
if ((failed)); then
    say "voip bench: some checks FAILED (see above)"
    exit 1
fi
say "voip bench: every answer 2xx"
