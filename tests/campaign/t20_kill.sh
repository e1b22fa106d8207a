#!/usr/bin/env bash
# tests/campaign/t20_kill.sh - a 10,000-recipient campaign whose worker is
# killed with SIGKILL three times and restarted each time: every recipient
# receives the message at least once, and the duplicates are no more than
# what was in flight at each kill (at most one batch, campaign.batch = 100,
# per kill). The campaign sends straight into a smtp-sink of its own (-D:
# one dump file), so every delivery is counted; the stack's worker is
# stopped for the test and started again at its end.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

C=${CRMGATE_BUILD:-build}/bin/crmgate
W=${CRMGATE_BUILD:-build}/bin/crmgate-worker
U=$(uniq_id)
N=${CRMGATE_KILL_RECIPIENTS:-10000}
TMP=$(mktemp -d)
PORT=$((CRMGATE_SINK_PORT + 61))
SINKPID=
WPID=
cleanup() {
    [ -n "$WPID" ] && kill -9 "$WPID" 2>/dev/null
    [ -n "$SINKPID" ] && kill "$SINKPID" 2>/dev/null
    wait 2>/dev/null
    scripts/stack start worker >/dev/null 2>&1
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
status_field() { "$C" --json campaign status "$1" | jq -r ".$2"; }
field_ge() { [ "$(status_field "$1" "$2")" -ge "$3" ]; }
state_is() { [ "$(status_field "$1" state)" = "$2" ]; }

# a config with short leases, so a killed worker's rows come back quickly
sed -e "s|\"\\.\\./|\"$REPO/|g" \
    -e 's/^worker {/worker {\n    lease = 5\n    heartbeat = 1/' \
    -e 's/^campaign {/campaign {\n    smtp_timeout = 5/' \
    "$CRMGATE_CONFIG" >"$TMP/kill.conf"

# smtp-sink refuses to run as root without a user to become
mkdir -p "$TMP/sink"
SINK_USER=()
if [ "$(id -u)" = 0 ]; then
    chmod 0777 "$TMP/sink"
    chmod 0755 "$TMP"
    SINK_USER=(-u nobody)
fi
smtp-sink "${SINK_USER[@]}" -D "$TMP/sink/dump" 127.0.0.1:"$PORT" 256 >"$TMP/sink.log" 2>&1 &
SINKPID=$!
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
check "a private smtp-sink listens" kill -0 "$SINKPID"

{
    echo "email,first_name"
    for i in $(seq 1 "$N"); do echo "k$i@$U.test,K$i"; done
} >"$TMP/list.csv"
printf 'Hello {{first_name|there}}\n{{unsubscribe_url}}\n' >"$TMP/t.txt"
ACC=$("$C" --json account add "kill-$U@example.com" --relay "smtp://127.0.0.1:$PORT" | jq -r .id)
CID=$("$C" --json campaign create "Kill $U" --account "$ACC" --subject "Hi {{first_name}}" \
    --text "$TMP/t.txt" --segment "csv:$TMP/list.csv" | jq -r .id)
check_eq "the ledger has $N rows" "$N" "$(status_field "$CID" recipients)"

scripts/stack stop worker >/dev/null 2>&1
start_worker() {
    "$W" -c "$TMP/kill.conf" >>"$TMP/worker.log" 2>&1 &
    WPID=$!
}
"$C" campaign start "$CID" >/dev/null
start_worker
kills=0
for at in $((N / 5)) $((N / 2)) $((N * 4 / 5)); do
    wait_for 120 field_ge "$CID" sent "$at"
    kill -9 "$WPID"
    wait "$WPID" 2>/dev/null
    kills=$((kills + 1))
    sleep 0.5
    start_worker
done
check_eq "the worker was killed three times" 3 "$kills"
wait_for 240 state_is "$CID" finished
check "the campaign finished after the kills" state_is "$CID" finished
check_eq "the ledger: all $N sent" "$N" \
    "$(sql "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $CID AND state = 'sent'")"
sleep 1
kill "$SINKPID" 2>/dev/null
wait "$SINKPID" 2>/dev/null
SINKPID=
sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$TMP/sink/dump" | grep "@$U.test" | sort >"$TMP/rcpts"
total=$(wc -l <"$TMP/rcpts")
distinct=$(uniq <"$TMP/rcpts" | wc -l)
dups=$((total - distinct))
check_eq "every recipient received the message at least once" "$N" "$distinct"
echo "# deliveries $total for $N recipients: $dups duplicates over 3 kills"
check "duplicates ($dups) are at most what was in flight: 3 kills x batch 100" \
    test "$dups" -le 300
check "no worker crash besides the kills (no sanitizer/abort in its log)" \
    sh -c "! grep -qE 'ERROR: AddressSanitizer|runtime error|Aborted' '$TMP/worker.log'"
