#!/usr/bin/env bash
# tests/campaign/t10_flow.sh - mass-mail campaigns end to end on the test stack
# (tests/run-all.sh starts PostgreSQL, the private Postfix, smtp-sink, the
# milter, the web and the worker): the CLI creates and starts campaigns,
# crmgate-worker sends them through Postfix's submission port into the sink,
# and what comes back (a real Postfix DSN, replies, auto-replies,
# unsubscribe mail, complaints) goes through Postfix and the milter into the
# ledger. Checks look at the sink's files, rows in PostgreSQL and the CLI's
# JSON.
#
# Test domains of the private Postfix (etc/postfix/main.cf.in): mail to
# bounce.invalid is bounced by Postfix with a DSN; reject5.invalid (550),
# tempfail.invalid (452) and throttle.invalid (451) are refused at RCPT.
# tests/crmgate-test.conf: campaign.max_attempts 2, soft_bounce_limit 2,
# worker.retry_base 1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

C=(build/bin/crmgate)
[ -n "${CRMGATE_BUILD:-}" ] && C=("$CRMGATE_BUILD/bin/crmgate")
U=$(uniq_id)
D="$U.test"               # this run's recipient domain
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MX=$CRMGATE_SMTP_PORT
SUB=$CRMGATE_SUBMISSION_PORT
BD=${CRMGATE_CAPTURE_DOMAIN:-crm.example.com}   # bounce domain = capture domain

