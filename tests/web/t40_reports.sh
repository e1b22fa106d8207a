#!/usr/bin/env bash
# tests/web/t40_reports.sh - the reports over HTTP and the CLI, against the
# test stack's web and PostgreSQL: a small known dataset in 2024 (two
# managers' deals with stage changes, won and lost with reasons, payments,
# requests, leads, captured mail), then for every report the page (chart,
# CSV link), the CSV and the JSON, with cells compared to numbers computed
# here independently (hand-counted and psql over the seeded rows); role
# scoping; errors (anonymous, unknown report, bad filters); escaping; the
# mail rollups against a from-scratch recount. Prints TAP lines.
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$REPO/tests/lib.sh"
. "$REPO/tests/web/lib.sh"

# pass NAME: one TAP line from the status of the command list just run.
pass() { if [ $? -eq 0 ]; then ok "$1"; else not_ok "$1"; fi; }

TAG=r$$
CHIEF=chief-$TAG@example.com
MA=ma-$TAG@example.com
MB=mb-$TAG@example.com
OPR=op-$TAG@example.com
HOSTILE='<script>alert(1)</script>'
web_user "$CHIEF" chief chief-pass-1 "Chief $TAG"
web_user "$MA" manager ma-pass-1 "Anna $TAG"
web_user "$MB" manager mb-pass-1 "$HOSTILE B $TAG"
web_user "$OPR" operator op-pass-1 "Otto $TAG"
web_login "$CHIEF" chief-pass-1 && CSID=$SID
web_login "$MA" ma-pass-1 && ASID=$SID
web_login "$MB" mb-pass-1 && BSID=$SID
web_login "$OPR" op-pass-1 && OSID=$SID
CTOKEN=$($CRMGATE token add "$CHIEF" | tail -n 1)
ATOKEN=$($CRMGATE token add "$MA" | tail -n 1)
uid() { psql_q -c "SELECT id FROM users WHERE email_norm = '$1'"; }
UA=$(uid "$MA")
UB=$(uid "$MB")
[ -n "${CSID:-}" ] && [ -n "${ASID:-}" ] && [ -n "${BSID:-}" ] && [ -n "${OSID:-}" ] && [ -n "$CTOKEN" ] && [ -n "$ATOKEN" ]
pass "four users logged in and two tokens made"

# --- the dataset (2024; the reports are asked for 2024 only) ---------------
P='from=2024-01-01&to=2024-12-31'
psql_q >/dev/null <<SQL
CREATE TEMP TABLE x AS SELECT 1;
-- requests and a lead
INSERT INTO requests (ticket, subject, owner_id, lead_source_id, pending, created_at) VALUES
 ('R1$TAG', 'r1', $UA, (SELECT id FROM lead_sources WHERE name = 'website'), false, '2024-03-02 10:00+00'),
 ('R2$TAG', 'r2', $UA, (SELECT id FROM lead_sources WHERE name = 'email'), true, '2024-03-20 10:00+00'),
 ('R3$TAG', 'r3', $UA, (SELECT id FROM lead_sources WHERE name = 'website'), false, '2024-06-05 10:00+00'),
 ('R4$TAG', 'r4', $UB, (SELECT id FROM lead_sources WHERE name = 'website'), true, '2024-03-03 10:00+00');
INSERT INTO leads (first_name, owner_id, lead_source_id, created_at) VALUES
 ('L1$TAG', $UA, (SELECT id FROM lead_sources WHERE name = 'website'), '2024-03-01 10:00+00');
-- deals, created at the first stage, then moved on
INSERT INTO deals (name, ticket, stage_id, amount, currency, owner_id, created_at, request_id) VALUES
 ('A1$TAG', 'A1$TAG', (SELECT id FROM stages WHERE name = 'request'), 1000, 'USD', $UA, '2024-03-10 12:00+00',
  (SELECT id FROM requests WHERE ticket = 'R1$TAG')),
 ('A2$TAG', 'A2$TAG', (SELECT id FROM stages WHERE name = 'request'), 500, 'USD', $UA, '2024-03-15 12:00+00', NULL),
 ('A3$TAG', 'A3$TAG', (SELECT id FROM stages WHERE name = 'request'), 200, 'USD', $UA, '2024-06-01 12:00+00', NULL),
 ('A4$TAG', 'A4$TAG', (SELECT id FROM stages WHERE name = 'request'), 300, 'USD', $UA, '2024-06-20 12:00+00', NULL),
 ('B1$TAG', 'B1$TAG', (SELECT id FROM stages WHERE name = 'request'), 700, 'USD', $UB, '2024-03-05 12:00+00', NULL),
 ('B2$TAG', 'B2$TAG', (SELECT id FROM stages WHERE name = 'request'), 100, 'USD', $UB, '2024-08-01 12:00+00', NULL);
