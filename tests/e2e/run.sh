#!/usr/bin/env bash
# tests/e2e/run.sh - mail through the real private Postfix of the test stack
# (tests/run-all.sh starts it): swaks/sendmail -> Postfix -> crmgate-milter ->
# PostgreSQL, and Postfix -> smtp-sink. Every check looks at real outcomes:
# rows in PostgreSQL, files in the sink, the CLI's JSON, the Postfix log.
#
# Ports: MX $CRMGATE_SMTP_PORT (inbound), submission $CRMGATE_SUBMISSION_PORT
# (daemon_name=ORIGINATING: outbound), sendmail -C $CRMGATE_POSTFIX_CONFIG
# (non_smtpd: outbound). Every scenario uses its own addresses, records and
# Message-IDs (uniq_id), so the layer can share the database with others.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

MX=$CRMGATE_SMTP_PORT
SUB=$CRMGATE_SUBMISSION_PORT
U=$(uniq_id)            # this run's tag, in every address and Message-ID
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PFLOG=$CRMGATE_VAR/log/postfix.log
PFLOG_START=$(wc -l <"$PFLOG" 2>/dev/null || echo 0)

# --- helpers ---------------------------------------------------------------
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # no pyenv shim: 10x faster start

SEND_FAILURES=0
SENT=()          # Message-IDs this layer sent (for the delivery checks)
declare -A EXPECT_RCPTS=()   # MID -> expected delivered recipients, sorted, space separated
declare -A NEVER_RCPTS=()    # MID -> recipients that must never be delivered

# send PORT FROM TO[,TO...] MID SUBJECT [swaks options...]
# (swaks' own header is "Message-Id": naming ours the same way replaces it;
# "Message-ID" would add a second, conflicting header.)
send() {
    local port=$1 from=$2 to=$3 mid=$4 subject=$5; shift 5
    SENT+=("$mid")
    if ! swaks --silent 2 --server "127.0.0.1:$port" --from "$from" --to "$to" \
        --header "Message-Id: <$mid>" --header "Subject: $subject" "$@" \
        >"$TMP/swaks.out" 2>&1; then
        SEND_FAILURES=$((SEND_FAILURES + 1))
        echo "# swaks failed for <$mid>:"; sed 's/^/#   /' "$TMP/swaks.out"
        return 1
    fi
}

# expect MID RCPT...: what the sink must receive for MID (nothing for none).
expect() {
    local mid=$1; shift
    EXPECT_RCPTS[$mid]=$(printf '%s\n' "$@" | tr 'A-Z' 'a-z' | sed '/^$/d' | sort -u | tr '\n' ' ')
}
# never MID RCPT...: recipients (capture addresses) that must not be delivered.
never() { local mid=$1; shift; NEVER_RCPTS[$mid]="$*"; }

