#!/usr/bin/env bash
# tests/web/t20_tasks.sh - tasks end to end against the test stack: the
# pages and their forms (create, edit, complete, reassign, comment), who
# sees what (404 for another manager's task, on pages, the API and every
# POST), CSRF, the subtask rule (409) and its triggers (sql/0008),
# history with the acting user, notices, the signed one-click completion
# link, overdue ordering, projects, records, the JSON API, hostile input,
# the CLI (task add|list|done) and the task a sales-inbox mail creates.
# Prints TAP lines (tests/lib.sh).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$REPO/tests/lib.sh"
. "$REPO/tests/web/lib.sh"
# is NAME: one TAP line from the status of the command just before.
is() { if [ $? -eq 0 ]; then ok "$1"; else not_ok "$1"; fi; }

TAG=k$$$RANDOM
M1=m1-$TAG@example.com
M2=m2-$TAG@example.com
M3=m3-$TAG@example.com
web_user "$M1" manager "pw-m1-$TAG" "Manager One $TAG"
web_user "$M2" manager "pw-m2-$TAG" "Manager Two $TAG"
web_user "$M3" manager "pw-m3-$TAG" "Manager Three $TAG"
uid() { psql_q -c "SELECT id FROM users WHERE email_norm = '$1'"; }
M1ID=$(uid "$M1")
M2ID=$(uid "$M2")
web_login "$M1" "pw-m1-$TAG"
S1=$SID C1=$SCSRF
web_login "$M2" "pw-m2-$TAG"
S2=$SID C2=$SCSRF
web_login "$M3" "pw-m3-$TAG"
S3=$SID C3=$SCSRF
[ -n "$S1" ] && [ -n "$S2" ] && [ -n "$S3" ]
is "three managers are logged in"

