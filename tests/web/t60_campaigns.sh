#!/usr/bin/env bash
# tests/web/t60_campaigns.sh - campaigns in the web view, against the test
# stack's web, worker, Postfix and smtp-sink: a campaign to three tagged
# contacts is sent by the worker through the private Postfix into the sink;
# the unsubscribe URL is read from the List-Unsubscribe header the sink
# received; then the landing page, RFC 8058 one-click, forged tokens, the
# open pixel, signed click redirects (signatures computed here with openssl,
# independently of core/tokens.c), the campaign pages and API with role
# scoping, the state buttons with and without CSRF, the campaigns report
# (page, CSV, JSON, CLI) against counts from psql, the campaign events on a
# contact's timeline, escaping of a hostile campaign name. Prints TAP lines.
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$REPO/tests/lib.sh"
. "$REPO/tests/web/lib.sh"

# pass NAME: one TAP line from the status of the command list just run.
pass() { if [ $? -eq 0 ]; then ok "$1"; else not_ok "$1"; fi; }
# has FILE TEXT: the file holds TEXT (fixed string).
has() { grep -qF -- "$2" "$1"; }
# hmac MESSAGE: the first 20 hex of HMAC-SHA256(campaign secret, MESSAGE).
# The test config sets no campaign.secret: it falls back to web.secret.
hmac() {
    printf '%s' "$1" | openssl dgst -sha256 -hmac "$CRMGATE_WEB_SECRET" |
        sed 's/^.*= *//' | cut -c1-20
}
# header NAME: the value of response header NAME in $W/head.
header() { sed -n "s/^$1: *//Ip" "$W/head" | tr -d '\r' | head -n 1; }

TAG=c$$
CHIEF=chief-$TAG@example.com
MA=ma-$TAG@example.com
MB=mb-$TAG@example.com
OPR=op-$TAG@example.com
HOSTILE='<script>alert(1)</script>'
web_user "$CHIEF" chief chief-pass-1 "Chief $TAG"
web_user "$MA" manager ma-pass-1 "Anna $TAG"
web_user "$MB" manager mb-pass-1 "Bert $TAG"
web_user "$OPR" operator op-pass-1 "Otto $TAG"
web_login "$CHIEF" chief-pass-1 && CSID=$SID CCSRF=$SCSRF
web_login "$MA" ma-pass-1 && ASID=$SID ACSRF=$SCSRF
web_login "$MB" mb-pass-1 && BSID=$SID BCSRF=$SCSRF
web_login "$OPR" op-pass-1 && OSID=$SID
CTOKEN=$($CRMGATE token add "$CHIEF" | tail -n 1)
BTOKEN=$($CRMGATE token add "$MB" | tail -n 1)
[ -n "${CSID:-}" ] && [ -n "${ASID:-}" ] && [ -n "${BSID:-}" ] && [ -n "${OSID:-}" ] &&
    [ -n "$CTOKEN" ] && [ -n "$BTOKEN" ]
pass "campaigns: four users logged in, two API tokens"

# --- a campaign sent for real -----------------------------------------------
ACC=$($CRMGATE --json account add "news-$TAG@example.com" --name "News $TAG" \
    --relay "smtp://127.0.0.1:$CRMGATE_SUBMISSION_PORT" | jq -r .id)
# p1 is owned by the other manager: they see the contact, not the campaign
C1=$($CRMGATE --json contact add "p1-$TAG@outside.test" --first P1 --owner "$MB" \
    --tag "w$TAG" | jq -r .id)
C2=$($CRMGATE --json contact add "p2-$TAG@outside.test" --first P2 --tag "w$TAG" | jq -r .id)
C3=$($CRMGATE --json contact add "p3-$TAG@outside.test" --first P3 --tag "w$TAG" | jq -r .id)
printf 'Hello {{first_name|there}},\nnews.\nUnsubscribe: {{unsubscribe_url}}\n' >"$W/text"
NAME="$HOSTILE $TAG"
CID=$($CRMGATE --json campaign create "$NAME" --account "$ACC" --subject "News $TAG" \
    --text "$W/text" --segment "tag:w$TAG" --owner "$MA" | jq -r .id)
[ -n "$ACC" ] && [ "$ACC" != null ] && [ -n "$C1" ] && [ "$C1" != null ] &&
    [ -n "$CID" ] && [ "$CID" != null ]
