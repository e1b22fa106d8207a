#!/usr/bin/env bash
# tests/web/t50_seed.sh - `crmgate seed` against the test stack: the demo
# CRM (rows per table, deals in several stages with their history, mail
# stored by capture with its links, overdue tasks, payments of every
# status), the demo login over HTTP, a second --demo changing nothing, the
# bulk seed's exact counts and consistent threads, and bad arguments
# refused before anything is written.
# Prints TAP lines (tests/lib.sh).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$REPO/tests/lib.sh"
. "$REPO/tests/web/lib.sh"

# counts: one line with the row count of every table the seed fills.
TABLES="users companies company_domains contacts leads requests deals
deal_stage_history payments projects tasks task_users task_comments messages
message_participants message_links message_attachments capture_events"
counts() {
    local t sql="SELECT concat_ws(' '"
    for t in $TABLES; do sql="$sql, (SELECT count(*) FROM $t)"; done
    psql_q -c "$sql)"
}
# count TABLE: its rows.
count() { psql_q -c "SELECT count(*) FROM $1"; }

# --- the demo ---------------------------------------------------------------
# boss@example.com may exist already (the test config's sales-inbox owner,
# made by earlier layers): the demo keeps an existing user's role.
BOSS_ROLE=$(psql_q -c "SELECT role FROM users WHERE email_norm = 'boss@example.com'")
out=$($CRMGATE seed --demo 2>"$W/err")
rc=$?
check "seed --demo exits 0" [ "$rc" = 0 ]
check "seed --demo prints the demo login line exactly" \
    grep -qx 'demo login: demo@example.com crmgate-demo' <<<"$out"
read -r LOGIN_EMAIL LOGIN_PASS < <(sed -n 's/^demo login: \([^ ]*\) \(.*\)$/\1 \2/p' <<<"$out")

nonzero=yes
for t in $TABLES; do
    n=$(count "$t")
    [ "${n:-0}" -gt 0 ] || { nonzero="$t is empty"; break; }
done
check "after seed --demo every seeded table has rows ($nonzero)" [ "$nonzero" = yes ]
check "the demo has managers and an operator with passwords, and boss is a chief unless it existed" \
    [ "$(psql_q -c "SELECT string_agg(email_norm || '=' || role, ',' ORDER BY email_norm) FROM users
        WHERE email_norm IN ('boss@example.com', 'demo@example.com', 'sam@example.com',
        'olive@example.com') AND password_hash LIKE '\$argon2id\$%'")" = \
        "boss@example.com=${BOSS_ROLE:-chief},demo@example.com=manager,olive@example.com=operator,sam@example.com=manager" ]
check "demo deals stand in at least four different stages" \
    [ "$(psql_q -c "SELECT count(DISTINCT stage_id) FROM deals WHERE ticket LIKE 'DEMO%' AND status = 'open'")" -ge 3 ] &&
    [ "$(psql_q -c "SELECT count(DISTINCT stage_id) FROM deals WHERE ticket LIKE 'DEMO%'")" -ge 4 ]
check "won and lost demo deals have a closing reason and closed_at" \
    [ "$(psql_q -c "SELECT count(*) FROM deals WHERE ticket LIKE 'DEMO%' AND status IN ('won', 'lost')
        AND closing_reason_id IS NOT NULL AND closed_at < now()")" -ge 4 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM deals WHERE ticket LIKE 'DEMO%' AND status IN ('won', 'lost')
        AND (closing_reason_id IS NULL OR closed_at IS NULL)")" = 0 ]
check "the stage history starts at the first stage in the past and ends at the deal's stage" \
    [ "$(psql_q -c "SELECT count(*) FROM deals d WHERE d.ticket LIKE 'DEMO%' AND (
        (SELECT h.stage_id FROM deal_stage_history h WHERE h.deal_id = d.id ORDER BY h.changed_at, h.id LIMIT 1)
            IS DISTINCT FROM (SELECT id FROM stages ORDER BY position, id LIMIT 1)
        OR (SELECT h.stage_id FROM deal_stage_history h WHERE h.deal_id = d.id ORDER BY h.changed_at DESC, h.id DESC LIMIT 1)
            IS DISTINCT FROM d.stage_id
        OR (SELECT h.status FROM deal_stage_history h WHERE h.deal_id = d.id ORDER BY h.changed_at DESC, h.id DESC LIMIT 1)
            IS DISTINCT FROM d.status)")" = 0 ]
