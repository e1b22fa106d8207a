#!/usr/bin/env bash
# tests/fault/run.sh - bad days for the capture path, through the real
# Postfix and PostgreSQL of the test stack (tests/run-all.sh starts it).
#
#  A. PostgreSQL stopped; 200 messages in 10 SMTP sessions: all accepted,
#     none deferred, all delivered, all 200 in the journal, end of message
#     fast (the journal is the normal path). PostgreSQL back: the ingester
#     stores all 200 (one capture event each) and empties the journal.
#  F. PostgreSQL frozen (SIGSTOP on every process of the cluster, as a hung
#     or black-holed server looks); 200 messages in 4 sessions: all
#     accepted, per-message end of message far below the time budget, no
#     timeout per message; SIGCONT: all 200 captured.
#  B. Entries in the journal while the milter is down: `crmgate spool
#     replay` stores them. Mail flows while the milter is down.
#  C. PostgreSQL slower than the time budget (a lock held on messages):
#     mail is accepted at once; the capture is stored when the lock goes.
#  K. The ingester killed (SIGKILL) while mail flows: the milter goes on,
#     the supervisor starts a new ingester, every message is captured.
#  P. An entry blamed for ingester deaths (.inflight, .crashes) is set
#     aside in bad/ after milter.ingest_attempts, with the reason; an
#     unparseable entry too; `crmgate spool replay --bad` retries them.
#  M. Hostile structure: 8 messages in parallel (4 with 400,000 tiny
#     headers in one MIME part, 4 with 100,000 empty parts) plus 100 SMTP
#     sessions of normal mail: the milter and its ingester together grow by
#     at most 64 MB and fall back to within 16 MB of idle; all accepted,
#     all captured, the hostile ones with a warning saying what was cut.
#  S. SIGTERM while 6 SMTP sessions send: the milter stops listening but
#     serves the open sessions to their end (no broken milter session in
#     the Postfix log), then exits; restarted, every message it accepted is
#     captured.
#
# PostgreSQL and the milter are always left running (an EXIT trap starts
# them, and thaws a frozen cluster), since other layers may follow.
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
JOURNAL=$CRMGATE_SPOOL_DIR
N=200

pg_pids() {
    local data pm
    data=$(readlink -f "$CRMGATE_VAR/pg")
    pm=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || return 1
    echo "$pm"
    pgrep -P "$pm"
}
thaw() { pg_pids 2>/dev/null | xargs -r kill -CONT 2>/dev/null; }
restore() {
    thaw
    "$STACK" start postgres >/dev/null 2>&1
    "$STACK" start milter >/dev/null 2>&1
    rm -rf "$TMP"
}
trap restore EXIT

journal_files() {
    $CRMGATE --json spool status 2>/dev/null |
        $PY -c 'import json,sys; print(json.load(sys.stdin)["files"])' 2>/dev/null
}
bad_files() {
    $CRMGATE --json spool status 2>/dev/null |
        $PY -c 'import json,sys; print(json.load(sys.stdin)["bad"])' 2>/dev/null
}
stored() { sql "SELECT count(*) FROM messages WHERE message_id LIKE '$1'" 2>/dev/null; }
stored_re() { sql "SELECT count(*) FROM messages WHERE message_id ~ '$1'" 2>/dev/null; }
# sink_count PREFIX: distinct Message-IDs starting with PREFIX in the sink.
sink_count() {
    grep -hoiE "^Message-Id: *<$1[^>]*>" "$CRMGATE_SINK_DIR"/* 2>/dev/null |
        sed 's/^[^<]*//' | sort -u | wc -l
}
# send FROM TO MID SUBJECT: one message to the MX.
send() {
    swaks --silent 2 --server "127.0.0.1:$CRMGATE_SMTP_PORT" --from "$1" --to "$2" \
        --header "Message-Id: <$3>" --header "Subject: $4"
}
journal_is() { [ "$(journal_files)" = "$1" ]; }
stored_is() { [ "$(stored "$1")" = "$2" ]; }
stored_re_is() { [ "$(stored_re "$1")" = "$2" ]; }
has_row() { [ -n "$(sql "SELECT 1 FROM messages WHERE message_id = '$1'" 2>/dev/null)" ]; }
new_pflog() { tail -n +"$((PFLOG_START + 1))" "$PFLOG"; }
new_mlog() { tail -n +"$((MLOG_START + 1))" "$MLOG"; }
# Postfix's words for a milter conversation that broke.
broken_milter() { grep -ciE 'warning: milter .*(read|write|reset|EOF|timeout|unavailable|error)'; }
# p99 of the eom_ms of the journal lines in stdin.
eom_p99() {
    sed -n 's/.*journal .* eom_ms=\([0-9.]*\).*/\1/p' | $PY -c '
import sys
v = sorted(float(x) for x in sys.stdin if x.strip())
print("%.2f" % v[max(0, int(len(v) * 0.99) - 1)] if v else "none")'
}
milter_pid() { cat "$CRMGATE_VAR/run/milter.pid" 2>/dev/null; }
ingester_pid() { pgrep -P "$(milter_pid)" -f -- '--ingester' | head -n 1; }