UPDATE deals SET stage_id = (SELECT id FROM stages WHERE name = 'analysis') WHERE ticket IN ('A1$TAG', 'A2$TAG', 'A3$TAG', 'B1$TAG');
UPDATE deals SET stage_id = (SELECT id FROM stages WHERE name = 'proposal') WHERE ticket IN ('A1$TAG', 'A2$TAG', 'B1$TAG');
UPDATE deals SET stage_id = (SELECT id FROM stages WHERE name = 'negotiation') WHERE ticket IN ('A1$TAG', 'B1$TAG');
UPDATE deals SET stage_id = (SELECT id FROM stages WHERE name = 'closing') WHERE ticket IN ('A1$TAG');
UPDATE deals d SET status = c.status, closed_at = c.closed::timestamptz,
       closing_reason_id = (SELECT id FROM closing_reasons WHERE name = c.reason)
  FROM (VALUES ('A1$TAG', 'won', '2024-04-09 12:00+00', 'won'),
               ('A2$TAG', 'lost', '2024-05-01 12:00+00', 'price'),
               ('A4$TAG', 'won', '2024-07-10 12:00+00', 'won'),
               ('B1$TAG', 'won', '2024-03-25 12:00+00', 'won'),
               ('B2$TAG', 'lost', '2024-08-05 12:00+00', 'competitor')) AS c(t, status, closed, reason)
 WHERE d.ticket = c.t;
SQL
did() { psql_q -c "SELECT id FROM deals WHERE ticket = '$1$TAG'"; }
A1=$(did A1) A4=$(did A4) B1=$(did B1)
PAY1=$($CRMGATE payment add "$A1" 600 --date 2024-04-15 --contract "C-$TAG")
$CRMGATE payment add "$A1" 400 --status guaranteed --date 2024-05-20 >/dev/null
$CRMGATE payment add "$A1" 50 --date 2023-04-10 >/dev/null
$CRMGATE payment add "$A4" 300 --date 2024-07-12 --currency usd >/dev/null
$CRMGATE payment add "$B1" 700 --date 2024-04-02 >/dev/null
[ "$(psql_q -c "SELECT amount || ' ' || status || ' ' || payment_date || ' ' || currency || ' ' || contract FROM payments WHERE id = '${PAY1:-0}'")" = "600.00 received 2024-04-15 USD C-$TAG" ]
pass "payment add prints the new payment's id"
[ "$(psql_q -c "SELECT currency FROM payments WHERE deal_id = $A4")" = USD ]
pass "payment add: --currency is upper-cased"
n0=$(psql_q -c "SELECT count(*) FROM payments")
$CRMGATE payment add "$A1" 12.345 >/dev/null 2>&1
r1=$?
$CRMGATE payment add "$A1" 10 --status maybe >/dev/null 2>&1
r2=$?
$CRMGATE payment add 999999999 10 >/dev/null 2>&1
r3=$?
[ "$r1" = 64 ] && [ "$r2" = 64 ] && [ "$r3" != 0 ] && [ "$(psql_q -c "SELECT count(*) FROM payments")" = "$n0" ]
pass "payment add refuses a bad amount, a bad status and an unknown deal"