crm() { "${C[@]}" "$@"; }
# sql_has "SELECT ...": true when the query returns a row (re-run by wait_for)
sql_has() { [ -n "$(sql "$1")" ]; }
# field_ge ID FIELD N: the campaign's status FIELD is at least N
field_ge() { [ "$(status_field "$1" "$2")" -ge "$3" ]; }
jcrm() { "${C[@]}" --json "$@"; }
status_field() { jcrm campaign status "$1" | jq -r ".$2"; }
campaign_state_is() { [ "$(status_field "$1" state)" = "$2" ]; }
# sink files whose envelope has recipient $1
sink_files_for() {
    grep -l -F "X-Rcpt-Args: <$1>" "$CRMGATE_SINK_DIR"/* 2>/dev/null
}
sink_count_for() { sink_files_for "$1" | wc -l; }
# the part of a sink file after smtp-sink's own records
sink_message() { awk 'f{print} /^Received: from mx.crmgate.test/{r=1} r&&/^\t/{next} r&&!/^\t/&&!f{f=1; print}' "$1"; }
header_of() { grep -i -m1 "^$2:" "$1" | sed 's/^[^:]*: *//' | tr -d '\r'; }
rid_of() { sql "SELECT id FROM campaign_recipients WHERE campaign_id = $1 AND address_norm = '$2'"; }
token_of() { sql "SELECT split_part(message_id, '.', 1) FROM campaign_recipients WHERE id = $1"; }
mid_of() { sql "SELECT message_id FROM campaign_recipients WHERE id = $1"; }

cat >"$TMP/text.txt" <<'EOF'
Hello {{first_name|there}},

news from {{company|our team}} for {{email}}.
Unsubscribe: {{unsubscribe_url}}
EOF
cat >"$TMP/page.html" <<'EOF'
<p>Hello <b>{{first_name|there}}</b>,</p>
<p>news from {{company|our team}}.</p>
<p><a href="{{unsubscribe_url}}">unsubscribe</a></p>
EOF

# --- accounts, tags, hostile creation --------------------------------------
ACC=$(jcrm account add "news-$U@example.com" --name "News $U" \
    --relay "smtp://127.0.0.1:$SUB" | jq -r .id)
check "account add prints the account id" test "$ACC" -gt 0
out=$(crm account add "x-$U@example.com" --relay "http://evil/" 2>&1)
check_eq "account add refuses a relay that is not smtp(s)://" 64 "$?"
check "account add says why" grep -q "smtp://HOST:PORT" <<<"$out"
crm account add "news-$U@example.com" --relay "smtp://127.0.0.1:$SUB" >/dev/null 2>&1
check_eq "a second account for one address is refused (EX_DATAERR)" 65 "$?"
check "the relay password is never stored in clear" \
    test "$(sql "SELECT count(*) FROM mail_accounts WHERE relay_password::text LIKE '%secret%'")" = 0

for i in 1 2 3 4 5; do
    crm contact add "p$i@$D" --first "First$i" --last "Person" \
        --company "Acme $U" --tag "news-$U" --country DE >/dev/null
done
crm contact add "nofirst@$D" --company "Acme $U" --tag "news-$U" >/dev/null
crm contact add "hostile@$D" --first '<b>Evil</b>' --tag "news-$U" >/dev/null
crm contact add "supp@$D" --first Supp --tag "news-$U" >/dev/null
crm contact add "other@$D" --first Other --tag "other-$U" >/dev/null
crm suppress add "supp@$D" --reason "asked by phone" >/dev/null
check "suppress list --json has the address, reason and since" \
    test "$(jcrm suppress list | jq -r ".suppressions[] | select(.address == \"supp@$D\") | .reason + \"|\" + (.since|tostring)" | cut -d'|' -f1)" = "asked by phone"

printf '{{frist_name}}\n' >"$TMP/bad.txt"
before=$(sql "SELECT count(*) FROM campaigns")
out=$(crm campaign create "bad $U" --account "$ACC" --subject S --text "$TMP/bad.txt" --segment "tag:news-$U" 2>&1)
rc=$?
check_eq "an unknown template variable fails at create time (EX_USAGE)" 64 "$rc"
check "the error names the variable, line and column" grep -q "line 1, column 1: unknown variable 'frist_name'" <<<"$out"
crm campaign create "bad $U" --account "$ACC" --subject "{{nope}}" --text "$TMP/text.txt" --segment "tag:news-$U" >/dev/null 2>&1
check_eq "an unknown variable in the subject fails too" 64 "$?"
crm campaign create "bad $U" --account "$ACC" --subject S --text "$TMP/text.txt" --segment "frob:1" >/dev/null 2>&1
check_eq "an unknown segment term fails" 64 "$?"
crm campaign create "bad $U" --account "$ACC" --subject S --text "$TMP/text.txt" --segment "tag:x" --window "Funday 25:00-26:00" >/dev/null 2>&1
check_eq "a window that is no window fails" 64 "$?"
crm campaign create "bad $U" --account "$ACC" --subject S --text "$TMP/text.txt" --segment "tag:x" --tz "Mars/Olympus" >/dev/null 2>&1
check_eq "an unknown time zone fails" 64 "$?"
check_eq "no campaign row was made by the failures" "$before" "$(sql "SELECT count(*) FROM campaigns")"

# --- create, test, start ----------------------------------------------------
J=$(jcrm campaign create "Spring $U" --account "$ACC" \
    --subject "News for {{first_name|you}}" --text "$TMP/text.txt" \
    --html "$TMP/page.html" --segment "tag:news-$U,country:de")
CID=$(jq -r .id <<<"$J")
check "campaign create --json prints its id" test "$CID" -gt 0
check_eq "the segment took the tagged German contacts only (5)" 5 "$(jq -r .recipients <<<"$J")"
check_eq "a new campaign is a draft" draft "$(jq -r .state <<<"$J")"
J2=$(jcrm campaign create "All $U" --account "$ACC" --subject "News for {{first_name|you}}" \
    --text "$TMP/text.txt" --html "$TMP/page.html" --segment "tag:news-$U")
CID2=$(jq -r .id <<<"$J2")
check_eq "tag alone: 8 rows (one suppressed)" "8 1 7" \
    "$(jq -r '"\(.recipients) \(.suppressed) \(.queued)"' <<<"$J2")"
check "status has every field the issue names" \
    jq -e 'has("state") and has("recipients") and has("queued") and has("sent") and has("failed") and has("bounced") and has("suppressed") and has("replied") and has("unsubscribed") and has("opened") and has("clicked")' <<<"$J2"

jcrm campaign test "$CID2" --to "tester-$U@example.com" >"$TMP/test.json"
check "campaign test reports the relay's 250" test "$(jq -r .code "$TMP/test.json")" = 250
scripts/stack wait-queue 30 >/dev/null
tf=$(sink_files_for "tester-$U@example.com" | head -1)
check "the test message reached the sink" test -n "$tf"
check "its subject is marked [TEST]" grep -q "^Subject: \[TEST\] News for" "$tf"
check_eq "a test touches no ledger row" 7 "$(status_field "$CID2" queued)"

crm campaign start "$CID2" >/dev/null
st=$(status_field "$CID2" state)
check "start: running (or already finished)" test "$st" = running -o "$st" = finished
crm campaign start "$CID2" >/dev/null 2>&1
check_eq "start twice is refused" 64 "$?"
wait_for 60 campaign_state_is "$CID2" finished
check "the campaign finished" campaign_state_is "$CID2" finished
scripts/stack wait-queue 30 >/dev/null
for a in p1 p2 p3 p4 p5 nofirst hostile; do
    n=$(sink_count_for "$a@$D")
    [ "$n" = 1 ] || { not_ok "$a@$D received exactly one message (got $n)"; continue; }
done
ok_all=1
for a in p1 p2 p3 p4 p5 nofirst hostile; do [ "$(sink_count_for "$a@$D")" = 1 ] || ok_all=0; done
check_eq "every recipient received exactly one message" 1 "$ok_all"
check_eq "the suppressed address received nothing" 0 "$(sink_count_for "supp@$D")"
check_eq "the untagged contact received nothing" 0 "$(sink_count_for "other@$D")"

f=$(sink_files_for "p3@$D")
m=$TMP/p3.eml
sed -n '/^From: /,$p' "$f" >"$m"
R3=$(rid_of "$CID2" "p3@$D")
T3=$(token_of "$R3")
check "personalised subject" grep -q "^Subject: News for First3" "$m"
check "personalised text" grep -q "^Hello First3," "$m"
check "envelope sender is bounce+TOKEN@ the bounce domain" \
    grep -q "^X-Mail-Args: <bounce+$T3@$BD>" "$f"
check "Message-ID carries the token" grep -q "^Message-ID: <$T3\.[0-9a-f]\{8\}@$BD>" "$m"
check "List-Unsubscribe has the URL and the mailto" \
    grep -qz "List-Unsubscribe: <http[^>]*/unsubscribe/$T3>,[[:space:]]*<mailto:unsubscribe+$T3@$BD>" "$m"
check "List-Unsubscribe-Post: List-Unsubscribe=One-Click" \
    grep -q "^List-Unsubscribe-Post: List-Unsubscribe=One-Click" "$m"
check "Precedence: bulk" grep -q "^Precedence: bulk" "$m"
check "Feedback-ID names campaign and account" grep -q "^Feedback-ID: $CID2:$ACC:" "$m"
check "multipart/alternative with text and HTML" \
    grep -q "Content-Type: multipart/alternative" "$m"
check "the fallback is used for a missing first name" \
    grep -q "^Hello there," "$(sed -n '/^From: /,$p' "$(sink_files_for "nofirst@$D")" >"$TMP/nf.eml"; echo "$TMP/nf.eml")"
sed -n '/^From: /,$p' "$(sink_files_for "hostile@$D")" >"$TMP/h.eml"
check "a hostile first name is escaped in the HTML part" grep -q "&lt;b&gt;Evil&lt;/b&gt;" "$TMP/h.eml"
check "and not raw" sh -c "! grep -q '<b><b>Evil' '$TMP/h.eml'"
check_eq "ledger: 7 sent, 1 suppressed" "7 1" \
    "$(sql "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'suppressed') FROM campaign_recipients WHERE campaign_id = $CID2" | tr '|' ' ')"
