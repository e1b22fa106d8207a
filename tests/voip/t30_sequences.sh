#!/usr/bin/env bash
# tests/voip/t30_sequences.sh - whole calls end to end (TAP): the call
# sequences Zadarma's PBX sends (scripts/voip-replay: signed form posts)
# go through crmgate-web's webhook, the stack's crmgate-worker processes
# them, and the outcome is read back from PostgreSQL, the CLI and the web
# API: an unknown caller who hangs up leaves a lead, a request and a
# call-back task for the line's user; a known customer is routed to the
# owner's extension with the name on the phone; answered, outgoing,
# transferred, recorded and busy calls each leave one correct call row on
# the record's timeline; shuffled, repeated and forged deliveries change
# nothing. Needs the stack's web and worker (tests/run-all.sh).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$REPO" || exit 1
# shellcheck source=../lib.sh
. "$REPO/tests/lib.sh"
BIN=${CRMGATE_BUILD:-$REPO/build}/bin
CRMGATE="$BIN/crmgate -c $CRMGATE_CONFIG"
REPLAY=$REPO/scripts/voip-replay
T=$(mktemp -d /tmp/crmgate-voip-t30.XXXXXX)
trap 'rm -rf "$T"' EXIT
RUN=$(uniq_id)
q() { sql "$1" 2>>"$T/sql.err"; }
URL=${CRMGATE_WEB_URL%/}/voip/zadarma
# Numbers of this run: six digits of its own.
D=$(printf '%06d' $(((RANDOM * 32768 + RANDOM) % 1000000)))
LINE=+49301${D}0
UNK=+49405${D}1
UNK2=+49405${D}2
KNOWN=+49406${D}3
EXT_A=7${D:2:4}
EXT_B=8${D:2:4}

replay() { "$REPLAY" --url "$URL" --tz Europe/Berlin "$@"; }
# call_done CALLID: the call has ended and the worker has processed it
# after its last event.
call_done() {
    [ "$(q "SELECT count(*) FROM calls WHERE call_id = '$1' AND state = 'ended'
              AND processed_at >= updated_at")" = 1 ]
}
# cval CALLID COLUMN-EXPR: one value of the call's row.
cval() { q "SELECT $2 FROM calls WHERE call_id = '$1'"; }

# --- people and numbers ------------------------------------------------
$CRMGATE user add "ann-$RUN@example.com" --name "Ann $RUN" --role manager \
    --extension "$EXT_A" >/dev/null 2>&1
$CRMGATE user add "bob-$RUN@example.com" --name "Bob $RUN" --role manager \
    --extension "$EXT_B" >/dev/null 2>&1
ANN=$(q "SELECT id FROM users WHERE email = 'ann-$RUN@example.com'")
BOB=$(q "SELECT id FROM users WHERE email = 'bob-$RUN@example.com'")
check "two managers with extensions" test -n "$ANN" -a -n "$BOB"
check "voip line add: the line belongs to Ann" \
    $CRMGATE voip line add "$LINE" --user "ann-$RUN@example.com" --label "Sales $RUN"
check_eq "the line is stored in E.164 with its user" "$ANN" \
    "$(q "SELECT user_id FROM voip_lines WHERE number_e164 = '$LINE'")"
# The known customer, written the way a person types it.
KNOWN_TYPED="0406 ${D}3"
$CRMGATE contact add "carl-$RUN@customer.example" --first Carl \
    --last "Known$RUN" --phone "$KNOWN_TYPED" \
    --owner "bob-$RUN@example.com" >/dev/null 2>&1
CARL=$(q "SELECT id FROM contacts WHERE email_norm = 'carl-$RUN@customer.example'")
check_eq "contact add --phone stores E.164 (default country DE)" "$KNOWN" \
    "$(q "SELECT phone_e164 FROM contacts WHERE id = ${CARL:-0}")"
check_eq "... and the last nine digits" "${KNOWN: -9}" \
    "$(q "SELECT phone_last9 FROM contacts WHERE id = ${CARL:-0}")"
TOK_ANN=$($CRMGATE token add "ann-$RUN@example.com" 2>/dev/null | tail -1)
TOK_BOB=$($CRMGATE token add "bob-$RUN@example.com" 2>/dev/null | tail -1)
api() { curl -s -H "Authorization: Bearer $1" "${CRMGATE_WEB_URL%/}$2"; }