# blast PREFIX COUNT SESSIONS [PAUSE]: sends COUNT messages over SESSIONS
# parallel SMTP sessions to the MX (PAUSE seconds between messages of a
# session); prints "sent failed seconds" last.
blast() {
    $PY - "$CRMGATE_SMTP_PORT" "$1" "$2" "$3" "${4:-0}" <<'EOF'
import smtplib, sys, threading, time
from email.message import EmailMessage
port, prefix, count, sessions = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pause = float(sys.argv[5])
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
        m.set_content("Message %d of the fault test.\n" % i)
        try:
            s.send_message(m)
            with lock:
                sent[0] += 1
        except Exception as e:
            with lock:
                failed[0] += 1
            print("# message %d failed: %s" % (i, e))
        if pause:
            time.sleep(pause)
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
wait_for 30 journal_is 0
check_eq "setup: journal empty before the test" 0 "$(journal_files)"

# --- A. 200 messages while PostgreSQL is down ------------------------------------
A=fa-$U
for i in 1 2 3 4; do
    send "warm-$A@fault-ext.test" "staff-$A@example.com" "$A-warm$i@fault.test" "warm $i" \
        >/dev/null 2>&1 &
done
wait
wait_for 20 stored_is "$A-warm_@fault.test" 4
check_eq "A: before the fault, captures reach the database" 4 "$(stored "$A-warm_@fault.test")"
"$STACK" stop postgres >/dev/null 2>&1
check "A: PostgreSQL stopped" bash -c "! '$STACK' status postgres"
LA=$(wc -l <"$MLOG")
read -r sent failed secs < <(blast "$A" "$N" 10 | tee "$TMP/blast.out" | tail -1)
grep '^#' "$TMP/blast.out"
check_eq "A: all $N messages accepted by Postfix (SMTP 250)" "$N" "${sent:-0}"
check_eq "A: no SMTP errors" 0 "${failed:-x}"
check "A: $N messages sent in under 30 s (${secs:-?} s)" $PY -c "import sys; sys.exit(0 if float('${secs:-999}') < 30 else 1)"
check "A: Postfix queue empties (wait-queue)" "$STACK" wait-queue 60
check_eq "A: all $N messages delivered to the sink" "$N" "$(sink_count "$A-[0-9]+@")"
# The "no ..." counts below are 0 on an empty or misplaced log too: first
# prove that the log holds these deliveries.
check "A: the Postfix log records the $N deliveries (status=sent)" \
    test "$(new_pflog | grep -c 'status=sent')" -ge "$N"
check_eq "A: no status=deferred in the Postfix log" 0 "$(new_pflog | grep -c 'status=deferred')"
check_eq "A: no milter-reject in the Postfix log" 0 "$(new_pflog | grep -c 'milter-reject')"
check_eq "A: no milter errors/timeouts in the Postfix log" 0 "$(new_pflog | broken_milter)"
check_eq "A: the journal holds $N captures" "$N" "$(journal_files)"
p99=$(tail -n +"$((LA + 1))" "$MLOG" | eom_p99)
echo "# A: end of message p99 ${p99} ms with PostgreSQL down"
check "A: end of message p99 ${p99} ms < 100 ms" $PY -c "import sys; sys.exit(0 if '$p99' != 'none' and float('$p99') < 100 else 1)"
check_eq "A: no capture LOST" 0 "$(new_mlog | grep -c 'capture LOST')"
check "A: the milter is still running" "$STACK" status milter
check "A: crmgate spool status shows the journal's age" sh -c \
    "$CRMGATE spool status | grep -q 'oldest [0-9]* s ago'"

t0=$SECONDS
"$STACK" start postgres >/dev/null 2>&1
check "A: PostgreSQL started again" "$STACK" status postgres
wait_for 60 stored_re_is "^$A-[0-9]+@fault.test$" "$N"
echo "# A: the backlog was stored in $((SECONDS - t0)) s"
check_eq "A: the ingester stored all $N (within 60 s)" "$N" "$(stored_re "^$A-[0-9]+@fault.test$")"
wait_for 20 journal_is 0
check_eq "A: the journal is empty after the backlog" 0 "$(journal_files)"
check_eq "A: nothing set aside as bad" 0 "$(bad_files)"
check_eq "A: every capture has exactly one event, source milter" "$N|$N" \
    "$(sql "SELECT count(*) || '|' || count(*) FILTER (WHERE e.source = 'milter')
              FROM capture_events e JOIN messages m ON m.id = e.message_id
             WHERE m.message_id ~ '^$A-[0-9]+@fault.test$'")"
check_eq "A: messages keep direction in and their envelope" "$N" \
    "$(sql "SELECT count(*) FROM messages m WHERE m.message_id ~ '^$A-[0-9]+@fault.test$' AND m.direction = 'in'
              AND EXISTS (SELECT 1 FROM message_participants p WHERE p.message_id = m.id
                           AND p.role = 'envelope_rcpt' AND p.address_norm = 'staff-$A@example.com')")"
check "A: the ingester logged that it stores again" sh -c \
    "tail -n +$((LA + 1)) '$MLOG' | grep -q 'ingester: storing again after'"

# --- F. PostgreSQL frozen (SIGSTOP) -------------------------------------------------
F=ff-$U
mapfile -t PGP < <(pg_pids)
check "F: found the cluster's processes (${#PGP[@]})" test "${#PGP[@]}" -ge 3
kill -STOP "${PGP[@]}"
LF=$(wc -l <"$MLOG")
read -r sent failed secs < <(blast "$F" "$N" 4 | tee "$TMP/blastf.out" | tail -1)
grep '^#' "$TMP/blastf.out"
check_eq "F: all $N messages accepted while PostgreSQL is frozen" "$N" "${sent:-0}"
check_eq "F: no SMTP errors" 0 "${failed:-x}"
echo "# F: $N messages in 4 sessions took ${secs:-?} s with PostgreSQL frozen"
check "F: no per-message timeout: $N messages in ${secs:-?} s (< 20 s)" \
    $PY -c "import sys; sys.exit(0 if float('${secs:-999}') < 20 else 1)"
p99=$(tail -n +"$((LF + 1))" "$MLOG" | eom_p99)
echo "# F: end of message p99 ${p99} ms with PostgreSQL frozen (budget 1000 ms)"
check "F: end of message p99 ${p99} ms < 100 ms (budget 1000 ms)" \
    $PY -c "import sys; sys.exit(0 if '$p99' != 'none' and float('$p99') < 100 else 1)"
check "F: Postfix queue empties while frozen" "$STACK" wait-queue 60
check_eq "F: all $N delivered to the sink" "$N" "$(sink_count "$F-[0-9]+@")"
check_eq "F: no broken milter conversation in the Postfix log" 0 "$(new_pflog | broken_milter)"
check_eq "F: the journal holds all $N while frozen" "$N" "$(journal_files)"
kill -CONT "${PGP[@]}"
t0=$SECONDS
wait_for 90 stored_re_is "^$F-[0-9]+@fault.test$" "$N"
echo "# F: stored $N after the thaw in $((SECONDS - t0)) s"
check_eq "F: all $N captured after the thaw" "$N" "$(stored_re "^$F-[0-9]+@fault.test$")"
wait_for 20 journal_is 0
check_eq "F: journal empty again" 0 "$(journal_files)"

# --- B. milter stopped, then crmgate spool replay -----------------------------------
B=fb-$U
"$STACK" stop postgres >/dev/null 2>&1
for i in 1 2 3 4 5; do
    send "sender-$B@fault-ext.test" "staff-$B@example.com" "$B-$i@fault.test" "spool replay $i" ||
        echo "# swaks failed for $B-$i"
done
"$STACK" wait-queue 30 >/dev/null 2>&1
wait_for 10 journal_is 5
check_eq "B: 5 captures journaled while PostgreSQL is down" 5 "$(journal_files)"
BIPID=$(ingester_pid)
"$STACK" stop milter >/dev/null 2>&1
check "B: milter stopped" bash -c "! '$STACK' status milter"
check "B: its ingester (pid ${BIPID:-none}) stopped with it" \
    wait_for 5 bash -c "[ -n '$BIPID' ] && ! kill -0 '$BIPID'"
"$STACK" start postgres >/dev/null 2>&1
check "B: PostgreSQL started" "$STACK" status postgres
sleep 3   # longer than replay_interval: nothing else may store them
check_eq "B: with the milter down the journal is left alone" 5 "$(journal_files)"
M=$B-nomilter@fault.test
send "sender-$B@fault-ext.test" "staff-$B@example.com" "$M" "milter down" >/dev/null 2>&1
check "B: mail still accepted with the milter down" test $? -eq 0
"$STACK" wait-queue 30 >/dev/null 2>&1
check_eq "B: ... and delivered to the sink" 1 "$(sink_count "$M")"
$CRMGATE --json spool replay >"$TMP/replay.json" 2>"$TMP/replay.err"
rc=$?
check_eq "B: crmgate spool replay exits 0" 0 "$rc"
sed 's/^/#   /' "$TMP/replay.err" | head -5
check "B: spool replay --json reports 5 replayed, 0 left, 0 bad" $PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if (j["replayed"], j["left"], j["bad"]) == (5, 0, 0) else 1)' "$TMP/replay.json"
check_eq "B: the 5 messages are in messages" 5 "$(stored "$B-_@fault.test")"
check_eq "B: one capture event each, source milter (the path that saw them)" 5 \
    "$(sql "SELECT count(*) FROM capture_events e JOIN messages m ON m.id = e.message_id
             WHERE m.message_id LIKE '$B-_@fault.test' AND e.source = 'milter'")"
