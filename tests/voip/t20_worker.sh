#!/usr/bin/env bash
# tests/voip/t20_worker.sh - the worker's part of a call (TAP): matching,
# leads, requests, call-back tasks, round robin, recordings and
# click-to-call against tests/voip/fake_provider.py (a local Zadarma API
# that checks the request signature), and the CLI (call, lead, voip line,
# contact add --phone, import). Events are stored with crm_voip_event() as
# crmgate-web does after verifying them (fields as its parsers build them).
# The stack's worker is stopped; this file runs its own (own config: short
# backoff, recording_delay 3 s, recording_max_bytes 1 MiB, the fake's URL
# and key) and starts the stack's again at the end. Every check reads
# PostgreSQL, the fake's request log, or a command's output and exit code.
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$REPO" || exit 1
# shellcheck source=../lib.sh
. "$REPO/tests/lib.sh"
BIN=${CRMGATE_BUILD:-$REPO/build}/bin
CRMGATE="$BIN/crmgate -c $CRMGATE_CONFIG"
WORKER=$BIN/crmgate-worker
T=$(mktemp -d /tmp/crmgate-voip-t20.XXXXXX)
chmod 0755 "$T"
PIDS=()
FAKE_PID=
REACTIVATE=
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    [ -n "$FAKE_PID" ] && kill -TERM "$FAKE_PID" 2>/dev/null
    [ -n "$REACTIVATE" ] && sql "UPDATE users SET active = true WHERE id IN ($REACTIVATE)" >/dev/null 2>&1
    scripts/stack start worker >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
RUN=$(uniq_id)
DIG=$(printf '%06d' $((RANDOM * 32768 % 1000000 + RANDOM % 1000)))
DIG=${DIG: -6}
q() { sql "$1" 2>>"$T/sql.err"; }

FAKE_PORT=$((17300 + ${CRMGATE_TEST_PORT_OFFSET:-0}))
KEY=key-$RUN
SECRET=secret-$RUN
FAKELOG=$T/fake.jsonl
: >"$FAKELOG"
python3 "$REPO/tests/voip/fake_provider.py" "$FAKE_PORT" "$KEY" "$SECRET" \
    "$FAKELOG" >"$T/fake.out" 2>&1 &
FAKE_PID=$!
wait_for 10 grep -q listening "$T/fake.out"
check "the fake provider listens on $FAKE_PORT" grep -q listening "$T/fake.out"