pass "campaigns: account, three tagged contacts and a campaign created (id $CID)"
$CRMGATE campaign start "$CID" >/dev/null
pass "campaigns: campaign start"
state=
for _ in $(seq 1 60); do
    state=$($CRMGATE --json campaign status "$CID" | jq -r .state)
    [ "$state" = finished ] && break
    sleep 1
done
[ "$state" = finished ] && [ "$($CRMGATE --json campaign status "$CID" | jq -r .sent)" = 3 ]
pass "campaigns: the worker sent all three within 60 s (state $state)"
"$REPO/scripts/stack" wait-queue 60 >/dev/null 2>&1
# unsub_url ADDRESS: the List-Unsubscribe URL the sink received for ADDRESS
unsub_url() {
    local f
    f=$(grep -l -- "^X-Rcpt-Args: <$1>" "$CRMGATE_SINK_DIR"/* 2>/dev/null | head -n 1)
    [ -n "$f" ] || return 1
    sed -n 's/^List-Unsubscribe: *<\(http[^>]*\)>.*/\1/p' "$f" | tr -d '\r' | head -n 1
}
URL1=$(unsub_url "p1-$TAG@outside.test")
URL2=$(unsub_url "p2-$TAG@outside.test")
URL3=$(unsub_url "p3-$TAG@outside.test")
T1=${URL1##*/} T2=${URL2##*/} T3=${URL3##*/}
rid() { psql_q -c "SELECT id FROM campaign_recipients WHERE campaign_id = $CID AND address_norm = '$1-$TAG@outside.test'"; }
R1=$(rid p1) R2=$(rid p2) R3=$(rid p3)
[ "$URL1" = "$U/unsubscribe/$R1-$(hmac "crmgate/r/$R1")" ] &&
    [ "$T2" = "$R2-$(hmac "crmgate/r/$R2")" ] && [ "$T3" = "$R3-$(hmac "crmgate/r/$R3")" ]
pass "campaigns: the sink got List-Unsubscribe URLs with each recipient's signed token"

# --- unsubscribe --------------------------------------------------------------
st=$(code "$URL1")
[ "$st" = 200 ] && has "$W/body" "<form method=\"post\" action=\"/unsubscribe/$T1\"><button>Unsubscribe</button>" &&
    has "$W/body" "@outside.test" && ! has "$W/body" "p1-$TAG@outside.test"
pass "unsubscribe: landing 200 with the confirm button and a masked address"
# forge: the last hex digit changed
forge() { local t=$1 l=${1: -1}; if [ "$l" = 0 ]; then echo "${t%?}1"; else echo "${t%?}0"; fi; }
F2=$(forge "$T2")
st=$(code "$U/unsubscribe/$F2")
[ "$st" = 404 ] && ! has "$W/body" "<button>Unsubscribe"
pass "unsubscribe: a forged token's landing is 404 without a button"
st=$(code -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data 'List-Unsubscribe=One-Click' "$U/unsubscribe/$F2")
[ "$st" = 404 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM suppressions WHERE address_norm = 'p2-$TAG@outside.test'")" = 0 ] &&
    [ -z "$(psql_q -c "SELECT unsubscribed_at FROM campaign_recipients WHERE id = $R2")" ]
pass "unsubscribe: a forged one-click POST is 404 and writes nothing"
# hostile tokens: garbage, a campaign token, huge, invalid UTF-8, wrong id
okall=0
for t in "1-zz" "c$CID-$(hmac "crmgate/c/$CID")" "$(head -c 5000 /dev/zero | tr '\0' 7)" \
    "%FF%FE" "99999999-$(hmac "crmgate/r/99999999")" "$R2-" "-$(hmac "crmgate/r/$R2")" \
    "$R2-$(hmac "crmgate/r/$R2")x" "0$T2"; do
    st=$(code -X POST --data 'List-Unsubscribe=One-Click' "$U/unsubscribe/$t")
    case $st in 400 | 404) ;; *) okall=1 && echo "# $t -> $st" ;; esac
