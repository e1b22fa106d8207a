#!/usr/bin/env bash
# tests/voip/t10_webhooks.sh - crmgate-web's VoIP webhooks as a provider
# uses them (TAP): Zadarma's setup check (zd_echo) and its eight signed
# notifications, the generic signed JSON of /voip/events, forged, stale,
# tampered, malformed, huge and repeated deliveries, events out of order,
# the routing answer to NOTIFY_START, the source allowlist (a second
# crmgate-web with a config of its own), the Asterisk example
# (etc/voip/asterisk-crmgate.sh), scripts/voip-replay, and a flood of
# 10,000 signed events in parallel (none lost, none doubled).
#
# Every check reads PostgreSQL (call_events, calls) or an HTTP status and
# body or a program's exit status. The stack is up (tests/run-all.sh) and
# exports CRMGATE_WEB_URL, CRMGATE_ZADARMA_SECRET and
# CRMGATE_VOIP_EVENTS_SECRET; call ids carry this run's token, so the
# checks count only their own rows. VOIP_FLOOD_CALLS (2000) sets the
# flood's size (5 events per call).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$REPO" || exit 1
# shellcheck source=../lib.sh
. "$REPO/tests/lib.sh"
BIN=${CRMGATE_BUILD:-$REPO/build}/bin
CRMGATE="$BIN/crmgate -c $CRMGATE_CONFIG"
T=$(mktemp -d /tmp/crmgate-voip-t10.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT

RUN=$(uniq_id)
U=${CRMGATE_WEB_URL%/}
ZU=$U/voip/zadarma
GU=$U/voip/events
ZS=${CRMGATE_ZADARMA_SECRET:-}
GS=${CRMGATE_VOIP_EVENTS_SECRET:-}
VC=(python3 "$REPO/tests/voip/voip_client.py")
DID=+493022334455
# call_start as Zadarma sends it: local time of the PBX's zone
# (voip.zadarma_timezone = Europe/Berlin in the test config)
CS=$(TZ=Europe/Berlin date -d '-90 sec' '+%Y-%m-%d %H:%M:%S')
CS_UTC=$(date -u -d '-90 sec' '+%Y-%m-%d %H:%M:%S')
# numbers of this run (German, valid): +49 40 55 RR NNNN
R2=$(printf %02d $((RANDOM % 100)))
num() { printf '+494055%s%04d' "$R2" "$1"; }

q() { sql "$1" 2>>"$T/sql.err"; }
zd() { "${VC[@]}" zd "$ZU" "$ZS" "$@"; }
gen() { "${VC[@]}" gen "$GU" "$GS" "$@"; }
# zdi EVENT CALLID CALLER [K=V|OPTION...]: zd with the fields every
# incoming event of a call carries
zdi() {
    local e=$1 id=$2 caller=$3
    shift 3
    zd "$e" "pbx_call_id=$id" "caller_id=$caller" "called_did=$DID" "call_start=$CS" "$@"
}
ev_count() { q "SELECT count(*) FROM call_events WHERE provider = '${2:-zadarma}' AND call_id = '$1'"; }
call_count() { q "SELECT count(*) FROM calls WHERE provider = '${2:-zadarma}' AND call_id = '$1'"; }
# row CALLID [PROVIDER]: the call row's outcome, one line
row() {
    q "SELECT concat_ws('|', direction, state, remote_e164, extension,
                coalesce(disposition, '-'), coalesce(duration_s::text, '-'), recorded)
         FROM calls WHERE provider = '${2:-zadarma}' AND call_id = '$1'"
}
# full CALLID: every column events decide (for comparing two calls)
full() {
    q "SELECT concat_ws('|', direction, state, remote_number, remote_e164,
                remote_last9, line_number, line_e164, extension, user_id,
                disposition, duration_s, status_code, recorded, recording_id,
                started_at, answered_at IS NOT NULL, ended_at IS NOT NULL)
         FROM calls WHERE provider = 'zadarma' AND call_id = '$1'"
}
# status_is NAME EXPECTED "STATUS BODY"
status_is() { check_eq "$1" "$2" "${3%% *}"; }
body_of() { echo "${1#* }"; }
json_eq() { "${VC[@]}" json-eq "$1" "$2"; }

# --- the stack hands the secrets over ---------------------------------------
check "the stack exports CRMGATE_ZADARMA_SECRET" test -n "$ZS"
check "the stack exports CRMGATE_VOIP_EVENTS_SECRET" test -n "$GS"

