#!/usr/bin/env bash
# tests/campaign/t30_pgbouncer.sh - two workers and two milters through
# pgbouncer (Debian's, transaction pooling, loopback port 16443 +
# CRMGATE_TEST_PORT_OFFSET) against one database: no duplicate send, no
# duplicate capture.
#
# Workers: the stack's worker is stopped; two crmgate-worker processes run
# with CRMGATE_WORKER_DSN through pgbouncer (LISTEN direct: it needs a
# session). There is one driver job per campaign (unique key campaign:ID),
# so two campaigns run at once: W1 (threads = 1, batch = 1) drives A, W2
# (threads = 2) drives B; then W1 gets SIGTERM mid-campaign, releases A and
# W2's idle thread takes it over. Both send straight into a private
# smtp-sink (-D: one dump file); every recipient of A and B is in the dump
# exactly once and the ledger is all 'sent'.
#
# Milters: scripts/stack sets CRMGATE_MILTER_DSN itself (stack.d/lib.sh),
# so its milter cannot be pointed at pgbouncer from here: it is stopped and
# two crmgate-milter processes of this script take its place, both with
# CRMGATE_MILTER_DSN through pgbouncer, each with its own socket and spool
# dir under $CRMGATE_VAR; the private Postfix chains both (smtpd_milters and
# non_smtpd_milters). Every message then passes both: crm_capture
# (sql/0003_capture.sql) stores a message once per (Message-ID, digest) and
# adds one capture_events row per capture, so each message is one row with
# two 'milter' events, one ingester logging new=yes and the other new=no.
# Everything (Postfix milters, the stack's milter and worker) is restored in
# the EXIT trap. Limits: assumes nothing else drives campaigns meanwhile.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

C=${CRMGATE_BUILD:-$REPO/build}/bin/crmgate
W=${CRMGATE_BUILD:-$REPO/build}/bin/crmgate-worker
M=${CRMGATE_BUILD:-$REPO/build}/bin/crmgate-milter
U=$(uniq_id)
N=${CRMGATE_PGB_RECIPIENTS:-3000} # per campaign
NM=${CRMGATE_PGB_MESSAGES:-200}   # captured messages
# campaign A is paced (per minute) to last about 6 s, so that W1 is surely
# stopped mid-way; B goes as fast as it can
RATE_A=$((N * 10))
o=${CRMGATE_TEST_PORT_OFFSET:-0}
PGB_PORT=$((16443 + o))
SINK_PORT=$((CRMGATE_SINK_PORT + 62))
MA_PORT=$((8892 + o + 50))
MB_PORT=$((8892 + o + 51))
PGB_DSN="host=127.0.0.1 port=$PGB_PORT dbname=crmgate"
TMP=$(mktemp -d /tmp/crmgate-t30.XXXXXX)
chmod 0755 "$TMP"
SINKPID='' PGBPID='' W1='' W2='' MA='' MB=''
PF_SMTPD='' PF_NONSMTPD='' STACK_MILTER_STOPPED=''