# --- 1. an unknown number calls and hangs up ----------------------------
C1=miss-$RUN
replay --scenario missed --caller "$UNK" --did "$LINE" --ext "$EXT_A" \
    --call-id "$C1" >"$T/c1.out" 2>&1
check "missed: every notification answered 2xx" test $? -eq 0
check_eq "missed: the unknown caller is not routed (START answers {})" \
    "NOTIFY_START $C1 -> {}" "$(grep '^NOTIFY_START' "$T/c1.out")"
wait_for 30 call_done "$C1"
check "missed: the worker processed the ended call" call_done "$C1"
LEAD=$(q "SELECT id FROM leads WHERE phone_e164 = '$UNK'")
check_eq "missed: one lead with the caller's number in E.164" 1 \
    "$(q "SELECT count(*) FROM leads WHERE phone_e164 = '$UNK'")"
check_eq "missed: the lead's source is 'phone call'" "phone call" \
    "$(q "SELECT s.name FROM leads l JOIN lead_sources s ON s.id = l.lead_source_id
          WHERE l.id = ${LEAD:-0}")"
check_eq "missed: the lead belongs to the line's user (Ann)" "$ANN" \
    "$(q "SELECT owner_id FROM leads WHERE id = ${LEAD:-0}")"
check "missed: the lead names the called number" \
    test -n "$(q "SELECT 1 FROM leads WHERE id = ${LEAD:-0} AND description LIKE '%$LINE%'")"
check_eq "missed: one request for the lead, owned by Ann" "1|$ANN" \
    "$(q "SELECT count(*), min(owner_id) FROM requests WHERE lead_id = ${LEAD:-0}")"
check_eq "missed: one call-back task for Ann on the lead" "1|$ANN" \
    "$(q "SELECT count(*), min(owner_id) FROM tasks
          WHERE record_type = 'lead' AND record_id = ${LEAD:-0}")"
check_eq "missed: the call row (direction, state, disposition, record)" \
    "in|ended|no answer|lead|${LEAD:-0}|$UNK|$LINE" \
    "$(cval "$C1" "direction, state, disposition, record_type, record_id, remote_e164, line_e164")"
$CRMGATE task list --all --json >"$T/tasks.json" 2>/dev/null
check "task list --json: the call-back task has record \"lead:$LEAD\"" \
    jq -e --arg r "lead:$LEAD" '[.tasks[] | select(.record == $r)] | length == 1' "$T/tasks.json"
$CRMGATE lead list --json --limit 100000 >"$T/leads.json" 2>/dev/null
check "lead list --json: the lead with its phone in E.164" \
    jq -e --arg p "$UNK" --argjson id "${LEAD:-0}" \
    '[.leads[] | select(.id == $id and .phone_e164 == $p)] | length == 1' "$T/leads.json"
$CRMGATE call list --json --limit 100000 >"$T/calls.json" 2>/dev/null
check "call list --json: the call with the provider's call id" \
    jq -e --arg c "$C1" '[.calls[] | select(.call_id == $c and .direction == "in")] | length == 1' \
    "$T/calls.json"
api "$TOK_ANN" "/api/timeline/lead/${LEAD:-0}" >"$T/tl1.json"
check "missed: the call is on the lead's timeline (web API)" \
    jq -e '[.. | objects | select(.kind? == "call")] | length >= 1' "$T/tl1.json"

# --- 2. the same call delivered again, shuffled and twice ---------------
EV1=$(q "SELECT count(*) FROM call_events WHERE call_id = '$C1'")
replay --scenario missed --caller "$UNK" --did "$LINE" --ext "$EXT_A" \
    --call-id "$C1" --shuffle --repeat 2 >/dev/null 2>&1
check "re-delivery: answered 2xx" test $? -eq 0
sleep 2
wait_for 20 call_done "$C1"
check_eq "re-delivery: no new event rows" "$EV1" \
    "$(q "SELECT count(*) FROM call_events WHERE call_id = '$C1'")"
check_eq "re-delivery: still one lead, one request, one task" "1|1|1" \
    "$(q "SELECT (SELECT count(*) FROM leads WHERE phone_e164 = '$UNK'),
                 (SELECT count(*) FROM requests WHERE lead_id = ${LEAD:-0}),
                 (SELECT count(*) FROM tasks WHERE record_type = 'lead'
                     AND record_id = ${LEAD:-0})")"