check "the ledger keeps the relay's reply and queue id" \
    test -n "$(sql "SELECT 1 FROM campaign_recipients WHERE id = $R3 AND smtp_code = 250 AND smtp_reply LIKE '250 %queued as%' AND queue_id <> ''")"
check_eq "our own campaign mail is not stored as captured mail" 0 \
    "$(sql "SELECT count(*) FROM messages WHERE message_id LIKE '%@$BD' AND message_id LIKE '$T3%'")"
check "the milter log says why" grep -q "message_id=<$T3\..*skipped reason=campaign/campaign-mail" "$CRMGATE_VAR/log/milter.log"

# --- status --follow ----------------------------------------------------------
out=$(timeout 20 "${C[@]}" campaign status "$CID2" --follow)
check_eq "status --follow ends by itself for a finished campaign" 0 "$?"
check "its progress line shows 100 % and the state" grep -q "\[#\{30\}\] 100%  8/8 done  sent 7 .*finished" <<<"$out"
out=$(timeout 20 "${C[@]}" --json campaign status "$CID2" --follow | head -1)
check "--json --follow prints JSON lines" test "$(jq -r .state <<<"$out")" = finished

# --- send log ---------------------------------------------------------------
crm campaign log "$CID2" >"$TMP/log.csv"
check_eq "campaign log: a CSV header and one row per recipient" 9 "$(wc -l <"$TMP/log.csv")"
check "the CSV names the columns" grep -q "^id,address,state,variant,attempts,smtp_code,smtp_reply,queue_id" "$TMP/log.csv"
check_eq "campaign log --json: one object per recipient" 8 "$(jcrm campaign log "$CID2" | jq '.recipients | length')"

