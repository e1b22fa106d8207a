#!/usr/bin/env bash
# tests/fault/run.sh - PostgreSQL down while mail flows through the test
# stack (tests/run-all.sh starts it).
#
#  A. PostgreSQL stopped; 200 messages through Postfix (10 parallel SMTP
#     sessions): all accepted, none deferred, all delivered to the sink, all
#     200 captures in the milter's spool. PostgreSQL started again: the
#     milter's replay thread (every milter.replay_interval = 2 s) stores all
#     200 and empties the spool.
#  B. PostgreSQL stopped, a few messages spooled, the milter stopped,
#     PostgreSQL started: `crmgate spool replay` stores them and empties the
#     spool. Mail still flows while the milter is down.
#  C. PostgreSQL slower than the budget (a lock held on messages): the milter
#     cancels after database.time_budget_ms, spools, the mail goes through;
#     the replay stores it when the lock is released.
#
# PostgreSQL and the milter are always left running (an EXIT trap starts
# them), since other layers may follow.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

STACK=$REPO/scripts/stack
U=$(uniq_id)
TMP=$(mktemp -d)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
PFLOG=$CRMGATE_VAR/log/postfix.log
MLOG=$CRMGATE_LOG_DIR/milter.log
PFLOG_START=$(wc -l <"$PFLOG" 2>/dev/null || echo 0)
MLOG_START=$(wc -l <"$MLOG" 2>/dev/null || echo 0)
N=200

restore() {
    "$STACK" start postgres >/dev/null 2>&1
    "$STACK" start milter >/dev/null 2>&1
    rm -rf "$TMP"
}
trap restore EXIT

spool_files() {
    $CRMGATE --json spool status 2>/dev/null |
        $PY -c 'import json,sys; print(json.load(sys.stdin)["files"])' 2>/dev/null
}
stored() { sql "SELECT count(*) FROM messages WHERE message_id LIKE '$1'" 2>/dev/null; }
# sink_count PREFIX: distinct Message-IDs starting with PREFIX in the sink.
sink_count() {
    grep -hoiE "^Message-Id: *<$1[^>]*>" "$CRMGATE_SINK_DIR"/* 2>/dev/null |
        sed 's/^[^<]*//' | sort -u | wc -l
}
# send FROM TO MID SUBJECT: one message to the MX. (swaks' own header is
# "Message-Id"; naming ours the same way replaces it, where lib.sh's smtp()
# "Message-ID" adds a second one.)
send() {
    swaks --silent 2 --server "127.0.0.1:$CRMGATE_SMTP_PORT" --from "$1" --to "$2" \
        --header "Message-Id: <$3>" --header "Subject: $4"
}
spool_is() { [ "$(spool_files)" = "$1" ]; }
stored_is() { [ "$(stored "$1")" = "$2" ]; }
has_row() { [ -n "$(sql "SELECT 1 FROM messages WHERE message_id = '$1'" 2>/dev/null)" ]; }
new_pflog() { tail -n +"$((PFLOG_START + 1))" "$PFLOG"; }
new_mlog() { tail -n +"$((MLOG_START + 1))" "$MLOG"; }

# blast PREFIX COUNT SESSIONS: sends COUNT messages over SESSIONS parallel
# SMTP sessions to the MX; prints "sent failed seconds".
blast() {
    $PY - "$CRMGATE_SMTP_PORT" "$1" "$2" "$3" <<'EOF'
import smtplib, sys, threading, time
from email.message import EmailMessage
port, prefix, count, sessions = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sent, failed, lock = [0], [0], threading.Lock()
def worker(k):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    except Exception as e:
        with lock:
            failed[0] += len(range(k, count, sessions))
        print("# connect failed: %s" % e)
        return
    for i in range(k, count, sessions):
        m = EmailMessage()
        m["From"] = "Fault Sender <sender-%s@fault-ext.test>" % prefix
        m["To"] = "staff-%s@example.com" % prefix
        m["Subject"] = "fault test %d" % i
        m["Message-ID"] = "<%s-%d@fault.test>" % (prefix, i)
        m.set_content("Message %d of the PostgreSQL-down test.\n" % i)
        try:
            s.send_message(m)
            with lock:
                sent[0] += 1
        except Exception as e:
            with lock:
                failed[0] += 1
            print("# message %d failed: %s" % (i, e))
    try:
        s.quit()
    except Exception:
        pass
t0 = time.time()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(sessions)]
for t in ts: t.start()
for t in ts: t.join()
print(sent[0], failed[0], "%.1f" % (time.time() - t0))
EOF
}

# --- preconditions ---------------------------------------------------------------
"$STACK" start postgres milter >/dev/null 2>&1
wait_for 30 spool_is 0
check_eq "setup: spool empty before the test" 0 "$(spool_files)"