# post SID CSRF PATH [name=value...]: a form POST (csrf omitted when
# CSRF is "-"); status printed, Location in $W/head.
post() {
    local sid=$1 csrf=$2 path=$3 args=() kv
    shift 3
    [ "$csrf" = - ] || args+=(--data-urlencode "csrf=$csrf")
    for kv in "$@"; do args+=(--data-urlencode "$kv"); done
    [ ${#args[@]} -gt 0 ] || args=(-d '')
    as "$sid" "${args[@]}" "$U$path"
}
location() { sed -n 's/^Location: \(.*\)$/\1/ip' "$W/head" | tr -d '\r'; }
# new_task SID CSRF TITLE [name=value...]: creates a task; prints its id.
new_task() {
    local sid=$1 csrf=$2 title=$3
    shift 3
    post "$sid" "$csrf" /tasks "title=$title" "$@" >/dev/null
    location | sed -n 's,^/tasks/\([0-9]*\)$,\1,p'
}
col() { psql_q -c "SELECT $2 FROM tasks WHERE id = $1"; }

# --- create with only title and csrf ---------------------------------------
HOSTILE="<script>alert(1)</script> $TAG"
st=$(post "$S1" "$C1" /tasks "title=$HOSTILE")
T1=$(location | sed -n 's,^/tasks/\([0-9]*\)$,\1,p')
[ "$st" = 303 ] && [ -n "$T1" ]
is "POST /tasks with only title and csrf answers 303 to /tasks/ID"
check "... the task is stored, owned by the poster, pending, middle priority" \
    [ "$(col "${T1:-0}" "owner_id || '|' || stage || '|' || priority")" = "$M1ID|pending|2" ]
check "... with a 'created' history row naming the poster" \
    [ "$(psql_q -c "SELECT user_id FROM task_history WHERE task_id = ${T1:-0} AND field = 'created'")" = "$M1ID" ]
[ "$(as "$S1" "$U/tasks/$T1")" = 200 ] &&
    grep -q "<form method=\"post\" action=\"/tasks/$T1/complete\">" "$W/body" &&
    grep -q '<button type="submit">Complete</button>' "$W/body"
is "GET /tasks/ID shows the task with a Complete form"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$W/body" &&
    ! grep -q '<script>alert(1)' "$W/body"
is "the hostile title is escaped on /tasks/ID"
check "every form of the task page carries the csrf field" \
    [ "$(grep -c '<form method="post"' "$W/body")" = "$(grep -o "<form method=\"post\"[^>]*><input type=\"hidden\" name=\"csrf\" value=\"$C1\">" "$W/body" | wc -l)" ]
as "$S1" "$U/tasks" >/dev/null
check "/tasks lists it as <tr data-task-id> with a link to /tasks/ID" \
    grep -q "<tr data-task-id=\"$T1\"><td><a href=\"/tasks/$T1\">" "$W/body"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$W/body" &&
    ! grep -q '<script>alert(1)' "$W/body"
is "the hostile title is escaped on /tasks"

# --- CSRF ---------------------------------------------------------------------
st=$(post "$S1" - /tasks "title=no csrf $TAG")
check "POST /tasks without the csrf field answers 403" [ "$st" = 403 ]
check "... and creates no task" \
    [ "$(psql_q -c "SELECT count(*) FROM tasks WHERE title = 'no csrf $TAG'")" = 0 ]
st=$(post "$S1" "wrong-$C1" "/tasks/$T1/complete")
[ "$st" = 403 ] && [ "$(col "$T1" stage)" = pending ]
is "POST /tasks/ID/complete with a wrong csrf answers 403, task still open"

# --- another manager sees nothing -------------------------------------------------
TOK2=$($CRMGATE token add "$M2" | tail -n 1)
TOK1=$($CRMGATE token add "$M1" | tail -n 1)
check "another manager gets 404 on /tasks/ID" [ "$(as "$S2" "$U/tasks/$T1")" = 404 ]
! grep -q "alert(1)" "$W/body"
is "... and the 404 does not show the title"
check "another manager gets 404 on /api/tasks/ID" [ "$(api "$TOK2" "/api/tasks/$T1")" = 404 ]
[ "$(post "$S2" "$C2" "/tasks/$T1/complete")" = 404 ] && [ "$(col "$T1" stage)" = pending ]
is "another manager's complete answers 404, stage unchanged"
[ "$(post "$S2" "$C2" "/tasks/$T1" "title=hijacked")" = 404 ] && [ "$(col "$T1" title)" = "$HOSTILE" ]
is "another manager's edit answers 404, title unchanged"
[ "$(post "$S2" "$C2" "/tasks/$T1/reassign" "owner=$M2")" = 404 ] && [ "$(col "$T1" owner_id)" = "$M1ID" ]
is "another manager's reassign answers 404, owner unchanged"
[ "$(post "$S2" "$C2" "/tasks/$T1/comments" "body=spam")" = 404 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM task_comments WHERE task_id = $T1")" = 0 ]
is "another manager's comment answers 404, no comment stored"
[ "$(post "$S2" "$C2" /tasks "title=sub of other $TAG" "parent=$T1")" = 404 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM tasks WHERE title = 'sub of other $TAG'")" = 0 ]
is "another manager cannot hang a subtask under it (404, no row)"
as "$S2" "$U/tasks?view=all" >/dev/null
! grep -q "data-task-id=\"$T1\"" "$W/body"
is "another manager's /tasks?view=all does not list it"
api "$TOK2" "/api/tasks?view=all" >/dev/null
check "... nor does their /api/tasks?view=all" \
    python3 -c "import json,sys; t=json.load(open('$W/body'))['tasks']; sys.exit($T1 in [x['id'] for x in t])"

CHIEF=chief-$TAG@example.com
web_user "$CHIEF" chief "pw-chief-$TAG" "Chief $TAG"
web_login "$CHIEF" "pw-chief-$TAG"
SC=$SID
[ "$(as "$SC" "$U/tasks/$T1")" = 200 ] && [ "$(as "$SC" "$U/tasks?view=all")" = 200 ] &&
    grep -q "data-task-id=\"$T1\"" "$W/body"
is "a chief sees another manager's task (page and ?view=all)"
as "$SC" "$U/tasks" >/dev/null
! grep -q "data-task-id=\"$T1\"" "$W/body"
is "... but the chief's default view lists only their own tasks"

# --- comment, edit ------------------------------------------------------------------
check "POST /tasks/ID/comments answers 303" \
    [ "$(post "$S1" "$C1" "/tasks/$T1/comments" "body=<b>note</b> $TAG")" = 303 ]
check "... the comment is stored with its author" \
    [ "$(psql_q -c "SELECT author_id FROM task_comments WHERE task_id = $T1")" = "$M1ID" ]
as "$S1" "$U/tasks/$T1" >/dev/null
check "... and shown escaped on the task page" grep -q "&lt;b&gt;note&lt;/b&gt; $TAG" "$W/body"
st=$(post "$S1" "$C1" "/tasks/$T1" "title=$HOSTILE" "due=2030-05-06" "priority=high" \
    "stage=in progress" "remind_at=2030-05-01T09:30" "description=desc $TAG")
check "POST /tasks/ID (edit) answers 303" [ "$st" = 303 ]
check "... due, priority, stage ('in progress') and description are stored" \
    [ "$(col "$T1" "due_date || '|' || priority || '|' || stage || '|' || description")" = "2030-05-06|3|in_progress|desc $TAG" ]
check "... the history names the acting user for each change" \
    [ "$(psql_q -c "SELECT string_agg(DISTINCT coalesce(user_id::text, 'NULL'), ',') FROM task_history WHERE task_id = $T1 AND field IN ('due_date', 'priority', 'stage')")" = "$M1ID" ]
check "... a reminder notice is queued for the owner at remind_at" \
    [ "$(psql_q -c "SELECT count(*) FROM notices WHERE task_id = $T1 AND user_id = $M1ID AND kind = 'reminder' AND due_at = '2030-05-01T09:30'::timestamptz AND sent_at IS NULL")" = 1 ]
post "$S1" "$C1" "/tasks/$T1" "remind_at=2030-05-02T10:00" >/dev/null
check "... moving remind_at moves the one pending reminder" \
    [ "$(psql_q -c "SELECT count(*) || '|' || bool_and(due_at = '2030-05-02T10:00'::timestamptz) FROM notices WHERE task_id = $T1 AND kind = 'reminder' AND sent_at IS NULL")" = "1|true" ]
RE=$(psql_q -c "SELECT substring(body FROM '/tasks/$T1/done[?]u=[0-9]+&e=([0-9]+)&s=') FROM notices WHERE task_id = $T1 AND kind = 'reminder' AND sent_at IS NULL")
check "... its one-click link lives 7 days from remind_at, not from now" \
    [ "${RE:-0}" -ge "$(psql_q -c "SELECT extract(epoch FROM '2030-05-09T10:00'::timestamptz)::bigint - 120")" ]
[ "$(post "$S1" "$C1" "/tasks/$T1" "due=2030-13-45")" = 400 ] && [ "$(col "$T1" due_date)" = 2030-05-06 ]
is "an edit with a bad date answers 400, due unchanged"
[ "$(post "$S1" "$C1" "/tasks/$T1" "stage=exploded")" = 400 ] && [ "$(col "$T1" stage)" = in_progress ]
is "an edit with an unknown stage answers 400"

# --- complete ---------------------------------------------------------------------------
[ "$(post "$S1" "$C1" "/tasks/$T1/complete")" = 303 ] && [ "$(location)" = "/tasks/$T1" ]
is "POST /tasks/ID/complete answers 303 to the task"
check "... the task is done with closed_at set" \
    [ "$(col "$T1" "stage || '|' || (closed_at IS NOT NULL)")" = "done|true" ]
as "$S1" "$U/tasks/$T1" >/dev/null
grep -q '<span class="stage">done</span>' "$W/body" && ! grep -q '>Complete</button>' "$W/body"
is "... the page shows the stage done and no Complete button"
check "... history: stage in_progress -> done by the acting user" \
    [ "$(psql_q -c "SELECT user_id || '|' || old_value || '|' || new_value FROM task_history WHERE task_id = $T1 AND field = 'stage' ORDER BY id DESC LIMIT 1")" = "$M1ID|in_progress|done" ]
as "$S1" "$U/tasks" >/dev/null
! grep -q "data-task-id=\"$T1\"" "$W/body"
is "a done task leaves the default /tasks view"
as "$S1" "$U/tasks?view=all" >/dev/null
check "... and is in ?view=all" grep -q "data-task-id=\"$T1\"" "$W/body"

# --- subtasks -----------------------------------------------------------------------------
P=$(new_task "$S1" "$C1" "parent $TAG")
SUB=$(new_task "$S1" "$C1" "child $TAG" "parent=$P")
[ -n "$P" ] && [ "$(col "${SUB:-0}" parent_id)" = "$P" ]
is "a subtask is created with parent="
st=$(post "$S1" "$C1" "/tasks/$P/complete")
check "completing a parent with an open subtask answers 409" [ "$st" = 409 ]
grep -q 'open subtasks' "$W/body" && grep -q "action=\"/tasks/$P/complete\"" "$W/body"
is "... with the task page and a clear message"
check "... and the parent's stage is unchanged" [ "$(col "$P" stage)" = pending ]
[ "$(post "$S1" "$C1" "/tasks/$P" "stage=done")" = 409 ] && [ "$(col "$P" stage)" = pending ]
is "an edit to stage=done with an open subtask answers 409 too"
check "completing the last open subtask answers 303" [ "$(post "$S1" "$C1" "/tasks/$SUB/complete")" = 303 ]
check "... and the parent closes by itself" [ "$(col "$P" stage)" = done ]
check "... its history row names the user who completed the subtask" \
    [ "$(psql_q -c "SELECT user_id FROM task_history WHERE task_id = $P AND field = 'stage' AND new_value = 'done'")" = "$M1ID" ]
post "$S1" "$C1" "/tasks/$SUB" "stage=pending" >/dev/null
check "reopening the subtask reopens the done parent (0008)" \
    [ "$(col "$SUB" stage)|$(col "$P" stage)" = "pending|in_progress" ]
SUB2=$(new_task "$S1" "$C1" "child2 $TAG" "parent=$P" "stage=done")
[ -n "$SUB2" ] && [ "$(col "$P" stage)" = in_progress ]
is "a subtask created done does not close its parent (0008)"
check "a task cannot become its own ancestor (0008)" \
    bash -c "! psql -X -q -v ON_ERROR_STOP=1 '$CRMGATE_DSN' -c 'UPDATE tasks SET parent_id = $SUB WHERE id = $P' 2>/dev/null"
api "$TOK1" "/api/tasks/$P" >/dev/null
check "/api/tasks/ID has subtasks, comments and history" \
    python3 -c "
import json,sys
t=json.load(open('$W/body'))
assert t['id']==$P and t['owner']=='$M1' and t['parent'] is None
assert sorted(s['id'] for s in t['subtasks'])==sorted([$SUB,$SUB2])
assert isinstance(t['comments'],list) and any(h['field']=='created' for h in t['history'])
assert all(k in t for k in ('title','stage','priority','due','record','project'))"

# --- reassign and notices --------------------------------------------------------------------
T3=$(new_task "$S1" "$C1" "give away $TAG")
st=$(post "$S1" "$C1" "/tasks/$T3/reassign" "owner=$M2")
[ "$st" = 303 ] && [ "$(location)" = /tasks ]
is "reassigning to another manager answers 303 (to /tasks: no longer ours)"
check "... the owner is changed" [ "$(col "$T3" owner_id)" = "$M2ID" ]
check "... the history names who reassigned" \
    [ "$(psql_q -c "SELECT user_id || '|' || old_value || '|' || new_value FROM task_history WHERE task_id = $T3 AND field = 'owner'")" = "$M1ID|$M1ID|$M2ID" ]
check "... an 'assigned' notice for the new owner" \
    [ "$(psql_q -c "SELECT count(*) FROM notices WHERE task_id = $T3 AND user_id = $M2ID AND kind = 'assigned'")" = 1 ]
BODY=$(psql_q -c "SELECT body FROM notices WHERE task_id = $T3 AND user_id = $M2ID AND kind = 'assigned'")
SUBJ=$(psql_q -c "SELECT subject FROM notices WHERE task_id = $T3 AND user_id = $M2ID AND kind = 'assigned'")
check "... its subject and body hold the title and the signed link" \
    bash -c "[[ '$SUBJ' == *'give away $TAG'* ]] && grep -q 'give away $TAG' <<<\"\$1\" && grep -q '/tasks/$T3/done?u=$M2ID&e=[0-9]*&s=[0-9a-f]\{64\}' <<<\"\$1\"" _ "$BODY"
[ "$(as "$S1" "$U/tasks/$T3")" = 404 ] && [ "$(as "$S2" "$U/tasks/$T3")" = 200 ]
is "the old owner now gets 404, the new one 200"
check "no notice for a user who assigns themselves" \
    [ "$(psql_q -c "SELECT count(*) FROM notices WHERE task_id = $T1 AND kind = 'assigned'")" = 0 ]
T4=$(new_task "$S1" "$C1" "shared $TAG" "responsible=$M2")
[ "$(psql_q -c "SELECT count(*) FROM task_users WHERE task_id = ${T4:-0} AND user_id = $M2ID AND kind = 'responsible'")" = 1 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM notices WHERE task_id = ${T4:-0} AND user_id = $M2ID AND kind = 'assigned'")" = 1 ]
is "a task with a responsible user: task_users row and an 'assigned' notice"
[ "$(as "$S2" "$U/tasks/$T4")" = 200 ] && [ "$(as "$S2" "$U/tasks")" = 200 ] &&
    grep -q "data-task-id=\"$T4\"" "$W/body"
is "... the responsible user sees it, on /tasks too"
[ "$(post "$S1" "$C1" "/tasks/$T4/reassign" "owner=nobody-$TAG@example.com")" = 404 ] &&
    [ "$(col "$T4" owner_id)" = "$M1ID" ]
is "reassigning to an unknown user answers 404, owner unchanged"
post "$S1" "$C1" "/tasks/$T4/reassign" responsible_set=1 "responsible=$M3" >/dev/null
[ "$(psql_q -c "SELECT string_agg(user_id::text, ',') FROM task_users WHERE task_id = $T4 AND kind = 'responsible'")" = "$(uid "$M3")" ] &&
    [ "$(as "$S2" "$U/tasks/$T4")" = 404 ]
is "reassign replaces the responsible users"
check "... and the history has the removal and the addition" \
    [ "$(psql_q -c "SELECT count(*) FROM task_history WHERE task_id = $T4 AND field = 'responsible' AND user_id = $M1ID")" = 3 ]
check "deleting a task with responsible users works (0008)" \
    psql -X -q -v ON_ERROR_STOP=1 "$CRMGATE_DSN" -c "DELETE FROM tasks WHERE id = $T4"

# --- the signed completion link -----------------------------------------------------------
LINK=$(grep -o "http[^ ]*/tasks/$T3/done?[^ ]*" <<<"$BODY" | head -n 1)
LPATH=/${LINK#*://*/}
[ "$(code "$U$LPATH")" = 200 ] && grep -q "<form method=\"post\" action=\"/tasks/$T3/done\">" "$W/body" &&
    grep -q 'name="s" value="[0-9a-f]\{64\}"' "$W/body"
is "GET the signed link shows a confirm page with a POST form (no login)"
check "... the GET changed nothing" [ "$(col "$T3" stage)" = pending ]
QS=${LPATH#*\?}
LU=$(sed -n 's/.*u=\([0-9]*\).*/\1/p' <<<"$QS")
LE=$(sed -n 's/.*e=\([0-9]*\).*/\1/p' <<<"$QS")
LS=$(sed -n 's/.*s=\([0-9a-f]*\).*/\1/p' <<<"$QS")
sign() { python3 -c "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())" "$CRMGATE_WEB_SECRET" "$1"; }
check "the signature is HMAC-SHA256(web.secret, task-done:ID:USER:EXPIRY)" \
    [ "$(sign "task-done:$T3:$LU:$LE")" = "$LS" ]
BAD=${LS%?}$([ "${LS: -1}" = 0 ] && echo 1 || echo 0)
check "a tampered signature answers 403 on GET" [ "$(code "$U/tasks/$T3/done?u=$LU&e=$LE&s=$BAD")" = 403 ]
[ "$(code --data-urlencode "u=$LU" --data-urlencode "e=$LE" --data-urlencode "s=$BAD" "$U/tasks/$T3/done")" = 403 ] &&
    [ "$(col "$T3" stage)" = pending ]
is "a tampered signature answers 403 on POST and changes nothing"
[ "$(code --data-urlencode "u=$M1ID" --data-urlencode "e=$LE" --data-urlencode "s=$LS" "$U/tasks/$T3/done")" = 403 ] &&
    [ "$(col "$T3" stage)" = pending ]
is "the link with another user id (u=) answers 403"
check "a later expiry with the same signature answers 403" \
    [ "$(code --data-urlencode "u=$LU" --data-urlencode "e=$((LE + 1))" --data-urlencode "s=$LS" "$U/tasks/$T3/done")" = 403 ]
[ "$(code --data-urlencode "u=$LU" --data-urlencode "e=$LE" --data-urlencode "s=$LS" "$U/tasks/$P/done")" = 403 ] &&
    [ "$(col "$P" stage)" = in_progress ]
is "the signature of one task does not complete another"
PAST=$(($(date +%s) - 60))
[ "$(code --data-urlencode "u=$LU" --data-urlencode "e=$PAST" --data-urlencode "s=$(sign "task-done:$T3:$LU:$PAST")" "$U/tasks/$T3/done")" = 403 ] &&
    [ "$(col "$T3" stage)" = pending ]
is "an expired (correctly signed) link answers 403 and changes nothing"
FUT=$(($(date +%s) + 3600))
[ "$(code --data-urlencode "u=$M1ID" --data-urlencode "e=$FUT" --data-urlencode "s=$(sign "task-done:$T3:$M1ID:$FUT")" "$U/tasks/$T3/done")" = 403 ] &&
    [ "$(col "$T3" stage)" = pending ]
is "a signed link for a user who may not see the task answers 403"
check "a link without fields answers 403" [ "$(code "$U/tasks/$T3/done")" = 403 ]
[ "$(code --data-urlencode "u=$LU" --data-urlencode "e=$LE" --data-urlencode "s=$LS" "$U/tasks/$T3/done")" = 303 ] &&
    [ "$(col "$T3" stage)" = done ]
is "POST of the signed link completes the task (303)"
check "... as that user (history)" \
    [ "$(psql_q -c "SELECT user_id FROM task_history WHERE task_id = $T3 AND field = 'stage' AND new_value = 'done'")" = "$M2ID" ]
[ "$(code "$U$(location)")" = 200 ] && grep -q 'This task is closed' "$W/body"
is "... and the page it leads to says the task is closed"

# --- overdue first, views --------------------------------------------------------------------
TOMORROW=$(date -u -d tomorrow +%F)
A=$(new_task "$S3" "$C3" "later $TAG" "due=$TOMORROW")
N=$(new_task "$S3" "$C3" "undated $TAG")
O=$(new_task "$S3" "$C3" "late $TAG" "due=2020-01-02")
as "$S3" "$U/tasks" >/dev/null
order=$(grep -o 'data-task-id="[0-9]*"' "$W/body" | tr -d 'a-z"=-' | tr '\n' ' ')
check "/tasks: overdue first, then by due date, undated last" [ "$order" = "$O $A $N " ]
grep -q "<tr data-task-id=\"$O\" class=\"overdue\">" "$W/body" &&
    ! grep -q "<tr data-task-id=\"$A\" class=\"overdue\">" "$W/body"
is "... the overdue row is marked class=\"overdue\""
as "$S3" "$U/tasks?view=overdue" >/dev/null
check "?view=overdue lists only the overdue task" \
    [ "$(grep -o 'data-task-id="[0-9]*"' "$W/body" | tr -d 'a-z"=-' | tr '\n' ' ')" = "$O " ]
check "a bad view answers 400" [ "$(as "$S3" "$U/tasks?view=bogus")" = 400 ]

# --- projects ---------------------------------------------------------------------------------
check "POST /projects answers 303" [ "$(post "$S3" "$C3" /projects "name=Launch <i>$TAG</i>")" = 303 ]
PJ=$(psql_q -c "SELECT id FROM projects WHERE name = 'Launch <i>$TAG</i>'")
[ -n "$PJ" ] && [ "$(psql_q -c "SELECT owner_id FROM projects WHERE id = ${PJ:-0}")" = "$(uid "$M3")" ]
is "... the project is stored, owned by the poster"
[ "$(as "$S3" "$U/projects")" = 200 ] && grep -q "Launch &lt;i&gt;$TAG&lt;/i&gt;" "$W/body" &&
    grep -q "href=\"/tasks?view=project:$PJ\"" "$W/body"
is "GET /projects lists it, escaped"
TP=$(new_task "$S3" "$C3" "in project $TAG" "project=$PJ")
as "$S3" "$U/tasks?view=project:$PJ" >/dev/null
check "?view=project:ID lists the project's tasks only" \
    [ "$(grep -o 'data-task-id="[0-9]*"' "$W/body" | tr -d 'a-z"=-' | tr '\n' ' ')" = "$TP " ]
[ "$(post "$S2" "$C2" /tasks "title=intruder $TAG" "project=$PJ")" = 404 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM tasks WHERE title = 'intruder $TAG'")" = 0 ]
is "another manager cannot file a task under that project (404)"
check "POST /projects without a name answers 400" [ "$(post "$S3" "$C3" /projects "name=")" = 400 ]

# --- records ------------------------------------------------------------------------------------
D1=$($CRMGATE --json deal add "Deal one $TAG" --owner "$M1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
D2=$($CRMGATE --json deal add "Deal two $TAG" --owner "$M2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
TR=$(new_task "$S1" "$C1" "call about deal $TAG" "record=deal:$D1")
check "a task on a deal the viewer sees is stored with the record" \
    [ "$(col "${TR:-0}" "record_type || ':' || record_id")" = "deal:$D1" ]
as "$S1" "$U/tasks/$TR" >/dev/null
check "... its page links to /deals/ID" grep -q "<a href=\"/deals/$D1\">deal:$D1</a>" "$W/body"
[ "$(post "$S1" "$C1" /tasks "title=snoop $TAG" "record=deal:$D2")" = 404 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM tasks WHERE title = 'snoop $TAG'")" = 0 ]
is "a task on another manager's deal answers 404 and is not stored"
check "a malformed record answers 400" [ "$(post "$S1" "$C1" /tasks "title=x $TAG" "record=deal:abc")" = 400 ]
check "an unknown record type answers 400" [ "$(post "$S1" "$C1" /tasks "title=x $TAG" "record=users:1")" = 400 ]

# --- the JSON API --------------------------------------------------------------------------------
[ "$(api "$TOK1" /api/tasks)" = 200 ] && python3 -c "
import json
t={x['id']:x for x in json.load(open('$W/body'))['tasks']}
x=t[$TR]
assert x['title']=='call about deal $TAG' and x['stage']=='pending' and x['priority']==2
assert x['owner']=='$M1' and x['due'] is None and x['record']=='deal:$D1'
assert x['parent'] is None and x['project'] is None
assert $T1 not in t  # done: not in the default view
"
is "GET /api/tasks answers {\"tasks\": [...]} with the documented fields"
[ "$(api "$TOK1" "/api/tasks?view=all")" = 200 ] &&
    python3 -c "import json; assert $T1 in [x['id'] for x in json.load(open('$W/body'))['tasks']]"
is "GET /api/tasks?view=all includes closed tasks"
[ "$(api "$TOK1" "/api/tasks?view=bogus")" = 400 ] && grep -q '"error"' "$W/body"
is "/api/tasks?view=bogus answers 400 JSON"
check "/api/tasks/ID of a missing task answers 404" [ "$(api "$TOK1" /api/tasks/999999999)" = 404 ]
[ "$(as "$S1" "$U/api/tasks/$TR")" = 200 ] && grep -q '"record":"deal:'"$D1"'"' "$W/body"
is "/api/tasks/ID also works with the session cookie"
check "/api/tasks without a token answers 401" [ "$(code "$U/api/tasks")" = 401 ]

# --- hostile and malformed input --------------------------------------------------------------
[ "$(as "$S1" "$U/tasks/0")" = 404 ] && [ "$(as "$S1" "$U/tasks/99999999999999999999999")" = 404 ]
is "/tasks/0 and a huge id answer 404"
check "/tasks/abc answers 404" [ "$(as "$S1" "$U/tasks/abc")" = 404 ]
check "a missing task answers 404 on POST complete" [ "$(post "$S1" "$C1" /tasks/999999999/complete)" = 404 ]
[ "$(post "$S1" "$C1" /tasks "title=$(head -c 600 /dev/zero | tr '\0' x)")" = 400 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM tasks WHERE length(title) > 500")" = 0 ]
is "a title over 500 characters answers 400, nothing stored"
check "an empty title answers 400" [ "$(post "$S1" "$C1" /tasks "title=   ")" = 400 ]
check "a bad due date answers 400" [ "$(post "$S1" "$C1" /tasks "title=d $TAG" "due=2026-02-30")" = 400 ]
check "a bad priority answers 400" [ "$(post "$S1" "$C1" /tasks "title=p $TAG" "priority=9")" = 400 ]
check "a bad remind_at answers 400" [ "$(post "$S1" "$C1" /tasks "title=r $TAG" "remind_at=soon")" = 400 ]
check "a huge parent id answers 400" [ "$(post "$S1" "$C1" /tasks "title=q $TAG" "parent=99999999999999999999999")" = 400 ]
check "a missing parent answers 404" [ "$(post "$S1" "$C1" /tasks "title=q $TAG" "parent=999999999")" = 404 ]
check "none of those bad requests stored a task" \
    [ "$(psql_q -c "SELECT count(*) FROM tasks WHERE title IN ('d $TAG', 'p $TAG', 'r $TAG', 'q $TAG', 'x $TAG')")" = 0 ]
check "a non-numeric signed link answers 403" [ "$(code "$U/tasks/$T3/done?u=x&e=y&s=%00")" = 403 ]
check "after all that /healthz still answers 200" [ "$(code "$U/healthz")" = 200 ]

# --- the CLI ------------------------------------------------------------------------------------
CP=$($CRMGATE task add "cli parent $TAG" --owner "$M1" --due 2031-01-02 --record "deal:$D1" --priority high)
check "task add prints the new id" bash -c "[[ '$CP' =~ ^[0-9]+\$ ]]"
check "... with owner, due, record and priority stored" \
    [ "$(col "${CP:-0}" "owner_id || '|' || due_date || '|' || record_type || ':' || record_id || '|' || priority")" = "$M1ID|2031-01-02|deal:$D1|3" ]
check "... its history row names no user (the system)" \
    [ "$(psql_q -c "SELECT count(*) FROM task_history WHERE task_id = ${CP:-0} AND field = 'created' AND user_id IS NULL")" = 1 ]
check "... and an 'assigned' notice for the owner" \
    [ "$(psql_q -c "SELECT count(*) FROM notices WHERE task_id = ${CP:-0} AND user_id = $M1ID AND kind = 'assigned'")" = 1 ]
CS=$($CRMGATE task add "cli child $TAG" --parent "$CP")
check "task add --parent takes the parent's owner" [ "$(col "${CS:-0}" "parent_id || '|' || owner_id")" = "$CP|$M1ID" ]
$CRMGATE task list --json >"$W/list.json"
check "task list --json: {\"tasks\": [...]} with id, title, stage, owner, due, record" \
    python3 -c "
import json
t={x['id']:x for x in json.load(open('$W/list.json'))['tasks']}
x=t[$CP]
assert x['title']=='cli parent $TAG' and x['stage']=='pending' and x['owner']=='$M1'
assert x['due']=='2031-01-02' and x['record']=='deal:$D1'
assert t[$CS]['record'] is None and t[$CS]['due'] is None
assert $T1 not in t  # open tasks only
"
check "task list --all --json includes done tasks" \
    bash -c "$CRMGATE task list --all --json | python3 -c 'import json,sys; assert $T1 in [x[\"id\"] for x in json.load(sys.stdin)[\"tasks\"]]'"
bash -c "! $CRMGATE task done $CP 2>'$W/err'" && grep -q 'open subtasks' "$W/err" &&
    [ "$(col "$CP" stage)" = pending ]
is "task done on a parent with an open subtask fails (non-zero)"
$CRMGATE task done "$CS" >/dev/null && [ "$(col "$CS" stage)|$(col "$CP" stage)" = "done|done" ]
is "task done completes the subtask, and the parent closes"
check "task add for an unknown owner fails" bash -c "! $CRMGATE task add 'x $TAG' --owner nobody-$TAG@example.com 2>/dev/null"
check "task add on a missing record fails" bash -c "! $CRMGATE task add 'x $TAG' --owner $M1 --record deal:999999999 2>/dev/null"
check "task add with a bad date fails with usage" bash -c "! $CRMGATE task add 'x $TAG' --owner $M1 --due tomorrow 2>/dev/null"
check "task add without an owner (nor record, parent) fails" bash -c "! $CRMGATE task add 'x $TAG' 2>/dev/null"
check "task done on a missing task fails" bash -c "! $CRMGATE task done 999999999 2>/dev/null"
check "none of the failed adds stored a task" \
    [ "$(psql_q -c "SELECT count(*) FROM tasks WHERE title = 'x $TAG'")" = 0 ]

# --- a sales-inbox mail makes a task for the inbox owner -------------------------------------
BOSS=boss@example.com # tests/crmgate-test.conf: the sales inbox's owner
$CRMGATE user add "$BOSS" --role manager --name Boss >/dev/null 2>&1
printf '%s\n' "boss-pw-$TAG" | $CRMGATE user passwd "$BOSS" >/dev/null
BOSSID=$(uid "$BOSS")
BUYER=buyer-$TAG@buyer$TAG.test
MID=sales-$TAG@buyer$TAG.test
smtp "$CRMGATE_SMTP_PORT" "$BUYER" sales@example.com "$MID" "Quote please $TAG" \
    --header "From: Eve Buyer <$BUYER>" --body "We need 40 units. $TAG" >/dev/null 2>&1
has_request() { [ -n "$(psql_q -c "SELECT id FROM requests WHERE email_norm = '$BUYER'")" ]; }
wait_for 30 has_request
REQ=$(psql_q -c "SELECT id FROM requests WHERE email_norm = '$BUYER'")
check "the sales-inbox mail was captured as a request" [ -n "$REQ" ]
AT=$(psql_q -c "SELECT id FROM tasks WHERE record_type = 'request' AND record_id = ${REQ:-0}")
[ -n "$AT" ] && [ "$(col "${AT:-0}" "owner_id || '|' || stage")" = "$BOSSID|pending" ]
is "... the request has a task owned by the inbox owner"
check "... titled after the request" bash -c "[[ '$(col "${AT:-0}" title)' == *'Quote please $TAG'* ]]"
web_login "$BOSS" "boss-pw-$TAG"
as "$SID" "$U/tasks" >/dev/null
grep -q "<tr data-task-id=\"$AT\"" "$W/body" && grep -q "<a href=\"/requests/$REQ\">request:$REQ</a>" "$W/body"
is "... and it is on the inbox owner's /tasks, linked to /requests/ID"
check "... but not visible to another manager" [ "$(as "$S2" "$U/tasks/$AT")" = 404 ]