# Captured mail, inserted the way crm_capture does it: the message, then its
# participants, in separate statements; threads T1-T3 for Anna, T4 for B.
msg() { # ID-TAG DIRECTION THREAD-TAG SENT SUBJECT: inserts, prints the id
    psql_q -c "WITH n AS (SELECT nextval('messages_id_seq') AS id)
               INSERT INTO messages (id, message_id, digest, direction, subject, sent_at, thread_id)
               SELECT n.id, '$1.$TAG@x', '$1', '$2', '$5', '$4',
                      coalesce((SELECT min(id) FROM messages WHERE message_id LIKE '$3%.$TAG@x'), n.id)
                 FROM n RETURNING id"
}
part() { # MESSAGE-ID ROLE ADDRESS
    psql_q -c "INSERT INTO message_participants (message_id, role, address_norm, address, user_id)
               VALUES ($1, '$2', '$3', '$3', (SELECT id FROM users WHERE email_norm = '$3'))" >/dev/null
}
m1=$(msg t1a in t1 '2024-03-04 10:00+00' "hello")
part "$m1" from "c1-$TAG@customer.test"
part "$m1" to "$MA"
part "$m1" envelope_rcpt "$MA"
m2=$(msg t1b out t1 '2024-03-04 12:00+00' "re: hello")
part "$m2" from "$MA"
part "$m2" to "c1-$TAG@customer.test"
m3=$(msg t2a in t2 '2024-03-05 09:00+00' "$HOSTILE subject")
part "$m3" from "c2-$TAG@customer.test"
part "$m3" to "$MA"
m4=$(msg t2b out t2 '2024-03-06 09:00+00' "re: 2")
part "$m4" from "$MA"
m5=$(msg t3a in t3 '2024-03-05 10:00+00' "three")
part "$m5" cc "$MA"
m6=$(msg t3b out t3 '2024-03-05 14:00+00' "re: three")
part "$m6" envelope_from "$MA"
m7=$(msg t4a in t4 '2024-03-06 08:00+00' "four")
part "$m7" to "$MB"
m8=$(msg t4b out t4 '2024-03-06 09:00+00' "re: four")
part "$m8" from "$MB"
# Anna also writes to B (internal): outbound for Anna only in this rule.
psql_q >/dev/null <<SQL
INSERT INTO message_links (message_id, record_type, record_id, reason)
VALUES ($m1, 'deal', $A1, 'manual'), ($m2, 'deal', $A1, 'manual');
SQL
[ -n "$m8" ] && [ "$(psql_q -c "SELECT count(*) FROM message_participants WHERE message_id BETWEEN $m1 AND $m8")" = 12 ]
pass "messages and participants went in"

# A message through the real capture path (crmgate ingest): Anna's inbound.
cat >"$W/in.eml" <<EOF
From: Carl <c9-$TAG@customer.test>
To: Anna <$MA>
Subject: captured $TAG
Date: Thu, 07 Mar 2024 09:00:00 +0000
Message-ID: <cap.$TAG@customer.test>

Hello Anna.
EOF
$CRMGATE ingest "$W/in.eml" --direction in >/dev/null 2>&1
mcap=$(psql_q -c "SELECT id FROM messages WHERE message_id = 'cap.$TAG@customer.test'")
[ -n "$mcap" ]
pass "the capture path stored the ingested message"

# --- helpers -----------------------------------------------------------------
# jrow FILE KEY VALUE FIELD: FIELD of the row whose KEY is VALUE (numbers
# printed by jq: 25, 12.5).
jrow() { jq -r --arg v "$3" ".rows[] | select(.$2 == \$v) | .[\"$4\"]" "$1"; }
# getj SID NAME [QUERY]: the report's JSON via the page session in $W/NAME.json
getj() { as "$1" "$U/api/reports/$2?${3:-$P}" >/dev/null && cp "$W/body" "$W/$2.json"; }
# tokj TOKEN NAME [QUERY]: the same with a Bearer token
tokj() { code -H "Authorization: Bearer $1" "$U/api/reports/$2?${3:-$P}" >/dev/null && cp "$W/body" "$W/$2.json"; }
num_eq() { python3 -c "import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) < 1e-6 else 1)" "$1" "$2" 2>/dev/null; }

REPORTS="income sales funnel requests lead-sources conversion closing-reasons deals mail-activity first-response unresolved calls"

# --- every report: page, CSV, JSON ------------------------------------------
for r in $REPORTS; do
    st=$(as "$CSID" "$U/reports/$r?$P")
    [ "$st" = 200 ] && grep -q '<svg class="chart"' "$W/body" && grep -q 'href="?format=csv&amp;from=2024-01-01&amp;to=2024-12-31"' "$W/body" &&
        grep -q '<table class="report">' "$W/body"
    pass "$r: the page answers 200 with an SVG chart and a CSV link"
    cp "$W/body" "$W/$r.html"
    tokj "$CTOKEN" "$r" && cp "$W/$r.json" "$W/$r.chief.json"
    cols=$(jq -r '.columns | map("\"" + . + "\"") | join(",")' "$W/$r.json")
    st=$(as "$CSID" "$U/reports/$r?format=csv&$P")
    [ "$st" = 200 ] && grep -qi '^Content-Type: text/csv' "$W/head" && [ "$(head -n 1 "$W/body" | tr -d '\r')" = "$cols" ] && [ -n "$cols" ]
    pass "$r: the CSV is text/csv with a header row of the columns"
    cp "$W/body" "$W/$r.csv"
    [ "$(jq -r '[.report, .filters.from, .filters.to, (.rows | type)] | join(" ")' "$W/$r.json")" = "$r 2024-01-01 2024-12-31 array" ]
    pass "$r: the JSON names the report, the filters and its rows"
    [ "$(($(wc -l <"$W/$r.csv") - 1))" = "$(jq '.rows | length' "$W/$r.json")" ]
    pass "$r: the CSV has one line per JSON row"