# --- A. 200 messages while PostgreSQL is down ------------------------------------
A=fa-$U
# Warm the milter's connection pool: a few captures stored directly.
for i in 1 2 3 4 5 6 7 8; do   # in parallel: several pool connections
    send "warm-$A@fault-ext.test" "staff-$A@example.com" "$A-warm$i@fault.test" "warm $i" \
        >/dev/null 2>&1 &
done
wait
check_eq "A: before the fault, captures are stored directly" 8 "$(stored "$A-warm_@fault.test")"
"$STACK" stop postgres >/dev/null 2>&1
check "A: PostgreSQL stopped" bash -c "! '$STACK' status postgres"
read -r sent failed secs < <(blast "$A" "$N" 10 | tee "$TMP/blast.out" | tail -1)
grep '^#' "$TMP/blast.out"
check_eq "A: all $N messages accepted by Postfix (SMTP 250)" "$N" "${sent:-0}"
check_eq "A: no SMTP errors" 0 "${failed:-x}"
check "A: $N messages sent in under 60 s (${secs:-?} s)" $PY -c "import sys; sys.exit(0 if float('${secs:-999}') < 60 else 1)"
check "A: Postfix queue empties (wait-queue)" "$STACK" wait-queue 60
check_eq "A: postqueue -p reports an empty queue" "Mail queue is empty" \
    "$(postqueue -c "$CRMGATE_POSTFIX_CONFIG" -p 2>&1 | tail -1)"
check_eq "A: all $N messages delivered to the sink" "$N" "$(sink_count "$A-[0-9]+@")"
# The "no ..." counts below are 0 on an empty or misplaced log too: first
# prove that the log holds these deliveries.
check "A: the Postfix log records the $N deliveries (status=sent)" \
    test "$(new_pflog | grep -c 'status=sent')" -ge "$N"
check_eq "A: no status=deferred in the Postfix log" 0 "$(new_pflog | grep -c 'status=deferred')"
check_eq "A: no milter-reject in the Postfix log" 0 "$(new_pflog | grep -c 'milter-reject')"
check_eq "A: no milter errors/timeouts in the Postfix log" 0 \
    "$(new_pflog | grep -ciE 'milter.*(timeout|error|unavailable)')"
check_eq "A: the spool holds $N captures" "$N" "$(spool_files)"
check_eq "A: the milter logged $N captures as spooled" "$N" \
    "$(new_mlog | grep -E "message_id=<$A-[0-9]+@" | grep -c ' spooled file=')"
check_eq "A: no capture LOST" 0 "$(new_mlog | grep -c 'capture LOST')"
check "A: the milter is still running" "$STACK" status milter

t0=$SECONDS
"$STACK" start postgres >/dev/null 2>&1
check "A: PostgreSQL started again" "$STACK" status postgres
wait_for 60 stored_is "$A-%" "$((N + 8))"
check_eq "A: the milter replayed all $N into messages (within 60 s)" "$N" \
    "$(sql "SELECT count(*) FROM messages WHERE message_id ~ '^$A-[0-9]+@fault.test$'")"
wait_for 20 spool_is 0
echo "# replay took $((SECONDS - t0)) s"
check_eq "A: the spool is empty after the replay" 0 "$(spool_files)"
check_eq "A: nothing set aside as bad" 0 \
    "$($CRMGATE --json spool status | $PY -c 'import json,sys; print(json.load(sys.stdin)["bad"])')"
check_eq "A: every replayed capture has one event, source replay" "$N|$N" \
    "$(sql "SELECT count(*) || '|' || count(*) FILTER (WHERE e.source = 'replay')
              FROM capture_events e JOIN messages m ON m.id = e.message_id
             WHERE m.message_id ~ '^$A-[0-9]+@fault.test$'")"
check_eq "A: replayed messages keep direction in and their envelope" "$N" \
    "$(sql "SELECT count(*) FROM messages m WHERE m.message_id ~ '^$A-[0-9]+@fault.test$' AND m.direction = 'in'
              AND EXISTS (SELECT 1 FROM message_participants p WHERE p.message_id = m.id
                           AND p.role = 'envelope_rcpt' AND p.address_norm = 'staff-$A@example.com')")"
# Mail captured normally again once the database is back (the pool was
# warmed before PostgreSQL stopped: its connections were cut by the restart).
sleep 1
for i in 1 2 3 4 5 6 7 8; do   # as many as database.pool_size
    send "late-$A@fault-ext.test" "staff-$A@example.com" "$A-after$i@fault.test" \
        "after recovery $i" >/dev/null 2>&1
done
for i in 1 2 3 4 5 6 7 8; do wait_for 20 has_row "$A-after$i@fault.test"; done
check_eq "A: after recovery new messages reach the database (directly or by replay)" 8 \
    "$(stored "$A-after_@fault.test")"