# --- replies, auto-replies, unsubscribe mail --------------------------------
M1=$(mid_of "$(rid_of "$CID2" "p1@$D")")
smtp "$MX" "p1@$D" "news-$U@example.com" "reply1-$U@$D" "Re: News" --header "In-Reply-To: <$M1>"
M2=$(mid_of "$(rid_of "$CID2" "p2@$D")")
smtp "$MX" "p2@$D" "news-$U@example.com" "auto2-$U@$D" "Out of office" \
    --header "In-Reply-To: <$M2>" --header "Auto-Submitted: auto-replied"
M4=$(mid_of "$(rid_of "$CID2" "p4@$D")")
FORGED=$(sed 's/^\([0-9]*-\)\(.\)/\1x/' <<<"$M4")
smtp "$MX" "p4@$D" "news-$U@example.com" "forged4-$U@$D" "Re: forged" --header "In-Reply-To: <$FORGED>"
T5=$(token_of "$(rid_of "$CID2" "p5@$D")")
smtp "$MX" "p5@$D" "unsubscribe+$T5@$BD" "unsub5-$U@$D" "unsubscribe"
smtp "$MX" "nofirst@$D" "unsubscribe+999999-00000000000000000000@$BD" "unsubf-$U@$D" "unsubscribe"
wait_message "reply1-$U@$D" 20
wait_for 20 sql_has "SELECT 1 FROM campaign_recipients WHERE campaign_id = $CID2 AND address_norm = 'p5@$D' AND unsubscribed_at IS NOT NULL"
wait_message "forged4-$U@$D" 20
sleep 1
check_eq "a reply marks its recipient replied (count 1)" 1 "$(status_field "$CID2" replied)"
check "the reply is stored and linked to the contact" \
    test -n "$(sql "SELECT 1 FROM messages m JOIN message_links l ON l.message_id = m.id AND l.record_type = 'contact' JOIN contacts c ON c.id = l.record_id WHERE m.message_id = 'reply1-$U@$D' AND c.email_norm = 'p1@$D'")"
check "an auto-reply is told apart" \
    test -n "$(sql "SELECT 1 FROM campaign_recipients WHERE campaign_id = $CID2 AND address_norm = 'p2@$D' AND auto_replied_at IS NOT NULL AND replied_at IS NULL")"
check_eq "a forged token in In-Reply-To marks nothing" "" \
    "$(sql "SELECT 1 FROM campaign_recipients WHERE campaign_id = $CID2 AND address_norm = 'p4@$D' AND (replied_at IS NOT NULL OR auto_replied_at IS NOT NULL)")"