stop_pid() { # PID: SIGTERM, then SIGKILL after 40 s
    local p=$1 i
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
}
cleanup() {
    stop_pid "$W1"
    stop_pid "$W2"
    if [ -n "$PF_SMTPD" ]; then
        postconf -c "$CRMGATE_POSTFIX_CONFIG" -e "smtpd_milters=$PF_SMTPD" \
            "non_smtpd_milters=$PF_NONSMTPD"
        postfix -c "$CRMGATE_POSTFIX_CONFIG" reload >/dev/null 2>&1
    fi
    [ -n "$STACK_MILTER_STOPPED" ] && scripts/stack start milter >/dev/null 2>&1
    stop_pid "$MA"
    stop_pid "$MB"
    rm -rf "$CRMGATE_VAR/spool-t30a-$U" "$CRMGATE_VAR/spool-t30b-$U"
    scripts/stack start worker >/dev/null 2>&1
    stop_pid "$SINKPID"
    stop_pid "$PGBPID"
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
cd "$REPO" || exit 1

status_field() { "$C" --json campaign status "$1" | jq -r ".$2"; }
field_ge() { [ "$(status_field "$1" "$2")" -ge "$3" ]; }
state_is() { [ "$(status_field "$1" state)" = "$2" ]; }
pgb_sql() { psql -X -At -v ON_ERROR_STOP=1 "$PGB_DSN user=$1" -c "$2"; }
# pgb_admin COMMAND: pgbouncer's admin console (SHOW ...)
pgb_admin() { psql -X -At "host=127.0.0.1 port=$PGB_PORT dbname=pgbouncer user=crmgate" -c "$1"; }
# problems LOG: the warn and error lines of a crmgate log (empty when none)
problems() { grep -E '\]: (warn|error|critical): |SQLSTATE|prepared statement' "$1"; }
# show_problems LOG: prints them as TAP comments
show_problems() { problems "$1" | head -5 | sed 's/^/#   /'; }

# --- pgbouncer --------------------------------------------------------------
PGB=$(command -v pgbouncer || true)
if [ -z "$PGB" ]; then
    not_ok "pgbouncer is installed (scripts/deps.sh installs it)"
    exit 0
fi
mkdir -p "$TMP/pgb"
printf '"crmgate" ""\n"crmgate_worker" ""\n"crmgate_milter" ""\n' >"$TMP/pgb/users.txt"
cat >"$TMP/pgb/pgbouncer.ini" <<EOF
[databases]
crmgate = host=127.0.0.1 port=$CRMGATE_PG_PORT dbname=crmgate
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $TMP/pgb/users.txt
admin_users = crmgate
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
server_reset_query =
logfile = $TMP/pgb/pgbouncer.log
pidfile = $TMP/pgb/pgbouncer.pid
EOF
if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$TMP/pgb"
    setpriv --reuid=postgres --regid=postgres --init-groups "$PGB" "$TMP/pgb/pgbouncer.ini" >>"$TMP/pgb/out" 2>&1 &
else
    "$PGB" "$TMP/pgb/pgbouncer.ini" >>"$TMP/pgb/out" 2>&1 &
fi
wait_for 10 pgb_sql crmgate_worker 'SELECT 1'
PGBPID=$(cat "$TMP/pgb/pgbouncer.pid" 2>/dev/null)
check "pgbouncer answers on 127.0.0.1:$PGB_PORT for crmgate_worker and crmgate_milter" \
    sh -c "[ \"\$(psql -X -At '$PGB_DSN user=crmgate_worker' -c 'SELECT current_user')\" = crmgate_worker ] &&
           [ \"\$(psql -X -At '$PGB_DSN user=crmgate_milter' -c 'SELECT current_user')\" = crmgate_milter ]"
check_eq "it pools by transaction" transaction \
    "$(pgb_admin 'SHOW CONFIG' 2>/dev/null |
        awk -F'|' '$1 == "pool_mode" {print $2}')"

# --- two workers, two campaigns -------------------------------------------
mkdir -p "$TMP/sink"
SINK_USER=()
if [ "$(id -u)" = 0 ]; then
    chmod 0777 "$TMP/sink"
    SINK_USER=(-u nobody)
fi
smtp-sink "${SINK_USER[@]}" -D "$TMP/sink/dump" 127.0.0.1:"$SINK_PORT" 256 >"$TMP/sink.log" 2>&1 &
SINKPID=$!
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SINK_PORT"
check "a private smtp-sink listens on $SINK_PORT" kill -0 "$SINKPID"

for x in a b; do
    {
        echo "email,first_name"
        for i in $(seq 1 "$N"); do echo "$x$i@$x-$U.test,${x^^}$i"; done
    } >"$TMP/$x.csv"
done
printf 'Hello {{first_name|there}}\n{{unsubscribe_url}}\n' >"$TMP/t.txt"
ACC=$("$C" --json account add "pgb-$U@example.com" --relay "smtp://127.0.0.1:$SINK_PORT" | jq -r .id)
CA=$("$C" --json campaign create "PgbA $U" --account "$ACC" --subject "Hi {{first_name}}" --rate "$RATE_A" \
    --text "$TMP/t.txt" --segment "csv:$TMP/a.csv" | jq -r .id)
CB=$("$C" --json campaign create "PgbB $U" --account "$ACC" --subject "Hi {{first_name}}" \
    --text "$TMP/t.txt" --segment "csv:$TMP/b.csv" | jq -r .id)
check_eq "two campaigns of $N recipients each" "$N $N" \
    "$(status_field "$CA" recipients) $(status_field "$CB" recipients)"

# wconf THREADS: a worker config (the stack's, paths made absolute)
wconf() {
    sed -e "s|\"\\.\\./|\"$REPO/|g" \
        -e "s/^worker {/worker {\n    threads = $1\n    batch = 1\n    poll_interval_ms = 200/" \
        "$CRMGATE_CONFIG" >"$TMP/w$1.conf"
    echo "$TMP/w$1.conf"
}
start_worker() { # CONF LOG: sets WPID
    local direct=$CRMGATE_WORKER_DSN
    CRMGATE_WORKER_DSN="$PGB_DSN user=crmgate_worker" \
        CRMGATE_WORKER_LISTEN_DSN=$direct \
        "$W" -c "$1" >>"$2" 2>&1 &
    WPID=$!
    wait_for 10 grep -q "started owner=" "$2"
}
scripts/stack stop worker >/dev/null 2>&1
check "the stack's worker is stopped for the test" sh -c "! scripts/stack status worker"

start_worker "$(wconf 1)" "$TMP/w1.log"
W1=$WPID
"$C" campaign start "$CA" >/dev/null
wait_for 20 grep -q "campaign=$CA job=" "$TMP/w1.log"
check "W1 (threads 1) drives campaign A" grep -q "campaign=$CA job=.* sending" "$TMP/w1.log"
start_worker "$(wconf 2)" "$TMP/w2.log"
W2=$WPID
"$C" campaign start "$CB" >/dev/null
wait_for 20 grep -q "campaign=$CB job=" "$TMP/w2.log"
check "W2 drives campaign B at the same time" grep -q "campaign=$CB job=.* sending" "$TMP/w2.log"
check "W1 never took campaign B (its one thread is busy with A)" \
    sh -c "! grep -q 'campaign=$CB job=' '$TMP/w1.log'"
check "both workers' job connections go through pgbouncer" \
    test "$(pgb_admin 'SHOW CLIENTS' 2>/dev/null | awk -F'|' '$2 == "crmgate_worker"' | wc -l)" -ge 2

# hand-over: W1 drains on SIGTERM mid-campaign, W2 takes A over
wait_for 60 field_ge "$CA" sent $((N / 4))
kill -TERM "$W1"
wait "$W1"
rc=$?
W1PID=$W1
W1=''
check_eq "W1 drains and exits 0 on SIGTERM" 0 "$rc"
sent_by_w1=$(sql "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $CA AND state = 'sent'")
echo "# campaign A: $sent_by_w1 sent when W1 had stopped (W2 may have added a few)"
check "W1 stopped mid-campaign (0 < $sent_by_w1 < $N sent)" \
    test "$sent_by_w1" -gt 0 -a "$sent_by_w1" -lt "$N"
check_eq "W1 left no recipient leased" 0 \
    "$(sql "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $CA AND state = 'leased' AND lease_owner LIKE '%:$W1PID:%'")"
wait_for 30 grep -q "campaign=$CA job=" "$TMP/w2.log"
check "W2 takes campaign A over" grep -q "campaign=$CA job=.* sending" "$TMP/w2.log"

wait_for 120 state_is "$CA" finished
wait_for 60 state_is "$CB" finished
check "campaign A finished" state_is "$CA" finished
check "campaign B finished" state_is "$CB" finished
check_eq "the ledgers: all $N sent in each" "$N $N" \
    "$(sql "SELECT count(*) FILTER (WHERE campaign_id = $CA AND state = 'sent') || ' ' || count(*) FILTER (WHERE campaign_id = $CB AND state = 'sent') FROM campaign_recipients WHERE campaign_id IN ($CA, $CB)")"
echo "# sent through pgbouncer: $(sql "SELECT count(*) || ' messages in ' || round(extract(epoch FROM max(sent_at) - min(sent_at))::numeric, 1) || ' s, ' || round(count(*) / greatest(extract(epoch FROM max(sent_at) - min(sent_at)), 0.001)::numeric) || ' msg/s (campaign B, unpaced, one worker)' FROM campaign_recipients WHERE campaign_id = $CB")"
check_eq "no driver job of either campaign is left queued" 0 \
    "$(sql "SELECT count(*) FROM jobs WHERE unique_key IN ('campaign:$CA', 'campaign:$CB')")"
stop_pid "$W2"
W2=''
sleep 0.5
stop_pid "$SINKPID"
SINKPID=''
for x in a b; do
    sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$TMP/sink/dump" | grep "@$x-$U.test\$" | sort >"$TMP/rcpts.$x"
    total=$(wc -l <"$TMP/rcpts.$x")
    distinct=$(uniq <"$TMP/rcpts.$x" | wc -l)
    echo "# campaign ${x^^}: $total deliveries, $distinct distinct recipients"
    check_eq "campaign ${x^^}: every recipient received exactly one message" "$N $N" "$total $distinct"
done
check "the sink holds personalised messages (A77 got 'Hi A77')" \
    grep -q "^Subject: Hi A77\$" "$TMP/sink/dump"
for w in w1 w2; do
    n=$(problems "$TMP/$w.log" | wc -l)
    check_eq "no SQL error or warning in ${w^^}'s log through pgbouncer" 0 "$n"
    [ "$n" = 0 ] || show_problems "$TMP/$w.log"
done

# --- two milters --------------------------------------------------------------
scripts/stack stop milter >/dev/null 2>&1
STACK_MILTER_STOPPED=1
start_milter() { # NAME PORT: sets MPID
    local spool=$CRMGATE_VAR/spool-t30$1-$U
    mkdir -p "$spool"
    CRMGATE_MILTER_DSN="$PGB_DSN user=crmgate_milter" CRMGATE_SPOOL_DIR=$spool \
        setsid "$M" -c "$CRMGATE_CONFIG" -p "inet:$2@127.0.0.1" >>"$TMP/milter$1.log" 2>&1 </dev/null &
    MPID=$!
    wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$2"
}
start_milter a "$MA_PORT"
MA=$MPID
start_milter b "$MB_PORT"
MB=$MPID
check "two milters listen (ports $MA_PORT and $MB_PORT)" \
    bash -c "exec 3<>/dev/tcp/127.0.0.1/$MA_PORT && exec 4<>/dev/tcp/127.0.0.1/$MB_PORT"
PF_SMTPD=$(postconf -c "$CRMGATE_POSTFIX_CONFIG" -h smtpd_milters)
PF_NONSMTPD=$(postconf -c "$CRMGATE_POSTFIX_CONFIG" -h non_smtpd_milters)
both="{ inet:127.0.0.1:$MA_PORT, default_action=accept }, { inet:127.0.0.1:$MB_PORT, default_action=accept }"
postconf -c "$CRMGATE_POSTFIX_CONFIG" -e "smtpd_milters=$both" "non_smtpd_milters=$both"
postfix -c "$CRMGATE_POSTFIX_CONFIG" reload >/dev/null 2>&1
check_eq "Postfix chains both milters" "$both" "$(postconf -c "$CRMGATE_POSTFIX_CONFIG" -h smtpd_milters)"
sleep 1

"$C" user add "mgr-$U@example.com" --name "Manager $U" >/dev/null
"$C" contact add "cust-$U@cust-$U.test" --name "Cust Omer" --owner "mgr-$U@example.com" >/dev/null
CONTACT=$(sql "SELECT id FROM contacts WHERE email_norm = 'cust-$U@cust-$U.test'")
check "a contact owned by its manager" test -n "$CONTACT"

# hostile first: one Message-ID, two different bodies (invalid UTF-8, a
# truncated multipart): two messages (different digests), each captured once
# per milter -- the dedup must not merge distinct messages
printf 'Subject: dup one\r\nMessage-Id: <same-%s@cust-%s.test>\r\nFrom: cust-%s@cust-%s.test\r\nTo: mgr-%s@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbad bytes \xff\xfe\xc3\x28 here\r\n' \
    "$U" "$U" "$U" "$U" "$U" >"$TMP/dup1.eml"
printf 'Subject: dup two\r\nMessage-Id: <same-%s@cust-%s.test>\r\nFrom: cust-%s@cust-%s.test\r\nTo: mgr-%s@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\ntruncated, no closing boundary\r\n' \
    "$U" "$U" "$U" "$U" "$U" >"$TMP/dup2.eml"
for f in dup1 dup2; do
    swaks --silent 2 --server "127.0.0.1:$CRMGATE_SMTP_PORT" --from "cust-$U@cust-$U.test" \
        --to "mgr-$U@example.com" --data "@$TMP/$f.eml" >/dev/null 2>&1
done
dup_ok() {
    [ "$(sql "SELECT count(*) || ' ' || (SELECT count(*) FROM capture_events e JOIN messages m ON m.id = e.message_id WHERE m.message_id = 'same-$U@cust-$U.test') FROM messages WHERE message_id = 'same-$U@cust-$U.test'")" = "2 4" ]
}
wait_for 30 dup_ok
check_eq "one Message-ID, two bodies (bad UTF-8, truncated MIME): 2 rows, 4 capture events" "2 4" \
    "$(sql "SELECT count(*) || ' ' || (SELECT count(*) FROM capture_events e JOIN messages m ON m.id = e.message_id WHERE m.message_id = 'same-$U@cust-$U.test') FROM messages WHERE message_id = 'same-$U@cust-$U.test'")"

# NM distinct messages from the contact to its manager, 10 at a time
seq 1 "$NM" | xargs -P 10 -I{} sh -c \
    'swaks --silent 2 --server "127.0.0.1:$1" --from "$2" --to "$3" --header "Message-Id: <pgb{}-$4@$5>" --header "Subject: pgbouncer {}" --body "message {} of $4" >/dev/null 2>&1 || echo "swaks failed {}"' \
    _ "$CRMGATE_SMTP_PORT" "cust-$U@cust-$U.test" "mgr-$U@example.com" "$U" "cust-$U.test" >"$TMP/swaks.out"
check_eq "$NM messages accepted by Postfix" 0 "$(wc -l <"$TMP/swaks.out")"
captured() {
    sql "SELECT count(DISTINCT m.id) || ' ' || count(e.id) FROM messages m LEFT JOIN capture_events e ON e.message_id = m.id WHERE m.message_id LIKE 'pgb%-$U@cust-$U.test'"
}
all_captured() { [ "$(captured)" = "$NM $((NM * 2))" ]; }
wait_for 60 all_captured
check_eq "no duplicate capture: $NM rows, two capture events each" "$NM $((NM * 2))" "$(captured)"
check_eq "exactly $NM distinct Message-IDs, none stored twice" "$NM $NM" \
    "$(sql "SELECT count(*) || ' ' || count(DISTINCT message_id) FROM messages WHERE message_id LIKE 'pgb%-$U@cust-$U.test'")"
check_eq "every message has one event per milter (2), all from source milter" "$NM" \
    "$(sql "SELECT count(*) FROM (SELECT m.id FROM messages m JOIN capture_events e ON e.message_id = m.id WHERE m.message_id LIKE 'pgb%-$U@cust-$U.test' GROUP BY m.id HAVING count(*) = 2 AND bool_and(e.source = 'milter' AND e.direction = 'in')) x")"
check_eq "every message is on the contact's timeline (linked once)" "$NM" \
    "$(sql "SELECT count(*) FROM message_links l JOIN messages m ON m.id = l.message_id WHERE m.message_id LIKE 'pgb%-$U@cust-$U.test' AND l.record_type = 'contact' AND l.record_id = $CONTACT")"
for x in a b; do
    n=$(grep -c "message_id=<pgb[0-9]*-$U@cust-$U.test> .* stored new=" "$TMP/milter$x.log")
    check_eq "milter ${x^^} (through pgbouncer) stored all $NM" "$NM" "$n"
done
check_eq "one capture was new, the other found the row: $NM new=yes, $NM new=no" "$NM $NM" \
    "$(cat "$TMP/miltera.log" "$TMP/milterb.log" | grep "message_id=<pgb[0-9]*-$U@cust-$U.test> " | grep -c 'stored new=yes') $(cat "$TMP/miltera.log" "$TMP/milterb.log" | grep "message_id=<pgb[0-9]*-$U@cust-$U.test> " | grep -c 'stored new=no')"
check "both milters' ingesters logged in through pgbouncer" \
    test "$(grep -c 'login attempt: db=crmgate user=crmgate_milter' "$TMP/pgb/pgbouncer.log")" -ge 2
scripts/stack wait-queue 30 >/dev/null
check_eq "and Postfix delivered all $NM to the manager" "$NM" \
    "$(grep -l -F "X-Rcpt-Args: <mgr-$U@example.com>" "$CRMGATE_SINK_DIR"/* 2>/dev/null |
        xargs -r grep -l "^Subject: pgbouncer [0-9]" | wc -l)"
