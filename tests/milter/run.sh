#!/usr/bin/env bash
# tests/milter/run.sh - the milter layer: miltertest scripts against the
# running crmgate-milter of the test stack, then database, log and memory
# checks of what they sent.
#
# Each tests/milter/t-NAME.lua is one behaviour (OpenDKIM style); miltertest
# runs it with -D mtdir=... -D run=RUN -D socket=SOCKET and exits non-zero
# when the script calls error(). One TAP line per script ("ok - t-NAME"),
# then one per extra check. RUN is unique to this run and is part of every
# Message-ID, subject and queue id the scripts use, so the checks find
# exactly this run's rows in PostgreSQL and lines in the milter log.
#
# Needs the environment of tests/run-all.sh (CRMGATE_MILTER_SOCKET,
# CRMGATE_DSN, CRMGATE_VAR). MT_LARGE_MB (default 50) sizes t-large-body;
# MT_RSS_LIMIT_KB (default 20480) bounds the milter's RSS growth during it.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

RUN=$(uniq_id)
PIDFILE=$CRMGATE_VAR/run/milter.pid
MLOG=$CRMGATE_VAR/log/milter.log
MLOG_START=$(wc -l <"$MLOG" 2>/dev/null || echo 0)
# new_mlog: the milter log lines written since this layer started.
new_mlog() { tail -n +"$((MLOG_START + 1))" "$MLOG"; }
OUT=$CRMGATE_VAR/milter-tests
LARGE_MB=${MT_LARGE_MB:-50}
RSS_LIMIT_KB=${MT_RSS_LIMIT_KB:-20480}
mkdir -p "$OUT"
echo "# run id $RUN, milter $CRMGATE_MILTER_SOCKET"

if ! command -v miltertest >/dev/null 2>&1; then
    not_ok "miltertest installed (package miltertest)"
    exit 0
fi