check_eq "mail to unsubscribe+TOKEN@ unsubscribes (count 1)" 1 "$(status_field "$CID2" unsubscribed)"
check "and suppresses the address at once" \
    test "$(sql "SELECT reason FROM suppressions WHERE address_norm = 'p5@$D'")" = unsubscribed
check_eq "a forged unsubscribe address suppresses nobody" "" \
    "$(sql "SELECT 1 FROM suppressions WHERE address_norm = 'nofirst@$D'")"
check_eq "unsubscribe mail is not captured" "" "$(sql "SELECT 1 FROM messages WHERE message_id = 'unsub5-$U@$D'")"

# --- what the relay says: 5xx, 4xx, throttle, and a real DSN -----------------
crm contact add "ok@$D" --tag "paths-$U" >/dev/null
crm contact add "hard-$U@bounce.invalid" --tag "paths-$U" >/dev/null 2>&1
crm contact add "no-$U@reject5.invalid" --tag "paths-$U" >/dev/null
crm contact add "full-$U@tempfail.invalid" --tag "paths-$U" >/dev/null
PATHS=$(jcrm campaign create "Paths $U" --account "$ACC" --subject "Hi" --text "$TMP/text.txt" --segment "tag:paths-$U" | jq -r .id)
crm campaign start "$PATHS" >/dev/null
wait_for 60 campaign_state_is "$PATHS" finished
check "a campaign with refusals still finishes" campaign_state_is "$PATHS" finished
check "5xx at RCPT: failed with the reply" \
    test -n "$(sql "SELECT 1 FROM campaign_recipients WHERE campaign_id = $PATHS AND address_norm = 'no-$U@reject5.invalid' AND state = 'failed' AND smtp_code = 550 AND attempts = 1")"
check "4xx: retried, then failed after campaign.max_attempts (2)" \
    test -n "$(sql "SELECT 1 FROM campaign_recipients WHERE campaign_id = $PATHS AND address_norm = 'full-$U@tempfail.invalid' AND state = 'failed' AND smtp_code = 452 AND attempts = 2")"
HB=$(rid_of "$PATHS" "hard-$U@bounce.invalid")
wait_for 30 sql_has "SELECT 1 FROM campaign_recipients WHERE id = $HB AND state = 'bounced'"
check "Postfix's DSN came back through the milter: bounced" \
    test "$(sql "SELECT state || '|' || bounce_reason || '|' || bounce_status FROM campaign_recipients WHERE id = $HB")" = "bounced|userunknown|5.1.1"
check "a hard bounce suppresses the address at once" \
    test -n "$(sql "SELECT 1 FROM suppressions WHERE address_norm = 'hard-$U@bounce.invalid' AND reason LIKE 'hard-bounce%'")"
check_eq "status counts the bounce" 1 "$(status_field "$PATHS" bounced)"
check "the DSN is not captured mail" grep -q "campaign bounce feedback=bounced-hard" "$CRMGATE_VAR/log/milter.log"
n=$(jcrm campaign resend-failed "$PATHS" | jq -r .requeued)
check_eq "resend-failed queues the two failed rows again" 2 "$n"
st=$(status_field "$PATHS" state)
check "and the campaign runs again" test "$st" = running -o "$st" = finished
wait_for 60 campaign_state_is "$PATHS" finished
check_eq "they failed again (the relay still refuses them)" 2 \
    "$(sql "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $PATHS AND state = 'failed'")"

# --- soft bounces and complaints (DSN and ARF injected through the MX) ------
R1=$(rid_of "$CID2" "p1@$D")
T1=$(token_of "$R1")
soft_dsn() {
    cat <<EOF
From: MAILER-DAEMON@mx.remote.test
To: bounce+$T1@$BD
Subject: Undelivered Mail Returned to Sender
Message-ID: <soft$1-$U@mx.remote.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BB"

--BB
Content-Type: text/plain

Mailbox full.

--BB
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.test

Final-Recipient: rfc822; p1@$D
Action: failed
Status: 4.2.2
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

--BB--
EOF
}
soft_dsn 1 >"$TMP/soft1.eml"
swaks --silent 2 --server "127.0.0.1:$MX" --from "mailer-daemon@mx.remote.test" --to "bounce+$T1@$BD" --data "@$TMP/soft1.eml"
wait_for 20 sql_has "SELECT 1 FROM campaign_recipients WHERE id = $R1 AND soft_bounces = 1"
check "a soft bounce is counted, not suppressed" \
    test "$(sql "SELECT soft_bounces || '|' || state || '|' || (SELECT count(*) FROM suppressions WHERE address_norm = 'p1@$D') FROM campaign_recipients WHERE id = $R1")" = "1|sent|0"