done
[ $okall = 0 ] && [ "$(psql_q -c "SELECT count(*) FROM suppressions WHERE address_norm LIKE '%-$TAG@outside.test'")" = 0 ]
pass "unsubscribe: malformed, huge, invalid UTF-8, unknown-id tokens 400/404, nothing suppressed"
st=$(code -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data 'List-Unsubscribe=One-Click' "$URL1")
[ "$st" = 200 ] && has "$W/body" "You are unsubscribed"
pass "unsubscribe: RFC 8058 one-click POST without session or csrf -> 200"
[ "$(psql_q -c "SELECT reason || '/' || source || '/' || campaign_id FROM suppressions WHERE address_norm = 'p1-$TAG@outside.test'")" = "unsubscribed/one-click/$CID" ]
pass "unsubscribe: the suppressions row exists (source one-click)"
[ -n "$(psql_q -c "SELECT unsubscribed_at FROM campaign_recipients WHERE id = $R1")" ]
pass "unsubscribe: the ledger row has unsubscribed_at"
[ "$($CRMGATE --json campaign status "$CID" | jq -r .unsubscribed)" = 1 ]
pass "unsubscribe: crmgate --json campaign status counts unsubscribed 1"
st=$(code "$URL1")
[ "$st" = 200 ] && has "$W/body" "already unsubscribed" && ! has "$W/body" "<button>Unsubscribe"
pass "unsubscribe: the landing page then says already unsubscribed"
# the landing page's own button: an empty form POST (source web), upper-case token
T3U=$(printf '%s' "$T3" | tr a-f A-F)
st=$(code -X POST -H 'Content-Type: application/x-www-form-urlencoded' --data '' "$U/unsubscribe/$T3U")
[ "$st" = 200 ] &&
    [ "$(psql_q -c "SELECT source FROM suppressions WHERE address_norm = 'p3-$TAG@outside.test'")" = web ]
pass "unsubscribe: the button POST (upper-case token) unsubscribes with source web"
st=$(code -X POST --data 'List-Unsubscribe=One-Click' "$URL1")
[ "$st" = 200 ] && [ "$(psql_q -c "SELECT count(*) FROM suppressions WHERE address_norm = 'p1-$TAG@outside.test'")" = 1 ]
pass "unsubscribe: a repeated one-click POST is 200 and idempotent"
# a draft campaign's ledger row is enough for a token (computed here)
C4=$($CRMGATE --json contact add "p4-$TAG@outside.test" --first P4 --tag "x$TAG" | jq -r .id)
XID=$($CRMGATE --json campaign create "X $TAG" --account "$ACC" --subject "X" \
    --text "$W/text" --segment "tag:x$TAG" | jq -r .id)
R4=$(psql_q -c "SELECT id FROM campaign_recipients WHERE campaign_id = $XID")
T4="$R4-$(hmac "crmgate/r/$R4")"
head -c 3000000 /dev/zero | tr '\0' a >"$W/huge"
st=$(code -X POST -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "@$W/huge" "$U/unsubscribe/$T4")
[ "$st" = 413 ] && [ -n "$C4" ] &&
    [ "$(psql_q -c "SELECT count(*) FROM suppressions WHERE address_norm = 'p4-$TAG@outside.test'")" = 0 ]
pass "unsubscribe: a 3 MB body is 413 and writes nothing"
st=$(code -X POST -F 'List-Unsubscribe=One-Click' "$U/unsubscribe/$T4")
[ "$st" = 200 ] &&
    [ "$(psql_q -c "SELECT source FROM suppressions WHERE address_norm = 'p4-$TAG@outside.test'")" = one-click ] &&
    [ "$(psql_q -c "SELECT state FROM campaign_recipients WHERE id = $R4")" = suppressed ]
pass "unsubscribe: one-click as multipart/form-data -> one-click, the queued row suppressed"
st=$(code -X GET "$U/unsubscribe/$T2/extra")
[ "$st" = 404 ]
pass "unsubscribe: extra path segments 404"

# --- open pixel -----------------------------------------------------------------
st=$(code "$U/o/$T2.gif")
[ "$st" = 200 ] && [ "$(header Content-Type)" = image/gif ] &&
    header Cache-Control | grep -q no-store && [ "$(head -c 6 "$W/body")" = GIF89a ] &&
    [ "$(wc -c <"$W/body")" = 43 ] &&
    [ -n "$(psql_q -c "SELECT opened_at FROM campaign_recipients WHERE id = $R2")" ]