check_eq "B: the journal is empty" 0 "$(journal_files)"
check_eq "B: the message sent while the milter was down was not captured" 0 "$(stored "$M")"
$CRMGATE --json spool replay >"$TMP/replay2.json" 2>/dev/null
check "B: a second replay finds nothing" $PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if j["replayed"] == 0 and j["left"] == 0 else 1)' "$TMP/replay2.json"

# --- C. PostgreSQL slower than the time budget --------------------------------------
"$STACK" start postgres milter >/dev/null 2>&1
C=c$(uniq_id)
warm=$C-warm@fault.test
send "sender-$C@fault-ext.test" "staff-$C@example.com" "$warm" "warm" >/dev/null 2>&1
wait_for 15 has_row "$warm"
# Holds the lock for 8 s; a message must not wait for it.
psql -X -q "$CRMGATE_DSN" -c "BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;
    SELECT pg_sleep(8); COMMIT;" >/dev/null 2>&1 &
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
check "C: the SMTP transaction did not wait for the database ($secs s < 1 s)" \
    $PY -c "import sys; sys.exit(0 if $t1 - $t0 < 1 else 1)"
check_eq "C: the capture waits in the journal while the lock is held" 1 "$(journal_files)"
wait "$locker"
check "C: stored once the lock is gone" wait_for 30 has_row "$M"
wait_for 10 journal_is 0
check_eq "C: journal empty again" 0 "$(journal_files)"

