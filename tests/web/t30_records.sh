#!/usr/bin/env bash
# tests/web/t30_records.sh - record pages, message pages, attachments,
# search and the record API of crmgate-web, against the test stack's web
# (CRMGATE_WEB_PORT), Postfix (CRMGATE_SMTP_PORT) and PostgreSQL: records
# made with the CLI, mail captured through the real Postfix and milter
# (hostile subject, body and an attachment), then what each role sees,
# the edits (owner, deal stage) with their checks, CSRF, escaping, and
# hostile ids and parameters. Prints TAP lines (tests/lib.sh).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$REPO/tests/lib.sh"
. "$REPO/tests/web/lib.sh"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# jq_ok FILE EXPR: a Python expression over the JSON in FILE (j) is true.
jq_ok() {
    $PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}
has() { grep -qF -- "$1" "$W/body"; }
hasnt() { ! grep -qF -- "$1" "$W/body"; }
ck() { if [ "$1" -eq 0 ]; then ok "$2"; else not_ok "$2"; fi; }
jid() { $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

TAG=r$$$RANDOM
MGR=mgr-$TAG@example.com
MGR2=mgr2-$TAG@example.com
BOSS=boss-$TAG@example.com
web_user "$MGR" manager pw-mgr-1 "Mary $TAG"
web_user "$MGR2" manager pw-mgr2-1 "Otto $TAG"
web_user "$BOSS" chief pw-boss-1 "Boss $TAG"
MGR_ID=$(psql_q -c "SELECT id FROM users WHERE email_norm = '$MGR'")
MGR2_ID=$(psql_q -c "SELECT id FROM users WHERE email_norm = '$MGR2'")

DOM=acme-$TAG.test
ANN=ann-$TAG@$DOM
PHONE_DIGITS=$(printf '55501%04d' $((RANDOM % 10000)))
COMPANY=$($CRMGATE --json company add "Acme $TAG" --domain "$DOM" --owner "$MGR" | jid)
CONTACT=$($CRMGATE --json contact add "$ANN" --name "Ann Smith$TAG" --title "<b>CTO</b>" \
    --phone "+1 (${PHONE_DIGITS:0:3}) ${PHONE_DIGITS:3:3}-${PHONE_DIGITS:6}" \
    --company-id "$COMPANY" --owner "$MGR" | jid)
DEAL=$($CRMGATE --json deal add "Big deal $TAG" --contact "$CONTACT" --amount 1500 \
    --currency USD --owner "$MGR" | jid)
TICKET=$(psql_q -c "SELECT ticket FROM deals WHERE id = $DEAL")
OTHER=$($CRMGATE --json contact add "bob-$TAG@other-$TAG.test" --name "Bob Other$TAG" \
    --owner "$MGR2" | jid)
SPARE=$($CRMGATE --json contact add "cy-$TAG@spare-$TAG.test" --name "Cy Spare$TAG" \
    --owner "$MGR" | jid)
[ -n "$COMPANY" ] && [ -n "$CONTACT" ] && [ -n "$DEAL" ] && [ -n "$OTHER" ] && [ -n "$TICKET" ]
ck $? "setup: records made with the CLI"

# --- capture a hostile mail with an attachment through Postfix ----------
head -c 3000 /dev/urandom >"$W/report.bin"
ASHA=$(sha256sum "$W/report.bin" | cut -d' ' -f1)
MID=mail-$TAG@$DOM
SUBJ="<script>alert(1)</script> offer $TAG"
BODY='Hello <img src=x onerror=alert(1)> see <a href="javascript:alert(2)">this</a> javascript:alert(3)'
smtp "$CRMGATE_SMTP_PORT" "$ANN" "$MGR" "$MID" "$SUBJ" \
    --header "From: Ann <$ANN>" --header "To: Mary <$MGR>" \
    --body "$BODY" --attach-type application/pdf --attach-name "report.pdf" \
    --attach "@$W/report.bin" >/dev/null 2>&1
msg_row() { psql_q -c "SELECT id FROM messages WHERE message_id = '$MID'"; }
has_msg() { [ -n "$(msg_row)" ]; }
wait_for 30 has_msg
M=$(msg_row)
check "setup: the mail was captured through Postfix and the milter" [ -n "$M" ]
check "setup: it is linked to the contact (participant) and the deal" \
    [ "$(psql_q -c "SELECT count(*) FROM message_links WHERE message_id = ${M:-0}
        AND ((record_type = 'contact' AND record_id = $CONTACT) OR (record_type = 'deal' AND record_id = $DEAL))")" = 2 ]
DEAL_REASON=$(psql_q -c "SELECT reason FROM message_links WHERE message_id = ${M:-0} AND record_type = 'deal' AND record_id = $DEAL")
APOS=$(psql_q -c "SELECT position FROM message_attachments WHERE message_id = ${M:-0} LIMIT 1")

web_login "$MGR" pw-mgr-1 && S1=$SID C1=$SCSRF
web_login "$MGR2" pw-mgr2-1 && S2=$SID C2=$SCSRF
web_login "$BOSS" pw-boss-1 && SB=$SID CB=$SCSRF
[ -n "${S1:-}" ] && [ -n "${S2:-}" ] && [ -n "${SB:-}" ]
ck $? "setup: three sessions"
T1=$($CRMGATE token add "$MGR" | tail -n 1)
T2=$($CRMGATE token add "$MGR2" | tail -n 1)

# --- record pages --------------------------------------------------------
check "contact page: 200 for its owner" [ "$(as "$S1" "$U/contacts/$CONTACT")" = 200 ]
check "contact page: fields, owner and company" \
    bash -c "grep -qF '$ANN' '$W/body' && grep -qF 'Mary $TAG' '$W/body' && grep -qF 'href=\"/companies/$COMPANY\"' '$W/body'"
check "contact page: a title with markup is escaped" has '&lt;b&gt;CTO&lt;/b&gt;'
check "contact page: one timeline section" [ "$(grep -c '<section id="timeline">' "$W/body")" = 1 ]
check "contact page: the message is in the timeline, linked to /messages/ID" has "href=\"/messages/$M\""
check "contact page: with why it is linked (participant)" has 'data-reason="participant"'
check "contact page: with direction, from and attachment count" \
    bash -c "grep -qF 'dir-in' '$W/body' && grep -qF 'From: Ann &lt;$ANN&gt;' '$W/body' && grep -qF '1 attachment' '$W/body'"
check "contact page: the hostile subject is escaped" has '&lt;script&gt;alert(1)&lt;/script&gt;'
check "contact page: no raw script tag anywhere" hasnt '<script>'
check "contact page: the deal is listed as related" has "href=\"/deals/$DEAL\""
check "contact page: the owner may change the owner (form with csrf)" \
    bash -c "grep -qF 'action=\"/contacts/$CONTACT/owner\"' '$W/body' && grep -qF 'name=\"csrf\" value=\"$C1\"' '$W/body'"

# a task linked to the deal (visible), one of another manager (not)
TASK=$(psql_q -c "INSERT INTO tasks (title, owner_id, record_type, record_id) VALUES ('Call Ann $TAG', $MGR_ID, 'deal', $DEAL) RETURNING id" | head -1)
TASK2=$(psql_q -c "INSERT INTO tasks (title, owner_id, record_type, record_id) VALUES ('Secret $TAG', $MGR2_ID, 'deal', $DEAL) RETURNING id" | head -1)
check "deal page: 200 for its owner" [ "$(as "$S1" "$U/deals/$DEAL")" = 200 ]
check "deal page: stage, amount, currency, ticket, status" \
    bash -c "grep -qF '1500' '$W/body' && grep -qF 'USD' '$W/body' && grep -qF '$TICKET' '$W/body' && grep -q 'class=\"status\">open' '$W/body'"
check "deal page: the message in the timeline with its reason ($DEAL_REASON)" \
    bash -c "grep -qF 'href=\"/messages/$M\"' '$W/body' && grep -qF 'data-reason=\"$DEAL_REASON\"' '$W/body'"
check "deal page: its task links to /tasks/ID" has "href=\"/tasks/$TASK\""
check "deal page: another manager's task on the deal is not shown" \
    bash -c "! grep -qF 'href=\"/tasks/$TASK2\"' '$W/body' && ! grep -qF 'Secret $TAG' '$W/body'"
check "deal page: the stage history is in the timeline" has 'class="stage-change"'
check "deal page: a stage form with csrf, stages and closing reasons" \
    bash -c "grep -qF 'action=\"/deals/$DEAL/stage\"' '$W/body' && grep -qF '>negotiation<' '$W/body' && grep -qF '>competitor<' '$W/body'"
[ "$(as "$S1" "$U/companies/$COMPANY")" = 200 ] && has "href=\"/contacts/$CONTACT\"" && has "$DOM"
ck $? "company page: its contacts and deals"
check "a chief sees the contact page" [ "$(as "$SB" "$U/contacts/$CONTACT")" = 200 ]

# --- the message page and the attachment ---------------------------------
check "message page: 200 for the owner of a linked record" [ "$(as "$S1" "$U/messages/$M")" = 200 ]
check "message page: the text inside div.mail-text" has '<div class="mail-text">'
check "message page: the body's markup is escaped" \
    bash -c "grep -qF '&lt;img src=x onerror=alert(1)&gt;' '$W/body' && ! grep -q '<img' '$W/body'"
check "message page: no javascript: link is made" \
    bash -c "! grep -qi 'href=\"javascript:' '$W/body' && grep -qF 'javascript:alert(3)' '$W/body'"
check "message page: subject escaped, no script tag" \
    bash -c "grep -qF '&lt;script&gt;alert(1)&lt;/script&gt; offer' '$W/body' && ! grep -q '<script' '$W/body'"
check "message page: participants by role and links with reason" \
    bash -c "grep -qF 'class=\"role-from\"' '$W/body' && grep -qF 'href=\"/contacts/$CONTACT\"' '$W/body' && grep -qF '(participant)' '$W/body'"
check "message page: the attachment with a download link" has "href=\"/messages/$M/attachments/$APOS\""
curl -s -D "$W/head" -o "$W/att" -w '%{http_code}' -b "crmgate_session=$S1" \
    "$U/messages/$M/attachments/$APOS" >"$W/code"
check "attachment: 200" [ "$(cat "$W/code")" = 200 ]
check "attachment: byte-identical (sha256)" [ "$(sha256sum <"$W/att" | cut -d' ' -f1)" = "$ASHA" ]
check "attachment: sent as application/octet-stream, never the declared type" \
    grep -qi '^Content-Type: application/octet-stream' "$W/head"
check "attachment: Content-Disposition attachment with a safe name" \
    grep -qi '^Content-Disposition: attachment; filename="report.pdf"' "$W/head"
check "attachment: X-Content-Type-Options nosniff" grep -qi '^X-Content-Type-Options: nosniff' "$W/head"

# an attachment over the stored limit (content NULL), a hostile file name
M3=$(psql_q -c "INSERT INTO messages (message_id, digest, direction, subject, thread_id, text_body)
    VALUES ('big-$TAG', 'dig-$TAG', 'in', 'Big file $TAG', 0, 'text') RETURNING id" | head -1)
psql_q -c "UPDATE messages SET thread_id = id WHERE id = $M3;
    INSERT INTO message_links VALUES ($M3, 'contact', $CONTACT, 'participant');
    INSERT INTO attachment_blobs (sha256, size, content) VALUES ('nul-$TAG', 99999999, NULL), ('evil-$TAG', 3, 'abc');
    INSERT INTO message_attachments VALUES ($M3, 0, 'huge.iso', 'application/x-iso', 99999999, 'nul-$TAG'),
        ($M3, 1, E'../../etc/\"x\r\nSet-Cookie: a=b\".html', 'text/html', 3, 'evil-$TAG')" >/dev/null
check "attachment not stored (over the limit): 404" \
    [ "$(as "$S1" "$U/messages/$M3/attachments/0")" = 404 ]
[ "$(as "$S1" "$U/messages/$M3")" = 200 ] && has 'not stored'
ck $? "... and the page says it was not stored"
check "a hostile attachment name is sanitised (no path, quotes, CR/LF)" \
    bash -c "[ \"\$(curl -s -o /dev/null -D '$W/h5' -w '%{http_code}' -b 'crmgate_session=$S1' '$U/messages/$M3/attachments/1')\" = 200 ] && grep -qi '^Content-Disposition: attachment; filename=\"_x__Set-Cookie: a=b_.html\"' '$W/h5' && ! grep -qi '^Set-Cookie: a=b' '$W/h5' && grep -qi '^Content-Type: application/octet-stream' '$W/h5'"

# unresolved messages: chief yes; a manager only as a participant user
M4=$(psql_q -c "INSERT INTO messages (message_id, digest, direction, subject, thread_id)
    VALUES ('lost-$TAG', 'dig4-$TAG', 'in', 'Unresolved $TAG', 0) RETURNING id" | head -1)
psql_q -c "UPDATE messages SET thread_id = id WHERE id = $M4" >/dev/null
check "unresolved message: a chief sees it" [ "$(as "$SB" "$U/messages/$M4")" = 200 ]
check "unresolved message: a manager does not (404)" [ "$(as "$S1" "$U/messages/$M4")" = 404 ]
psql_q -c "INSERT INTO message_participants VALUES ($M4, 'to', '$MGR', '$MGR', NULL, $MGR_ID)" >/dev/null
check "unresolved message: a manager who took part as a user sees it" [ "$(as "$S1" "$U/messages/$M4")" = 200 ]

# --- another manager: 404 everywhere by id --------------------------------
check "other manager: contact page 404" [ "$(as "$S2" "$U/contacts/$CONTACT")" = 404 ]
check "... and the 404 does not leak the name" hasnt "Ann Smith$TAG"
check "other manager: deal page 404" [ "$(as "$S2" "$U/deals/$DEAL")" = 404 ]
check "other manager: company page 404" [ "$(as "$S2" "$U/companies/$COMPANY")" = 404 ]
check "other manager: message page 404" [ "$(as "$S2" "$U/messages/$M")" = 404 ]
check "other manager: attachment 404" [ "$(as "$S2" "$U/messages/$M/attachments/$APOS")" = 404 ]
[ "$(api "$T2" "/api/contacts/$CONTACT")" = 404 ] && jq_ok "$W/body" '"error" in j'
ck $? "other manager: /api/contacts/ID 404 JSON"
check "other manager: /api/deals/ID 404" [ "$(api "$T2" "/api/deals/$DEAL")" = 404 ]
check "other manager: /api/timeline/deal/ID 404" [ "$(api "$T2" "/api/timeline/deal/$DEAL")" = 404 ]
check "other manager: /api/timeline/contact/ID 404" [ "$(api "$T2" "/api/timeline/contact/$CONTACT")" = 404 ]
check "other manager sees their own contact" [ "$(as "$S2" "$U/contacts/$OTHER")" = 200 ]

# --- deal stage ---------------------------------------------------------
post() { # SID PATH FORM-FIELDS...: POST with --data-urlencode each
    local sid=$1 path=$2; shift 2
    local args=()
    for f in "$@"; do args+=(--data-urlencode "$f"); done
    code -b "crmgate_session=$sid" "${args[@]}" "$U$path"
}
deal_row() { psql_q -c "SELECT status || '|' || coalesce(closing_reason_id::text, '') || '|' || (closed_at IS NOT NULL) FROM deals WHERE id = $DEAL"; }
NH0=$(psql_q -c "SELECT count(*) FROM deal_stage_history WHERE deal_id = $DEAL")
check "stage: won without a closing reason answers 400" \
    [ "$(post "$S1" "/deals/$DEAL/stage" "csrf=$C1" stage=proposal status=won reason=)" = 400 ]
check "... with a message" has 'closing reason is required'
check "... and the deal is unchanged" [ "$(deal_row)" = "open||false" ]
check "stage: an unknown stage answers 400" \
    [ "$(post "$S1" "/deals/$DEAL/stage" "csrf=$C1" stage=nope status=open)" = 400 ]
check "stage: a bad status answers 400" \
    [ "$(post "$S1" "/deals/$DEAL/stage" "csrf=$C1" stage=proposal status=maybe)" = 400 ]
check "stage: without csrf answers 403" \
    [ "$(post "$S1" "/deals/$DEAL/stage" stage=proposal status=won reason=won)" = 403 ]
check "... and the deal is unchanged" [ "$(deal_row)" = "open||false" ]
check "stage: another manager gets 404" \
    [ "$(post "$S2" "/deals/$DEAL/stage" "csrf=$C2" stage=proposal status=won reason=won)" = 404 ]
check "... and the deal is unchanged" [ "$(deal_row)" = "open||false" ]
check "stage: nothing was written to the history" \
    [ "$(psql_q -c "SELECT count(*) FROM deal_stage_history WHERE deal_id = $DEAL")" = "$NH0" ]
[ "$(post "$S1" "/deals/$DEAL/stage" "csrf=$C1" stage=negotiation status=won reason=won)" = 303 ] &&
    grep -qi "^Location: /deals/$DEAL" "$W/head"
ck $? "stage: won with a reason answers 303 back to the deal"
check "stage: the row is updated (status, reason, closed_at, stage)" \
    [ "$(psql_q -c "SELECT d.status || '|' || c.name || '|' || (d.closed_at IS NOT NULL) || '|' || s.name FROM deals d JOIN closing_reasons c ON c.id = d.closing_reason_id JOIN stages s ON s.id = d.stage_id WHERE d.id = $DEAL")" = "won|won|true|negotiation" ]
check "stage: deal_stage_history has a row with the user" \
    [ "$(psql_q -c "SELECT count(*) FROM deal_stage_history h JOIN stages s ON s.id = h.stage_id WHERE h.deal_id = $DEAL AND h.status = 'won' AND s.name = 'negotiation' AND h.user_id = $MGR_ID")" = 1 ]
[ "$(as "$S1" "$U/deals/$DEAL")" = 200 ] && has 'class="status">won' && has "by Mary $TAG"
ck $? "stage: the page shows the new stage and who moved it"
[ "$(post "$S1" "/deals/$DEAL/stage" "csrf=$C1" stage=proposal status=open)" = 303 ] &&
    [ "$(deal_row)" = "open||false" ]
ck $? "stage: reopening clears the reason and closed_at"
[ "$(post "$S1" "/deals/$DEAL/stage" "csrf=$C1" \
        "stage=$(psql_q -c "SELECT id FROM stages WHERE name = 'analysis'")" status=lost \
        "reason=$(psql_q -c "SELECT id FROM closing_reasons WHERE name = 'price'")")" = 303 ] &&
    [ "$(deal_row | cut -d'|' -f1,3)" = "lost|true" ]
ck $? "stage: accepts a stage id and a reason by id (lost)"

# --- owner ----------------------------------------------------------------
owner_of() { psql_q -c "SELECT owner_id FROM contacts WHERE id = $1"; }
check "owner: another manager gets 404" \
    [ "$(post "$S2" "/contacts/$CONTACT/owner" "csrf=$C2" "owner=$MGR2")" = 404 ]
check "... and the owner is unchanged" [ "$(owner_of "$CONTACT")" = "$MGR_ID" ]
psql_q -c "UPDATE contacts SET co_owner_id = $MGR2_ID WHERE id = $SPARE" >/dev/null
[ "$(as "$S2" "$U/contacts/$SPARE")" = 200 ] &&
    [ "$(post "$S2" "/contacts/$SPARE/owner" "csrf=$C2" "owner=$MGR2")" = 403 ] &&
    [ "$(owner_of "$SPARE")" = "$MGR_ID" ]
ck $? "owner: a co-owner sees the record but may not change the owner (403)"
[ "$(post "$S1" "/contacts/$SPARE/owner" "owner=$MGR2")" = 403 ] && [ "$(owner_of "$SPARE")" = "$MGR_ID" ]
ck $? "owner: without csrf answers 403 and changes nothing"
[ "$(post "$S1" "/contacts/$SPARE/owner" "csrf=$C1" "owner=nobody-$TAG@example.com")" = 400 ] &&
    [ "$(owner_of "$SPARE")" = "$MGR_ID" ]
ck $? "owner: an unknown user answers 400"
[ "$(post "$S1" "/contacts/$SPARE/owner" "csrf=$C1" "owner=$MGR2")" = 303 ] &&
    [ "$(owner_of "$SPARE")" = "$MGR2_ID" ]
ck $? "owner: the owner hands the contact over (by address): 303"
check "owner: the old owner no longer sees it" [ "$(as "$S1" "$U/contacts/$SPARE")" = 404 ]
[ "$(post "$SB" "/contacts/$SPARE/owner" "csrf=$CB" "owner=$MGR_ID")" = 303 ] &&
    [ "$(owner_of "$SPARE")" = "$MGR_ID" ]
ck $? "owner: a chief changes it back (by user id)"
check "owner: the deal's owner changes too (chief)" \
    [ "$(post "$SB" "/deals/$DEAL/owner" "csrf=$CB" "owner=$MGR")" = 303 ]

# --- search ---------------------------------------------------------------
search() { as "$1" -G --data-urlencode "q=$2" "$U/search"; }
[ "$(search "$S1" "smith$TAG")" = 200 ] && has "href=\"/contacts/$CONTACT\""
ck $? "search: by name"
[ "$(search "$S1" "ann-$TAG@acme")" = 200 ] && has "href=\"/contacts/$CONTACT\""
ck $? "search: by email"
[ "$(search "$S1" "00 1 ${PHONE_DIGITS:0:3} ${PHONE_DIGITS:3}")" = 200 ] && has "href=\"/contacts/$CONTACT\""
ck $? "search: by phone in another format (last 9 digits)"
[ "$(search "$S1" "ticket:$TICKET")" = 200 ] && has "href=\"/deals/$DEAL\""
ck $? "search: ticket: finds the deal"
[ "$(search "$S1" "$DOM")" = 200 ] && has "href=\"/companies/$COMPANY\""
ck $? "search: a company by domain"
[ "$(search "$S1" "other$TAG")" = 200 ] && hasnt "href=\"/contacts/$OTHER\"" && has 'Nothing found'
ck $? "search: a manager does not find another manager's contact"
[ "$(search "$SB" "other$TAG")" = 200 ] && has "href=\"/contacts/$OTHER\""
ck $? "search: a chief does"
[ "$(search "$SB" "%%%")" = 200 ] && has 'Nothing found'
ck $? "search: LIKE wildcards are literal"
[ "$(search "$S1" '"><script>x</script>')" = 200 ] && has 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' && hasnt '<script>x'
ck $? "search: the query is echoed escaped"
check "search: over 200 characters answers 400" [ "$(search "$S1" "$(head -c 201 /dev/zero | tr '\0' a)")" = 400 ]
check "search: invalid UTF-8 answers 200 or 400, never a crash" \
    grep -qE '^(200|400)$' <(as "$S1" "$U/search?q=%ff%fe%00%c0")
[ "$(as "$S1" "$U/search")" = 200 ] && has 'name="q"'
ck $? "search: empty query shows the form"

# --- JSON API ------------------------------------------------------------
[ "$(api "$T1" "/api/contacts/$CONTACT")" = 200 ] &&
    jq_ok "$W/body" "j['id'] == $CONTACT and j['email'] == '$ANN' and j['company']['id'] == $COMPANY and $DEAL in [d['id'] for d in j['deals']] and j['owner']['id'] == $MGR_ID and 'email_norm' not in j"
ck $? "api contact: fields and related ids"
[ "$(api "$T1" "/api/deals/$DEAL")" = 200 ] &&
    jq_ok "$W/body" "j['id'] == $DEAL and j['ticket'] == '$TICKET' and j['contact_id'] == $CONTACT and j['contact']['id'] == $CONTACT and j['status'] == 'lost' and j['currency'] == 'USD'"
ck $? "api deal: fields and related ids"
[ "$(api "$T1" "/api/timeline/deal/$DEAL")" = 200 ] &&
    jq_ok "$W/body" "j['record'] == 'deal:$DEAL' and {'message', 'task', 'stage'} <= {i['kind'] for i in j['items']} and all('at' in i for i in j['items']) and j['truncated'] is False"
ck $? "api timeline: record, items with kind and at"
check "api timeline: the message item has its reason and subject" \
    jq_ok "$W/body" "any(i['kind'] == 'message' and i['id'] == $M and i['reason'] == '$DEAL_REASON' and i['subject'].startswith('<script>') for i in j['items'])"
check "api timeline: newest first" \
    jq_ok "$W/body" "[i['at'] for i in j['items']] == sorted([i['at'] for i in j['items']], reverse=True)"
check "api timeline: no task of another manager" \
    jq_ok "$W/body" "not any(i['kind'] == 'task' and i['id'] == $TASK2 for i in j['items'])"
[ "$(api "$T1" "/api/search?q=smith$TAG")" = 200 ] &&
    jq_ok "$W/body" "{'type': 'contact', 'id': $CONTACT} in [{'type': r['type'], 'id': r['id']} for r in j['results']] and all('label' in r for r in j['results'])"
ck $? "api search: results with type, id, label"
[ "$(api "$T1" "/api/search?q=ticket:$TICKET")" = 200 ] &&
    jq_ok "$W/body" "[(r['type'], r['id']) for r in j['results']] == [('deal', $DEAL)]"
ck $? "api search: ticket:"
[ "$(api "$T2" "/api/search?q=smith$TAG")" = 200 ] && jq_ok "$W/body" "j['results'] == []"
ck $? "api search: another manager finds nothing of mine"
[ "$(api "$T1" "/api/timeline/bogus/1")" = 404 ] && jq_ok "$W/body" "'error' in j"
ck $? "api: an unknown record type answers 404 JSON"

# --- leads, requests, the operator, a bounded timeline --------------------
OPER=oper-$TAG@example.com
web_user "$OPER" operator pw-oper-1 "Olga $TAG"
web_login "$OPER" pw-oper-1 && SO=$SID
LEAD=$(psql_q -c "INSERT INTO leads (first_name, last_name, email, email_norm, owner_id)
    VALUES ('Lea', 'Lead$TAG', 'lea-$TAG@x.test', 'lea-$TAG@x.test', $MGR2_ID) RETURNING id" | head -1)
REQ=$(psql_q -c "INSERT INTO requests (subject, email, email_norm, owner_id, lead_id)
    VALUES ('Need <i>quote</i> $TAG', 'lea-$TAG@x.test', 'lea-$TAG@x.test', $MGR2_ID, $LEAD) RETURNING id" | head -1)
check "lead page: an operator sees a lead" [ "$(as "$SO" "$U/leads/$LEAD")" = 200 ]
check "... with its request listed" has "href=\"/requests/$REQ\""
check "request page: an operator sees it, subject escaped" \
    [ "$(as "$SO" "$U/requests/$REQ")" = 200 ]
has 'Need &lt;i&gt;quote&lt;/i&gt;' && hasnt '<i>quote'
ck $? "... the subject is escaped"
check "request page: its answer task (0008 trigger) is in the timeline for its owner" \
    [ "$(as "$S2" "$U/requests/$REQ")" = 200 ]
has 'href="/tasks/' && has "class=\"task\""
ck $? "... as a link to /tasks/ID"
check "an operator does not see a contact (404)" [ "$(as "$SO" "$U/contacts/$CONTACT")" = 404 ]
check "another manager does not see the lead (404)" [ "$(as "$S1" "$U/leads/$LEAD")" = 404 ]
psql_q -c "INSERT INTO tasks (title, owner_id, record_type, record_id)
    SELECT 'Bulk ' || g, $MGR_ID, 'company', $COMPANY FROM generate_series(1, 205) g" >/dev/null
check "a long timeline is cut at 200 items with a note" \
    [ "$(as "$S1" "$U/companies/$COMPANY")" = 200 ]
has 'Only the newest 200 items are shown' && [ "$(grep -c '<li class="task">' "$W/body")" -le 200 ]
ck $? "... and shows at most 200 items"
[ "$(api "$T1" "/api/timeline/company/$COMPANY")" = 200 ] &&
    jq_ok "$W/body" "len(j['items']) == 200 and j['truncated'] is True"
ck $? "api timeline: 200 items and truncated true"

# --- hostile ids and parameters -------------------------------------------
check "a missing record answers 404" [ "$(as "$S1" "$U/contacts/999999999999")" = 404 ]
check "a non-numeric id answers 404" [ "$(as "$S1" "$U/deals/abc")" = 404 ]
check "a huge id answers 404" [ "$(as "$S1" "$U/deals/99999999999999999999999")" = 404 ]
check "a negative id answers 404" [ "$(as "$S1" "$U/leads/-1")" = 404 ]
check "a bad attachment position answers 404" [ "$(as "$S1" "$U/messages/$M/attachments/x1")" = 404 ]
check "a missing attachment answers 404" [ "$(as "$S1" "$U/messages/$M/attachments/77")" = 404 ]
check "an owner POST to a missing record answers 404" \
    [ "$(post "$SB" "/leads/999999999/owner" "csrf=$CB" "owner=$MGR")" = 404 ]
check "a huge owner value answers 400" \
    [ "$(post "$SB" "/contacts/$SPARE/owner" "csrf=$CB" "owner=$(head -c 5000 /dev/zero | tr '\0' a)")" = 400 ]
check "record pages need a login" [ "$(code "$U/contacts/$CONTACT")" = 303 ]
check "after all that /healthz still answers" [ "$(code "$U/healthz")" = 200 ]