pass "pixel: /o/TOKEN.gif is a 43-byte image/gif, no-store, and opened_at is set"
before=$(psql_q -c "SELECT count(opened_at) || '/' || (SELECT anon_opens FROM campaigns WHERE id = $CID) FROM campaign_recipients WHERE campaign_id = $CID")
okall=0
for t in "$F2.gif" "$T3" "$T3.png" "x.gif" "$(head -c 3000 /dev/zero | tr '\0' a).gif" "c$CID-00000000000000000000.gif"; do
    st=$(code "$U/o/$t")
    [ "$st" = 200 ] && [ "$(head -c 6 "$W/body")" = GIF89a ] || okall=1
done
after=$(psql_q -c "SELECT count(opened_at) || '/' || (SELECT anon_opens FROM campaigns WHERE id = $CID) FROM campaign_recipients WHERE campaign_id = $CID")
[ $okall = 0 ] && [ "$before" = "$after" ]
pass "pixel: bad tokens still get the GIF and record nothing ($after)"
CT="c$CID-$(hmac "crmgate/c/$CID")"
st=$(code "$U/o/$CT.gif")
[ "$st" = 200 ] && [ "$(psql_q -c "SELECT anon_opens FROM campaigns WHERE id = $CID")" = 1 ]
pass "pixel: a campaign token counts an anonymous open"

# --- click redirect -------------------------------------------------------------
LINK='https://example.org/offer?a=1&b=two words'
SIG=$(hmac "crmgate/l/$T2"$'\n'"$LINK")
click() { code -G --data-urlencode "u=$2" --data-urlencode "s=$3" "$U/c/$1"; }
st=$(click "$T2" "$LINK" "$(forge "$SIG")")
[ "$st" = 400 ] && [ -z "$(header Location)" ] &&
    [ -z "$(psql_q -c "SELECT clicked_at FROM campaign_recipients WHERE id = $R2")" ]
pass "click: a wrong signature is 400, no Location, nothing recorded"
st=$(click "$T2" "https://evil.example/" "$SIG")
[ "$st" = 400 ] && [ -z "$(header Location)" ]
pass "click: another URL under the same signature is 400 (no open redirect)"
st=$(code "$U/c/$T2?u=https%3A%2F%2Fexample.org%2F")
[ "$st" = 400 ] && [ -z "$(header Location)" ]
pass "click: no signature is 400"
okall=0
for bad in 'javascript:alert(1)' 'ftp://example.org/' '//evil.example/' $'https://example.org/\r\nSet-Cookie: x=1' 'https:///nohost'; do
    st=$(click "$T2" "$bad" "$(hmac "crmgate/l/$T2"$'\n'"$bad")")
    { [ "$st" = 400 ] && [ -z "$(header Location)" ] && ! grep -qi '^Set-Cookie: x' "$W/head"; } || okall=1
done
[ $okall = 0 ]
pass "click: signed but non-http(s), host-less or CRLF URLs are 400"
st=$(click "$F2" "$LINK" "$(hmac "crmgate/l/$F2"$'\n'"$LINK")")
[ "$st" = 400 ] && [ -z "$(header Location)" ]
pass "click: a forged token with a matching link signature is 400"
st=$(click "$T2" "$LINK" "$SIG")
[ "$st" = 302 ] && [ "$(header Location)" = 'https://example.org/offer?a=1&b=two%20words' ] &&
    [ -n "$(psql_q -c "SELECT clicked_at FROM campaign_recipients WHERE id = $R2")" ]