for x in a b; do
    n=$(problems "$TMP/milter$x.log" | wc -l)
    check_eq "no ingest error or warning in milter ${x^^}'s log" 0 "$n"
    [ "$n" = 0 ] || show_problems "$TMP/milter$x.log"
done

# --- restore --------------------------------------------------------------------
postconf -c "$CRMGATE_POSTFIX_CONFIG" -e "smtpd_milters=$PF_SMTPD" "non_smtpd_milters=$PF_NONSMTPD"
postfix -c "$CRMGATE_POSTFIX_CONFIG" reload >/dev/null 2>&1
ORIG_SMTPD=$PF_SMTPD
PF_SMTPD=''
scripts/stack start milter >/dev/null 2>&1
STACK_MILTER_STOPPED=''
stop_pid "$MA"
stop_pid "$MB"
MA='' MB=''
scripts/stack start worker >/dev/null 2>&1
check_eq "Postfix uses the stack's milter alone again" "$ORIG_SMTPD $ORIG_SMTPD" \
    "$(postconf -c "$CRMGATE_POSTFIX_CONFIG" -h smtpd_milters) $(postconf -c "$CRMGATE_POSTFIX_CONFIG" -h non_smtpd_milters)"
check "scripts/stack status: everything runs again" scripts/stack status