# --- K. the ingester killed while mail flows ------------------------------------------
K=fk-$U
MPID=$(milter_pid)
IPID=$(ingester_pid)
check "K: the ingester runs as a child of the milter (pid ${IPID:-none})" test -n "$IPID"
LK=$(wc -l <"$MLOG")
blast "$K" 100 4 0.01 >"$TMP/blastk.out" &
bp=$!
sleep 0.5
kill -KILL "$IPID" 2>/dev/null
sleep 0.5
wait "$bp"
read -r sent failed secs < <(tail -1 "$TMP/blastk.out")
check_eq "K: all 100 messages accepted while the ingester died" 100 "${sent:-0}"
check_eq "K: the milter kept running (same pid)" "$MPID" "$(milter_pid)"
wait_for 20 stored_re_is "^$K-[0-9]+@fault.test$" 100
check_eq "K: every message captured after the restart" 100 "$(stored_re "^$K-[0-9]+@fault.test$")"
check "K: the supervisor logged the death and the restart" sh -c \
    "tail -n +$((LK + 1)) '$MLOG' | grep -q 'ingester: died signal=9'"
new_ingester() { local p; p=$(ingester_pid); [ -n "$p" ] && [ "$p" != "$IPID" ]; }
wait_for 10 new_ingester
NIPID=$(ingester_pid)
check "K: a new ingester runs (pid ${NIPID:-none} != $IPID)" test -n "$NIPID" -a "$NIPID" != "$IPID"
check_eq "K: no broken milter conversation in the Postfix log" 0 "$(new_pflog | broken_milter)"