# --- 3. out of order from the first delivery on --------------------------
C2=shuf-$RUN
replay --scenario missed --caller "$UNK2" --did "$LINE" --ext "$EXT_A" \
    --call-id "$C2" --shuffle >/dev/null 2>&1
wait_for 30 call_done "$C2"
check_eq "out of order: one call row, ended, no answer, on a new lead" \
    "1|ended|no answer|lead" \
    "$(q "SELECT count(*), min(state), min(disposition), min(record_type)
          FROM calls WHERE call_id = '$C2'")"
check_eq "out of order: one lead and one task" "1|1" \
    "$(q "SELECT (SELECT count(*) FROM leads WHERE phone_e164 = '$UNK2'),
                 (SELECT count(*) FROM tasks t JOIN leads l ON t.record_type = 'lead'
                     AND t.record_id = l.id WHERE l.phone_e164 = '$UNK2')")"

# --- 4. a known customer calls: routed to the owner, answered -----------
C3=ans-$RUN
replay --scenario answered --caller "${KNOWN#+}" --did "$LINE" --ext "$EXT_A" \
    --call-id "$C3" >"$T/c3.out" 2>&1
check "answered: every notification answered 2xx" test $? -eq 0
R=$(sed -n "s/^NOTIFY_START $C3 -> //p" "$T/c3.out")
check "answered: START routes to the owner's extension with the name" \
    jq -e --arg e "$EXT_B" --arg n "Carl Known$RUN" \
    '.redirect == $e and .caller_name == $n and (keys | length == 2)' <<<"$R"
wait_for 30 call_done "$C3"
check_eq "answered: the call row (record, who answered, disposition, duration)" \
    "contact|${CARL:-0}|$EXT_A|$ANN|answered|42" \
    "$(cval "$C3" "record_type, record_id, extension, user_id, disposition, duration_s")"
check "answered: answered_at between start and end" \
    test "$(cval "$C3" "answered_at >= started_at AND answered_at <= ended_at")" = t
check_eq "answered: no lead for a known number, no task" "0|0" \
    "$(q "SELECT (SELECT count(*) FROM leads WHERE phone_last9 = '${KNOWN: -9}'),
                 (SELECT count(*) FROM tasks WHERE record_type = 'contact'
                     AND record_id = ${CARL:-0})")"

# --- 5. outgoing, transferred, recorded, busy ----------------------------
C4=out-$RUN
replay --scenario outgoing --caller "$KNOWN" --did "$LINE" --ext "$EXT_B" \
    --call-id "$C4" >/dev/null 2>&1
wait_for 30 call_done "$C4"
check_eq "outgoing: direction out, the contact, Bob who dialled" \
    "out|contact|${CARL:-0}|$BOB|$KNOWN" \
    "$(cval "$C4" "direction, record_type, record_id, user_id, remote_e164")"
C5=xfer-$RUN
replay --scenario transferred --caller "$KNOWN" --did "$LINE" --ext "$EXT_A" \
    --ext2 "$EXT_B" --call-id "$C5" >/dev/null 2>&1
wait_for 30 call_done "$C5"
check_eq "transferred: the call ends with the second extension (Bob)" \
    "$EXT_B|$BOB|answered" "$(cval "$C5" "extension, user_id, disposition")"
check_eq "transferred: both answers kept as events" 2 \
    "$(q "SELECT count(*) FROM call_events WHERE call_id = '$C5' AND event = 'NOTIFY_ANSWER'")"
C6=rec-$RUN
replay --scenario recorded --caller "$KNOWN" --did "$LINE" --ext "$EXT_A" \
    --call-id "$C6" >/dev/null 2>&1
wait_for 30 call_done "$C6"
check_eq "recorded: recorded, with the provider's recording id, download pending" \
    "t|t|pending" \
    "$(cval "$C6" "recorded, recording_id IS NOT NULL AND recording_id <> '', recording_state")"
CPK6=$(cval "$C6" id)
check "recorded: the download job waits about 40 s after the end" \
    test "$(q "SELECT count(*) FROM jobs j, calls c WHERE c.id = ${CPK6:-0}
               AND j.kind = 'voip.recording' AND (j.payload->>'call')::bigint = c.id
               AND j.run_at >= c.ended_at + interval '30 seconds'
               AND j.run_at <= c.ended_at + interval '50 seconds'")" = 1