done
bash -c "[ \"\$(curl -s -b 'crmgate_session=$CSID' '$U/reports' | grep -c 'href=\"/reports/')\" = 13 ]"
pass "the report list links every report"

# csv cell: csvcell FILE KEY-COLUMN-1-VALUE COLUMN-NUMBER
csvcell() { python3 -c "
import csv, sys
for row in csv.reader(open(sys.argv[1])):
    if row and row[0] == sys.argv[2]:
        print(row[int(sys.argv[3])]); break" "$@"; }

# --- income ---------------------------------------------------------------------
getj "$ASID" income
num_eq "$(jrow "$W/income.json" month 2024-04 received)" 600 && num_eq "$(jrow "$W/income.json" month 2024-04 received_year_before)" 50
pass "income (Anna): 2024-04 received 600, the year before 50"
num_eq "$(jrow "$W/income.json" month 2024-05 guaranteed)" 400
pass "income (Anna): 2024-05 guaranteed 400 (expected)"
[ "$(jq -r '[.rows[].month] | first + " " + last + " " + (length | tostring)' "$W/income.json")" = "2024-01 2024-12 12" ]
pass "income: twelve months from January to December"
want=$(psql_q -c "SELECT coalesce(sum(amount), 0) FROM payments WHERE status = 'received' AND payment_date BETWEEN '2024-04-01' AND '2024-04-30'")
num_eq "$(jrow "$W/income.json" month 2024-04 received)" 600 &&
    tokj "$CTOKEN" income && num_eq "$(jrow "$W/income.json" month 2024-04 received)" "$want" &&
    num_eq "$(csvcell "$W/income.csv" 2024-04 1)" "$want"
pass "income (chief): 2024-04 received equals psql's total ($want), JSON and CSV"

# --- sales ----------------------------------------------------------------------
getj "$ASID" sales
[ "$(jrow "$W/sales.json" month 2024-04 won)" = 1 ] && num_eq "$(jrow "$W/sales.json" month 2024-04 amount)" 1000 &&
    num_eq "$(jrow "$W/sales.json" month 2024-07 amount)" 300
pass "sales (Anna): 2024-04 one won deal of 1000, 2024-07 one of 300"
getj "$BSID" sales
num_eq "$(jrow "$W/sales.json" month 2024-03 amount)" 700 && [ "$(jrow "$W/sales.json" month 2024-04 won)" = 0 ]
pass "sales (B): 2024-03 one won deal of 700, none of Anna's in 2024-04"
want=$(psql_q -c "SELECT count(*) FROM deals WHERE status = 'won' AND closed_at >= '2024-03-01' AND closed_at < '2024-04-01'")
[ "$(csvcell "$W/sales.csv" 2024-03 1)" = "$want" ]
pass "sales (chief): 2024-03 won equals psql's count ($want) in the CSV"

# --- funnel -------------------------------------------------------------------------
getj "$ASID" funnel
[ "$(jq -r '[.rows[].reached] | map(tostring) | join(",")' "$W/funnel.json")" = "4,3,2,1,1" ]
pass "funnel (Anna): reached 4, 3, 2, 1, 1 from request to closing"
[ "$(jq -r '[.rows[].furthest] | map(tostring) | join(",")' "$W/funnel.json")" = "1,1,1,0,1" ]
pass "funnel (Anna): furthest stage counts 1,1,1,0,1"
num_eq "$(jrow "$W/funnel.json" stage analysis drop_off_pct)" 25 && num_eq "$(jrow "$W/funnel.json" stage negotiation drop_off_pct)" 50 &&
    num_eq "$(jrow "$W/funnel.json" stage proposal drop_off_pct)" 33.3
pass "funnel (Anna): drop-off 25% from request to analysis, 50% proposal to negotiation"
getj "$BSID" funnel
[ "$(jq -r '[.rows[].reached] | map(tostring) | join(",")' "$W/funnel.json")" = "2,1,1,1,0" ]
pass "funnel (B): reached 2,1,1,1,0 (Anna's deals not counted)"
want=$(psql_q -c "SELECT count(*) FROM (SELECT d.id FROM deals d JOIN deal_stage_history h ON h.deal_id = d.id JOIN stages s ON s.id = h.stage_id
        WHERE d.created_at >= '2024-01-01' AND d.created_at < '2025-01-01' GROUP BY d.id HAVING max(s.position) >= 3) q")
[ "$(csvcell "$W/funnel.csv" proposal 2)" = "$want" ]
pass "funnel (chief): reached proposal equals psql's count ($want), CSV too"
grep -q '>negotiation</text>' "$W/funnel.html"
pass "funnel page: a horizontal-bar chart with the stages"

# --- requests / conversion / lead sources ---------------------------------------------
getj "$ASID" requests
[ "$(jq -r '.rows[] | select(.month == "2024-03") | "\(.total) \(.pending) \(.converted)"' "$W/requests.json")" = "2 1 1" ] &&
    [ "$(jrow "$W/requests.json" month 2024-06 total)" = 1 ]
pass "requests (Anna): 2024-03 total 2, pending 1, converted 1; 2024-06 total 1"
want=$(psql_q -c "SELECT count(*) FROM requests WHERE created_at >= '2024-03-01' AND created_at < '2024-04-01'")
[ "$(csvcell "$W/requests.csv" 2024-03 1)" = "$want" ]
pass "requests (chief): 2024-03 total equals psql's count ($want)"
getj "$OSID" requests
[ "$(jrow "$W/requests.json" month 2024-03 total)" = "$want" ]
pass "requests (operator): sees every request (operators see requests)"
getj "$ASID" conversion
[ "$(jq -r '.rows[] | select(.month == "2024-03") | "\(.requests) \(.won)"' "$W/conversion.json")" = "2 1" ] &&
    num_eq "$(jrow "$W/conversion.json" month 2024-03 rate_pct)" 50
pass "conversion (Anna): 2024-03 2 requests, 1 won, 50%"
getj "$ASID" lead-sources
[ "$(jq -r '.rows[] | select(.source == "website") | "\(.requests) \(.leads) \(.deals) \(.won)"' "$W/lead-sources.json")" = "2 1 1 1" ] &&
    [ "$(jrow "$W/lead-sources.json" source email requests)" = 1 ]
pass "lead-sources (Anna): website 2 requests, 1 lead, 1 deal, 1 won; email 1 request"
want=$(psql_q -c "SELECT count(*) FROM requests r JOIN lead_sources s ON s.id = r.lead_source_id WHERE s.name = 'website' AND r.created_at >= '2024-01-01' AND r.created_at < '2025-01-01'")
[ "$(csvcell "$W/lead-sources.csv" website 1)" = "$want" ]
pass "lead-sources (chief): website requests equal psql's count ($want)"

# --- closing reasons / deals ---------------------------------------------------------------
getj "$ASID" closing-reasons
[ "$(jq -r '.rows[] | select(.reason == "won") | "\(.status) \(.deals)"' "$W/closing-reasons.json")" = "won 2" ] &&
    num_eq "$(jrow "$W/closing-reasons.json" reason won amount)" 1300 && num_eq "$(jrow "$W/closing-reasons.json" reason price amount)" 500 &&
    [ -z "$(jrow "$W/closing-reasons.json" reason competitor deals)" ]
pass "closing-reasons (Anna): won 2 deals 1300, price 1 deal 500"
getj "$ASID" deals
[ "$(jq -r '.rows | length' "$W/deals.json")" = 1 ] &&
    [ "$(jq -r '.rows[0] | "\(.owner) \(.open) \(.won) \(.lost)"' "$W/deals.json")" = "Anna $TAG 1 2 1" ] &&
    num_eq "$(jq -r '.rows[0].won_amount' "$W/deals.json")" 1300 && num_eq "$(jq -r '.rows[0].avg_days_to_win' "$W/deals.json")" 25
pass "deals (Anna): one row, open 1 won 2 lost 1, won amount 1300, 25 days to win on average"
want=$(psql_q -c "SELECT round(avg(extract(epoch FROM closed_at - created_at) / 86400), 2) FROM deals WHERE owner_id = $UB AND status = 'won'")
tokj "$CTOKEN" deals
num_eq "$(jq -r ".rows[] | select(.owner == \"$HOSTILE B $TAG\") | .avg_days_to_win" "$W/deals.json")" "$want"
pass "deals (chief): B's average days to win equals psql's ($want)"
grep -q "&lt;script&gt;alert(1)&lt;/script&gt; B $TAG" "$W/deals.html" && ! grep -q "<script>alert" "$W/deals.html"
pass "deals page (chief): B's hostile name comes back escaped"
as "$ASID" "$U/reports/deals?$P" >/dev/null
! grep -q "alert(1)" "$W/body"
pass "deals page (Anna): B's deals and name are not there"
tokj "$CTOKEN" deals "$P&owner=$MA" && [ "$(jq -r '.rows | length' "$W/deals.json")" = 1 ] &&
    [ "$(jq -r '.filters.owner' "$W/deals.json")" = "$MA" ] && [ "$(jq -r '.rows[0].won' "$W/deals.json")" = 2 ]
pass "the owner filter (chief, by address) gives that owner's numbers only"
tokj "$CTOKEN" sales "$P&owner=$UB" && num_eq "$(jrow "$W/sales.json" month 2024-03 amount)" 700 && [ "$(jrow "$W/sales.json" month 2024-04 won)" = 0 ]
pass "the owner filter by id works too"

# --- mail ---------------------------------------------------------------------------------
getj "$ASID" mail-activity
[ "$(jq -r '.rows[] | "\(.week) \(.inbound) \(.outbound)"' "$W/mail-activity.json")" = "2024-03-04 4 3" ]
pass "mail-activity (Anna): week of 2024-03-04 in 4 (one captured), out 3; no one else's rows"
tokj "$CTOKEN" mail-activity
[ "$(jq -r ".rows[] | select(.manager == \"$HOSTILE B $TAG\") | \"\(.inbound) \(.outbound)\"" "$W/mail-activity.json")" = "1 1" ]
pass "mail-activity (chief): B's week shows in 1, out 1"
want=$(psql_q -c "SELECT count(DISTINCT m.id) FROM messages m JOIN message_participants p ON p.message_id = m.id
        WHERE p.user_id = $UA AND m.direction = 'in' AND p.role IN ('to', 'cc', 'bcc', 'envelope_rcpt')
          AND m.sent_at >= '2024-03-04' AND m.sent_at < '2024-03-11'")
[ "$want" = 4 ]
pass "mail-activity: Anna's inbound equals a recount over messages ($want)"
getj "$ASID" first-response "from=2024-01-01&to=2024-12-31"
[ "$(jq -r '.rows[0].replies' "$W/first-response.json")" = 3 ] &&
    num_eq "$(jq -r '.rows[0].median_hours' "$W/first-response.json")" 4 && num_eq "$(jq -r '.rows[0].p90_hours' "$W/first-response.json")" 20 &&
    [ "$(jq -r '.rows | length' "$W/first-response.json")" = 1 ]
pass "first-response (Anna): 3 replies, median 4 h, p90 20 h"
want=$(psql_q -c "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.sent_at - i.sent_at) / 3600)
        FROM messages i JOIN messages o ON o.thread_id = i.thread_id AND o.direction = 'out'
        WHERE i.direction = 'in' AND i.id IN ($m7)")
tokj "$CTOKEN" first-response
num_eq "$(jq -r ".rows[] | select(.manager == \"$HOSTILE B $TAG\") | .median_hours" "$W/first-response.json")" "$want"
pass "first-response (chief): B's median equals psql's ($want h)"
getj "$ASID" unresolved
[ "$(jq -r '[.rows[].id] | map(tostring) | join(",")' "$W/unresolved.json")" = "$mcap,$m4,$m6,$m5,$m3" ]
pass "unresolved (Anna): her unlinked mail, newest first, not the linked ones nor B's"
as "$ASID" "$U/reports/unresolved?$P" >/dev/null
grep -q "href=\"/messages/$m3\"" "$W/body" && grep -q "&lt;script&gt;alert(1)&lt;/script&gt; subject" "$W/body" &&
    ! grep -q "<script>alert" "$W/body"
pass "unresolved page: links to /messages/ID and the hostile subject escaped"
getj "$BSID" unresolved
[ "$(jq -r '[.rows[].id] | map(tostring) | join(",")' "$W/unresolved.json")" = "$m8,$m7" ]
pass "unresolved (B): only B's two"
psql_q -c "INSERT INTO message_links (message_id, record_type, record_id, reason) VALUES ($m3, 'deal', $A1, 'manual')" >/dev/null
getj "$ASID" unresolved
! jq -e ".rows[] | select(.id == $m3)" "$W/unresolved.json" >/dev/null
pass "linking a message takes it off the unresolved list"
psql_q -c "DELETE FROM message_links WHERE message_id = $m3" >/dev/null
getj "$ASID" unresolved
jq -e ".rows[] | select(.id == $m3)" "$W/unresolved.json" >/dev/null
pass "removing its last link puts it back"

# Re-threading: B's reply moves into Anna's thread t1 (after its reply):
# both threads are recomputed.
psql_q -c "UPDATE messages SET thread_id = (SELECT thread_id FROM messages WHERE id = $m1) WHERE id = $m7" >/dev/null
snap() {
    psql_q -c "SELECT crm_report_rollups_advance()" >/dev/null
    psql_q -c "SELECT string_agg(format('%s/%s/%s/%s', week, user_id, direction, n), ' ' ORDER BY week, user_id, direction) FROM mail_activity_weekly"
    psql_q -c "SELECT string_agg(format('%s/%s/%s/%s', thread_id, in_id, reply_id, user_id), ' ' ORDER BY thread_id) FROM thread_first_response"
    psql_q -c "SELECT string_agg(message_id::text, ' ' ORDER BY message_id) FROM unresolved_messages"
    psql_q -c "SELECT string_agg(user_id || '/' || message_id, ' ' ORDER BY user_id, message_id) FROM unresolved_user_messages"
    psql_q -c "SELECT string_agg(deal_id || '/' || position, ' ' ORDER BY deal_id) FROM deal_furthest_stage"
}
before=$(snap)
psql_q -c "SELECT crm_report_rollups_rebuild()" >/dev/null
after=$(snap)
[ -n "$before" ] && [ "$before" = "$after" ]
pass "the rollups equal a from-scratch recount (crm_report_rollups_rebuild changes nothing)"
[ "$(psql_q -c "SELECT string_agg(direction || n, ' ' ORDER BY direction) FROM mail_activity_weekly WHERE user_id = $UA")" = "in4 out3" ]
pass "the recount holds Anna's week: 4 in, 3 out"
# A bulk insert (one statement, several messages and participants) too.
psql_q >/dev/null <<SQL
WITH m AS (INSERT INTO messages (message_id, digest, direction, subject, sent_at, thread_id)
           SELECT 'bulk' || g || '.$TAG@x', 'b' || g, 'out', 'bulk', '2024-03-12 10:00+00', 0
             FROM generate_series(1, 5) g RETURNING id)
INSERT INTO message_participants (message_id, role, address_norm, address, user_id)
SELECT m.id, r.role, '$MA', '$MA', $UA FROM m CROSS JOIN (VALUES ('from'), ('envelope_from')) AS r(role);
SQL
before=$(snap)
psql_q -c "SELECT crm_report_rollups_rebuild()" >/dev/null
[ "$before" = "$(snap)" ]
pass "after a bulk insert the rollups still equal a recount"
[ "$(psql_q -c "SELECT n FROM mail_activity_weekly WHERE user_id = $UA AND week = '2024-03-11' AND direction = 'out'")" = 5 ]
pass "... and count each message once: Anna out 5 in the week of 2024-03-11"

# Concurrent captures share no rollup row: 3000 messages of three staff
# senders in one week, stored by `crmgate ingest` in its parallel lanes (the
# shared weekly rows once made such batches deadlock), then every message
# is stored and counted exactly once.
CD=$W/conc
mkdir -p "$CD"
python3 - "$CD" "$TAG" <<'PY'
import sys
d, tag = sys.argv[1], sys.argv[2]
for i in range(3000):
    with open(f"{d}/{i:05d}.eml", "w") as f:
        f.write(f"From: Staff {i % 3} <conc{i % 3}-{tag}@example.com>\r\n"
                f"To: Client {i} <client{i}-{tag}@outside.test>\r\n"
                f"Subject: offer {i}\r\nDate: Tue, 14 May 2024 10:{i % 60:02d}:00 +0000\r\n"
                f"Message-ID: <conc{i}.{tag}@example.com>\r\n\r\nhello {i}\r\n")
PY
for k in 0 1 2; do $CRMGATE user add "conc$k-$TAG@example.com" --role manager >/dev/null; done
out=$($CRMGATE --json ingest --direction out "$CD" 2>"$W/conc.err")
rc=$?
[ "$rc" = 0 ] && [ "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["stored"], d["errors"])' <<<"$out")" = "3000 0" ]
pass "3000 concurrent captures of three senders in one week: all stored, no error"
! grep -qi deadlock "$W/conc.err" "$CRMGATE_VAR/log/postgres.log" 2>/dev/null
pass "... and PostgreSQL reports no deadlock"
[ "$(psql_q -c "SELECT count(*) FROM rollup_queue")" = 0 ]
pass "... the ingest folded its queue into the rollups"
[ "$(psql_q -c "SELECT sum(a.n) FROM mail_activity_weekly a JOIN users u ON u.id = a.user_id
     WHERE u.email_norm LIKE 'conc_-$TAG@example.com' AND a.direction = 'out'")" = 3000 ]
pass "... and mail-activity counts each of them once (3000 outbound)"
before=$(snap)
psql_q -c "SELECT crm_report_rollups_rebuild()" >/dev/null
[ "$before" = "$(snap)" ]
pass "... equal to a from-scratch recount"

# --- errors, access, hostile input ----------------------------------------------------------
[ "$(code "$U/reports/sales")" = 303 ] && grep -qi '^Location: /login' "$W/head"
pass "anonymous: the page redirects to /login"
[ "$(code "$U/api/reports/sales")" = 401 ]
pass "anonymous: the API answers 401"
[ "$(as "$CSID" "$U/reports/nope")" = 404 ] && [ "$(api "$CTOKEN" /api/reports/nope)" = 404 ]
pass "an unknown report answers 404 (page and API)"
[ "$(as "$CSID" "$U/reports/sales?from=2024-13-01")" = 400 ]
pass "a bad date answers 400"
[ "$(api "$CTOKEN" "/api/reports/sales?from=2024-05-01&to=2024-01-01")" = 400 ]
pass "from after to answers 400"
[ "$(api "$CTOKEN" "/api/reports/sales?from=1990-01-01&to=2024-01-01")" = 400 ]
pass "a period over ten years answers 400"
[ "$(api "$CTOKEN" "/api/reports/sales?from=2024-01-01%27%3B--")" = 400 ]
pass "a malformed date (SQL in it) answers 400"
[ "$(api "$CTOKEN" "/api/reports/sales?owner=$(head -c 5000 /dev/zero | tr '\0' a)")" = 400 ]
pass "a huge owner answers 400"
[ "$(api "$CTOKEN" "/api/reports/sales?owner=nobody-$TAG@example.com")" = 400 ]
pass "an unknown owner answers 400"
[ "$(api "$ATOKEN" "/api/reports/deals?owner=$MB")" = 400 ] && ! grep -q "alert" "$W/body"
pass "a manager may not filter to another manager (400, nothing leaked)"
[ "$(api "$ATOKEN" "/api/reports/deals?$P&owner=$MA")" = 200 ]
pass "a manager may filter to themselves"
[ "$(as "$CSID" "$U/reports/sales?format=pdf")" = 400 ]
pass "a bad format answers 400"
[ "$(as "$CSID" "$U/reports/sales?owner=%3Cscript%3Ealert(1)%3C/script%3E")" = 400 ] && ! grep -q "<script>alert" "$W/body"
pass "a hostile owner filter comes back escaped in the error page"
[ "$(as "$CSID" "$U/reports/%3Cscript%3E")" = 404 ] && ! grep -q "<script>" "$W/body"
pass "a hostile report name answers 404 without echoing it raw"
[ "$(code "$U/healthz")" = 200 ]
pass "the server still answers /healthz"

# --- CLI ------------------------------------------------------------------------------------------
out=$($CRMGATE report deals --owner "$MA" --from 2024-01-01 --to 2024-12-31)
bash -c "printf '%s\n' \"\$1\" | grep -q '^owner ' && printf '%s\n' \"\$1\" | grep -q \"^Anna $TAG  *1  *2  *1 \"" _ "$out"
pass "crmgate report prints a table with the owner's row"
bash -c "diff <($CRMGATE report funnel --csv --from 2024-01-01 --to 2024-12-31) '$W/funnel.csv' >/dev/null"
pass "crmgate report --csv equals the web's CSV"
bash -c "[ \"\$($CRMGATE --json report closing-reasons --from 2024-01-01 --to 2024-12-31 | jq -c .rows)\" = \"\$(jq -c .rows '$W/closing-reasons.chief.json')\" ]"
pass "crmgate --json report gives the same rows as the API (admin view = chief's)"
$CRMGATE report nope >/dev/null 2>&1
r1=$?
$CRMGATE report sales --from yesterday >/dev/null 2>&1
r2=$?
[ "$r1" = 66 ] && [ "$r2" = 64 ]
pass "crmgate report: unknown report and bad date fail (66, 64)"