soft_dsn 2 >"$TMP/soft2.eml"
swaks --silent 2 --server "127.0.0.1:$MX" --from "mailer-daemon@mx.remote.test" --to "bounce+$T1@$BD" --data "@$TMP/soft2.eml"
wait_for 20 sql_has "SELECT 1 FROM suppressions WHERE address_norm = 'p1@$D'"
check "the second soft bounce in the window suppresses (soft_bounce_limit 2)" \
    test "$(sql "SELECT reason FROM suppressions WHERE address_norm = 'p1@$D'")" = "soft-bounces: 2"
R3M=$(mid_of "$R3")
cat >"$TMP/arf.eml" <<EOF
From: fbl@isp.test
To: fbl@$BD
Subject: complaint
Message-ID: <arf-$U@isp.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="AA"

--AA
Content-Type: text/plain

This is an email abuse report.

--AA
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: isp-fbl/1.0
Version: 1
Original-Rcpt-To: p3@$D

--AA
Content-Type: message/rfc822

From: News <news-$U@example.com>
To: p3@$D
Subject: News for First3
Message-ID: <$R3M>

Hello
--AA--
EOF
swaks --silent 2 --server "127.0.0.1:$MX" --from "fbl@isp.test" --to "fbl@$BD" --data "@$TMP/arf.eml"
wait_for 20 sql_has "SELECT 1 FROM campaign_recipients WHERE id = $R3 AND complained_at IS NOT NULL"
check "an ARF complaint names the recipient by the original's Message-ID" \
    test -n "$(sql "SELECT 1 FROM campaign_recipients WHERE id = $R3 AND complained_at IS NOT NULL")"
check "a complaint suppresses at once" \
    test "$(sql "SELECT reason FROM suppressions WHERE address_norm = 'p3@$D'")" = complaint

# --- pause, resume, cancel, rate --------------------------------------------
for i in $(seq 1 8); do crm contact add "r$i@$D" --tag "rate-$U" >/dev/null; done
RATE=$(jcrm campaign create "Rate $U" --account "$ACC" --subject Hi --text "$TMP/text.txt" --segment "tag:rate-$U" --rate 60 | jq -r .id)
crm campaign start "$RATE" >/dev/null
wait_for 20 field_ge "$RATE" sent 2
crm campaign pause "$RATE" >/dev/null
check "pause: paused" campaign_state_is "$RATE" paused
sleep 3
s1=$(status_field "$RATE" sent)
sleep 3
s2=$(status_field "$RATE" sent)
check_eq "nothing is sent while paused" "$s1" "$s2"
check "some are still queued" test "$(status_field "$RATE" queued)" -gt 0
crm campaign resume "$RATE" >/dev/null
check "resume: running" campaign_state_is "$RATE" running
wait_for 30 campaign_state_is "$RATE" finished
check "resumed to the end" campaign_state_is "$RATE" finished
spread=$(sql "SELECT extract(epoch FROM max(sent_at) - min(sent_at))::int FROM campaign_recipients WHERE campaign_id = $RATE AND state = 'sent'")
check "--rate 60 spreads 8 messages over at least 5 s (got ${spread}s plus a pause)" test "$spread" -ge 5
CAN=$(jcrm campaign create "Cancel $U" --account "$ACC" --subject Hi --text "$TMP/text.txt" --segment "tag:rate-$U" --rate 10 | jq -r .id)
crm campaign start "$CAN" >/dev/null
crm campaign cancel "$CAN" >/dev/null
check "cancel: canceled" campaign_state_is "$CAN" canceled
sleep 3
check "a canceled campaign sends no more (at most the first)" test "$(status_field "$CAN" sent)" -le 1
crm campaign resume "$CAN" >/dev/null 2>&1
check_eq "a canceled campaign cannot resume" 64 "$?"