# --- zd_echo: the provider's setup check --------------------------------------
out=$(curl -s -o "$T/echo" -w '%{http_code}' "$ZU?zd_echo=Zx9-$RUN")
check_eq "zd_echo: 200" 200 "$out"
check_eq "zd_echo: the body is exactly the value" "Zx9-$RUN" "$(cat "$T/echo")"
big=$(head -c 5000 /dev/zero | tr '\0' 'e')
out=$(curl -s -o "$T/echo" -w '%{http_code}' "$ZU?zd_echo=$big")
check "zd_echo: a 5000-byte value is refused (4xx)" test "${out:0:1}" = 4
check "zd_echo: ... and not echoed" test "$(grep -c "$big" "$T/echo")" = 0
out=$(curl -s -o "$T/echo" -D "$T/echo.h" -w '%{http_code}' \
    "$ZU?zd_echo=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
check "zd_echo: markup is never answered as text/html" \
    bash -c "! grep -qi '^content-type: *text/html' '$T/echo.h'"

# --- the eight notifications, signed right: each stored --------------------
A=zd-$RUN-all
CA=$(num 1)
REC=rec-$RUN-a
out=$(zdi NOTIFY_START "$A" "$CA")
status_is "NOTIFY_START: 200" 200 "$out"
check "NOTIFY_START of an unknown caller: the answer is {}" json_eq '{}' "$(body_of "$out")"
check_eq "NOTIFY_START: the call row exists at once, ringing, incoming" "in|ringing" \
    "$(q "SELECT direction || '|' || state FROM calls WHERE provider = 'zadarma' AND call_id = '$A'")"
out=$(zdi NOTIFY_IVR "$A" "$CA")
status_is "NOTIFY_IVR: 200" 200 "$out"
out=$(zdi NOTIFY_INTERNAL "$A" "$CA" internal=101)
status_is "NOTIFY_INTERNAL: 200" 200 "$out"
out=$(zd NOTIFY_ANSWER "caller_id=$CA" destination=101 "call_start=$CS" "pbx_call_id=$A" internal=101)
status_is "NOTIFY_ANSWER: 200" 200 "$out"
check_eq "NOTIFY_ANSWER: the call is answered by 101" "answered|101" \
    "$(q "SELECT state || '|' || extension FROM calls WHERE provider = 'zadarma' AND call_id = '$A'")"
out=$(zdi NOTIFY_END "$A" "$CA" internal=101 duration=42 disposition=answered \
    status_code=16 is_recorded=1 "call_id_with_rec=$REC")
status_is "NOTIFY_END: 200" 200 "$out"
out=$(zd NOTIFY_RECORD "call_id_with_rec=$REC" "pbx_call_id=$A")
status_is "NOTIFY_RECORD: 200" 200 "$out"
check_eq "incoming: one call_events row per event, as the provider named it" \
    "NOTIFY_ANSWER,NOTIFY_END,NOTIFY_INTERNAL,NOTIFY_IVR,NOTIFY_RECORD,NOTIFY_START" \
    "$(q "SELECT string_agg(event, ',' ORDER BY event) FROM call_events WHERE provider = 'zadarma' AND call_id = '$A'")"
check_eq "incoming: fields.kind of each event" "answer,end,internal,ivr,record,start" \
    "$(q "SELECT string_agg(fields->>'kind', ',' ORDER BY fields->>'kind') FROM call_events WHERE provider = 'zadarma' AND call_id = '$A'")"
check_eq "incoming: the raw payload is kept (pbx_call_id, call_id_with_rec)" "$A|$REC" \
    "$(q "SELECT payload->>'pbx_call_id' || '|' || (payload->>'call_id_with_rec') FROM call_events WHERE provider = 'zadarma' AND call_id = '$A' AND event = 'NOTIFY_RECORD'")"
check_eq "incoming: one calls row with the final state" "in|ended|$CA|101|answered|42|t" "$(row "$A")"
check_eq "incoming: our line, the recording id, the start (call_start in Europe/Berlin)" \
    "$DID|$REC|$CS_UTC" \
    "$(q "SELECT concat_ws('|', line_e164, recording_id, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')) FROM calls WHERE provider = 'zadarma' AND call_id = '$A'")"
check_eq "incoming: one row in calls" 1 "$(call_count "$A")"

B=zd-$RUN-out
CB=$(num 2)
out=$(zd NOTIFY_OUT_START "call_start=$CS" "pbx_call_id=$B" internal=102 "destination=$CB" "caller_id=$DID")
status_is "NOTIFY_OUT_START: 200" 200 "$out"
out=$(zd NOTIFY_OUT_END "call_start=$CS" "pbx_call_id=$B" internal=102 "destination=$CB" \
    "caller_id=$DID" duration=17 disposition=busy status_code=17 is_recorded=0 call_id_with_rec=)
status_is "NOTIFY_OUT_END: 200" 200 "$out"
check_eq "outgoing: both events stored" "NOTIFY_OUT_END,NOTIFY_OUT_START" \
    "$(q "SELECT string_agg(event, ',' ORDER BY event) FROM call_events WHERE provider = 'zadarma' AND call_id = '$B'")"
check_eq "outgoing: the calls row (out, the dialled number is the remote party)" \
    "out|ended|$CB|102|busy|17|f" "$(row "$B")"

# --- forged, missing, misapplied signatures: 403 and nothing stored ----------
F=zd-$RUN-forged
CF=$(num 3)
total0=$(q "SELECT count(*) FROM call_events")
calls0=$(q "SELECT count(*) FROM calls")
{
    out=$(zdi NOTIFY_START "$F" "$CF" --sig "$(printf 'forged' | base64)")
    status_is "forged Signature: 403" 403 "$out"
    out=$(zdi NOTIFY_START "$F" "$CF" --no-sig)
    status_is "no Signature header: 403" 403 "$out"
    out=$(zdi NOTIFY_START "$F" "$CF" --sig '')
    status_is "an empty Signature header: 403" 403 "$out"
    out=$(zdi NOTIFY_END "$F" "$CF" duration=5 disposition=busy --sign-as NOTIFY_ANSWER)
    status_is "the signature string of another event (ANSWER's for an END): 403" 403 "$out"
    out=$(zd NOTIFY_OUT_START "call_start=$CS" "pbx_call_id=$F" internal=101 "destination=$CF" \
        "caller_id=$DID" --sign-as NOTIFY_START)
    status_is "OUT_START signed like a START: 403" 403 "$out"
    out=$(zdi NOTIFY_START "$F" "$CF" --secret2 "not-the-$RUN-secret")
    status_is "signed with another secret: 403" 403 "$out"
    out=$(zdi NOTIFY_START "$F" "$CF" --tamper "caller_id=$(num 4)")
    status_is "caller_id changed after signing: 403" 403 "$out"
    out=$(zdi NOTIFY_START "$F" "$CF" --tamper "call_start=2020-01-01 00:00:00")
    status_is "call_start changed after signing: 403" 403 "$out"
    out=$(zd NOTIFY_RECORD "call_id_with_rec=rec-$RUN-f" "pbx_call_id=$F" --tamper "call_id_with_rec=rec-$RUN-x")
    status_is "RECORD: call_id_with_rec changed after signing: 403" 403 "$out"
    hexsig=$(printf '%s' "$CF$DID$CS" | openssl dgst -sha1 -hmac "$ZS" | sed 's/^.*= *//')
    out=$(zdi NOTIFY_START "$F" "$CF" --sig "$hexsig")
    status_is "the hex HMAC without its base64: 403" 403 "$out"
    out=$(zdi NOTIFY_START "$F" "$CF" --sig "$(printf '%s' "$hexsig" | tr a-f A-F | base64 -w0)")
    status_is "base64 of UPPERCASE hex: 403" 403 "$out"
}
check_eq "forged deliveries: no call_events row for the call" 0 "$(ev_count "$F")"
check_eq "forged deliveries: no calls row for the call" 0 "$(call_count "$F")"
check_eq "forged deliveries: call_events and calls unchanged" "$total0 $calls0" \
    "$(q "SELECT count(*) FROM call_events") $(q "SELECT count(*) FROM calls")"

# --- malformed, invalid, huge: refused, nothing stored -------------------------
M=zd-$RUN-bad
{
    out=$(zdi NOTIFY_BOGUS "$M-1" "$CF")
    check "an unknown event (NOTIFY_BOGUS): 400 or 403, not stored" \
        test "${out%% *}" = 400 -o "${out%% *}" = 403
    out=$(zd NOTIFY_START "caller_id=$CF" "called_did=$DID" "call_start=$CS")
    status_is "NOTIFY_START without pbx_call_id: 400" 400 "$out"
    out=$(zdi NOTIFY_START "$M-2" "%FF%FE%C0%AF")
    # the form reader repairs invalid UTF-8 before the signature is
    # checked, so the signed bytes no longer match: refused either way
    check "caller_id that is not UTF-8 (signed over its bytes): 400 or 403 ($out)" \
        test "${out%% *}" = 400 -o "${out%% *}" = 403
    out=$(zdi NOTIFY_START "$(head -c 201 /dev/zero | tr '\0' c)" "$CF")
    status_is "a 201-byte pbx_call_id: 400" 400 "$out"
    out=$(zd NOTIFY_START "pbx_call_id=$M-3" "caller_id=$CF" "called_did=$DID" "call_start=yesterday")
    status_is "call_start that is not a time: 400" 400 "$out"
    out=$(zdi NOTIFY_END "$M-4" "$CF" internal=101 duration=-5 disposition=answered)
    status_is "a negative duration: 400" 400 "$out"
}
python3 -c "import sys; sys.stdout.write('event=NOTIFY_START&pbx_call_id=$M-5&caller_id=' + 'x' * (2 << 20))" >"$T/huge.form"
out=$(curl -s -o /dev/null -w '%{http_code}' -H 'Signature: eA==' \
    -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$T/huge.form" "$ZU")
check_eq "a 2 MiB notification: 413" 413 "$out"
check_eq "refused notifications: nothing stored" 0 \
    "$(q "SELECT count(*) FROM call_events WHERE call_id LIKE '$M-%' OR length(call_id) > 200")"

# --- duplicates: the same event five times is one row ------------------------
D=zd-$RUN-dup
CD=$(num 5)
codes=
for _ in 1 2 3 4 5; do
    out=$(zdi NOTIFY_START "$D" "$CD")
    codes="$codes${out%% *} "
    out=$(zdi NOTIFY_END "$D" "$CD" internal=101 duration=0 disposition=cancel status_code=16)
    codes="$codes${out%% *} "
done
check_eq "a re-delivered event is answered 200 each time" "200 200 200 200 200 200 200 200 200 200 " "$codes"
check_eq "START and END five times each: two call_events rows" 2 "$(ev_count "$D")"
check_eq "... one calls row" 1 "$(call_count "$D")"
check_eq "... with the outcome of one delivery" "in|ended|$CD|101|cancel|0|f" "$(row "$D")"

# --- out of order: the same final row as in order -----------------------------
CO=$(num 6)
send_ordered() { # CALLID EVENT...
    local id=$1 e
    shift
    for e in "$@"; do
        case $e in
        S) zdi NOTIFY_START "$id" "$CO" ;;
        I) zdi NOTIFY_INTERNAL "$id" "$CO" internal=101 ;;
        A) zd NOTIFY_ANSWER "caller_id=$CO" destination=101 "call_start=$CS" "pbx_call_id=$id" internal=101 ;;
        E) zdi NOTIFY_END "$id" "$CO" internal=101 duration=42 disposition=answered status_code=16 is_recorded=0 call_id_with_rec= ;;
        esac
    done | awk '{ print $1 }' | tr '\n' ' '
}
check_eq "in order (START INTERNAL ANSWER END): all 200" "200 200 200 200 " \
    "$(send_ordered "zd-$RUN-o1" S I A E)"