check "a deal in negotiation went through several stages, all dated in the past" \
    [ "$(psql_q -c "SELECT count(*) FROM deal_stage_history h JOIN deals d ON d.id = h.deal_id
        WHERE d.ticket = 'DEMO0001' AND h.changed_at < now() - interval '1 day'")" -ge 4 ]
check "payments of all four statuses, in the past and in the future" \
    [ "$(psql_q -c "SELECT count(DISTINCT p.status) FROM payments p JOIN deals d ON d.id = p.deal_id WHERE d.ticket LIKE 'DEMO%'")" = 4 ] &&
    [ "$(psql_q -c "SELECT bool_and(x) FROM (SELECT bool_or(payment_date < current_date) AND bool_or(payment_date > current_date) AS x
        FROM payments p JOIN deals d ON d.id = p.deal_id WHERE d.ticket LIKE 'DEMO%') s")" = t ]
check "overdue open tasks exist, and a task with subtasks in a project" \
    [ "$(psql_q -c "SELECT count(*) FROM tasks WHERE due_date < current_date AND stage IN ('pending', 'in_progress')")" -ge 2 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM tasks p WHERE p.project_id IS NOT NULL AND EXISTS (SELECT 1 FROM tasks s WHERE s.parent_id = p.id)")" -ge 1 ]
check "the demo mail was stored by capture: capture events, one per message" \
    [ "$(psql_q -c "SELECT count(*) FROM messages m WHERE m.message_id LIKE 'demo-%'
        AND (SELECT count(*) FROM capture_events e WHERE e.message_id = m.id) = 1")" = 14 ]
check "inbound mail from a contact is linked to the contact by participant" \
    [ "$(psql_q -c "SELECT count(*) FROM message_links l JOIN messages m ON m.id = l.message_id
        JOIN contacts c ON c.id = l.record_id WHERE m.message_id = 'demo-nw-1@northwind.test'
        AND l.record_type = 'contact' AND l.reason = 'participant' AND c.email_norm = 'nina.novak@northwind.test'")" = 1 ]
check "the reply inherits the thread's links and joins its thread" \
    [ "$(psql_q -c "SELECT count(*) FROM message_links l JOIN messages m ON m.id = l.message_id
        WHERE m.message_id = 'demo-nw-2@example.com' AND l.reason = 'thread' AND l.record_type = 'deal'")" = 1 ] &&
    [ "$(psql_q -c "SELECT count(DISTINCT thread_id) FROM messages WHERE message_id LIKE 'demo-nw-%'")" = 1 ]
check "the capture token of the Bcc links the proposal to its deal" \
    [ "$(psql_q -c "SELECT count(*) FROM message_links l JOIN messages m ON m.id = l.message_id
        JOIN deals d ON d.id = l.record_id WHERE m.message_id = 'demo-gx-1@example.com'
        AND l.record_type = 'deal' AND l.reason = 'capture-token' AND d.ticket = 'DEMO0003'")" = 1 ]
check "the [ticket:] in a subject links to its deal" \
    [ "$(psql_q -c "SELECT count(*) FROM message_links l JOIN messages m ON m.id = l.message_id
        WHERE m.message_id = 'demo-ac-1@acme-rockets.test' AND l.reason = 'ticket'")" = 1 ]
check "an outbound reply has In-Reply-To, References and its staff sender as a user" \
    [ "$(psql_q -c "SELECT count(*) FROM messages m JOIN message_participants p ON p.message_id = m.id
        JOIN users u ON u.id = p.user_id WHERE m.message_id = 'demo-nw-2@example.com' AND m.direction = 'out'
        AND m.in_reply_to = 'demo-nw-1@northwind.test' AND m.refs = '{demo-nw-1@northwind.test}'
        AND p.role = 'from' AND u.email_norm = 'demo@example.com'")" = 1 ]
check "the reply carries its attachment" \
    [ "$(psql_q -c "SELECT count(*) FROM message_attachments a JOIN messages m ON m.id = a.message_id
        WHERE m.message_id = 'demo-nw-2@example.com' AND a.filename = 'price-list.csv' AND a.size > 0")" = 1 ]
check "mail to the sales inbox made a lead and a request" \
    [ "$(psql_q -c "SELECT count(*) FROM message_links l JOIN messages m ON m.id = l.message_id
        WHERE m.message_id = 'demo-sales-1@brooks-bakery.test' AND l.reason = 'sales-inbox'")" = 2 ]