# --- window, schedule, daily cap --------------------------------------------
tomorrow=$(date -u -d tomorrow +%a)
WIN=$(jcrm campaign create "Window $U" --account "$ACC" --subject Hi --text "$TMP/text.txt" --segment "tag:rate-$U" --window "$tomorrow 00:00-23:59" --tz UTC | jq -r .id)
crm campaign start "$WIN" >/dev/null
sleep 4
check_eq "outside its window a running campaign sends nothing" 0 "$(status_field "$WIN" sent)"
check "its job rests until the window opens" \
    test -n "$(sql "SELECT 1 FROM jobs WHERE unique_key = 'campaign:$WIN' AND run_at > now() + interval '10 minutes'")"
crm campaign cancel "$WIN" >/dev/null
AT=$(jcrm campaign create "Later $U" --account "$ACC" --subject Hi --text "$TMP/text.txt" --segment "tag:rate-$U" --at "$(date -u -d '+2 hours' '+%Y-%m-%d %H:%M')" | jq -r .id)
crm campaign start "$AT" >/dev/null
check "--at in the future: scheduled" campaign_state_is "$AT" scheduled
crm campaign cancel "$AT" >/dev/null
CAPACC=$(jcrm account add "capped-$U@example.com" --relay "smtp://127.0.0.1:$SUB" --daily-cap 3 | jq -r .id)
CAP=$(jcrm campaign create "Cap $U" --account "$CAPACC" --subject Hi --text "$TMP/text.txt" --segment "tag:rate-$U" | jq -r .id)
crm campaign start "$CAP" >/dev/null
wait_for 20 field_ge "$CAP" sent 3
sleep 3
check_eq "the daily cap stops the account at 3" "3 5" "$(status_field "$CAP" sent) $(status_field "$CAP" queued)"
crm campaign cancel "$CAP" >/dev/null

# --- tags through import, tag add -------------------------------------------
printf 'email,first_name,tags,country\nimp1@%s,Imp,"imp-%s;vip",fr\nimp2@%s,Imp2,other,fr\n' "$D" "$U" "$D" >"$TMP/imp.csv"
crm import contacts "$TMP/imp.csv" >/dev/null
IMP=$(jcrm campaign create "Imp $U" --account "$ACC" --subject Hi --text "$TMP/text.txt" --segment "tag:imp-$U,country:FR" | jq -r .recipients)
check_eq "import contacts reads a tags column" 1 "$IMP"
crm tag add contact:999999999 foo >/dev/null 2>&1
check_eq "tag add on a missing record fails (EX_NOINPUT)" 66 "$?"
CSVSEG=$TMP/seg.csv
printf 'email,first_name\nlist1@%s,Listy\nnot-an-address,x\n' "$D" >"$CSVSEG"
CS=$(jcrm campaign create "Csv $U" --account "$ACC" --subject Hi --text "$TMP/text.txt" --segment "csv:$CSVSEG" | jq -r .recipients)
check_eq "csv:FILE: the valid rows are the recipients" 1 "$CS"
check_eq "suppress remove" removed "$(crm suppress remove "supp@$D" | awk '{print $2}')"

# --- open pixel and click redirects (opt-in) --------------------------------
crm contact add "trk@$D" --first Tracy --tag "trk-$U" >/dev/null
printf '<p>Hi {{first_name}}</p><p><a href="https://example.org/page?x=1&amp;y=2">read</a></p>\n' >"$TMP/trk.html"
TRK=$(jcrm campaign create "Track $U" --account "$ACC" --subject Hi --text "$TMP/text.txt" \
    --html "$TMP/trk.html" --segment "tag:trk-$U" --track-opens --track-clicks | jq -r .id)