check_eq "reversed (END ANSWER INTERNAL START): all 200" "200 200 200 200 " \
    "$(send_ordered "zd-$RUN-o2" E A I S)"
check_eq "ANSWER before START: all 200" "200 200 200 200 " \
    "$(send_ordered "zd-$RUN-o3" A S I E)"
check_eq "in order: the expected row" "in|ended|$CO|101|answered|42|f" "$(row "zd-$RUN-o1")"
o1=$(full "zd-$RUN-o1")
check_eq "END before START: the same calls row as in order" "$o1" "$(full "zd-$RUN-o2")"
check_eq "ANSWER before START: the same calls row as in order" "$o1" "$(full "zd-$RUN-o3")"
check_eq "out of order: one calls row each" "1 1" "$(call_count "zd-$RUN-o2") $(call_count "zd-$RUN-o3")"

# --- NOTIFY_START's answer: the route to the owner's extension -------------------
EXT=$((5000 + RANDOM % 4000))
OWNER=voip-owner-$RUN@example.com
$CRMGATE user add "$OWNER" --name "Vera Voip" --role manager --extension "$EXT" >"$T/o" 2>&1
check_eq "user add --extension $EXT: exit 0" 0 $?
$CRMGATE user add "voip-noext-$RUN@example.com" --name "Nico Noext" --role manager >"$T/o" 2>&1
check_eq "user add without an extension: exit 0" 0 $?
KNOWN=$(num 7)
NOEXT=$(num 8)
q "INSERT INTO contacts (first_name, last_name, email, email_norm, phone, phone_e164, owner_id)
   SELECT 'Karl', 'Kunde', 'karl-$RUN@kunde.test', 'karl-$RUN@kunde.test', '$KNOWN', '$KNOWN', id
     FROM users WHERE email_norm = '$OWNER';
   INSERT INTO contacts (first_name, last_name, email, email_norm, phone, phone_e164, owner_id)
   SELECT 'Otto', 'Ohne', 'otto-$RUN@kunde.test', 'otto-$RUN@kunde.test', '$NOEXT', '$NOEXT', id
     FROM users WHERE email_norm = 'voip-noext-$RUN@example.com'" >/dev/null
