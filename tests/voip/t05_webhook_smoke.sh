#!/usr/bin/env bash
# tests/voip/t05_webhook_smoke.sh - a quick check of the webhooks of
# crmgate-web against the test stack (web/pages_voip.c): Zadarma's
# zd_echo, a signed NOTIFY_START for a known caller answered with the
# route, a re-delivery that stores nothing new, forged and unsigned events
# refused with 403 and no row, a bad call_start 400, the generic JSON
# signed, stale and changed. Every check reads the HTTP status and body
# and the rows in PostgreSQL. (The full replay is t10_webhooks.sh.)
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$REPO" || exit 1
# shellcheck source=../lib.sh
. "$REPO/tests/lib.sh"
BIN=${CRMGATE_BUILD:-$REPO/build}/bin
CRMGATE="$BIN/crmgate -c $CRMGATE_CONFIG"
BASE=http://127.0.0.1:$CRMGATE_WEB_PORT
ZD=$BASE/voip/zadarma
RUN=$(uniq_id)
T=$(mktemp -d /tmp/crmgate-voip-smoke.XXXXXX)
trap 'rm -rf "$T"' EXIT

# zsig EVENT_STRING: the Signature Zadarma sends.
zsig() {
    python3 -c 'import hmac,hashlib,base64,os,sys
print(base64.b64encode(hmac.new(os.environ["CRMGATE_ZADARMA_SECRET"].encode(), sys.argv[1].encode(), hashlib.sha1).hexdigest().encode()).decode())' "$1"
}
# gsig TS BODY: X-Crmgate-Signature.
gsig() {
    python3 -c 'import hmac,hashlib,os,sys
print(hmac.new(os.environ["CRMGATE_VOIP_EVENTS_SECRET"].encode(), (sys.argv[1] + "." + sys.argv[2]).encode(), hashlib.sha256).hexdigest())' "$1" "$2"
}
# post URL SIGNATURE FIELD=VALUE...: status in $T/code, body in $T/body.
post() {
    local url=$1 sig=$2 args=() kv
    shift 2
    for kv in "$@"; do args+=(--data-urlencode "$kv"); done
    curl -s -o "$T/body" -w '%{http_code}' ${sig:+-H "Signature: $sig"} \
        "${args[@]}" "$url" >"$T/code"
}
# gpost TS SIG BODY
gpost() {
    curl -s -o "$T/body" -w '%{http_code}' -H "X-Crmgate-Timestamp: $1" \
        -H "X-Crmgate-Signature: $2" -H 'Content-Type: application/json' \
        --data-binary "$3" "$BASE/voip/events" >"$T/code"
}
events_of() { sql "SELECT count(*) FROM call_events WHERE call_id = '$1'"; }

if [ -z "${CRMGATE_ZADARMA_SECRET:-}" ] || [ -z "${CRMGATE_VOIP_EVENTS_SECRET:-}" ]; then
    not_ok "voip smoke: the stack exports no CRMGATE_ZADARMA_SECRET / CRMGATE_VOIP_EVENTS_SECRET"
    exit 0
fi

# zd_echo
check_eq "voip smoke: GET ?zd_echo=X answers X" "200 abc-$RUN" \
    "$(curl -s -w ' %{http_code}' "$ZD?zd_echo=abc-$RUN" | awk '{print $2, $1}')"
long=$(head -c 201 /dev/zero | tr '\0' 'a')
check_eq "voip smoke: zd_echo over 200 bytes is 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$ZD?zd_echo=$long")"

# a known caller: contact owned by a manager with an extension
ext=$((RANDOM % 800 + 100))
sub=$(printf '%07d' $((RANDOM * 32768 % 10000000 + RANDOM)))
sub=${sub: -7}
sub="$((RANDOM % 9 + 1))${sub:1}"
$CRMGATE user add "mgr-$RUN@example.com" --name "Voip Manager" --role manager \
    --extension "$ext" >/dev/null 2>>"$T/err"
$CRMGATE contact add "caller-$RUN@customer.test" --name "Vera Smoke$RUN" \
    --phone "+49 40 $sub" --owner "mgr-$RUN@example.com" >/dev/null 2>>"$T/err"
cs="2026-12-06 14:00:00"
cid="smoke-$RUN-in"
sig=$(zsig "4940${sub}4930999999${cs}")
post "$ZD" "$sig" event=NOTIFY_START "call_start=$cs" "pbx_call_id=$cid" \
    "caller_id=4940$sub" called_did=4930999999
check_eq "voip smoke: signed START of a known caller: 200" 200 "$(cat "$T/code")"
check_eq "voip smoke: ... answered with the owner's extension and the name" \
    "{\"redirect\":\"$ext\",\"caller_name\":\"Vera Smoke$RUN\"}" "$(cat "$T/body")"
check_eq "voip smoke: ... stored once" 1 "$(events_of "$cid")"
check_eq "voip smoke: ... the call row is ringing, in, from +4940$sub" \
    "ringing|in|+4940$sub|2026-12-06 13:00:00+00" \
    "$(sql "SELECT state, direction, remote_e164, started_at FROM calls WHERE provider = 'zadarma' AND call_id = '$cid'")"
post "$ZD" "$sig" event=NOTIFY_START "call_start=$cs" "pbx_call_id=$cid" \
    "caller_id=4940$sub" called_did=4930999999