crm campaign start "$TRK" >/dev/null
wait_for 30 campaign_state_is "$TRK" finished
scripts/stack wait-queue 30 >/dev/null
tf=$(sink_files_for "trk@$D" | head -1)
# the HTML part may be quoted-printable: decode before looking
python3 -c 'import sys,email; m=email.message_from_binary_file(open(sys.argv[1],"rb")); [sys.stdout.write(p.get_payload(decode=True).decode()) for p in m.walk() if p.get_content_type()=="text/html"]' "$tf" >"$TMP/trk.out" 2>/dev/null
click=$(grep -o 'href="[^"]*/c/[^"]*"' "$TMP/trk.out" | head -1 | sed 's/^href="//; s/"$//; s/&amp;/\&/g')
pixel=$(grep -o 'src="[^"]*/o/[^"]*\.gif"' "$TMP/trk.out" | head -1 | sed 's/^src="//; s/"$//')
check "the HTML link is a signed redirect" test -n "$click"
check "the HTML part carries the open pixel" test -n "$pixel"
hdr=$(curl -s -o /dev/null -D - "$click" | tr -d '\r')
check "the redirect answers 302 to the original URL" \
    grep -qx 'Location: https://example.org/page?x=1&y=2' <<<"$hdr"
curl -s -o "$TMP/px.gif" "$pixel"
check "the pixel is a GIF" sh -c "head -c 6 '$TMP/px.gif' | grep -q GIF89a"
check_eq "status counts the open and the click" "1 1" \
    "$(status_field "$TRK" opened) $(status_field "$TRK" clicked)"
bad=$(sed 's/&s=\(.\)/\&s=0\1/' <<<"$click")
check_eq "a tampered signature is refused (400), no redirect" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$bad")"

# --- task notices by mail ----------------------------------------------------
crm user add "notice-$U@example.com" --name "Notice User" >/dev/null
TID=$(crm task add "Call back $U" --owner "notice-$U@example.com" | tail -1 | grep -o '[0-9]*' | head -1)
wait_for 40 sql_has "SELECT 1 FROM notices WHERE task_id = $TID AND sent_at IS NOT NULL"
scripts/stack wait-queue 30 >/dev/null
check "the worker mails due task notices" test "$(sink_count_for "notice-$U@example.com")" -ge 1
# task add made an 'assigned' notice (core/tasks.c) with its signed link
check "the assigned notice with its subject and one-click link" \
    sh -c "grep -l 'Subject: Task assigned to you: Call back $U' $(sink_files_for "notice-$U@example.com" | tr '\n' ' ') | xargs grep -q '/tasks/$TID/done?u='"
# a request from sales-inbox mail gets a task (sql/0008) and now its
# 'assigned' notice too: the trigger queues "task.assigned", the worker
# signs the notice, notices.deliver mails it
crm user add boss@example.com --name Boss >/dev/null 2>&1
smtp "$MX" "lead-$U@$D" sales@example.com "lead-$U@$D" "Quote please $U"
wait_for 30 sql_has "SELECT 1 FROM tasks t JOIN requests r ON r.id = t.record_id AND t.record_type = 'request' WHERE r.email_norm = 'lead-$U@$D'"
RT=$(sql "SELECT t.id FROM tasks t JOIN requests r ON r.id = t.record_id AND t.record_type = 'request' WHERE r.email_norm = 'lead-$U@$D'")
check "sales-inbox mail made a request with a task" test -n "$RT"
wait_for 40 sql_has "SELECT 1 FROM notices WHERE task_id = ${RT:-0} AND kind = 'assigned' AND sent_at IS NOT NULL"
check "the request's task got its assigned notice, mailed" \
    sql_has "SELECT 1 FROM notices WHERE task_id = ${RT:-0} AND kind = 'assigned' AND sent_at IS NOT NULL AND body LIKE '%/tasks/${RT:-0}/done?u=%'"
scripts/stack wait-queue 30 >/dev/null
check "the owner received it" sh -c "grep -l 'Quote please $U' \$(grep -l -F 'X-Rcpt-Args: <boss@example.com>' '$CRMGATE_SINK_DIR'/*) | xargs grep -q 'Subject: Task assigned to you'"