check_eq "two contacts with phones (psql)" 2 \
    "$(q "SELECT count(*) FROM contacts WHERE email_norm IN ('karl-$RUN@kunde.test', 'otto-$RUN@kunde.test') AND phone_last9 IS NOT NULL")"
out=$(zdi NOTIFY_START "zd-$RUN-known" "$KNOWN")
status_is "START from a known caller: 200" 200 "$out"
check "START from a known caller: {\"redirect\": \"$EXT\", \"caller_name\": \"Karl Kunde\"} (got $(body_of "$out"))" \
    json_eq "{\"redirect\": \"$EXT\", \"caller_name\": \"Karl Kunde\"}" "$(body_of "$out")"
national=0${KNOWN#+49}
out=$(zdi NOTIFY_START "zd-$RUN-known-nat" "$national")
check "START from the same caller in national form ($national): the same route" \
    json_eq "{\"redirect\": \"$EXT\", \"caller_name\": \"Karl Kunde\"}" "$(body_of "$out")"
out=$(zdi NOTIFY_START "zd-$RUN-noext" "$NOEXT")
check "START for a contact whose owner has no extension: only caller_name (got $(body_of "$out"))" \
    json_eq '{"caller_name": "Otto Ohne"}' "$(body_of "$out")"
out=$(zdi NOTIFY_START "zd-$RUN-unknown" "$(num 9)")
status_is "START from an unknown caller: 200" 200 "$out"
check_eq "START from an unknown caller: exactly {}" "{}" "$(body_of "$out" | tr -d ' ')"
out=$(zdi NOTIFY_START "zd-$RUN-known" "$KNOWN")
check "a re-delivered START is routed again, the same way" \
    json_eq "{\"redirect\": \"$EXT\", \"caller_name\": \"Karl Kunde\"}" "$(body_of "$out")"

# --- the generic JSON webhook ----------------------------------------------------
G=g-$RUN
CG=$(num 10)
gbody() { # CALLID EVENT [EXTRA_JSON_MEMBERS]
    printf '{"provider":"asterisk","call_id":"%s","event":"%s","from":"%s","to":"%s","time":%s%s}' \
        "$1" "$2" "$CG" "$DID" "$(date +%s)" "${3:+,$3}"
}
out=$(gen "$(gbody "$G-1" start)")
status_is "generic start: 200" 200 "$out"
check_eq "generic start: stored (provider asterisk, kind start)" "1|start" \
    "$(q "SELECT count(*) || '|' || min(fields->>'kind') FROM call_events WHERE provider = 'asterisk' AND call_id = '$G-1'")"
check_eq "generic start: the call row (in, ringing, caller)" "in|ringing|$CG" \
    "$(q "SELECT concat_ws('|', direction, state, remote_e164) FROM calls WHERE provider = 'asterisk' AND call_id = '$G-1'")"
out=$(gen "$(gbody "$G-1" answer '"extension":"101"')")
status_is "generic answer: 200" 200 "$out"
out=$(gen "$(gbody "$G-1" answer '"extension":"102"')")
status_is "generic answer by another extension: 200" 200 "$out"
out=$(gen "$(gbody "$G-1" end '"extension":"102","disposition":"answered","duration":33')")
status_is "generic end: 200" 200 "$out"
check_eq "generic: answers by two extensions are two events (dedupe by extension)" 4 "$(ev_count "$G-1" asterisk)"
check_eq "generic: the final row (the last to answer)" "in|ended|$CG|102|answered|33|f" "$(row "$G-1" asterisk)"
out=$(gen "{\"provider\":\"pbx-2\",\"call_id\":\"$G-2\",\"event\":\"out_start\",\"from\":\"$DID\",\"to\":\"$CG\",\"extension\":\"101\"}")
status_is "generic out_start (no time: now): 200" 200 "$out"
check_eq "generic out_start: outgoing, the called number is the remote party" "out|ringing|$CG|101" \
    "$(q "SELECT concat_ws('|', direction, state, remote_e164, extension) FROM calls WHERE provider = 'pbx-2' AND call_id = '$G-2'")"
out=$(gen "{\"call_id\":\"$G-3\",\"event\":\"start\",\"from\":\"$CG\",\"id\":\"e1\"}")
status_is "generic without a provider: 200" 200 "$out"
out=$(gen "{\"call_id\":\"$G-3\",\"event\":\"start\",\"from\":\"$CG\",\"id\":\"e1\"}")
check_eq "generic: the provider defaults to pbx; the same id is one row" 1 "$(ev_count "$G-3" pbx)"
out=$(gen "$(gbody "$G-4" start)" --ts-offset -280)
status_is "generic: a timestamp 280 s old (inside the window): 200" 200 "$out"

# the same signed request twice within the window (a replay): one row
ts=$(date +%s)
out1=$(gen "$(gbody "$G-5" start)" --ts "$ts")
out2=$(gen "$(gbody "$G-5" start)" --ts "$ts")
check_eq "generic: a replayed request is answered 200 both times" "200 200" "${out1%% *} ${out2%% *}"
check_eq "generic: a replayed request is stored once" 1 "$(ev_count "$G-5" asterisk)"

gbad() { # NAME EXPECTED CALLID-SUFFIX BODY [OPTIONS]
    local name=$1 want=$2 body=$4
    shift 4
    out=$(gen "$body" "$@")
    status_is "generic: $name: $want" "$want" "$out"
}
gbad "a timestamp 301 s old" 403 x1 "$(gbody "$G-x1" start)" --ts-offset -301
gbad "a timestamp 301 s ahead" 403 x2 "$(gbody "$G-x2" start)" --ts-offset 301
gbad "a timestamp that is not a number" 403 x3 "$(gbody "$G-x3" start)" --ts 17e8
gbad "a wrong signature (64 zeros)" 403 x4 "$(gbody "$G-x4" start)" --sig "$(printf '0%.0s' {1..64})"
gbad "a signature of another body" 403 x5 "$(gbody "$G-x5" start)" --tamper-body "$(gbody "$G-x5" end)"
gbad "the body changed after signing" 403 x6 "$(gbody "$G-x6" start)" --tamper-body "$(gbody "$G-x6" start ' ')"
gbad "no X-Crmgate-Timestamp" 403 x7 "$(gbody "$G-x7" start)" --no-ts
gbad "no X-Crmgate-Signature" 403 x8 "$(gbody "$G-x8" start)" --no-sig
gbad "neither header" 403 x9 "$(gbody "$G-x9" start)" --no-ts --no-sig
gbad "malformed JSON" 400 y1 "{\"call_id\":\"$G-y1\",\"event\":\"start\""
gbad "a JSON array" 400 y2 "[\"$G-y2\"]"
gbad "no call_id" 400 y3 '{"event":"start","from":"+4940555"}'
gbad "an unknown event" 400 y4 "{\"call_id\":\"$G-y4\",\"event\":\"ringing\"}"
gbad "a provider name with capitals and a space" 400 y5 "{\"provider\":\"Bad PBX\",\"call_id\":\"$G-y5\",\"event\":\"start\"}"
gbad "a string that is not UTF-8" 400 y6 "" --body-hex "$(printf '{"call_id":"%s","event":"start","from":"' "$G-y6" | od -An -tx1 | tr -d ' \n')ff fe22 7d"
# gen_huge BYTES: a signed generic body of about BYTES, sent by curl
# (which reads an early 413 while it is still sending); prints the status
gen_huge() {
    local ts sig
    python3 -c "import json, sys; sys.stdout.write(json.dumps({'call_id': '$G-y7', 'event': 'start', 'from': 'x' * $1}))" >"$T/huge.json"
    ts=$(date +%s)
    sig=$({ printf '%s.' "$ts"; cat "$T/huge.json"; } | openssl dgst -sha256 -hmac "$GS" | sed 's/^.*= *//')
    curl -s -o /dev/null -w '%{http_code}' -H "X-Crmgate-Timestamp: $ts" \
        -H "X-Crmgate-Signature: $sig" -H 'Content-Type: application/json' \
        --data-binary @"$T/huge.json" "$GU"
}
check_eq "generic: a 70 KB body (signed; over the generic 64 KiB): 413" 413 "$(gen_huge 70000)"
check_eq "generic: a 2 MiB body (signed; over web.body_bytes): 413" 413 "$(gen_huge $((2 << 20)))"
check_eq "generic: refused requests stored nothing" 0 \
    "$(q "SELECT count(*) FROM call_events WHERE call_id LIKE '$G-x%' OR call_id LIKE '$G-y%' OR call_id = 'huge'")"

# --- the Asterisk example (etc/voip/asterisk-crmgate.sh) ---------------------------
AST=$REPO/etc/voip/asterisk-crmgate.sh
AC=ast-$RUN.1
CAST=$(num 11)
ast() { CRMGATE_VOIP_EVENTS_URL=$GU CRMGATE_VOIP_EVENTS_SECRET=$GS "$AST" "$@"; }
out=$(ast start "$AC" "$CAST" "$DID" 2>&1)
check_eq "asterisk-crmgate.sh start: exit 0 (answer: $out)" 0 $?
check "asterisk-crmgate.sh start: prints the route answer (JSON)" json_eq '{}' "$out"
ast answer "$AC" "$CAST" "$DID" 101 >/dev/null 2>&1
check_eq "asterisk-crmgate.sh answer: exit 0" 0 $?
ast end "$AC" "$CAST" "$DID" 101 ANSWER 61 >/dev/null 2>&1
check_eq "asterisk-crmgate.sh end ... ANSWER 61: exit 0" 0 $?
check_eq "asterisk-crmgate.sh: three events stored" "answer,end,start" \
    "$(q "SELECT string_agg(fields->>'kind', ',' ORDER BY fields->>'kind') FROM call_events WHERE provider = 'asterisk' AND call_id = '$AC'")"
check_eq "asterisk-crmgate.sh: the call row (DIALSTATUS ANSWER mapped)" "in|ended|$CAST|101|answered|61|f" \
    "$(row "$AC" asterisk)"
ast end "ast-$RUN.2" "$CAST" "$DID" 101 NOANSWER 0 >/dev/null 2>&1
check_eq "asterisk-crmgate.sh end ... NOANSWER: 'no answer'" "no answer" \
    "$(q "SELECT disposition FROM calls WHERE provider = 'asterisk' AND call_id = 'ast-$RUN.2'")"
CRMGATE_VOIP_EVENTS_URL=$GU CRMGATE_VOIP_EVENTS_SECRET=wrong-$RUN "$AST" start "ast-$RUN.3" "$CAST" "$DID" >/dev/null 2>&1
check_eq "asterisk-crmgate.sh with a wrong secret: exit 1" 1 $?
check_eq "asterisk-crmgate.sh with a wrong secret: nothing stored" 0 "$(ev_count "ast-$RUN.3" asterisk)"
"$AST" bogus x y z >/dev/null 2>&1
check_eq "asterisk-crmgate.sh with an unknown event: exit 2" 2 $?

# --- scripts/voip-replay: every scenario, as Zadarma sends it ----------------------
VR=$REPO/scripts/voip-replay
CR=$(num 12)
declare -A WANT=(
    [answered]="in|ended|$CR|101|answered|42|f"
    [missed]="in|ended|$CR|101|no answer|0|f"
    [busy]="in|ended|$CR|101|busy|0|f"
    [cancel]="in|ended|$CR|101|cancel|0|f"
    [outgoing]="out|ended|$CR|101|answered|42|f"
    [recorded]="in|ended|$CR|101|answered|42|t"
    [transferred]="in|ended|$CR|102|answered|42|f"
    [ivr]="in|ended|$CR|101|answered|42|f"
)
declare -A NEV=([answered]=4 [missed]=3 [busy]=3 [cancel]=3 [outgoing]=2 [recorded]=5
    [transferred]=6 [ivr]=5)
for s in answered missed busy cancel outgoing recorded transferred ivr; do
    "$VR" --url "$ZU" --secret "$ZS" --scenario "$s" --caller "$CR" --did "$DID" \
        --ext 101 --ext2 102 --call-id "rp-$RUN-$s" >"$T/rp.out" 2>&1
    check_eq "voip-replay --scenario $s: exit 0 ($(tail -n 1 "$T/rp.out"))" 0 $?
    check_eq "voip-replay --scenario $s: ${NEV[$s]} events stored" "${NEV[$s]}" "$(ev_count "rp-$RUN-$s")"
    check_eq "voip-replay --scenario $s: the calls row" "${WANT[$s]}" "$(row "rp-$RUN-$s")"
done
check "voip-replay prints START's answer" grep -q "^NOTIFY_START rp-$RUN-ivr -> {" "$T/rp.out"
"$VR" --url "$ZU" --secret "$ZS" --scenario answered --caller "$CR" --did "$DID" --ext 101 \
    --call-id "rp-$RUN-shuf" --shuffle --repeat 3 --print >"$T/rp.out" 2>&1
check_eq "voip-replay --shuffle --repeat 3: exit 0" 0 $?
check_eq "voip-replay --print: one line per request (12)" 12 "$(grep -c '^POST ' "$T/rp.out")"
check_eq "voip-replay --shuffle --repeat 3: still 4 events" 4 "$(ev_count "rp-$RUN-shuf")"
check_eq "voip-replay --shuffle --repeat 3: the row of the in-order replay" \
    "${WANT[answered]}" "$(row "rp-$RUN-shuf")"
"$VR" --url "$ZU" --secret "wrong-$RUN" --scenario missed --call-id "rp-$RUN-wrong" >"$T/rp.out" 2>&1
check_eq "voip-replay with a wrong secret: exit 1" 1 $?
check_eq "voip-replay with a wrong secret: nothing stored" 0 "$(ev_count "rp-$RUN-wrong")"
"$VR" --url "http://127.0.0.1:1/voip/zadarma" --secret x >"$T/rp.out" 2>&1
check_eq "voip-replay against nothing listening: exit 1" 1 $?
"$VR" --url "$ZU" --secret x --scenario nosuch >"$T/rp.out" 2>&1
check_eq "voip-replay --scenario nosuch: exit 2" 2 $?

# --- the source allowlist (voip.allow): a web of its own with its own config ------------
# start_web NAME ALLOW: crmgate-web on a free port with the test config plus
# voip { allow = ALLOW }; sets WURL
start_web() {
    local name=$1 allow=$2 port conf=$T/$1.conf
    port=$(python3 "$REPO/tests/bench/benchutil.py" free-port $((CRMGATE_WEB_PORT + 11))) || return 1
    # the test config with absolute paths and an allow line in its voip section
    sed -e "s|\"\\.\\./|\"$REPO/|g" -e "/^voip {/a\\    allow = $allow" "$CRMGATE_CONFIG" >"$conf"
    CRMGATE_WEB_PORT=$port CRMGATE_WEB_LISTEN=127.0.0.1 \
        "$BIN/crmgate-web" -c "$conf" >"$T/$name.log" 2>&1 &
    PIDS+=($!)
    WURL=http://127.0.0.1:$port
    wait_for 10 curl -fsS -o /dev/null "$WURL/healthz"
}
if start_web deny '{"192.0.2.1", "198.51.100.0/24"}'; then
    ok "crmgate-web with voip.allow = 192.0.2.1, 198.51.100.0/24 started"
    out=$("${VC[@]}" zd "$WURL/voip/zadarma" "$ZS" NOTIFY_START "pbx_call_id=al-$RUN-1" "caller_id=$CF" "called_did=$DID" "call_start=$CS")
    status_is "allowlist: a signed START from 127.0.0.1 (not listed): 403" 403 "$out"
    out=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 192.0.2.1' "$WURL/voip/zadarma?zd_echo=e$RUN")
    check "allowlist: zd_echo from 127.0.0.1 claiming X-Forwarded-For 192.0.2.1: refused" test "$out" != 200
    out=$("${VC[@]}" gen "$WURL/voip/events" "$GS" "{\"call_id\":\"al-$RUN-2\",\"event\":\"start\"}")
    status_is "allowlist: a signed generic event from 127.0.0.1: 403" 403 "$out"
    check_eq "allowlist: nothing stored from an address not listed" 0 \
        "$(q "SELECT count(*) FROM call_events WHERE call_id IN ('al-$RUN-1', 'al-$RUN-2')")"
else
    not_ok "crmgate-web with voip.allow = 192.0.2.1 did not start: $(tail -n 3 "$T/deny.log")"
fi
if start_web allow '{"10.0.0.0/8", "127.0.0.1"}'; then
    ok "crmgate-web with voip.allow = 10.0.0.0/8, 127.0.0.1 started"
    out=$("${VC[@]}" zd "$WURL/voip/zadarma" "$ZS" NOTIFY_START "pbx_call_id=al-$RUN-3" "caller_id=$CF" "called_did=$DID" "call_start=$CS")
    status_is "allowlist: a signed START from a listed address: 200" 200 "$out"
    check_eq "allowlist: ... stored" 1 "$(ev_count "al-$RUN-3")"
else
    not_ok "crmgate-web with voip.allow = 127.0.0.1 did not start: $(tail -n 3 "$T/allow.log")"
fi

# --- the flood: 10,000 signed events in parallel, twice ---------------------------
N=${VOIP_FLOOD_CALLS:-2000}
FL=fl-$RUN
flood_ok() { # what the flood client printed
    local s=$1
    [[ $s == "sent $((N * 5)) ok $((N * 5)) http4xx 0 failed 0 "* ]]
}
out=$("${VC[@]}" flood "$ZU" "$ZS" "$FL" "$N" 16 101 "$CS")
echo "# flood 1: $out"
check "flood: $((N * 5)) events of $N calls over 16 connections, every answer 2xx ($out)" flood_ok "$out"
check_eq "flood: exactly $((N * 5)) call_events rows" $((N * 5)) \
    "$(q "SELECT count(*) FROM call_events WHERE provider = 'zadarma' AND call_id LIKE '$FL-%'")"
check_eq "flood: exactly $N calls rows" "$N" \
    "$(q "SELECT count(*) FROM calls WHERE provider = 'zadarma' AND call_id LIKE '$FL-%'")"
flood_bad() { q "SELECT count(*) FROM ($(flood_bad_rows)) x"; }
flood_bad_rows() {
    echo "SELECT concat_ws('|', call_id, direction, state, extension, disposition, duration_s,
                remote_number, remote_e164, line_e164, answered_at, ended_at, started_at) FROM calls
        WHERE provider = 'zadarma' AND call_id LIKE '$FL-%'
          AND ((direction, state, extension, disposition, duration_s, remote_number,
                remote_e164, line_e164)
              IS DISTINCT FROM
              ('in', 'ended', '101', 'answered', 42,
               '+49407' || lpad(split_part(call_id, '-', 3), 7, '0'),
               '+49407' || lpad(split_part(call_id, '-', 3), 7, '0'), '$DID')
           OR answered_at IS NULL OR ended_at IS NULL OR started_at IS NULL)"
}
check_eq "flood: every calls row has its final state (in, ended, 101, answered, 42 s, its caller)" 0 "$(flood_bad)"
q "$(flood_bad_rows) LIMIT 3" | sed 's/^/#   not final: /'
check_eq "flood: five events for every call" 0 \
    "$(q "SELECT count(*) FROM (SELECT call_id FROM call_events WHERE provider = 'zadarma' AND call_id LIKE '$FL-%' GROUP BY call_id HAVING count(*) <> 5) x")"
out=$("${VC[@]}" flood "$ZU" "$ZS" "$FL" "$N" 16 101 "$CS")
echo "# flood 2 (the same events again): $out"
check "flood again: every re-delivery answered 2xx ($out)" flood_ok "$out"
check_eq "flood again: still $((N * 5)) call_events rows (none doubled)" $((N * 5)) \
    "$(q "SELECT count(*) FROM call_events WHERE provider = 'zadarma' AND call_id LIKE '$FL-%'")"
check_eq "flood again: still $N calls rows, all in their final state" "$N 0" \
    "$(q "SELECT count(*) FROM calls WHERE provider = 'zadarma' AND call_id LIKE '$FL-%'") $(flood_bad)"

if [ -s "$T/sql.err" ]; then
    not_ok "psql reported errors: $(head -c 300 "$T/sql.err")"
else
    ok "no psql errors"
fi