# A worker config: worker and voip sections only (DSNs from the env).
cat >"$T/w.conf" <<EOF
worker {
    threads = 2
    batch = 10
    poll_interval_ms = 100
    retry_base = 1
    retry_max = 2
    max_attempts = 4
}
voip {
    default_country = "DE"
    recording_delay = 3
    recording_max_bytes = 1048576
    api_timeout = 5
}
log {
    level = "info"
}
EOF
WPID=
# start_worker LOG [KEY [API_URL]]: a worker against the fake (KEY "" =
# none set; API_URL default the fake's).
start_worker() {
    local log=$1 key=${2-$KEY} url=${3:-http://127.0.0.1:$FAKE_PORT}
    : >"$log"
    if [ -n "$key" ]; then
        CRMGATE_ZADARMA_KEY=$key CRMGATE_ZADARMA_SECRET=$SECRET \
            CRMGATE_ZADARMA_API_URL="$url" \
            "$WORKER" -c "$T/w.conf" >>"$log" 2>&1 &
    else
        env -u CRMGATE_ZADARMA_KEY CRMGATE_ZADARMA_SECRET="$SECRET" \
            CRMGATE_ZADARMA_API_URL="$url" \
            "$WORKER" -c "$T/w.conf" >>"$log" 2>&1 &
    fi
    WPID=$!
    PIDS+=("$WPID")
    wait_for 10 grep -q "started owner=" "$log"
}
stop_worker() {
    kill -TERM "$WPID" 2>/dev/null
    wait "$WPID" 2>/dev/null
}

# ev PROVIDER CALLID EVENT DEDUPE FIELDS: one verified event, stored.
ev() {
    q "SELECT stored FROM crm_voip_event('$1', '$2', '$3', '$4', '{}'::jsonb, '$5'::jsonb, '127.0.0.1')" >/dev/null
}
# call_in CALLID REMOTE LINE DISPOSITION [END_EXTRA_JSON] [PROVIDER]: an
# incoming call as the parsers build it: start, (answer by 100,) end.
call_in() {
    local id=$1 r=$2 l=$3 disp=$4 extra=${5:-'{}'} prov=${6:-zadarma}
    local t0 t1 base
    t0=$(date -u -d '-30 sec' +%FT%TZ)
    t1=$(date -u +%FT%TZ)
    base=$(jq -cn --arg r "$r" --arg l "$l" --arg t "$t0" \
        '{direction:"in",start:$t,remote:$r,remote_e164:$r,remote_last9:$r[-9:],line:$l,line_e164:$l}')
    ev "$prov" "$id" NOTIFY_START "" "$(jq -c --arg t "$t0" '. + {kind:"start",at:$t}' <<<"$base")"
    if [ "$disp" = answered ]; then
        ev "$prov" "$id" NOTIFY_ANSWER 100 "$(jq -c --arg t "$t0" '. + {kind:"answer",at:$t,extension:"100"}' <<<"$base")"
    fi
    ev "$prov" "$id" NOTIFY_END "" "$(jq -c --arg t "$t1" --arg d "$disp" --argjson x "$extra" \
        '. + {kind:"end",at:$t,disposition:$d,duration:(if $d == "answered" then 25 else 0 end)} + $x' <<<"$base")"
}
# settled CALLID [PROVIDER]: the call's voip.call jobs are all done.
settled() {
    [ "$(q "SELECT count(*) FROM jobs WHERE kind = 'voip.call' AND payload->>'call' = (SELECT id::text FROM calls WHERE provider = '${2:-zadarma}' AND call_id = '$1')")" = 0 ] &&
        [ "$(q "SELECT processed_at IS NOT NULL FROM calls WHERE provider = '${2:-zadarma}' AND call_id = '$1'")" = t ]
}
cv() { q "SELECT $2 FROM calls WHERE provider = '${3:-zadarma}' AND call_id = '$1'"; }
# sql_is "SELECT ..." VALUE: the query answers VALUE now (for wait_for).
sql_is() { [ "$(q "$1")" = "$2" ]; }
# rec_is CALLID STATE [PROVIDER]: the call's recording_state is STATE now.
rec_is() { [ "$(cv "$1" recording_state "${3:-zadarma}")" = "$2" ]; }
num() { echo "+49151$1$DIG"; } # NUM NN: a German mobile number of this run

# --- hostile input first ------------------------------------------------
before=$(q "SELECT count(*) FROM call_requests")
$CRMGATE call 'not a number' --from 101 --wait 0 >"$T/o" 2>&1
check_eq "call: junk NUMBER is a usage error (64)" 64 $?
check "call: the message says what is wrong" grep -q "is not a phone number" "$T/o"
$CRMGATE call "$(head -c 300 /dev/zero | tr '\0' 5)" --from 101 --wait 0 >/dev/null 2>&1
check_eq "call: a 300-digit NUMBER is refused (64)" 64 $?
$CRMGATE call "$(printf '+49 30 \377\376 1234')" --from 101 --wait 0 >/dev/null 2>&1
check_eq "call: invalid UTF-8 in NUMBER is refused (64)" 64 $?
$CRMGATE call +493012345678 --from '10x; DROP' --wait 0 >/dev/null 2>&1
check_eq "call: a bad --from EXT is refused (64)" 64 $?
$CRMGATE call +493012345678 --wait 0 >/dev/null 2>&1
check_eq "call: no --from is a usage error (64)" 64 $?
$CRMGATE call +493012345678 --from 101 --wait -1 >/dev/null 2>&1
check_eq "call: --wait -1 is refused (64)" 64 $?
check_eq "refused calls queued no request" "$before" "$(q "SELECT count(*) FROM call_requests")"
$CRMGATE call list --limit 0 >/dev/null 2>&1
check_eq "call list --limit 0 is refused (64)" 64 $?
$CRMGATE lead list --limit x >/dev/null 2>&1
check_eq "lead list --limit x is refused (64)" 64 $?
$CRMGATE voip line add 12ab >/dev/null 2>&1
check_eq "voip line add: junk number refused (64)" 64 $?
$CRMGATE voip line add +493099999999 --label "$(head -c 201 /dev/zero | tr '\0' x)" >/dev/null 2>&1
check_eq "voip line add: a 201-character label is refused (64)" 64 $?
$CRMGATE voip line add +493099999999 --user "nobody-$RUN@example.com" >"$T/o" 2>&1
check_eq "voip line add: an unknown --user is not found (66)" 66 $?
check_eq "refused lines left no row" 0 "$(q "SELECT count(*) FROM voip_lines WHERE number_e164 = '+493099999999'")"
out=$($CRMGATE call --help)
check "call --help prints the usage" grep -q "call NUMBER --from EXT" <<<"$out"
out=$($CRMGATE voip --help)
check "voip --help prints the usage" grep -q "voip line add NUMBER" <<<"$out"

# --- users, lines, contacts ----------------------------------------------
scripts/stack stop worker >/dev/null 2>&1
check "the stack's worker is stopped for this test" test "$(scripts/stack status worker)" = "worker stopped"
LU=lu-$RUN@example.com M1=m1-$RUN@example.com
$CRMGATE user add "$LU" --name "Line User" --extension 301 >/dev/null
check_eq "user add --extension stores users.phone_ext" 301 "$(q "SELECT phone_ext FROM users WHERE email = '$LU'")"
$CRMGATE user add "$M1" --name "Manager One" --extension 302 >/dev/null
$CRMGATE user add "m2-$RUN@example.com" --name "Manager Two" >/dev/null
LINE=+4930$DIG"11"
FREE=+4930$DIG"22"
out=$($CRMGATE voip line add "030 $DIG 11" --user "$LU" --label "Sales $RUN")
check_eq "voip line add: national number normalised, user shown" "line $LINE -> $LU" "$out"
$CRMGATE voip line add "$LINE" --user "$LU" --label "Sales line" >/dev/null
check_eq "voip line add twice: one row, label updated (upsert)" "1|Sales line" \
    "$(q "SELECT count(*) || '|' || max(label) FROM voip_lines WHERE number_e164 = '$LINE'")"
$CRMGATE voip line list --json >"$T/lines.json"
check_eq "voip line list --json: the line with its user's address" "$LU" \
    "$(jq -r --arg n "$LINE" '.lines[] | select(.number_e164 == $n) | .user' "$T/lines.json")"
check_eq "voip line list --json: fields" "created_at,label,number_e164,user" \
    "$(jq -r '.lines[0] | keys | join(",")' "$T/lines.json")"

start_worker "$T/w1.log"
check "our worker started" kill -0 "$WPID"

# bad payloads of our job kinds
jb=$(q "SELECT crm_job_enqueue('voip.call', '{\"call\": \"x\"}')")
jr=$(q "SELECT crm_job_enqueue('voip.recording', '{}')")
jc=$(q "SELECT crm_job_enqueue('voip.callback', '{\"request\": -1}')")
jm=$(q "SELECT crm_job_enqueue('voip.call', '{\"call\": 999999999999}')")
wait_for 10 sql_is "SELECT count(*) FROM jobs WHERE id IN ($jb, $jr, $jc) AND state = 'discarded'" 3
check_eq "voip jobs with a bad payload are discarded" 3 \
    "$(q "SELECT count(*) FROM jobs WHERE id IN ($jb, $jr, $jc) AND state = 'discarded' AND last_error LIKE '%payload needs%'")"
wait_for 10 sql_is "SELECT count(*) FROM jobs_done WHERE id = $jm" 1
check_eq "voip.call for a call that does not exist: done, nothing made" 1 "$(q "SELECT count(*) FROM jobs_done WHERE id = $jm")"
q "DELETE FROM jobs WHERE id IN ($jb, $jr, $jc)" >/dev/null

# --- unknown caller, missed, on a line with a user ------------------------
R1=$(num 01)
C1=in-$RUN-1
call_in "$C1" "$R1" "$LINE" "no answer"
wait_for 15 settled "$C1"
check "missed unknown call processed" settled "$C1"
lead1=$(q "SELECT id FROM leads WHERE phone_e164 = '$R1'")
check_eq "unknown caller: one lead with the caller's E.164 number" 1 "$(q "SELECT count(*) FROM leads WHERE phone_e164 = '$R1'")"
check_eq "the lead: source 'phone call', owned by the line's user" "phone call|$LU" \
    "$(q "SELECT s.name || '|' || u.email FROM leads l JOIN lead_sources s ON s.id = l.lead_source_id JOIN users u ON u.id = l.owner_id WHERE l.id = '${lead1:-0}'")"
check "the lead's description names the caller and the called number" \
    grep -q "Phone call from $R1 to $LINE" <<<"$(q "SELECT description FROM leads WHERE id = '${lead1:-0}'")"
check_eq "one request for the lead, owned by the line's user" "1|$LU" \
    "$(q "SELECT count(*) || '|' || max(u.email) FROM requests r JOIN users u ON u.id = r.owner_id WHERE r.lead_id = '${lead1:-0}'")"
check_eq "the request made no 'Answer request' task" 0 \
    "$(q "SELECT count(*) FROM tasks t JOIN requests r ON t.record_type = 'request' AND t.record_id = r.id WHERE r.lead_id = '${lead1:-0}'")"
check_eq "one call-back task for the line's user, on lead:ID" "1|$LU|lead" \
    "$(q "SELECT count(*) || '|' || max(u.email) || '|' || max(t.record_type) FROM tasks t JOIN users u ON u.id = t.owner_id WHERE t.record_type = 'lead' AND t.record_id = '${lead1:-0}'")"
task1=$(cv "$C1" task_id)
check_eq "the call row: record lead:ID, lead_created, task and request" \
    "lead:$lead1|true|$task1|true" \
    "$(cv "$C1" "record_type || ':' || record_id || '|' || lead_created || '|' || task_id || '|' || (request_id IS NOT NULL)")"
$CRMGATE task list --json >"$T/tasks.json"
check_eq "task list --json: the call-back task shows record lead:ID" "lead:$lead1" \
    "$(jq -r --argjson id "${task1:-0}" '.tasks[] | select(.id == $id) | .record' "$T/tasks.json")"
check "worker logged what voip.call did" grep -qE "kind=voip.call call=[0-9]+ did=.*\"lead\"" "$T/w1.log"

# re-processing (a retried job): nothing doubled
cid1=$(cv "$C1" id)
q "SELECT crm_job_enqueue('voip.call', jsonb_build_object('call', $cid1))" >/dev/null
q "SELECT crm_job_enqueue('voip.call', jsonb_build_object('call', $cid1))" >/dev/null
wait_for 10 settled "$C1"
check_eq "re-processed twice: still 1 lead, 1 request, 1 task" "1|1|1" \
    "$(q "SELECT (SELECT count(*) FROM leads WHERE phone_e164 = '$R1') || '|' || (SELECT count(*) FROM requests WHERE lead_id = $lead1) || '|' || (SELECT count(*) FROM tasks WHERE record_type = 'lead' AND record_id = $lead1)")"
# a re-delivered event changes nothing either
call_in "$C1" "$R1" "$LINE" "no answer"
check_eq "a re-delivered event queues no job" 0 \
    "$(q "SELECT count(*) FROM jobs WHERE kind = 'voip.call' AND payload->>'call' = '$cid1'")"

# the same caller again: now a known lead -> task for the lead's owner, no new lead
C1b=in-$RUN-1b
call_in "$C1b" "$R1" "$FREE" "busy"
wait_for 15 settled "$C1b"
check_eq "a second missed call of the new lead: matched lead:ID, no new lead" "lead:$lead1|false|1" \
    "$(cv "$C1b" "record_type || ':' || record_id || '|' || lead_created")|$(q "SELECT count(*) FROM leads WHERE phone_e164 = '$R1'")"
check_eq "its call-back task goes to the lead's owner" "$LU" \
    "$(q "SELECT u.email FROM tasks t JOIN users u ON u.id = t.owner_id WHERE t.id = (SELECT task_id FROM calls WHERE call_id = '$C1b')")"

# --- round robin: no line user --------------------------------------------
C2=in-$RUN-2 C3=in-$RUN-3
call_in "$C2" "$(num 02)" "$FREE" answered
wait_for 15 settled "$C2"
call_in "$C3" "$(num 03)" "$FREE" answered
wait_for 15 settled "$C3"
o2=$(q "SELECT owner_id FROM leads WHERE phone_e164 = '$(num 02)'")
o3=$(q "SELECT owner_id FROM leads WHERE phone_e164 = '$(num 03)'")
check "round robin: two unknown callers of a line without a user get two managers ($o2, $o3)" \
    test -n "$o2" -a -n "$o3" -a "$o2" != "$o3"
check_eq "both are active managers" 2 \
    "$(q "SELECT count(*) FROM users WHERE id IN (${o2:-0}, ${o3:-0}) AND role = 'manager' AND active")"
check_eq "answered calls: no call-back task" "||answered" \
    "$(cv "$C2" "task_id")|$(cv "$C3" "task_id")|$(cv "$C2" disposition)"
check "answered call: answered_at and the extension's user" \
    test "$(cv "$C2" "answered_at IS NOT NULL AND extension = '100'")" = t

# --- no active manager at all ---------------------------------------------
REACTIVATE=$(q "WITH u AS (UPDATE users SET active = false WHERE role = 'manager' AND active RETURNING id) SELECT coalesce(string_agg(id::text, ','), '0') FROM u")
C4=in-$RUN-4
call_in "$C4" "$(num 04)" "$FREE" "no answer"
wait_for 15 settled "$C4"
check_eq "no managers: the lead is still made, unowned" "1|" \
    "$(q "SELECT count(*) || '|' || coalesce(max(owner_id)::text, '') FROM leads WHERE phone_e164 = '$(num 04)'")"
check_eq "no managers: no call-back task, the request is made" "|true" \
    "$(cv "$C4" "coalesce(task_id::text, '') || '|' || (request_id IS NOT NULL)")"
q "UPDATE users SET active = true WHERE id IN ($REACTIVATE)" >/dev/null
REACTIVATE=

# --- known contact ----------------------------------------------------------
R5=$(num 05)
$CRMGATE contact add "k5-$RUN@example.com" --name "Karla Known" --phone "0151 05$DIG" --owner "$M1" >/dev/null
check_eq "contact add --phone: phone as given, E.164, last 9 digits" "0151 05$DIG|$R5|${R5: -9}" \
    "$(q "SELECT phone || '|' || phone_e164 || '|' || phone_last9 FROM contacts WHERE email = 'k5-$RUN@example.com'")"
ct5=$(q "SELECT id FROM contacts WHERE email = 'k5-$RUN@example.com'")
C5=in-$RUN-5
call_in "$C5" "$R5" "$LINE" "cancel"
wait_for 15 settled "$C5"
check_eq "known contact, missed: record contact:ID, no lead made" "contact:$ct5|false|0" \
    "$(cv "$C5" "record_type || ':' || record_id || '|' || lead_created")|$(q "SELECT count(*) FROM leads WHERE phone_e164 = '$R5'")"
check_eq "known contact: the call-back task is for the contact's owner, on contact:ID" "$M1|contact:$ct5" \
    "$(q "SELECT u.email || '|' || t.record_type || ':' || t.record_id FROM tasks t JOIN users u ON u.id = t.owner_id WHERE t.id = (SELECT task_id FROM calls WHERE call_id = '$C5')")"
check "the task names the contact" grep -q "Call back Karla Known" <<<"$(q "SELECT title FROM tasks WHERE id = (SELECT task_id FROM calls WHERE call_id = '$C5')")"

# tie: two contacts with one number -> the most recently updated
R6=$(num 06)
$CRMGATE contact add "t6a-$RUN@example.com" --phone "$R6" --owner "$M1" >/dev/null
$CRMGATE contact add "t6b-$RUN@example.com" --phone "$R6" --owner "$LU" >/dev/null
q "UPDATE contacts SET updated_at = now() + interval '1 minute' WHERE email = 't6a-$RUN@example.com'" >/dev/null
ct6a=$(q "SELECT id FROM contacts WHERE email = 't6a-$RUN@example.com'")
C6=in-$RUN-6
call_in "$C6" "$R6" "$LINE" "no answer"
wait_for 15 settled "$C6"
check_eq "tie: the most recently updated contact wins (not the newest id)" "contact:$ct6a" \
    "$(cv "$C6" "record_type || ':' || record_id")"

# order: contact before lead before company
R7=$(num 07) R8=$(num 08)
q "INSERT INTO companies (name, phone, phone_e164, owner_id) VALUES ('Co7 $RUN', '$R7', '$R7', NULL), ('Co8 $RUN', '$R8', '$R8', NULL)" >/dev/null
q "INSERT INTO leads (first_name, phone, phone_e164, phone_last9) VALUES ('Lead7', '$R7', '$R7', '${R7: -9}'), ('Lead8', '$R8', '$R8', '${R8: -9}')" >/dev/null
$CRMGATE contact add "c7-$RUN@example.com" --phone "$R7" >/dev/null
C7=in-$RUN-7 C8=in-$RUN-8
call_in "$C7" "$R7" "$LINE" answered
call_in "$C8" "$R8" "$LINE" answered
wait_for 15 settled "$C7"
wait_for 15 settled "$C8"
check_eq "contact before lead before company" "contact|lead" "$(cv "$C7" record_type)|$(cv "$C8" record_type)"
R9=$(num 09)
q "INSERT INTO companies (name, phone, phone_e164) VALUES ('Co9 $RUN', '$R9', '$R9')" >/dev/null
C9=in-$RUN-9
call_in "$C9" "$R9" "$LINE" answered
wait_for 15 settled "$C9"
check_eq "a company's number alone matches the company" "company|false" "$(cv "$C9" "record_type || '|' || lead_created")"

# import contacts: the phone column
printf 'email,name,phone,country\ni10-%s@example.com,Imp Ten,0151 10%s,\ni11-%s@example.com,Imp Eleven,030 11%s,AT\n' \
    "$RUN" "$DIG" "$RUN" "$DIG" >"$T/imp.csv"
$CRMGATE import contacts "$T/imp.csv" >/dev/null 2>&1
check_eq "import contacts: phone stored as given and in E.164" "0151 10$DIG|$(num 10)" \
    "$(q "SELECT phone || '|' || phone_e164 FROM contacts WHERE email = 'i10-$RUN@example.com'")"
check_eq "import contacts: the row's country is used for its phone" "+4330 11$DIG" \
    "$(q "SELECT substr(phone_e164, 1, 5) || ' ' || substr(phone_e164, 6) FROM contacts WHERE email = 'i11-$RUN@example.com'")"

# --- recordings ---------------------------------------------------------------
CR=in_rec_$RUN
call_in "$CR" "$(num 12)" "$LINE" answered "{\"recorded\":true,\"recording_id\":\"rec-$RUN.1\"}"
wait_for 15 settled "$CR"
crid=$(cv "$CR" id)
check_eq "recorded call: recording pending, a voip.recording job" "pending|1" \
    "$(cv "$CR" recording_state)|$(q "SELECT count(*) FROM jobs WHERE kind = 'voip.recording' AND payload->>'call' = '$crid'")"
delay=$(q "SELECT round(extract(epoch FROM j.run_at - c.ended_at)) FROM jobs j, calls c WHERE c.id = $crid AND j.kind = 'voip.recording' AND j.payload->>'call' = '$crid'")
check_eq "the recording job runs recording_delay (3 s) after the end" 3 "$delay"
wait_for 20 rec_is "$CR" fetched
check_eq "recording fetched" fetched "$(cv "$CR" recording_state)"
want=$(jq -r --arg p "/rec/$CR.mp3" 'select(.path == $p) | .sha256' "$FAKELOG" | head -1)
check_eq "stored bytes equal the fake's (sha256), audio/mpeg" "${want:-none}|audio/mpeg|20000" \
    "$(q "SELECT encode(sha256(bytes), 'hex') || '|' || content_type || '|' || length(bytes) FROM call_recordings WHERE call_pk = $crid")"
check_eq "the record request was signed and named the call and the recording" \
    "true|$CR|rec-$RUN.1|json" \
    "$(jq -r --arg c "$CR" 'select(.path == "/v1/pbx/record/request/" and .query.pbx_call_id == $c) | "\(.auth_ok)|\(.query.pbx_call_id)|\(.query.call_id)|\(.query.format)"' "$FAKELOG" | head -1)"

CN=notready2-$RUN
call_in "$CN" "$(num 13)" "$LINE" answered '{"recorded":true}'
wait_for 30 rec_is "$CN" fetched
check_eq "not ready twice: retried, then fetched" fetched "$(cv "$CN" recording_state)"
check_eq "the fake was asked 3 times" 3 \
    "$(jq -r --arg c "$CN" 'select(.path == "/v1/pbx/record/request/" and .query.pbx_call_id == $c) | .status' "$FAKELOG" | wc -l)"
check_eq "the job finished on its 3rd attempt" 3 \
    "$(q "SELECT attempts FROM jobs_done WHERE kind = 'voip.recording' AND payload->>'call' = '$(cv "$CN" id)'")"

CE=err5009-$RUN
call_in "$CE" "$(num 14)" "$LINE" answered '{"recorded":true}'
wait_for 40 rec_is "$CE" failed
check_eq "HTTP 500 on every attempt: 'failed' after max_attempts (4)" "failed|4" \
    "$(cv "$CE" recording_state)|$(jq -r --arg c "$CE" 'select(.query.pbx_call_id == $c) | .status' "$FAKELOG" | wc -l)"

CH=huge-$RUN
call_in "$CH" "$(num 15)" "$LINE" answered '{"recorded":true}'
wait_for 20 rec_is "$CH" failed
check_eq "a recording over recording_max_bytes: failed at once, nothing stored" "failed|0" \
    "$(cv "$CH" recording_state)|$(q "SELECT count(*) FROM call_recordings WHERE call_pk = $(cv "$CH" id)")"
check "the worker logged why" grep -q "recording=failed.*more than 1048576 bytes" "$T/w1.log"

CG=gen-$RUN
call_in "$CG" "$(num 16)" "$LINE" answered \
    "{\"recorded\":true,\"recording_url\":\"http://127.0.0.1:$FAKE_PORT/rec/generic-$RUN.mp3\"}" asterisk
wait_for 20 rec_is "$CG" fetched asterisk
want=$(jq -r --arg p "/rec/generic-$RUN.mp3" 'select(.path == $p) | .sha256' "$FAKELOG" | head -1)
check_eq "a generic PBX's recording_url: fetched, same bytes" "${want:-none}" \
    "$(q "SELECT encode(sha256(bytes), 'hex') FROM call_recordings WHERE call_pk = $(cv "$CG" id asterisk)")"
CF=gen2-$RUN
call_in "$CF" "$(num 17)" "$LINE" answered '{"recorded":true,"recording_url":"file:///etc/passwd"}' asterisk
wait_for 20 rec_is "$CF" failed asterisk
check_eq "a file:// recording_url is refused: failed, nothing stored" "failed|0" \
    "$(cv "$CF" recording_state asterisk)|$(q "SELECT count(*) FROM call_recordings WHERE call_pk = $(cv "$CF" id asterisk)")"

# --- click-to-call ---------------------------------------------------------
TO=+4930$DIG"33"
$CRMGATE call "030 $DIG 33" --from 101 --wait 20 >"$T/cb.out" 2>&1
rc=$?
check_eq "call NUMBER --from 101: exit 0" 0 "$rc"
rq=$(sed -n 's/^call request \([0-9]*\) queued$/\1/p' "$T/cb.out")
check "the CLI printed 'call request N queued'" test -n "$rq"
check_eq "the CLI printed the worker's result" "callback started: from 101 to $TO" "$(tail -1 "$T/cb.out")"
check_eq "call_requests: done, finished, the result" "done|true|callback started: from 101 to $TO" \
    "$(q "SELECT state || '|' || (finished_at IS NOT NULL) || '|' || result FROM call_requests WHERE id = ${rq:-0}")"
check_eq "the fake got a correctly signed callback request with from and to" "true|true|101|$TO|json" \
    "$(jq -r --arg t "$TO" 'select(.path == "/v1/request/callback/" and .query.to == $t) | "\(.auth_ok)|\(.canon_ok)|\(.query.from)|\(.query.to)|\(.query.format)"' "$FAKELOG" | head -1)"
# the number of a known contact: the request names the record
out=$($CRMGATE --json call "$R5" --from 302 --wait 20)
check_eq "click-to-call a contact's number: done, linked to contact:ID" "done|contact:$ct5" \
    "$(jq -r .state <<<"$out")|$(q "SELECT record_type || ':' || record_id FROM call_requests WHERE id = $(jq -r .request <<<"$out")")"
# the provider refuses
$CRMGATE call "$TO" --from 999 --wait 20 >"$T/cb2.out" 2>&1
check_eq "provider error: exit 1" 1 $?
check "provider error: the CLI prints the provider's message" grep -q "failed: Extension 999 not found" "$T/cb2.out"
check_eq "provider error: request failed with the message" "failed|Extension 999 not found" \
    "$(q "SELECT state || '|' || result FROM call_requests WHERE from_ext = '999' ORDER BY id DESC LIMIT 1")"
# --wait 0 only queues; then a timeout without a worker
stop_worker
$CRMGATE call "$TO" --from 101 --wait 0 >"$T/cb3.out" 2>&1
check_eq "--wait 0: exit 0 after queueing" "0|1" "$?|$(grep -c '^call request [0-9]* queued$' "$T/cb3.out")"
$CRMGATE call "$TO" --from 101 --wait 1 >"$T/cb4.out" 2>&1
check_eq "no worker: EX_TEMPFAIL (75) after --wait" 75 $?
check "the timeout says the request is still queued" grep -q "still queued" "$T/cb4.out"

# --- a wrong key, no key -----------------------------------------------------
start_worker "$T/w2.log" "wrong-$RUN"
wait_for 20 sql_is "SELECT count(*) FROM call_requests WHERE to_e164 = '$TO' AND state = 'queued'" 0
check_eq "wrong key: the queued requests failed with the provider's message" 2 \
    "$(q "SELECT count(*) FROM call_requests WHERE to_e164 = '$TO' AND from_ext = '101' AND state = 'failed' AND result LIKE '%Not authorized%'")"
check "wrong key: the fake saw a bad signature" \
    test "$(jq -r 'select(.path == "/v1/request/callback/" and .auth_ok == false) | .status' "$FAKELOG" | head -1)" = 401
CW=in_recw_$RUN
call_in "$CW" "$(num 18)" "$LINE" answered '{"recorded":true}'
wait_for 20 rec_is "$CW" failed
check_eq "wrong key: the recording fails at once" failed "$(cv "$CW" recording_state)"
stop_worker
start_worker "$T/w3.log" ""
$CRMGATE call "$TO" --from 103 --wait 20 >"$T/cb5.out" 2>&1
check_eq "no key configured: exit 1" 1 $?
check_eq "no key configured: failed, 'voip.zadarma_key is not set'" "failed|voip.zadarma_key is not set" \
    "$(q "SELECT state || '|' || result FROM call_requests WHERE from_ext = '103' ORDER BY id DESC LIMIT 1")"
stop_worker
# the provider unreachable: retried with backoff, failed on the last attempt
start_worker "$T/w4.log" "$KEY" http://127.0.0.1:1
$CRMGATE call "$TO" --from 104 --wait 40 >"$T/cb6.out" 2>&1
check_eq "provider unreachable: exit 1 after the retries" 1 $?
rq6=$(sed -n 's/^call request \([0-9]*\) queued$/\1/p' "$T/cb6.out")
check "provider unreachable: failed with the connection error" \
    grep -qi "request ${rq6:-x} failed: /v1/request/callback/: .*connect" "$T/cb6.out"
check_eq "provider unreachable: the job used its 4 attempts" "discarded|4" \
    "$(q "SELECT state || '|' || attempts FROM jobs WHERE kind = 'voip.callback' AND payload->>'request' = '${rq6:-0}'")"
stop_worker

# --- the lists -------------------------------------------------------------
$CRMGATE call list --json --limit 1000 >"$T/calls.json"
check_eq "call list --json: the documented fields" \
    "answered_at,call_id,direction,disposition,duration,ended_at,extension,id,line_e164,provider,record,recording,remote_e164,remote_number,request_id,started_at,state,task_id,user" \
    "$(jq -r '.calls[0] | keys | join(",")' "$T/calls.json")"
check_eq "call list --json: the missed call with the provider's call id" \
    "zadarma|in|ended|$R1|$LINE|lead:$lead1|no answer|$task1|none" \
    "$(jq -r --arg c "$C1" '.calls[] | select(.call_id == $c) | "\(.provider)|\(.direction)|\(.state)|\(.remote_e164)|\(.line_e164)|\(.record)|\(.disposition)|\(.task_id)|\(.recording)"' "$T/calls.json")"
check_eq "call list --json: the answered call's user is the extension's" "100|" \
    "$(jq -r --arg c "$C2" '.calls[] | select(.call_id == $c) | "\(.extension)|\(.user // "")"' "$T/calls.json")"
check "call list --json: newest first" \
    test "$(jq -r '[.calls[].started_at] | . == (sort | reverse)' "$T/calls.json")" = true
$CRMGATE call list --limit 2 >"$T/calls.txt"
check_eq "call list (table): --limit 2 gives 2 lines" 2 "$(wc -l <"$T/calls.txt")"
$CRMGATE lead list --json >"$T/leads.json"
check_eq "lead list --json: the documented fields" \
    "company_name,created_at,email,id,name,owner,phone,phone_e164,source" \
    "$(jq -r '.leads[0] | keys | join(",")' "$T/leads.json")"
check_eq "lead list --json: the caller's lead (E.164, source, owner)" "$R1|$R1|phone call|$LU" \
    "$(jq -r --argjson id "${lead1:-0}" '.leads[] | select(.id == $id) | "\(.phone)|\(.phone_e164)|\(.source)|\(.owner)"' "$T/leads.json")"
# (by creation time: two workers' transactions may take ids out of order)
check "lead list --json: newest first" \
    test "$(jq -r '[.leads[].created_at] | . == (sort | reverse)' "$T/leads.json")" = true

scripts/stack start worker >/dev/null 2>&1
check "the stack's worker runs again" scripts/stack status worker
if [ -s "$T/sql.err" ]; then
    echo "# sql errors:"
    sed 's/^/#   /' "$T/sql.err" | head -20
fi