check_eq "A: after recovery new messages are stored at once, not spooled" 8 \
    "$(new_mlog | grep -E "message_id=<$A-after[0-9]@fault.test> .* stored row=" | grep -c .)"
new_mlog | grep -E "message_id=<$A-after[0-9]@fault.test> .* spooled" | cut -c1-300 | sed 's/^/#   /'

# --- B. milter stopped, then crmgate spool replay -----------------------------------
B=fb-$U
"$STACK" stop postgres >/dev/null 2>&1
for i in 1 2 3 4 5; do
    send "sender-$B@fault-ext.test" "staff-$B@example.com" "$B-$i@fault.test" "spool replay $i" ||
        echo "# swaks failed for $B-$i"
done
"$STACK" wait-queue 30 >/dev/null 2>&1
wait_for 10 spool_is 5
check_eq "B: 5 captures spooled while PostgreSQL is down" 5 "$(spool_files)"
"$STACK" stop milter >/dev/null 2>&1
check "B: milter stopped" bash -c "! '$STACK' status milter"
"$STACK" start postgres >/dev/null 2>&1
check "B: PostgreSQL started" "$STACK" status postgres
sleep 3   # longer than replay_interval: nothing else may replay them
check_eq "B: with the milter down the spool is left alone" 5 "$(spool_files)"
M=$B-nomilter@fault.test
send "sender-$B@fault-ext.test" "staff-$B@example.com" "$M" "milter down" >/dev/null 2>&1
check "B: mail still accepted with the milter down" test $? -eq 0
"$STACK" wait-queue 30 >/dev/null 2>&1
check_eq "B: ... and delivered to the sink" 1 "$(sink_count "$M")"
$CRMGATE --json spool replay >"$TMP/replay.json" 2>"$TMP/replay.err"
rc=$?
check_eq "B: crmgate spool replay exits 0" 0 "$rc"
sed 's/^/#   /' "$TMP/replay.err"
check "B: spool replay --json reports 5 replayed, 0 left, 0 bad" $PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if (j["replayed"], j["left"], j["bad"]) == (5, 0, 0) else 1)' "$TMP/replay.json"
check_eq "B: the 5 messages are in messages" 5 "$(stored "$B-_@fault.test")"
check_eq "B: their capture events come from replay" 5 \
    "$(sql "SELECT count(*) FROM capture_events e JOIN messages m ON m.id = e.message_id
             WHERE m.message_id LIKE '$B-_@fault.test' AND e.source = 'replay'")"
check_eq "B: the spool is empty" 0 "$(spool_files)"
check_eq "B: the message sent while the milter was down was not captured" 0 "$(stored "$M")"
$CRMGATE --json spool replay >"$TMP/replay2.json" 2>/dev/null
check "B: a second replay finds nothing" $PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if j["replayed"] == 0 and j["left"] == 0 else 1)' "$TMP/replay2.json"

# --- C. PostgreSQL slower than the time budget --------------------------------------
# A transaction holds an exclusive lock on messages, so every capture blocks.
# The milter must give up after database.time_budget_ms (1000 ms in the test
# config), cancel, spool, and let the mail through at once; once the lock is
# gone the replay stores the message.
"$STACK" start postgres milter >/dev/null 2>&1
C=c$(uniq_id)
warm=$C-warm@fault.test
send "sender-$C@fault-ext.test" "staff-$C@example.com" "$warm" "warm" >/dev/null 2>&1
wait_for 15 has_row "$warm"
# Holds the lock for 12 s; a capture must not wait for it.
psql -X -q "$CRMGATE_DSN" -c "BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;
    SELECT pg_sleep(12); COMMIT;" >/dev/null 2>&1 &
locker=$!
sleep 1
M=$C-slow@fault.test
t0=$(date +%s.%N)
send "sender-$C@fault-ext.test" "staff-$C@example.com" "$M" "slow database" >/dev/null 2>&1
rc=$?
t1=$(date +%s.%N)
check "C: mail accepted while the database hangs" test $rc -eq 0
secs=$($PY -c "print(round($t1 - $t0, 2))")
echo "# C: SMTP transaction took $secs s with the database locked"
check "C: the milter waited at most about the budget (took $secs s < 4 s)" \
    $PY -c "import sys; sys.exit(0 if $t1 - $t0 < 4 else 1)"
check "C: the capture was spooled (database too slow)" \
    sh -c "grep -a 'message_id=<$M>' '$MLOG' | grep -q 'spooled'"
wait "$locker"
check "C: stored by the replay once the lock is gone" wait_for 30 has_row "$M"
check_eq "C: spool empty again" 0 "$(spool_files)"

# --- leave the stack as we found it ------------------------------------------------
"$STACK" start postgres milter >/dev/null 2>&1
check "end: PostgreSQL running" "$STACK" status postgres
check "end: milter running" "$STACK" status milter
exit 0
