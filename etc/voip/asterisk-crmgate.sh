#!/bin/sh
# asterisk-crmgate.sh - posts one signed call event to crmgate's generic
# VoIP webhook (/voip/events); an example for Asterisk (System() or AGI)
# or any PBX that can run a program.
#
#   asterisk-crmgate.sh EVENT CALLID FROM TO [EXT] [DISPOSITION] [DURATION]
#
# EVENT: start, ivr, internal, answer, end, out_start, out_end, record
# (out_* mark an outgoing call). CALLID: the PBX's id of the call (one
# for every event of it, e.g. ${UNIQUEID} of the inbound channel). FROM,
# TO: the caller and the called number. EXT: the extension rung, answering
# or dialling. DISPOSITION: answered, busy, cancel, no answer, failed, or
# Asterisk's ${DIALSTATUS} (ANSWER, BUSY, NOANSWER, CANCEL, CHANUNAVAIL,
# CONGESTION), mapped. DURATION: seconds (${CDR(billsec)}).
#
# Environment: CRMGATE_VOIP_EVENTS_URL [http://127.0.0.1:8080/voip/events],
# CRMGATE_VOIP_EVENTS_SECRET (voip.events_secret of crmgate.conf; or
# CRMGATE_VOIP_EVENTS_SECRET_FILE, a file holding it),
# CRMGATE_VOIP_PROVIDER [asterisk].
#
# The body is JSON {"provider", "call_id", "event", "time", "from", "to",
# "extension", "disposition", "duration"}; the request carries
# X-Crmgate-Timestamp (now, Unix seconds) and X-Crmgate-Signature (the
# lowercase hex HMAC-SHA256 of "TIMESTAMP.BODY" with the secret). crmgate
# refuses it (403) when the signature is wrong or the timestamp is more
# than voip.replay_window (300 s) away from its clock: keep the PBX's
# clock in sync (NTP). A re-sent event is stored once.
#
# Prints crmgate's answer (for start: the routing answer, {"redirect":
# "EXT", "caller_name": "NAME"} for a known caller, {} otherwise). Exit
# status 0 on a 2xx answer, 1 otherwise, 2 for bad arguments.
#
# Limits: POSIX sh, openssl and curl; the secret is passed to openssl on
# its command line (visible in ps to other local users: run the PBX's
# programs on a host of their own, or use an AGI script in a language with
# an HMAC library). Values are JSON-escaped here, but pass only filtered
# numbers from the dialplan (FILTER(), below): System() runs a shell.
#
# ---------------------------------------------------------------------------
# extensions.conf (Asterisk 13+), a sketch: inbound calls from the trunk
# ring extension 101; each step posts one event.
#
# [from-trunk]
# exten => _X.,1,NoOp(call ${UNIQUEID} from ${CALLERID(num)} to ${EXTEN})
#  same => n,Set(CRM_FROM=${FILTER(0-9+,${CALLERID(num)})})
#  same => n,Set(CRM_TO=${FILTER(0-9+,${EXTEN})})
#  same => n,Set(CRM_ID=${UNIQUEID})
#  ; the call rings: crmgate stores it and answers with the route
#  same => n,System(/usr/local/bin/asterisk-crmgate.sh start ${CRM_ID} ${CRM_FROM} ${CRM_TO})
#  ; at hangup, whatever happened (a hangup handler; or an "h" extension)
#  same => n,Set(CHANNEL(hangup_handler_push)=crmgate-hangup,s,1)
#  ; U(): runs on the answering channel when 101 picks up
#  same => n,Dial(PJSIP/101,30,U(crmgate-answered^${CRM_ID}^${CRM_FROM}^${CRM_TO}^101))
#  same => n,Hangup()
#
# [crmgate-answered]
# exten => s,1,System(/usr/local/bin/asterisk-crmgate.sh answer ${ARG1} ${ARG2} ${ARG3} ${ARG4})
#  same => n,Return()
#
# [crmgate-hangup]
# exten => s,1,System(/usr/local/bin/asterisk-crmgate.sh end ${CRM_ID} ${CRM_FROM} ${CRM_TO} 101 ${DIALSTATUS} ${CDR(billsec)})
#  same => n,Return()
#
# ; the older way: an "h" extension in the same context
# ; exten => h,1,System(/usr/local/bin/asterisk-crmgate.sh end ${CRM_ID} ${CRM_FROM} ${CRM_TO} 101 ${DIALSTATUS} ${CDR(billsec)})
#
# The secret and URL for System(): in the environment of the Asterisk
# service (systemd: Environment=CRMGATE_VOIP_EVENTS_SECRET_FILE=...).
# ---------------------------------------------------------------------------
set -u

usage() {
    echo "usage: $0 EVENT CALLID FROM TO [EXT] [DISPOSITION] [DURATION]" >&2
    exit 2
}
if [ $# -lt 4 ] || [ $# -gt 7 ]; then usage; fi

event=$1 call_id=$2 from=$3 to=$4 ext=${5:-} disp=${6:-} duration=${7:-}
case $event in
start | ivr | internal | answer | end | out_start | out_end | record) ;;
*)
    echo "$0: unknown event '$event'" >&2
    usage
    ;;
esac
[ -n "$call_id" ] || usage
case $duration in
'' | *[!0-9]*) duration= ;;
esac
case $disp in
ANSWER | ANSWERED | answered) disp=answered ;;
BUSY | busy) disp=busy ;;
NOANSWER | 'NO ANSWER' | 'no answer') disp='no answer' ;;
CANCEL | cancel) disp=cancel ;;
'') ;;
*) disp=failed ;;
esac

url=${CRMGATE_VOIP_EVENTS_URL:-http://127.0.0.1:8080/voip/events}
secret=${CRMGATE_VOIP_EVENTS_SECRET:-}
if [ -z "$secret" ] && [ -n "${CRMGATE_VOIP_EVENTS_SECRET_FILE:-}" ]; then
    secret=$(cat "$CRMGATE_VOIP_EVENTS_SECRET_FILE") || exit 1
fi
if [ -z "$secret" ]; then
    echo "$0: no secret (CRMGATE_VOIP_EVENTS_SECRET or _FILE)" >&2
    exit 2
fi
provider=${CRMGATE_VOIP_PROVIDER:-asterisk}

# json_str VALUE: VALUE as a JSON string (backslash, quote escaped;
# control characters dropped).
json_str() {
    printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

ts=$(date +%s)
body="{\"provider\":$(json_str "$provider"),\"call_id\":$(json_str "$call_id"),\"event\":\"$event\",\"time\":$ts"
body="$body,\"from\":$(json_str "$from"),\"to\":$(json_str "$to")"
[ -n "$ext" ] && body="$body,\"extension\":$(json_str "$ext")"
[ -n "$disp" ] && body="$body,\"disposition\":$(json_str "$disp")"
[ -n "$duration" ] && body="$body,\"duration\":$duration"
body="$body}"

sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= *//')
[ -n "$sig" ] || {
    echo "$0: openssl failed" >&2
    exit 1
}

out=$(curl -sS --max-time 5 -o - -w '\n%{http_code}' -X POST \
    -H 'Content-Type: application/json' \
    -H "X-Crmgate-Timestamp: $ts" -H "X-Crmgate-Signature: $sig" \
    --data-binary "$body" "$url") || exit 1
code=$(printf '%s\n' "$out" | tail -n 1)
printf '%s\n' "$out" | sed '$d'
case $code in
2??) exit 0 ;;
*)
    echo "$0: crmgate answered $code" >&2
    exit 1
    ;;
esac