pass "click: the right signature 302s to the URL and sets clicked_at"
st=$(click "$CT" "https://example.org/" "$(hmac "crmgate/l/$CT"$'\n'"https://example.org/")")
[ "$st" = 302 ] && [ "$(psql_q -c "SELECT anon_clicks FROM campaigns WHERE id = $CID")" = 1 ]
pass "click: a campaign token counts an anonymous click"

# --- campaign pages and API ------------------------------------------------------
# what comes back through the milter, written as the milter writes it (the
# one writer, crm_campaign_feedback): a hard bounce for p2, a reply from p3
psql_q >/dev/null -c "SELECT crm_campaign_feedback($R2, 'bounce', '{\"hard\": true, \"action\": \"failed\", \"status\": \"5.1.1\", \"reason\": \"userunknown\", \"diagnostic\": \"550 <$HOSTILE>\"}')" \
    -c "SELECT crm_campaign_feedback($R3, 'reply', '{}')"
pass "feedback: a hard bounce and a reply recorded"
EXP=$(psql_q -c "SELECT count(*) || ' ' || count(sent_at) || ' ' || count(unsubscribed_at) || ' ' ||
    (count(opened_at) + max(c.anon_opens)) || ' ' || (count(clicked_at) + max(c.anon_clicks))
    FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id WHERE campaign_id = $CID")
read -r E_REC E_SENT E_UNS E_OPEN E_CLICK <<<"$EXP"
cnt() { grep -o "<tr data-count=\"$1\"><th>[^<]*</th><td class=\"num\">[0-9]*<" "$W/body" | sed 's/.*">\([0-9]*\)<$/\1/'; }
st=$(as "$CSID" "$U/campaigns/$CID")
[ "$st" = 200 ] && [ "$(cnt recipients)" = "$E_REC" ] && [ "$(cnt sent)" = "$E_SENT" ] &&
    [ "$(cnt unsubscribed)" = "$E_UNS" ] && [ "$(cnt opened)" = "$E_OPEN" ] &&
    [ "$(cnt clicked)" = "$E_CLICK" ] && [ "$(cnt queued)" = 0 ] && [ "$E_UNS" = 2 ]
pass "page: /campaigns/ID for chief shows the counts psql gives ($EXP)"
has "$W/body" 'data-state="finished"' && has "$W/body" 'class="progress"' &&
    has "$W/body" 'aria-valuenow="100"' && has "$W/body" '<tr data-domain="outside.test">' &&
    grep -q "<tr><td>p2-$TAG@outside.test</td><td>hard</td><td>userunknown</td><td>5.1.1</td>" "$W/body" &&
    [ "$(cnt bounced)" = 1 ] && [ "$(cnt replied)" = 1 ]
pass "page: state, a full progress bar, the domain breakdown, the bounce (hard, reason, status)"
has "$W/body" "&lt;script&gt;alert(1)&lt;/script&gt; $TAG" && ! has "$W/body" "<script>alert(1)"
pass "page: the hostile campaign name is escaped"
! grep -q '<form method="post" action="/campaigns/' "$W/body"
pass "page: a finished campaign offers no state buttons"
st=$(as "$ASID" "$U/campaigns/$CID")
[ "$st" = 200 ] && [ "$(cnt sent)" = 3 ]
pass "page: the owning manager sees the campaign"
st=$(as "$BSID" "$U/campaigns/$CID")
[ "$st" = 404 ] && ! has "$W/body" "alert(1)" && ! has "$W/body" "outside.test"
pass "page: another manager gets 404"
st=$(as "$OSID" "$U/campaigns/$CID")
[ "$st" = 404 ]
pass "page: an operator gets 404"
st=$(as "$CSID" "$U/campaigns")
[ "$st" = 200 ] && has "$W/body" "<tr data-campaign-id=\"$CID\">" &&
    has "$W/body" '<a href="/campaigns">Campaigns</a>' &&
    grep -q "data-campaign-id=\"$CID\">.*data-count=\"unsubscribed\">2<" "$W/body"
pass "list: chief sees the campaign with its counts, and the nav links Campaigns"
st=$(as "$ASID" "$U/campaigns")
[ "$st" = 200 ] && has "$W/body" "data-campaign-id=\"$CID\""
pass "list: the owning manager sees it"
st=$(as "$BSID" "$U/campaigns")
[ "$st" = 200 ] && ! has "$W/body" "data-campaign-id=\"$CID\""
pass "list: another manager does not"
st=$(as "$OSID" "$U/campaigns")
[ "$st" = 200 ] && ! grep -q 'data-campaign-id=' "$W/body"
pass "list: an operator sees no campaign"
st=$(api "$CTOKEN" "/api/campaigns/$CID")
[ "$st" = 200 ] &&
    [ "$(jq -r '[.state, .recipients, .sent, .unsubscribed, .opened, .clicked, .queued] | join(" ")' "$W/body")" = \
        "finished $E_REC $E_SENT $E_UNS $E_OPEN $E_CLICK 0" ] &&
    [ "$(jq -r '.domains[0].domain + " " + (.domains[0].recipients | tostring)' "$W/body")" = "outside.test 3" ] &&
    [ "$(jq -r '.name' "$W/body")" = "$NAME" ]
pass "api: /api/campaigns/ID is the flat status plus domains"
$CRMGATE --json campaign status "$CID" | jq -S 'del(.domains)' >"$W/cli.json"
jq -S 'del(.domains)' "$W/body" >"$W/api.json"
cmp -s "$W/cli.json" "$W/api.json"
pass "api: the same object as crmgate --json campaign status"
st=$(api "$BTOKEN" "/api/campaigns/$CID")
[ "$st" = 404 ] && [ "$(jq -r .error "$W/body")" != null ]
pass "api: another manager's token gets 404"
st=$(api "$CTOKEN" "/api/campaigns")
[ "$st" = 200 ] && jq -e ".campaigns[] | select(.id == $CID) | .unsubscribed == 2" "$W/body" >/dev/null
pass "api: /api/campaigns lists it"
st=$(code "$U/api/campaigns/$CID")
[ "$st" = 401 ]
pass "api: anonymous 401"
okall=0
for p in /campaigns/0 /campaigns/-1 /campaigns/abc /campaigns/99999999999 "/campaigns/$(head -c 4000 /dev/zero | tr '\0' 9)"; do
    st=$(as "$CSID" "$U$p")
    case $st in 400 | 404) ;; *) okall=1 ;; esac