check_eq "voip smoke: a re-delivery: 200 and the same route" \
    "200 {\"redirect\":\"$ext\",\"caller_name\":\"Vera Smoke$RUN\"}" \
    "$(cat "$T/code") $(cat "$T/body")"
check_eq "voip smoke: ... and no new row" 1 "$(events_of "$cid")"

# forged, unsigned, wrongly keyed
fid="smoke-$RUN-forged"
post "$ZD" "x$sig" event=NOTIFY_START "call_start=$cs" "pbx_call_id=$fid" \
    "caller_id=4940$sub" called_did=4930999999
check_eq "voip smoke: a forged Signature is 403" 403 "$(cat "$T/code")"
post "$ZD" "" event=NOTIFY_START "call_start=$cs" "pbx_call_id=$fid" \
    "caller_id=4940$sub" called_did=4930999999
check_eq "voip smoke: no Signature is 403" 403 "$(cat "$T/code")"
wrong=$(CRMGATE_ZADARMA_SECRET=not-the-secret zsig "4940${sub}4930999999${cs}")
post "$ZD" "$wrong" event=NOTIFY_START "call_start=$cs" "pbx_call_id=$fid" \
    "caller_id=4940$sub" called_did=4930999999
check_eq "voip smoke: signed with another secret is 403" 403 "$(cat "$T/code")"
check_eq "voip smoke: ... and nothing stored" "0|0" \
    "$(sql "SELECT (SELECT count(*) FROM call_events WHERE call_id = '$fid') || '|' || (SELECT count(*) FROM calls WHERE call_id = '$fid')")"
log=${CRMGATE_LOG_DIR:-$CRMGATE_VAR/log}/web.log
check "voip smoke: ... logged with the address and the event" \
    grep -q "voip: refused provider=zadarma event=NOTIFY_START addr=127.0.0.1" "$log"
check "voip smoke: ... the secret never in the log" \
    bash -c "! grep -qF -- '$CRMGATE_ZADARMA_SECRET' '$log'"

# an unknown caller: {}; the end: {"ok":true}, the call ended
uid="smoke-$RUN-unknown"
post "$ZD" "$(zsig "4989$sub""4930999999$cs")" event=NOTIFY_START "call_start=$cs" \
    "pbx_call_id=$uid" "caller_id=4989$sub" called_did=4930999999
check_eq "voip smoke: START of an unknown caller answers {}" "200 {}" \
    "$(cat "$T/code") $(cat "$T/body")"
post "$ZD" "$(zsig "4989$sub""4930999999$cs")" event=NOTIFY_END "call_start=$cs" \
    "pbx_call_id=$uid" "caller_id=4989$sub" called_did=4930999999 \
    internal=101 duration=0 disposition=busy status_code=17 is_recorded=0
check_eq "voip smoke: END answers {\"ok\":true}" '200 {"ok":true}' \
    "$(cat "$T/code") $(cat "$T/body")"
check_eq "voip smoke: ... the call row ended busy" "ended|busy|0" \
    "$(sql "SELECT state, disposition, duration_s FROM calls WHERE call_id = '$uid'")"
bid="smoke-$RUN-bad"
post "$ZD" "$(zsig "4989$sub""4930999999""2026-02-30 10:00:00")" event=NOTIFY_START \
    "call_start=2026-02-30 10:00:00" "pbx_call_id=$bid" "caller_id=4989$sub" \
    called_did=4930999999
check_eq "voip smoke: a signed event with a bad call_start is 400, not stored" \
    "400 0" "$(cat "$T/code") $(events_of "$bid")"

# generic JSON
gid="smoke-$RUN-gen"
body="{\"provider\":\"asterisk\",\"call_id\":\"$gid\",\"event\":\"start\",\"from\":\"040 $sub\",\"to\":\"+4930999999\"}"
ts=$(date +%s)
gpost "$ts" "$(gsig "$ts" "$body")" "$body"
check_eq "voip smoke: generic start, signed: 200 with the route" \
    "200 {\"redirect\":\"$ext\",\"caller_name\":\"Vera Smoke$RUN\"}" \
    "$(cat "$T/code") $(cat "$T/body")"
old=$((ts - 400))
gid2="smoke-$RUN-stale"
body2=${body//$gid/$gid2}
gpost "$old" "$(gsig "$old" "$body2")" "$body2"
check_eq "voip smoke: generic, stale timestamp: 403, not stored" "403 0" \
    "$(cat "$T/code") $(events_of "$gid2")"
gpost "$ts" "$(gsig "$ts" "$body")" "$body2"
check_eq "voip smoke: generic, body changed after signing: 403, not stored" \
    "403 0" "$(cat "$T/code") $(events_of "$gid2")"
dup="{\"call_id\":\"$gid2\",\"event\":\"start\",\"call_id\":\"x\"}"
gpost "$ts" "$(gsig "$ts" "$dup")" "$dup"
check_eq "voip smoke: generic, duplicate keys: 400, not stored" "400 0" \
    "$(cat "$T/code") $(events_of "$gid2")"

check "voip smoke: /metrics counts route=\"/voip/zadarma\"" \
    bash -c "curl -s '$BASE/metrics' | grep -q 'crmgate_web_requests_total{route=\"/voip/zadarma\",code=\"2xx\"}'"