C7=busy-$RUN
replay --scenario busy --caller "$KNOWN" --did "$LINE" --ext "$EXT_A" \
    --call-id "$C7" >/dev/null 2>&1
wait_for 30 call_done "$C7"
check_eq "busy from a known customer: a call-back task for the owner (Bob) on the contact" \
    "1|$BOB" \
    "$(q "SELECT count(*), min(owner_id) FROM tasks WHERE record_type = 'contact'
          AND record_id = ${CARL:-0} AND title LIKE 'Call back%'")"
check_eq "busy: the call row links that task" \
    "$(q "SELECT min(id) FROM tasks WHERE record_type = 'contact' AND record_id = ${CARL:-0}")" \
    "$(cval "$C7" task_id)"
api "$TOK_BOB" "/api/timeline/contact/${CARL:-0}" >"$T/tl2.json"
check "the contact's timeline shows its five calls (web API, owner)" \
    jq -e '[.. | objects | select(.kind? == "call")] | length >= 5' "$T/tl2.json"
check_eq "another manager does not see the contact's timeline" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK_ANN" \
        "${CRMGATE_WEB_URL%/}/api/timeline/contact/${CARL:-0}")"

# --- 6. forged deliveries -------------------------------------------------
C8=forged-$RUN
replay --scenario missed --caller "$UNK" --did "$LINE" --call-id "$C8" \
    --secret "not-the-secret" >/dev/null 2>&1
check "forged: voip-replay reports the refusals (exit 1)" test $? -eq 1
check_eq "forged: no call row, no event" "0|0" \
    "$(q "SELECT (SELECT count(*) FROM calls WHERE call_id = '$C8'),
                 (SELECT count(*) FROM call_events WHERE call_id = '$C8')")"
check_eq "forged: still one lead for that number" 1 \
    "$(q "SELECT count(*) FROM leads WHERE phone_e164 = '$UNK'")"
# --- 7. a frozen database ------------------------------------------------
# Every process of the cluster SIGSTOPped (a hung host): the webhook must
# answer within its time budget with 503 (the PBX retries), never hang and
# never 200 (that would lose the event); once thawed, the provider's
# re-delivery is stored once and processed.
pg_pids() {
    local pm
    pm=$(head -n 1 "$(readlink -f "$CRMGATE_VAR/pg")/postmaster.pid" 2>/dev/null) || return 1
    echo "$pm"
    pgrep -P "$pm"
}
mapfile -t PGP < <(pg_pids)
check "frozen: found the cluster's processes (${#PGP[@]})" test "${#PGP[@]}" -ge 3
C9=frozen-$RUN
kill -STOP "${PGP[@]}"
t0=$(date +%s%N)
replay --scenario missed --caller "$UNK" --did "$LINE" --ext "$EXT_A" \
    --call-id "$C9" --print >"$T/c9.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "${PGP[@]}"
check "frozen: voip-replay reports refusals (exit 1)" test "$rc" -eq 1
check "frozen: every notification answered 503 (the PBX retries)" \
    test "$(grep -c ' -> 503 ' "$T/c9.out")" -ge 3 -a "$(grep -c ' -> 200 ' "$T/c9.out")" -eq 0
echo "# frozen: 3 notifications answered in $ms ms (database.time_budget_ms each)"
check "frozen: answered within the time budget, not hung ($ms ms < 10000)" test "$ms" -lt 10000
replay --scenario missed --caller "$UNK" --did "$LINE" --ext "$EXT_A" \
    --call-id "$C9" >/dev/null 2>&1
check "thawed: the re-delivery is answered 2xx" test $? -eq 0
wait_for 30 call_done "$C9"
check_eq "thawed: the call stored once, ended, on the existing lead" \
    "1|ended|lead|${LEAD:-0}" \
    "$(q "SELECT count(*), min(state), min(record_type), min(record_id) FROM calls
          WHERE call_id = '$C9'")"
check_eq "thawed: a second missed call of the same number: one more call-back task" 2 \
    "$(q "SELECT count(*) FROM tasks WHERE record_type = 'lead' AND record_id = ${LEAD:-0}")"

check "no SQL errors in this file" test ! -s "$T/sql.err"