# --- P. poison entries ------------------------------------------------------------------
P=fp-$U
"$STACK" stop milter >/dev/null 2>&1
# A good message the previous ingesters "died on" twice, now named in
# .inflight: the third death sets it aside.
NAME="0000000000000002-1-$RANDOM.msg"
printf '{"v":2,"queue_id":"QPOISON","envelope_rcpts":["staff-%s@example.com"]}\nFrom: <x-%s@fault-ext.test>\r\nTo: <staff-%s@example.com>\r\nMessage-ID: <%s-poison@fault.test>\r\nSubject: poison\r\n\r\nbody\r\n' \
    "$P" "$P" "$P" "$P" >"$JOURNAL/$NAME"
printf '2 %s\n' "$NAME" >"$JOURNAL/.crashes"
printf '%s' "$NAME" >"$JOURNAL/.inflight"
# An entry that can never be parsed.
BADNAME="0000000000000003-1-$RANDOM.msg"
printf 'not json at all\n' >"$JOURNAL/$BADNAME"
LP=$(wc -l <"$MLOG")
"$STACK" start milter >/dev/null 2>&1
wait_for 10 test -e "$JOURNAL/bad/$NAME"
check "P: the entry blamed for 3 deaths is in bad/" test -e "$JOURNAL/bad/$NAME"
check "P: the log says why" sh -c \
    "tail -n +$((LP + 1)) '$MLOG' | grep -q 'set aside file=$NAME reason=\"the ingester died 3 times'"
wait_for 10 test -e "$JOURNAL/bad/$BADNAME"
check "P: the unparseable entry is in bad/" test -e "$JOURNAL/bad/$BADNAME"
check_eq "P: spool status counts 2 set aside" 2 "$(bad_files)"
$CRMGATE --json spool replay --bad >"$TMP/replaybad.json" 2>/dev/null
check "P: spool replay --bad stores the good one and sets the bad one aside again" $PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if (j["unbad"], j["replayed"], j["bad"]) == (2, 1, 1) else 1)' "$TMP/replaybad.json"
check "P: the blamed message is stored after replay --bad" has_row "$P-poison@fault.test"
rm -f "$JOURNAL/bad/$BADNAME"

# --- M. hostile structure and memory ---------------------------------------------------
X=fm-$U
# rss_kb: resident memory of the milter and its ingester together.
rss_kb() {
    local p t=0 v
    for p in $(milter_pid) $(ingester_pid); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
# Settle first: nothing in flight.
wait_for 20 journal_is 0
sleep 1
IDLE=$(rss_kb)
(
    peak=0
    while [ ! -e "$TMP/m.done" ]; do
        v=$(rss_kb)
        [ "$v" -gt "$peak" ] && peak=$v
        sleep 0.1
    done
    echo "$peak" >"$TMP/m.peak"
) &
sampler=$!
$PY - "$CRMGATE_SMTP_PORT" "$X" >"$TMP/m.out" 2>&1 <<'EOF'
import smtplib, sys, threading
port, prefix = int(sys.argv[1]), sys.argv[2]
res, lock = {"ok": 0, "fail": 0}, threading.Lock()
def send(mid, body_builder):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=120)
        s.sendmail("ext-%s@hostile.test" % prefix, ["staff-%s@example.com" % prefix], body_builder(mid))
        s.quit()
        with lock: res["ok"] += 1
    except Exception as e:
        with lock: res["fail"] += 1
        print("# %s failed: %s" % (mid, e))
def head(mid, ctype):
    return ("From: <ext-%s@hostile.test>\r\nTo: <staff-%s@example.com>\r\nSubject: hostile %s\r\n"
            "Message-ID: <%s>\r\nMIME-Version: 1.0\r\nContent-Type: %s\r\n\r\n" % (prefix, prefix, mid, mid, ctype))
def many_headers(mid):
    part = "".join("X-H%d: v\r\n" % (i % 10) for i in range(400000))
    return (head(mid, 'multipart/mixed; boundary="b"') + "--b\r\nContent-Type: text/plain\r\n" + part +
            "\r\nthe text of the part\r\n--b--\r\n")
def many_parts(mid):
    return (head(mid, 'multipart/mixed; boundary="b"') + "--b\r\nContent-Type: text/plain\r\n\r\nfirst part text\r\n" +
            "--b\r\n\r\n" * 100000 + "--b--\r\n")
def normal(mid):
    return head(mid, "text/plain") + "An ordinary message.\r\n" * 50