done
[ $okall = 0 ]
pass "page: bad ids 400/404"

# --- state buttons ---------------------------------------------------------------
DID=$($CRMGATE --json campaign create "Later $TAG" --account "$ACC" --subject "Later $TAG" \
    --text "$W/text" --segment "tag:w$TAG" --owner "$MA" --at "2035-01-01 09:00" | jq -r .id)
cstate() { psql_q -c "SELECT state FROM campaigns WHERE id = $DID"; }
st=$(as "$ASID" "$U/campaigns/$DID")
[ "$st" = 200 ] && has "$W/body" "<form method=\"post\" action=\"/campaigns/$DID/start\">" &&
    has "$W/body" "<form method=\"post\" action=\"/campaigns/$DID/cancel\">" &&
    has "$W/body" "name=\"csrf\" value=\"$ACSRF\"" && [ "$(cstate)" = draft ]
pass "buttons: a draft shows start and cancel forms carrying the csrf field"
st=$(as "$ASID" -X POST --data "csrf=$ACSRF" "$U/campaigns/$DID/start")
[ "$st" = 303 ] && [ "$(header Location)" = "/campaigns/$DID?done=start" ] && [ "$(cstate)" = scheduled ] &&
    [ "$(psql_q -c "SELECT count(*) FROM jobs WHERE kind = 'campaign.send' AND unique_key = 'campaign:$DID'")" = 1 ]
pass "buttons: start with csrf -> 303, scheduled, its send job queued"
st=$(as "$ASID" -X POST --data "x=1" "$U/campaigns/$DID/pause")
[ "$st" = 403 ] && [ "$(cstate)" = scheduled ]
pass "buttons: pause without csrf -> 403, state unchanged"
st=$(as "$ASID" -X POST --data "csrf=$BCSRF" "$U/campaigns/$DID/pause")
[ "$st" = 403 ] && [ "$(cstate)" = scheduled ]
pass "buttons: pause with another session's csrf -> 403"
st=$(as "$BSID" -X POST --data "csrf=$BCSRF" "$U/campaigns/$DID/pause")
[ "$st" = 404 ] && [ "$(cstate)" = scheduled ]
pass "buttons: another manager's pause -> 404, state unchanged"
st=$(as "$ASID" -X POST --data "csrf=$ACSRF" "$U/campaigns/$DID/explode")
[ "$st" = 404 ] && [ "$(cstate)" = scheduled ]
pass "buttons: an unknown action -> 404"
st=$(as "$ASID" -X POST --data "csrf=$ACSRF" "$U/campaigns/$DID/pause")
[ "$st" = 303 ] && [ "$(cstate)" = paused ]
pass "buttons: pause with csrf -> paused"
st=$(as "$ASID" "$U/campaigns/$DID")
has "$W/body" "action=\"/campaigns/$DID/resume\"" && ! has "$W/body" "action=\"/campaigns/$DID/pause\""
pass "buttons: a paused campaign offers resume, not pause"
st=$(as "$CSID" -X POST --data "csrf=$CCSRF" "$U/campaigns/$DID/resume")
[ "$st" = 303 ] && [ "$(cstate)" = scheduled ]
pass "buttons: chief resumes -> scheduled"
st=$(as "$ASID" -X POST --data "csrf=$ACSRF" "$U/campaigns/$DID/start")
[ "$st" = 409 ] && [ "$(cstate)" = scheduled ] && has "$W/body" "start needs a campaign that is draft"
pass "buttons: start of a scheduled campaign -> 409 with the reason"
st=$(as "$ASID" -X POST --data "csrf=$ACSRF" "$U/campaigns/$DID/cancel")
[ "$st" = 303 ] && [ "$(cstate)" = canceled ] &&
    [ -n "$(psql_q -c "SELECT finished_at FROM campaigns WHERE id = $DID")" ]