json_id() { $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

# jcheck EXPR: evaluates a Python expression over the JSON on stdin (j);
# environment variables are in E.
jcheck() {
    $PY -c '
import json, os, sys
j = json.load(sys.stdin)
E = os.environ
sys.exit(0 if eval("(" + sys.argv[1].strip() + ")") else 1)' "$1"
}

row() { sql "SELECT id FROM messages WHERE message_id = '$1'"; }
# wait_stored MID [SECONDS]: waits until the message is stored. (lib.sh's
# wait_message expands its $(sql ...) once, before wait_for runs, so it never
# sees a row that appears while it waits.)
has_row() { [ -n "$(row "$1")" ]; }
wait_stored() { wait_for "${2:-15}" has_row "$1"; }
nevents() {
    sql "SELECT count(*) FROM capture_events e JOIN messages m ON m.id = e.message_id WHERE m.message_id = '$1'"
}
events_at_least() { [ "$(nevents "$1")" -ge "$2" ]; }
# reasons MID TYPE RECORD_ID: the link reason, empty when not linked.
reason() {
    sql "SELECT l.reason FROM message_links l JOIN messages m ON m.id = l.message_id
          WHERE m.message_id = '$1' AND l.record_type = '$2' AND l.record_id = $3"
}
nlinks() {
    sql "SELECT count(*) FROM message_links l JOIN messages m ON m.id = l.message_id
          WHERE m.message_id = '$1' ${2:+AND $2}"
}

# sink_files MID: the sink dumps of the message with this Message-ID.
sink_files() {
    grep -ilE "^Message-Id: *<$(printf '%s' "$1" | sed 's/[.]/\\./g')>" \
        "$CRMGATE_SINK_DIR"/* 2>/dev/null
}
# rcpts_of MID: the envelope recipients the sink received for MID, sorted.
rcpts_of() {
    local f
    sink_files "$1" | while read -r f; do
        sed -n '/^Received:/q; s/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$f"
    done | tr 'A-Z' 'a-z' | sort -u | tr '\n' ' '
}
delivered() { [ -n "$(sink_files "$1")" ]; }
# wait_delivered MID: the sink got the message (so the milter has already
# run its end-of-message step for it).
wait_delivered() { wait_for "${2:-20}" delivered "$1"; }
# wait_capture MID: the milter logged its outcome for the message.
wait_capture() {
    wait_for "${2:-20}" grep -qF "message_id=<$1>" "$CRMGATE_LOG_DIR/milter.log"
}
milter_line() { grep -F "message_id=<$1>" "$CRMGATE_LOG_DIR/milter.log" | tail -1; }

ensure_user() { $CRMGATE user add "$1" >/dev/null 2>&1 || true; }
user_id() { sql "SELECT id FROM users WHERE email_norm = lower('$1')"; }

# --- records ---------------------------------------------------------------
ensure_user boss@example.com
BOSS=$(user_id boss@example.com)
STAFF=staff-$U@example.com
ensure_user "$STAFF"
check "setup: staff user $STAFF exists" test -n "$(user_id "$STAFF")"

ACME_DOM=acme-$U.test
ACME=$($CRMGATE --json company add "Acme $U" --domain "$ACME_DOM" | json_id)
ANN=ann-$U@$ACME_DOM
ANN_ID=$($CRMGATE --json contact add "$ANN" --name "Ann Example" --company-id "$ACME" | json_id)
DEAL1=$($CRMGATE --json deal add "Acme deal $U" --contact "$ANN_ID" | json_id)
check "setup: company, contact and deal created" test -n "$ACME" -a -n "$ANN_ID" -a -n "$DEAL1"

# --- 1. inbound from a known contact -----------------------------------------
M1=in1-$U@acme.test
send "$MX" "$ANN" "$STAFF" "$M1" "Offer question $U" --header "From: Ann Example <$ANN>"
expect "$M1" "$STAFF"
wait_stored "$M1"
check "inbound: message stored" test -n "$(row "$M1")"
check_eq "inbound: direction in" "in" "$(sql "SELECT direction FROM messages WHERE message_id = '$M1'")"
check_eq "inbound: participants from/to/envelope_from/envelope_rcpt" \
    "envelope_from:$ANN envelope_rcpt:$STAFF from:$ANN to:$STAFF" \
    "$(sql "SELECT string_agg(p.role || ':' || p.address_norm, ' ' ORDER BY p.role)
              FROM message_participants p JOIN messages m ON m.id = p.message_id
             WHERE m.message_id = '$M1'")"
check_eq "inbound: staff participant carries the user id" "$(user_id "$STAFF")" \
    "$(sql "SELECT p.user_id FROM message_participants p JOIN messages m ON m.id = p.message_id
             WHERE m.message_id = '$M1' AND p.role = 'to'")"
check_eq "inbound: contact linked, reason participant" participant "$(reason "$M1" contact "$ANN_ID")"
r=$(reason "$M1" company "$ACME")
check "inbound: company linked, reason participant or domain ($r)" \
    test "$r" = participant -o "$r" = domain
check_eq "inbound: open deal linked, reason open-deal" open-deal "$(reason "$M1" deal "$DEAL1")"
$CRMGATE --json timeline "contact:$ANN_ID" >"$TMP/tl.json" 2>"$TMP/tl.err"
check "timeline contact:ID exits 0" test $? -eq 0
export M1 SUBJ1="Offer question $U"
check "timeline contact:ID lists the message (id, subject, direction, reasons)" jcheck '
  any(m["message_id"] == E["M1"] and m["subject"] == E["SUBJ1"] and m["direction"] == "in"
      and {"participant", "open-deal"} <= {l["reason"] for l in m["links"]}
      for m in j["messages"])' <"$TMP/tl.json"
check "timeline contact:ID gives the link reason of the record (participant)" jcheck '
  [m["reason"] for m in j["messages"] if m["message_id"] == E["M1"]] == ["participant"]' <"$TMP/tl.json"
check "timeline ADDRESS lists the message" jcheck '
  any(m["message_id"] == E["M1"] and m["direction"] == "in" for m in j["messages"])' \
    < <($CRMGATE --json timeline "$(echo "$ANN" | tr a-z A-Z)")
check "timeline deal:ID lists the message with reason open-deal" jcheck '
  any(m["message_id"] == E["M1"] and m["reason"] == "open-deal" for m in j["messages"])' \
    < <($CRMGATE --json timeline "deal:$DEAL1")

# --- 2. company by domain; never by a free-mail domain ---------------------
M2=dom-$U@acme.test
BOB=bob-$U@$ACME_DOM
send "$MX" "$BOB" "$STAFF" "$M2" "Who am I $U"
expect "$M2" "$STAFF"
wait_stored "$M2"
check_eq "domain: unknown person at a company domain -> company, reason domain" \
    domain "$(reason "$M2" company "$ACME")"
check_eq "domain: no contact linked for the unknown person" 0 "$(nlinks "$M2" "l.record_type = 'contact'")"
out=$($CRMGATE --json company add "Gmail Holdings $U" --domain gmail.com 2>&1)
rc=$?
check "freemail: company add --domain gmail.com succeeds (or gmail.com already registered)" \
    test $rc -eq 0 -o -n "$(echo "$out" | grep 'already exists')"
check_eq "freemail: gmail.com is registered to a company" 1 \
    "$(sql "SELECT count(*) FROM company_domains WHERE domain = 'gmail.com'")"
M2F=free-$U@gmail.test
send "$MX" "someone-$U@gmail.com" "$STAFF" "$M2F" "From my gmail $U"
expect "$M2F" "$STAFF"
wait_stored "$M2F"
check "freemail: gmail.com sender stored" test -n "$(row "$M2F")"
check_eq "freemail: gmail.com sender is never matched to a company" 0 \
    "$(nlinks "$M2F" "l.record_type = 'company'")"

# --- 3. outbound: submission and sendmail ------------------------------------
M3=out-$U@example.com
EXT3=ext3-$U@customer-$U.test
send "$SUB" "$STAFF" "$EXT3" "$M3" "Our offer $U"
expect "$M3" "$EXT3"
wait_stored "$M3"
check_eq "outbound: submission (ORIGINATING) -> direction out" out \
    "$(sql "SELECT direction FROM messages WHERE message_id = '$M3'")"
M3S=sendmail-$U@example.com
EXT3S=ext3s-$U@customer-$U.test
SENT+=("$M3S")
expect "$M3S" "$EXT3S"
printf 'From: Staff <%s>\nTo: <%s>\nSubject: via sendmail %s\nMessage-Id: <%s>\n\nHello from the sendmail command.\n' \
    "$STAFF" "$EXT3S" "$U" "$M3S" |
    /usr/sbin/sendmail -C "$CRMGATE_POSTFIX_CONFIG" -f "$STAFF" "$EXT3S"
check "outbound: sendmail command accepted the message" test $? -eq 0
wait_stored "$M3S" 30
check_eq "outbound: sendmail (non_smtpd) -> direction out" out \
    "$(sql "SELECT direction FROM messages WHERE message_id = '$M3S'")"

# --- 4. BCC capture with a deal token -----------------------------------------
DEAL4=$($CRMGATE --json deal add "Token deal $U" | json_id)
CAP4=crm+deal-$DEAL4@crm.example.com
EXT4=ext4-$U@partner-$U.test
M4=bcc-$U@example.com
send "$SUB" "$STAFF" "$EXT4,$CAP4" "$M4" "Proposal $U"
expect "$M4" "$EXT4"
never "$M4" "$CAP4"
wait_stored "$M4"
check_eq "bcc token: deal linked, reason capture-token" capture-token "$(reason "$M4" deal "$DEAL4")"
check_eq "bcc token: capture address not recorded as a participant" 0 \
    "$(sql "SELECT count(*) FROM message_participants p JOIN messages m ON m.id = p.message_id
             WHERE m.message_id = '$M4' AND p.address_norm LIKE '%@crm.example.com'")"
M4C=bcconly-$U@example.com
send "$SUB" "$STAFF" "$CAP4" "$M4C" "Note to file $U"
expect "$M4C"
never "$M4C" "$CAP4"
wait_stored "$M4C"
check_eq "bcc token: mail to the capture address only is captured (capture-token)" \
    capture-token "$(reason "$M4C" deal "$DEAL4")"
M4U=bccunknown-$U@example.com
STRANGER=stranger-$U@example.com   # internal domain, but no user
send "$SUB" "$STRANGER" "$EXT4,$CAP4" "$M4U" "Not trusted $U"
expect "$M4U" "$EXT4"
never "$M4U" "$CAP4"
wait_stored "$M4U"
check "bcc token: message from a non-user is stored" test -n "$(row "$M4U")"
check_eq "bcc token: token from a non-user sender is ignored" 0 \
    "$(nlinks "$M4U" "l.reason = 'capture-token'")"
check "bcc token: milter log says the token was ignored" \
    grep -q 'tokens=ignored-unknown-sender' <<<"$(milter_line "$M4U")"

# --- 4b. capture tokens are trusted only from our own staff --------------------
# A staff address in MAIL FROM or From on mail from the internet (the MX
# port) proves nothing: the token is ignored (capture address still removed,
# message still captured); the same BCC through submission links the deal.
DEAL4B=$($CRMGATE --json deal add "Forged token deal $U" | json_id)
CAP4B=crm+deal-$DEAL4B@crm.example.com
M4F=forged-$U@example.com
send "$MX" "$STAFF" "$CAP4B" "$M4F" "Forged staff sender $U"
expect "$M4F"
never "$M4F" "$CAP4B"
wait_stored "$M4F"
check "token trust: forged staff MAIL FROM on the MX port is still captured" test -n "$(row "$M4F")"
check_eq "token trust: forged staff MAIL FROM links no deal by capture-token" 0 \
    "$(nlinks "$M4F" "l.reason = 'capture-token'")"
wait_capture "$M4F"
check "token trust: milter log says tokens=ignored-not-outbound (forged MAIL FROM)" \
    grep -q 'tokens=ignored-not-outbound' <<<"$(milter_line "$M4F")"
M4N=nullsender-$U@example.com
send "$MX" "<>" "$CAP4B" "$M4N" "Null sender, staff From $U" --header "From: Staff <$STAFF>"
expect "$M4N"
never "$M4N" "$CAP4B"
wait_stored "$M4N"
check "token trust: null sender with a staff From is still captured" test -n "$(row "$M4N")"
check_eq "token trust: null sender with a staff From links no deal by capture-token" 0 \
    "$(nlinks "$M4N" "l.reason = 'capture-token'")"
wait_capture "$M4N"
check "token trust: milter log says tokens=ignored-not-outbound (null sender)" \
    grep -q 'tokens=ignored-not-outbound' <<<"$(milter_line "$M4N")"
M4S=genuine-$U@example.com
EXT4S=ext4s-$U@partner-$U.test
send "$SUB" "$STAFF" "$EXT4S,$CAP4B" "$M4S" "Genuine BCC $U"
expect "$M4S" "$EXT4S"
never "$M4S" "$CAP4B"
wait_stored "$M4S"
check_eq "token trust: submission BCC from staff links the deal (capture-token)" capture-token \
    "$(reason "$M4S" deal "$DEAL4B")"
check_eq "token trust: the deal has exactly that one capture-token message" "$M4S" \
    "$(sql "SELECT string_agg(m.message_id, ' ') FROM message_links l JOIN messages m ON m.id = l.message_id
             WHERE l.record_type = 'deal' AND l.record_id = $DEAL4B AND l.reason = 'capture-token'")"

# --- 5. [ticket:XXXX] in the subject ----------------------------------------
TICKET=TK${U#t}
DEAL5=$($CRMGATE --json deal add "Ticket deal $U" --ticket "$TICKET" | json_id)
M5=ticket-$U@elsewhere.test
send "$MX" "nobody-$U@elsewhere-$U.test" "$STAFF" "$M5" "Re: your quote [ticket:$TICKET]"
expect "$M5" "$STAFF"
wait_stored "$M5"
check_eq "ticket: deal linked, reason ticket" ticket "$(reason "$M5" deal "$DEAL5")"

# --- 6. sales inbox -> lead + request ----------------------------------------
CAROL=carol-$U@buyer-$U.test
M6=sales1-$U@buyer.test
send "$MX" "$CAROL" sales@example.com "$M6" "Pricing please $U" --header "From: Carol Buyer <$CAROL>"
expect "$M6" sales@example.com
wait_stored "$M6"
check_eq "sales inbox: one lead for the sender" 1 "$(sql "SELECT count(*) FROM leads WHERE email_norm = '$CAROL'")"
check_eq "sales inbox: lead name from the From display name" "Carol|Buyer" \
    "$(sql "SELECT first_name || '|' || last_name FROM leads WHERE email_norm = '$CAROL'")"
check_eq "sales inbox: lead source email" email \
    "$(sql "SELECT s.name FROM leads l JOIN lead_sources s ON s.id = l.lead_source_id WHERE l.email_norm = '$CAROL'")"
check_eq "sales inbox: lead owner is the boss user" "$BOSS" \
    "$(sql "SELECT owner_id FROM leads WHERE email_norm = '$CAROL'")"
LEAD6=$(sql "SELECT id FROM leads WHERE email_norm = '$CAROL'")
REQ6=$(sql "SELECT id FROM requests WHERE lead_id = '${LEAD6:-0}'")
check "sales inbox: a request for the lead" test -n "$REQ6"
check_eq "sales inbox: request owner and subject" "$BOSS|Pricing please $U" \
    "$(sql "SELECT owner_id || '|' || subject FROM requests WHERE id = ${REQ6:-0}")"
check_eq "sales inbox: lead linked, reason sales-inbox" sales-inbox "$(reason "$M6" lead "${LEAD6:-0}")"
check_eq "sales inbox: request linked, reason sales-inbox" sales-inbox "$(reason "$M6" request "${REQ6:-0}")"
M6B=sales2-$U@buyer.test
send "$MX" "$CAROL" sales@example.com "$M6B" "Pricing again $U" --header "From: Carol Buyer <$CAROL>"
expect "$M6B" sales@example.com
wait_stored "$M6B"
check_eq "sales inbox: a second mail creates no second lead" 1 \
    "$(sql "SELECT count(*) FROM leads WHERE email_norm = '$CAROL'")"
check_eq "sales inbox: a second mail creates no second request" 1 \
    "$(sql "SELECT count(*) FROM requests WHERE email_norm = '$CAROL'")"
check "sales inbox: the second mail is linked to the existing lead" test -n "$(reason "$M6B" lead "${LEAD6:-0}")"

# --- 7. thread inheritance -----------------------------------------------------
M7=reply-$U@nomatch.test
send "$MX" "zed-$U@nomatch-$U.test" "$STAFF" "$M7" "Re: Offer question $U" \
    --header "In-Reply-To: <$M1>" --header "References: <$M1>"
expect "$M7" "$STAFF"
wait_stored "$M7"
check_eq "thread: reply inherits the contact, reason thread" thread "$(reason "$M7" contact "$ANN_ID")"
check_eq "thread: reply inherits the company, reason thread" thread "$(reason "$M7" company "$ACME")"
check_eq "thread: reply inherits the deal, reason thread" thread "$(reason "$M7" deal "$DEAL1")"
# (Compared as one count: comparing two "id|thread_id" strings passed when
# both rows were missing or both thread_ids NULL.)
check_eq "thread: reply is in the first message's thread (the first message's id)" 1 \
    "$(sql "SELECT count(*) FROM messages a JOIN messages b ON b.thread_id = a.id
             WHERE a.message_id = '$M1' AND b.message_id = '$M7' AND a.thread_id = a.id")"

# --- 8. the same message captured twice -----------------------------------------
M8=twice-$U@dupco.test
DUPFROM=dup-$U@dupco-$U.test
printf 'Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nFrom: Dup Sender <%s>\r\nTo: %s\r\nSubject: twice %s\r\nMessage-Id: <%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe same message, captured twice.\r\n' \
    "$DUPFROM" "$STAFF" "$U" "$M8" >"$TMP/twice.eml"
SENT+=("$M8")
swaks --silent 2 --server "127.0.0.1:$MX" --from "$DUPFROM" --to "$STAFF" --data "@$TMP/twice.eml" ||
    SEND_FAILURES=$((SEND_FAILURES + 1))
wait_stored "$M8"
# The BCC copy: the same bytes once more, to the capture address only.
swaks --silent 2 --server "127.0.0.1:$MX" --from "$DUPFROM" --to crm@crm.example.com --data "@$TMP/twice.eml" ||
    SEND_FAILURES=$((SEND_FAILURES + 1))
expect "$M8" "$STAFF"
never "$M8" crm@crm.example.com
wait_for 20 events_at_least "$M8" 2
check_eq "twice: one messages row" 1 "$(sql "SELECT count(*) FROM messages WHERE message_id = '$M8'")"
check_eq "twice: two capture events" 2 "$(nevents "$M8")"
check_eq "twice: the second event records the capture envelope recipient" 1 \
    "$(sql "SELECT count(*) FROM capture_events e JOIN messages m ON m.id = e.message_id
             WHERE m.message_id = '$M8' AND EXISTS (SELECT 1 FROM unnest(e.envelope_rcpts) r
                                                   WHERE btrim(r, '<>') = 'crm@crm.example.com')")"

# --- 9. never-log ---------------------------------------------------------------
M9A=hrout-$U@example.com
send "$SUB" hr@example.com "ext9-$U@outside-$U.test" "$M9A" "Confidential $U"
expect "$M9A" "ext9-$U@outside-$U.test"
M9B=hrin-$U@outside.test
send "$MX" "applicant-$U@outside-$U.test" hr@example.com "$M9B" "My application $U"
expect "$M9B" hr@example.com
M9C=private-$U@private.test
send "$MX" "someone-$U@private.test" "$STAFF" "$M9C" "Private $U"
expect "$M9C" "$STAFF"
M9D=toprivate-$U@example.com
send "$SUB" "$STAFF" "friend-$U@private.test" "$M9D" "To private $U"
expect "$M9D" "friend-$U@private.test"
for m in "$M9A" "$M9B" "$M9C" "$M9D"; do
    wait_delivered "$m"
    wait_capture "$m"
done
# count(*), not "no id": an empty answer from a failing query is no proof.
nrows() { sql "SELECT count(*) FROM messages WHERE message_id = '$1'"; }
check_eq "never-log: from hr@example.com not stored" 0 "$(nrows "$M9A")"
check_eq "never-log: to hr@example.com not stored" 0 "$(nrows "$M9B")"
check_eq "never-log: from @private.test not stored" 0 "$(nrows "$M9C")"
check_eq "never-log: to @private.test not stored" 0 "$(nrows "$M9D")"
check_eq "never-log: no participant rows for hr@example.com from this run" 0 \
    "$(sql "SELECT count(*) FROM message_participants p JOIN messages m ON m.id = p.message_id
             WHERE p.address_norm = 'hr@example.com' AND m.message_id LIKE '%$U%'")"
check "never-log: milter logged skipped reason=never-log" \
    test "$(for m in "$M9A" "$M9B" "$M9C" "$M9D"; do milter_line "$m"; done | grep -c 'skipped reason=never-log')" -eq 4

# --- 10. internal-only ----------------------------------------------------------
STAFF2=staff2-$U@staff.example.org
M10=internal-$U@example.com
send "$SUB" "$STAFF" "$STAFF2" "$M10" "Lunch? $U"
expect "$M10" "$STAFF2"
wait_delivered "$M10"
wait_capture "$M10"
check_eq "internal-only: staff -> staff not stored" 0 "$(nrows "$M10")"
check "internal-only: milter logged skipped reason=internal-only" \
    grep -q 'skipped reason=internal-only' <<<"$(milter_line "$M10")"
M10B=internalbcc-$U@example.com
send "$SUB" "$STAFF" "$STAFF2,crm@crm.example.com" "$M10B" "Internal note $U"
expect "$M10B" "$STAFF2"
never "$M10B" crm@crm.example.com
wait_stored "$M10B"
check_eq "internal-only: staff -> staff with BCC to crm@ stored, direction internal" internal \
    "$(sql "SELECT direction FROM messages WHERE message_id = '$M10B'")"

# --- 12. attachments --------------------------------------------------------------
head -c 7777 /dev/urandom >"$TMP/report-$U.bin"
ASIZE=$(stat -c %s "$TMP/report-$U.bin")
ASHA=$(sha256sum "$TMP/report-$U.bin" | cut -d' ' -f1)
M12=attach-$U@acme.test
send "$MX" "$ANN" "$STAFF" "$M12" "Report attached $U" --attach "@$TMP/report-$U.bin" --body "See attachment."
expect "$M12" "$STAFF"
wait_stored "$M12"
check_eq "attachment: message_attachments row with size and sha256" "report-$U.bin|$ASIZE|$ASHA" \
    "$(sql "SELECT a.filename || '|' || a.size || '|' || a.sha256 FROM message_attachments a
             JOIN messages m ON m.id = a.message_id WHERE m.message_id = '$M12'")"
check_eq "attachment: content stored, same bytes (size, sha256 in PostgreSQL)" "$ASIZE|$ASHA" \
    "$(sql "SELECT octet_length(content) || '|' || encode(sha256(content), 'hex') FROM attachment_blobs WHERE sha256 = '$ASHA'")"
M12B=attach2-$U@acme.test
send "$MX" "$ANN" "$STAFF" "$M12B" "Same report again $U" --attach "@$TMP/report-$U.bin" --body "Again."
expect "$M12B" "$STAFF"
wait_stored "$M12B"
check_eq "attachment: two messages carry the file" 2 \
    "$(sql "SELECT count(*) FROM message_attachments WHERE sha256 = '$ASHA'")"
check_eq "attachment: the content is stored once" 1 \
    "$(sql "SELECT count(*) FROM attachment_blobs WHERE sha256 = '$ASHA'")"

# --- 11. mail flow never blocked --------------------------------------------------
check "flow: every SMTP submission accepted (swaks exit 0)" test "$SEND_FAILURES" -eq 0
check "flow: Postfix queue empties" "$REPO/scripts/stack" wait-queue 60
bad=0
for mid in "${SENT[@]}"; do
    [ -n "${EXPECT_RCPTS[$mid]+x}" ] || continue
    got=$(rcpts_of "$mid")
    if [ "$got" != "${EXPECT_RCPTS[$mid]}" ]; then
        bad=$((bad + 1))
        echo "# <$mid>: expected delivery to '${EXPECT_RCPTS[$mid]}', sink got '$got'"
    fi
done
check_eq "flow: every message delivered to the sink, to exactly its recipients" 0 "$bad"
leaked=0
for mid in "${!NEVER_RCPTS[@]}"; do
    for r in ${NEVER_RCPTS[$mid]}; do
        if grep -qw -- "$(echo "$r" | tr 'A-Z' 'a-z')" <<<"$(rcpts_of "$mid")"; then
            leaked=$((leaked + 1)); echo "# <$mid>: capture recipient $r was delivered"
        fi
    done
done
check_eq "flow: capture recipients never delivered" 0 "$leaked"
check_eq "flow: no capture address among all sink recipients of this run" "" \
    "$(for mid in "${SENT[@]}"; do rcpts_of "$mid"; done | tr ' ' '\n' | grep -i '@crm\.example\.com$')"
tail -n +"$((PFLOG_START + 1))" "$PFLOG" >"$TMP/pf.log"
# The "no ..." counts below are 0 on an empty or misplaced log too: first
# prove that the log holds this run's deliveries.
nexp=0
for mid in "${SENT[@]}"; do
    [ -n "${EXPECT_RCPTS[$mid]:-}" ] && nexp=$((nexp + $(wc -w <<<"${EXPECT_RCPTS[$mid]}")))
done
check "flow: the Postfix log records this run's deliveries (status=sent at least $nexp times)" \
    test "$nexp" -gt 0 -a "$(grep -c 'status=sent' "$TMP/pf.log")" -ge "$nexp"
check_eq "flow: no milter-reject in the Postfix log" 0 "$(grep -c 'milter-reject' "$TMP/pf.log")"
check_eq "flow: no status=deferred in the Postfix log" 0 "$(grep -c 'status=deferred' "$TMP/pf.log")"
check_eq "flow: no status=bounced in the Postfix log" 0 "$(grep -c 'status=bounced' "$TMP/pf.log")"
check_eq "flow: no capture LOST in the milter log" 0 \
    "$(for mid in "${SENT[@]}"; do milter_line "$mid"; done | grep -c 'capture LOST')"
exit 0