check "a newsletter stays unresolved, its subject stored as written" \
    [ "$(psql_q -c "SELECT count(*) FROM messages m WHERE m.message_id = 'demo-news-1@vendor-news.test'
        AND subject LIKE '%<script>alert(1)</script>%' AND NOT EXISTS (SELECT 1 FROM message_links l WHERE l.message_id = m.id)")" = 1 ]

# the demo login over HTTP, and what the manager sees
check "the printed demo login works over HTTP" web_login "$LOGIN_EMAIL" "$LOGIN_PASS"
DSID=$SID
check "the demo login is a manager" \
    [ "$(psql_q -c "SELECT role FROM users WHERE email_norm = '$LOGIN_EMAIL'")" = manager ]
check "with the demo session / no longer sends to /login" \
    bash -c "[ \"\$(curl -s -o /dev/null -D '$W/hd' -w '%{http_code}' -b 'crmgate_session=$DSID' '$U/')\" = 303 ] && ! grep -qi '^Location: /login' '$W/hd'"
# login_code EMAIL PASSWORD: a fresh form, then the POST; prints the status.
login_code() {
    local csrf
    curl -s -o "$W/lf" -c "$W/lj" "$U/login"
    csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$W/lf")
    curl -s -o /dev/null -w '%{http_code}' -b "$W/lj" --data-urlencode "csrf=$csrf" \
        --data-urlencode "email=$1" --data-urlencode "password=$2" "$U/login"
}
check "a wrong password for the demo user is refused (401)" \
    [ "$(login_code "$LOGIN_EMAIL" "not-$LOGIN_PASS")" = 401 ]

# idempotent
before=$(counts)
out2=$($CRMGATE seed --demo 2>&1)
rc=$?
check "a second seed --demo exits 0 and says nothing changed" \
    bash -c "[ $rc = 0 ] && grep -q 'already present: nothing changed' <<<'$out2'"
check "a second seed --demo prints the demo login again" grep -qx 'demo login: demo@example.com crmgate-demo' <<<"$out2"
check "a second seed --demo adds no row to any table" [ "$(counts)" = "$before" ]
check "the demo session survives a second seed --demo" \
    [ "$(psql_q -c "SELECT count(*) FROM web_sessions WHERE id_hash = sha256('$DSID'::bytea)")" = 1 ]

# --- bad arguments ----------------------------------------------------------
before=$(counts)
for args in "--contacts -1" "--contacts abc" "--contacts 10 --deals x" "--contacts 1e3" \
    "--contacts 99999999999" "--contacts 10 --managers 0" "--demo --contacts 5" "" "--contacts" \
    "--contacts 10 extra" "--messages 10"; do
    # shellcheck disable=SC2086 # word splitting of args is intended
    $CRMGATE seed $args >"$W/o" 2>"$W/e"
    rc=$?
    check "seed $args fails with a usage error (status 64)" [ "$rc" = 64 ]
    check "... and says usage" grep -q 'usage: crmgate seed' "$W/e"
done
check "bad arguments changed nothing" [ "$(counts)" = "$before" ]

# --- the bulk seed ----------------------------------------------------------
c0=$(count contacts) d0=$(count deals) m0=$(count messages) co0=$(count companies)
out=$($CRMGATE seed --contacts 2000 --deals 300 --messages 20000 --managers 4 2>"$W/err")
rc=$?
check "seed --contacts 2000 --deals 300 --messages 20000 exits 0" [ "$rc" = 0 ]
check "without a terminal the progress is plain lines on stderr" \
    bash -c "grep -q '^seed: messages 20000/20000' '$W/err' && ! grep -q \$'\\r' '$W/err'"
check "exactly 2000 contacts were added" [ "$(count contacts)" = $((c0 + 2000)) ]
check "exactly 300 deals were added" [ "$(count deals)" = $((d0 + 300)) ]
check "exactly 20000 messages were added" [ "$(count messages)" = $((m0 + 20000)) ]
check "companies with domains were added" [ "$(count companies)" -gt "$co0" ]
TAG=$(sed -n 's/^seeded (run \([a-z0-9]*\)).*/\1/p' <<<"$out")
check "the summary names the run" [ -n "$TAG" ]
check "every seeded message has participants" \
    [ "$(psql_q -c "SELECT count(*) FROM messages m WHERE m.message_id LIKE 'seed-$TAG-%' AND NOT EXISTS (SELECT 1 FROM message_participants p WHERE p.message_id = m.id)")" = 0 ]