milter_pid() { cat "$PIDFILE" 2>/dev/null; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
mid() { echo "$1.$RUN@miltertest.test"; }

PID=$(milter_pid)
if ! alive "$PID"; then
    not_ok "crmgate-milter running (pid file $PIDFILE)"
    exit 0
fi

# mt NAME [SECONDS] [-D ...]: runs t-NAME.lua; TAP line; output kept in $OUT.
mt() {
    local name=$1 secs=${2:-60}
    shift $(($# >= 2 ? 2 : 1))
    local out=$OUT/$name.out rc
    timeout "$secs" miltertest -D mtdir="$HERE" -D run="$RUN" \
        -D socket="$CRMGATE_MILTER_SOCKET" "$@" -s "$HERE/$name.lua" \
        >"$out" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        ok "$name"
    else
        not_ok "$name"
        [ $rc -eq 124 ] && echo "#   timed out after $secs s"
        sed 's/^/#   /' "$out" | tail -n 15
    fi
    return $rc
}

# q SQL: one value (psql errors go to the layer's stderr).
q() { sql "$1" 2>&1; }

# count_mid NAME: rows stored with Message-ID mid(NAME).
count_mid() { q "SELECT count(*) FROM messages WHERE message_id = '$(mid "$1")'"; }

# log_outcome QID: what the milter logged for queue id QID ("stored",
# "spooled", "skipped", "LOST" or "" when there is no line).
log_outcome() {
    grep -a "capture queue_id=$1 " "$MLOG" 2>/dev/null | tail -n 1 |
        sed -n 's/.* size=[0-9]* \([A-Za-z]*\).*/\1/p'
}

# ---------------------------------------------------------------------------
mt t-no-reply-negotiation
check_eq "negotiation: both messages stored" "1 1" \
    "$(count_mid negotiate-new) $(count_mid negotiate-old)"

# ---------------------------------------------------------------------------
mt t-close-no-connect
check "milter survives early and abrupt closes (pid $PID alive)" alive "$PID"
check_eq "message after the closes is stored" 1 "$(count_mid close-after)"
check_eq "message cut off by a dropped connection is not stored" 0 \
    "$(count_mid close-midmsg)"

# ---------------------------------------------------------------------------
mt t-abort-midbody
check_eq "abort: aborted message not stored" 0 "$(count_mid abort-first)"
check_eq "abort: message after the abort stored" 1 "$(count_mid abort-second)"
check_eq "abort: message after an abort before headers stored" 1 \
    "$(count_mid abort-fourth)"
check_eq "abort: milter logged the second message as stored" stored \
    "$(log_outcome "QABORT2$RUN")"
check_eq "abort: nothing logged for the aborted message" 0 \
    "$(grep -ac "message_id=<$(mid abort-first)>" "$MLOG")"

# ---------------------------------------------------------------------------
mt t-multi-message
check_eq "multi: 3 messages of one connection stored" 3 \
    "$(q "SELECT count(*) FROM messages WHERE message_id IN
          ('$(mid multi-1)', '$(mid multi-2)', '$(mid multi-3)')")"
check_eq "multi: each with its own sender" \
    "partner1@outside.test partner2@outside.test partner3@outside.test" \
    "$(q "SELECT string_agg(from_addr, ' ' ORDER BY from_addr) FROM messages
          WHERE message_id IN ('$(mid multi-1)', '$(mid multi-2)', '$(mid multi-3)')")"

# ---------------------------------------------------------------------------
mt t-header-cap
check_eq "header cap: stored with its subject" "header cap $RUN" \
    "$(q "SELECT subject FROM messages WHERE message_id = '$(mid header-cap)'")"
w=$(q "SELECT warnings::text FROM messages WHERE message_id = '$(mid header-cap)'")
check "header cap: warning names the header limit" \
    grep -q "headers past 65536 bytes" <<<"$w"
echo "#   warnings: $w"

# ---------------------------------------------------------------------------
mt t-no-message-id
r=$(q "SELECT message_id || '|' || (warnings::text LIKE '%no Message-ID%')::text
       FROM messages WHERE subject = 'no message-id $RUN'")
check_eq "no Message-ID: stored with message_id '' and a warning" "|true" "$r"
check_eq "no Message-ID: milter logged it as stored" stored \
    "$(log_outcome "QNOMID$RUN")"

# ---------------------------------------------------------------------------
mt t-8bit-headers
s=$(q "SELECT subject FROM messages WHERE message_id = '$(mid 8bit)'")
check "8-bit headers: stored, subject keeps its readable part" \
    grep -q "^8bit $RUN .* end\$" <<<"$s"
check "8-bit headers: subject is valid UTF-8" iconv -f UTF-8 -t UTF-8 <<<"$s"
echo "#   stored subject: $s"
n=$(q "SELECT p.address_norm || ' ' || coalesce(p.name, '') FROM message_participants p
       JOIN messages m ON m.id = p.message_id
       WHERE m.message_id = '$(mid 8bit)' AND p.role = 'from'")
check "8-bit headers: From address recognised despite its display name" \
    grep -q "^partner8@outside.test " <<<"$n"
check "8-bit headers: From name is valid UTF-8" iconv -f UTF-8 -t UTF-8 <<<"$n"
echo "#   stored From: $n"
check_eq "8-bit headers: milter logged it as stored" stored \
    "$(log_outcome "Q8BIT$RUN")"

# ---------------------------------------------------------------------------
mt t-capture-rcpt-delete
check_eq "capture: the three messages stored" "1 1 1" \
    "$(count_mid capture-1) $(count_mid capture-2) $(count_mid capture-3)"
check_eq "capture: capture address not recorded as a participant" 0 \
    "$(q "SELECT count(*) FROM message_participants p JOIN messages m ON m.id = p.message_id
          WHERE m.message_id IN ('$(mid capture-1)', '$(mid capture-2)')
          AND p.address_norm IN ('crm+deal-1@crm.example.com', 'crm@crm.example.com')")"

# ---------------------------------------------------------------------------
mt t-auth-outbound
for pair in auth:out auth-mixed:out originating:out pickup:out inbound:in nomacro:in; do
    name=${pair%%:*} want=${pair#*:}
    check_eq "direction: $name is '$want'" "$want" \
        "$(q "SELECT direction FROM messages WHERE message_id = '$(mid "dir-$name")'")"
done

# ---------------------------------------------------------------------------
# t-large-body with the milter's RSS sampled every 50 ms meanwhile. The
# kernel's high-water mark (VmHWM) backs the sampling up: when it rose
# during the test, the new mark is the exact peak of the test.
PID=$(milter_pid)
before=$(rss_kb "$PID")
hwm_before=$(hwm_kb "$PID")
peakfile=$OUT/rss-peak
echo "${before:-0}" >"$peakfile"
(
    peak=${before:-0}
    while kill -0 "$PID" 2>/dev/null; do
        r=$(rss_kb "$PID")
        if [ -n "$r" ] && [ "$r" -gt "$peak" ]; then
            peak=$r
            echo "$peak" >"$peakfile"
        fi
        sleep 0.05
    done
) &
sampler=$!
start=$SECONDS
mt t-large-body 150 -D mb="$LARGE_MB"
secs=$((SECONDS - start))
sleep 0.3 # the sampler's last look after EOM
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
after=$(rss_kb "$PID")
hwm_after=$(hwm_kb "$PID")
sampled=$(cat "$peakfile")
peak=$sampled
if [ "${hwm_after:-0}" -gt "${hwm_before:-0}" ] && [ "$hwm_after" -gt "$peak" ]; then
    peak=$hwm_after
fi
growth=$((peak - ${before:-0}))
echo "#   milter RSS: before ${before:-?} kB, sampled peak ${sampled} kB," \
    "VmHWM ${hwm_before:-?} -> ${hwm_after:-?} kB, after ${after:-?} kB;" \
    "growth ${growth} kB (limit ${RSS_LIMIT_KB} kB); ${LARGE_MB} MiB in ${secs} s"
grep -a "capture queue_id=QLARGE$RUN " "$MLOG" | sed 's/^/#   /'
# clang links ASan statically: look for its runtime symbols in the binary.
if grep -q libasan "/proc/$PID/maps" 2>/dev/null ||
    nm -D "/proc/$PID/exe" 2>/dev/null | grep -q __asan_init; then
    # ASan's quarantine keeps freed memory resident: no meaningful bound
    ok "large body: milter RSS growth ${growth} kB # SKIP asan-build: AddressSanitizer build"
else
    check "large body: milter RSS growth ${growth} kB < ${RSS_LIMIT_KB} kB" \
        test "$growth" -lt "$RSS_LIMIT_KB"
fi
size=$(q "SELECT size FROM messages WHERE message_id = '$(mid large)'")
min=$((LARGE_MB * 1024 * 1024))
check "large body: stored with size ${size:-none} >= $min bytes" \
    test "${size:-0}" -ge "$min" -a "${size:-0}" -lt $((min + 65536))
check_eq "large body: milter logged it as stored" stored \
    "$(log_outcome "QLARGE$RUN")"

# ---------------------------------------------------------------------------
check "milter still alive after the layer (pid $PID)" alive "$PID"
check_eq "no message of this run spooled or lost" 0 \
    "$(grep -a "capture queue_id=[A-Z0-9]*$RUN " "$MLOG" | grep -Ecv ' stored new=')"

# Least privilege: the milter stores through the role crmgate_milter
# (sql/0006_milter_grants.sql), which can call the capture functions and
# nothing else; what it may not do is asserted, SQLSTATE by SQLSTATE, in
# tests/unit/test_roles.c.
check "role: the milter is connected as crmgate_milter" test \
    "$(q "SELECT count(*) FROM pg_stat_activity WHERE usename = 'crmgate_milter'")" -ge 1

# SIGTERM stops the milter cleanly (sessions end, threads join, a last log
# line), within the 10 s the stack allows before SIGKILL.
kill -TERM "$PID"
for _ in $(seq 1 60); do alive "$PID" || break; sleep 0.2; done
check "SIGTERM: milter exited within 12 s" sh -c "! kill -0 $PID 2>/dev/null"
check "SIGTERM: milter logged a clean stop" \
    sh -c "tail -n +$((MLOG_START + 1)) '$MLOG' | grep -q 'milter: stopped'"
check "SIGTERM: the ingester stopped with it" \
    sh -c "tail -n +$((MLOG_START + 1)) '$MLOG' | grep -q 'ingester: stopped'"
"$REPO/scripts/stack" start milter >/dev/null 2>&1
check "milter restarted for the next layer" "$REPO/scripts/stack" status milter
exit 0