pass "buttons: cancel -> canceled with finished_at"
st=$(as "$ASID" -X POST --data "csrf=$ACSRF" "$U/campaigns/$CID/pause")
[ "$st" = 409 ] && [ "$(psql_q -c "SELECT state FROM campaigns WHERE id = $CID")" = finished ]
pass "buttons: pause of a finished campaign -> 409"

# --- the campaigns report -----------------------------------------------------------
TODAY=$(psql_q -c "SELECT to_char(now(), 'YYYY-MM-DD')")
P="from=$TODAY&to=$TODAY"
# the expected row, from psql over the ledger
EXPROW=$(psql_q -c "SELECT c.state || ',' || count(r.*) || ',' || count(r.sent_at) || ',' ||
    count(*) FILTER (WHERE r.state = 'failed') || ',' || count(*) FILTER (WHERE r.state = 'bounced') || ',' ||
    count(r.replied_at) || ',' || count(r.unsubscribed_at) || ',' || (count(r.opened_at) + c.anon_opens) || ',' ||
    (count(r.clicked_at) + c.anon_clicks)
    FROM campaigns c LEFT JOIN campaign_recipients r ON r.campaign_id = c.id WHERE c.id = $CID
    GROUP BY c.id")
st=$(as "$CSID" "$U/reports/campaigns?$P")
[ "$st" = 200 ] && has "$W/body" '<svg class="chart"' && has "$W/body" "format=csv" &&
    has "$W/body" "&lt;script&gt;alert(1)&lt;/script&gt; $TAG" && ! has "$W/body" "<script>alert"
pass "report: /reports/campaigns has the chart, the CSV link, the escaped name"
st=$(as "$CSID" "$U/reports/campaigns?$P&format=csv")
head -n 1 "$W/body" | tr -d '\r' >"$W/csvhead"
[ "$st" = 200 ] &&
    [ "$(cat "$W/csvhead")" = '"name","state","recipients","sent","failed","bounced","bounce_rate_pct","replied","reply_rate_pct","unsubscribed","opened","clicked"' ]
pass "report: the CSV header lists the columns"
CSVROW=$(grep -F "\"$NAME\"" "$W/body" | tr -d '\r"' | cut -d, -f2-6,8,10-12)
[ "$CSVROW" = "$EXPROW" ]
pass "report: the CSV row agrees with psql ($EXPROW)"
st=$(api "$CTOKEN" "/api/reports/campaigns?$P")
JROW=$(jq -r --arg n "$NAME" '.rows[] | select(.name == $n) | [.state, .recipients, .sent, .failed, .bounced, .replied, .unsubscribed, .opened, .clicked] | map(tostring) | join(",")' "$W/body")
[ "$st" = 200 ] && [ "$JROW" = "$EXPROW" ] &&
    [ "$(jq -r --arg n "$NAME" '.rows[] | select(.name == $n) | [.bounce_rate_pct, .reply_rate_pct] | map(tostring) | join(",")' "$W/body")" = 33.3,33.3 ]
pass "report: the JSON row agrees with psql"
CLIROW=$($CRMGATE --json report campaigns --from "$TODAY" --to "$TODAY" |
    jq -r --arg n "$NAME" '.rows[] | select(.name == $n) | [.state, .recipients, .sent, .failed, .bounced, .replied, .unsubscribed, .opened, .clicked] | map(tostring) | join(",")')
[ "$CLIROW" = "$EXPROW" ]
pass "report: crmgate report campaigns agrees"
st=$(api "$BTOKEN" "/api/reports/campaigns?$P")
[ "$st" = 200 ] && [ "$(jq -r --arg t "$TAG" '[.rows[] | select(.name | endswith($t))] | length' "$W/body")" = 0 ]
pass "report: another manager's report has none of these campaigns"
st=$(as "$ASID" "$U/api/reports/campaigns?$P&owner=$MA")
[ "$st" = 200 ] && [ "$(jq -r --arg t "$TAG" '[.rows[] | select(.name | endswith($t))] | length' "$W/body")" = 2 ]
pass "report: the owner filter (campaign owner) keeps the owner's two campaigns"
st=$(as "$CSID" "$U/reports")
has "$W/body" 'href="/reports/campaigns"'
pass "report: listed on /reports"

# --- timeline ------------------------------------------------------------------------
st=$(as "$CSID" "$U/contacts/$C1")
[ "$st" = 200 ] && grep -q '<li class="campaign-event" data-event="sent">' "$W/body" &&
    grep -q '<li class="campaign-event" data-event="unsubscribed">' "$W/body" &&
    has "$W/body" "<a href=\"/campaigns/$CID\">&lt;script&gt;alert(1)&lt;/script&gt; $TAG</a>" &&
    ! has "$W/body" "<script>alert"
pass "timeline: the contact page shows the campaign's sent and unsubscribed events, linked, escaped"
st=$(as "$BSID" "$U/contacts/$C1")
[ "$st" = 200 ] && grep -q 'data-event="sent">Campaign &lt;script' "$W/body" &&
    ! has "$W/body" "href=\"/campaigns/$CID\""
pass "timeline: a manager who sees the contact but not the campaign gets the event without the link"
st=$(api "$CTOKEN" "/api/timeline/contact/$C2")
[ "$st" = 200 ] &&
    [ "$(jq -r --argjson c "$CID" '[.items[] | select(.kind == "campaign" and .campaign_id == $c) | .event] | sort | join(",")' "$W/body")" = bounced,sent ] &&
    [ "$(jq -r '[.items[] | select(.kind == "campaign" and .event == "bounced") | .reason] | join(",")' "$W/body")" = userunknown ]
pass "timeline: /api/timeline has kind campaign items (sent, bounced with its reason)"
st=$(as "$CSID" "$U/contacts/$C3")
[ "$st" = 200 ] && grep -q '<li class="campaign-event" data-event="replied">' "$W/body"
pass "timeline: a reply shows as a replied event"
# --- A/B variants ------------------------------------------------------------------
AID=$($CRMGATE --json campaign create "AB $TAG" --account "$ACC" --subject "Subject A $TAG" \
    --ab-subject "B $HOSTILE" --text "$W/text" --segment "tag:w$TAG" --owner "$MA" | jq -r .id)
# as the send driver leaves it: p1 got A, p2 and p3 got B, p3 replied, B won
psql_q >/dev/null -c "UPDATE campaign_recipients SET variant = CASE WHEN address_norm LIKE 'p1-%' THEN 1 ELSE 2 END,
    sent_at = now(), replied_at = CASE WHEN address_norm LIKE 'p3-%' THEN now() END WHERE campaign_id = $AID" \
    -c "UPDATE campaigns SET ab_winner = 2 WHERE id = $AID"
st=$(as "$ASID" "$U/campaigns/$AID")
[ "$st" = 200 ] && tr -d '\n' <"$W/body" | grep -q '<tr data-variant="1"><td>A</td><td>Subject A '"$TAG"'</td><td class="num">1</td><td class="num">0</td><td class="num">0</td><td></td></tr>' &&
    tr -d '\n' <"$W/body" | grep -q '<tr data-variant="2"><td>B</td><td>B &lt;script&gt;alert(1)&lt;/script&gt;</td><td class="num">2</td><td class="num">1</td><td class="num">0</td><td><b class="winner">winner</b></td></tr>'
pass "variants: subject, sent, replies, clicks per variant and the winner, escaped"
st=$(as "$CSID" "$U/campaigns/$CID")
! has "$W/body" 'data-variant='
pass "variants: a campaign without a subject test has no variants table"

st=$(code "http://127.0.0.1:$CRMGATE_WEB_PORT/healthz")
[ "$st" = 200 ]
pass "campaigns: /healthz still answers after the hostile requests"