check "every bulk message has a staff participant (user_id)" \
    [ "$(psql_q -c "SELECT count(*) FROM messages m WHERE m.message_id LIKE 'seed-$TAG-%' AND NOT EXISTS
        (SELECT 1 FROM message_participants p WHERE p.message_id = m.id AND p.user_id IS NOT NULL)")" = 0 ]
check "every seeded thread_id points at a message of the same thread" \
    [ "$(psql_q -c "SELECT count(*) FROM messages m WHERE (m.message_id LIKE 'seed-$TAG-%' OR m.message_id LIKE 'demo-%') AND NOT EXISTS (SELECT 1 FROM messages h WHERE h.id = m.thread_id AND h.thread_id = m.thread_id)")" = 0 ]
check "replies answer the previous message of their own thread" \
    [ "$(psql_q -c "SELECT count(*) FROM messages m JOIN messages p ON p.message_id = m.in_reply_to
        WHERE m.message_id LIKE 'seed-$TAG-%' AND p.thread_id <> m.thread_id")" = 0 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM messages m WHERE m.message_id LIKE 'seed-$TAG-%' AND m.in_reply_to IS NOT NULL")" -gt 5000 ]
check "threads hold several messages" \
    [ "$(psql_q -c "SELECT count(*) FROM (SELECT thread_id FROM messages WHERE message_id LIKE 'seed-$TAG-%' GROUP BY 1 HAVING count(*) >= 3) s")" -gt 1000 ]
check "most bulk mail is linked to contacts, a share stays unresolved" \
    bash -c "[ \$(psql -X -q -t -A '$CRMGATE_DSN' -c \"SELECT round(100.0 * count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM message_links l WHERE l.message_id = m.id)) / count(*)) FROM messages m WHERE m.message_id LIKE 'seed-$TAG-%'\") -ge 3 ] && [ \$(psql -X -q -t -A '$CRMGATE_DSN' -c \"SELECT round(100.0 * count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM message_links l WHERE l.message_id = m.id)) / count(*)) FROM messages m WHERE m.message_id LIKE 'seed-$TAG-%'\") -le 20 ]"
check "links point at real contacts, companies and deals" \
    [ "$(psql_q -c "SELECT count(*) FROM message_links l WHERE NOT CASE l.record_type
        WHEN 'contact' THEN EXISTS (SELECT 1 FROM contacts c WHERE c.id = l.record_id)
        WHEN 'company' THEN EXISTS (SELECT 1 FROM companies c WHERE c.id = l.record_id)
        WHEN 'deal' THEN EXISTS (SELECT 1 FROM deals c WHERE c.id = l.record_id)
        ELSE true END")" = 0 ]
check "bulk deals have a stage history starting in the past" \
    [ "$(psql_q -c "SELECT count(*) FROM deals d WHERE d.created_at > now() - interval '5 days' AND d.ticket NOT LIKE 'DEMO%'
        AND d.id > (SELECT max(id) - 300 FROM deals)")" = 0 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM deals d WHERE d.id > (SELECT max(id) - 300 FROM deals) AND
        (SELECT count(*) FROM deal_stage_history h WHERE h.deal_id = d.id) < 1")" = 0 ]
check "bulk payments have all four statuses" \
    [ "$(psql_q -c "SELECT count(DISTINCT p.status) FROM payments p WHERE p.deal_id > (SELECT max(id) - 300 FROM deals)")" = 4 ]
check "the staff of the run are managers (bench-manager-1..4)" \
    [ "$(psql_q -c "SELECT count(*) FROM users WHERE email_norm LIKE 'bench-manager-%@example.com' AND role = 'manager'")" -ge 4 ]
check "after seeding the web still answers" [ "$(code "$U/healthz")" = 200 ]

# --- output forms -------------------------------------------------------------
# a terminal on stderr (script(1), util-linux): the progress bar redraws
# one line with \r
script -qec "$CRMGATE seed --contacts 10 --deals 2 --messages 30 --managers 1" /dev/null >"$W/tty" 2>&1
check "on a terminal the bulk seed draws a progress bar" \
    bash -c "grep -q \$'\\r' '$W/tty' && grep -q '\\[#\\{30\\}\\]' '$W/tty'"
$CRMGATE --json seed --demo >"$W/json" 2>&1
check "seed --demo --json says unchanged and names the login" \
    bash -c "grep -q '\"changed\": false' '$W/json' && grep -q '\"login\": \"demo@example.com\"' '$W/json'"