ts = [threading.Thread(target=send, args=("%s-h%d@fault.test" % (prefix, i), many_headers)) for i in range(4)]
ts += [threading.Thread(target=send, args=("%s-p%d@fault.test" % (prefix, i), many_parts)) for i in range(4)]
for t in ts: t.start()
for k in range(0, 100, 10):
    batch = [threading.Thread(target=send, args=("%s-n%d@fault.test" % (prefix, i), normal)) for i in range(k, k + 10)]
    for t in batch: t.start()
    for t in batch: t.join()
for t in ts: t.join()
print(res["ok"], res["fail"])
EOF
read -r mok mfail < <(tail -1 "$TMP/m.out")
grep '^#' "$TMP/m.out" | head -5
check_eq "M: all 108 messages accepted" 108 "${mok:-0}"
wait_for 120 stored_re_is "^$X-[hpn][0-9]+@fault.test$" 108
touch "$TMP/m.done"
wait "$sampler"
PEAK=$(cat "$TMP/m.peak")
check_eq "M: all 108 captured" 108 "$(stored_re "^$X-[hpn][0-9]+@fault.test$")"
check_eq "M: each hostile message says what was cut" 8 \
    "$(sql "SELECT count(*) FROM messages WHERE message_id ~ '^$X-[hp][0-9]+@fault.test$' AND warnings::text ~ 'not captured'")"
check_eq "M: the text of the first part is kept" 8 \
    "$(sql "SELECT count(*) FROM messages WHERE message_id ~ '^$X-[hp][0-9]+@fault.test$'
             AND (text_body LIKE '%the text of the part%' OR text_body LIKE '%first part text%')")"
sleep 3
AFTER=$(rss_kb)
echo "# M: milter+ingester RSS idle ${IDLE} kB, peak ${PEAK} kB, after ${AFTER} kB"
if grep -q libasan "/proc/$(milter_pid)/maps" 2>/dev/null ||
    nm -D "/proc/$(milter_pid)/exe" 2>/dev/null | grep -q __asan_init; then
    # AddressSanitizer's allocator keeps freed memory in quarantine.
    skip "M: RSS grew by at most 64 MB" asan-build "AddressSanitizer build ($(((PEAK - IDLE) / 1024)) MB)"
    skip "M: RSS fell back to within 16 MB of idle" asan-build "AddressSanitizer build"
else
    check "M: RSS grew by at most 64 MB ($(((PEAK - IDLE) / 1024)) MB)" test $((PEAK - IDLE)) -le $((64 * 1024))
    check "M: RSS fell back to within 16 MB of idle ($(((AFTER - IDLE) / 1024)) MB above)" \
        test $((AFTER - IDLE)) -le $((16 * 1024))
fi

# --- S. SIGTERM while SMTP sessions are open ------------------------------------------
S=fs-$U
MPID=$(milter_pid)
LS=$(wc -l <"$MLOG")
PS=$(wc -l <"$PFLOG")
# 6 sessions of 30 messages each, 50 ms apart: about 1.5 s per session.
blast "$S" 180 6 0.05 >"$TMP/blasts.out" &
bp=$!
sleep 0.7
kill -TERM "$MPID"
wait "$bp"
read -r sent failed secs < <(tail -1 "$TMP/blasts.out")
grep '^#' "$TMP/blasts.out"
check_eq "S: all 180 messages accepted across the SIGTERM" 180 "${sent:-0}"
wait_for 35 bash -c "! kill -0 $MPID"
check "S: the milter exited once its sessions ended" bash -c "! kill -0 $MPID 2>/dev/null"
check "S: it served the open sessions to their end" sh -c \
    "tail -n +$((LS + 1)) '$MLOG' | grep -q 'milter: all sessions ended'"
check "S: no drain timeout" sh -c "! tail -n +$((LS + 1)) '$MLOG' | grep -q 'drain timeout'"
"$STACK" wait-queue 60 >/dev/null 2>&1
check_eq "S: no broken milter session in the Postfix log" 0 \
    "$(tail -n +"$((PS + 1))" "$PFLOG" | broken_milter)"
"$STACK" start milter >/dev/null 2>&1
wait_for 30 stored_re_is "^$S-[0-9]+@fault.test$" 180
check_eq "S: after the restart every message of the open sessions is captured" 180 \
    "$(stored_re "^$S-[0-9]+@fault.test$")"

# --- leave the stack as we found it ------------------------------------------------
"$STACK" start postgres milter >/dev/null 2>&1
check "end: PostgreSQL running" "$STACK" status postgres
check "end: milter running" "$STACK" status milter
exit 0
