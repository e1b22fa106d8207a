#!/usr/bin/env bash
# tests/web/t10_auth.sh - crmgate-web over HTTP with curl, against the test
# stack's web (CRMGATE_WEB_PORT) and PostgreSQL: health and metrics, the
# login form and its CSRF token, sessions and logout, the failed-login
# limit, API tokens, 404/405/413, security headers, escaping.
# Prints TAP lines (tests/lib.sh).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$REPO/tests/lib.sh"
U="http://127.0.0.1:$CRMGATE_WEB_PORT"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
psql_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$CRMGATE_DSN" "$@"; }
check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}
code() { curl -s -o "$W/body" -D "$W/head" -w '%{http_code}' "$@"; }

TAG=w$$
BOSS=boss-$TAG@example.com
MGR=mgr-$TAG@example.com
$CRMGATE user add "$BOSS" --name "Boss $TAG" --role chief >/dev/null
$CRMGATE user add "$MGR" --name "<script>alert(1)</script> $TAG" --role manager --extension 204 >/dev/null
echo 'boss-password-1' | $CRMGATE user passwd "$BOSS" >/dev/null
echo 'mgr-password-1' | $CRMGATE user passwd "$MGR" >/dev/null

check "healthz answers 200 with the database up" [ "$(code "$U/healthz")" = 200 ]
check "every response carries the security headers" \
    grep -qi "^Content-Security-Policy: default-src 'none'" "$W/head"
grep -qi '^X-Content-Type-Options: nosniff' "$W/head" && grep -qi '^Referrer-Policy:' "$W/head" &&
    grep -qi 'frame-ancestors' "$W/head"
check "nosniff, Referrer-Policy and frame-ancestors are set" [ $? -eq 0 ]
check "metrics answers in Prometheus text format" \
    bash -c "[ \"\$(curl -s -o '$W/m' -w '%{http_code}' '$U/metrics')\" = 200 ] && grep -q '^# TYPE crmgate_web_requests_total counter' '$W/m' && grep -q 'crmgate_database_up 1' '$W/m'"
check "metrics counts requests per route" grep -q 'crmgate_web_requests_total{route="/healthz",code="2xx"}' "$W/m"

check "a page without a session redirects to /login" [ "$(code "$U/")" = 303 ]
check "the redirect keeps where the user wanted to go" grep -qi '^Location: /login?next=%2F' "$W/head"
check "an API route without a token answers 401" [ "$(code "$U/api/me")" = 401 ]
check "an unknown path answers 404" [ "$(code "$U/no/such/page")" = 404 ]
check "a wrong method answers 405 with Allow" \
    bash -c "[ \"\$(curl -s -o /dev/null -D '$W/h405' -w '%{http_code}' -X DELETE '$U/login')\" = 405 ] && grep -qi '^Allow: GET' '$W/h405'"
check "a body over web.body_bytes answers 413" \
    [ "$(head -c 2000000 /dev/zero | tr '\0' a | curl -s -o /dev/null -w '%{http_code}' --data-binary @- "$U/login")" = 413 ]
check "a malformed path answers 400" [ "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$U//etc/passwd")" = 400 ]

# login form
code -c "$W/jar" "$U/login" >/dev/null
CSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$W/body")
check "the login form has email, password and a hidden csrf field" \
    bash -c "grep -q 'name=\"email\"' '$W/body' && grep -q 'name=\"password\"' '$W/body' && [ -n '$CSRF' ]"
login() { # EMAIL PASSWORD [CSRF]: a fresh form, then the POST; prints the status
    curl -s -o "$W/form" -c "$W/jar" "$U/login"
    CSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$W/form")
    code -b "$W/jar" -c "$W/jar" --data-urlencode "csrf=${3-$CSRF}" \
        --data-urlencode "email=$1" --data-urlencode "password=$2" "$U/login"
}
n0=$(psql_q -c "SELECT count(*) FROM web_sessions")
check "POST /login without the csrf token answers 403" [ "$(login "$BOSS" boss-password-1 '')" = 403 ]
check "... and creates no session" [ "$(psql_q -c "SELECT count(*) FROM web_sessions")" = "$n0" ]
[ "$(login "$BOSS" nope)" = 401 ] && grep -q 'name="password"' "$W/body"
check "a wrong password answers 401 with the form again" [ $? -eq 0 ]
check "a good login answers 303 with the session cookie" [ "$(login "$BOSS" boss-password-1)" = 303 ]
check "the session cookie is HttpOnly and SameSite=Lax" grep -qi '^Set-Cookie: crmgate_session=[A-Za-z0-9_-]\{43\}; Path=/; HttpOnly; SameSite=Lax' "$W/head"
SID=$(sed -n 's/^Set-Cookie: crmgate_session=\([^;]*\);.*/\1/ip' "$W/head" | tr -d '\r')
check "the session is stored hashed, not as the cookie value" \
    [ "$(psql_q -c "SELECT count(*) FROM web_sessions WHERE encode(id_hash, 'hex') = encode(sha256('$SID'::bytea), 'hex')")" = 1 ]
check "no session row holds the cookie value itself" \
    [ "$(psql_q -c "SELECT count(*) FROM web_sessions WHERE position('$SID' IN encode(id_hash, 'escape')) > 0")" = 0 ]
check "with the session the page no longer redirects to /login" \
    bash -c "[ \"\$(curl -s -o /dev/null -D '$W/h2' -w '%{http_code}' -b 'crmgate_session=$SID' '$U/')\" = 303 ] && grep -qi '^Location: /tasks' '$W/h2'"

# logout needs the session's csrf token
check "POST /logout without csrf answers 403" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' -b "crmgate_session=$SID" -X POST "$U/logout")" = 403 ]
SCSRF=$(psql_q -c "SELECT csrf FROM web_sessions WHERE id_hash = sha256('$SID'::bytea)")
check "... and the session is still there" [ -n "$SCSRF" ]
check "POST /logout with csrf ends the session" \
    bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -b 'crmgate_session=$SID' --data-urlencode 'csrf=$SCSRF' '$U/logout')\" = 303 ] && [ \"\$(psql -X -q -t -A '$CRMGATE_DSN' -c \"SELECT count(*) FROM web_sessions WHERE id_hash = sha256('$SID'::bytea)\")\" = 0 ]"

# a password change ends the user's sessions
login "$MGR" mgr-password-1 >/dev/null
MSID=$(sed -n 's/^Set-Cookie: crmgate_session=\([^;]*\);.*/\1/ip' "$W/head" | tr -d '\r')
echo 'mgr-password-2' | $CRMGATE user passwd "$MGR" >/dev/null
check "a new password ends the user's sessions" \
    [ "$(curl -s -o /dev/null -D "$W/h4" -w '%{http_code}' -b "crmgate_session=$MSID" "$U/")" = 303 ] &&
    grep -qi '^Location: /login' "$W/h4"
check "before that the session was good" [ -n "$MSID" ]
check "user passwd stores an argon2id hash" \
    [ "$(psql_q -c "SELECT password_hash LIKE '\$argon2id\$%' FROM users WHERE email_norm = '$MGR'")" = t ]
check "user add --extension stores the extension" \
    [ "$(psql_q -c "SELECT phone_ext FROM users WHERE email_norm = '$MGR'")" = 204 ]

# the failed-login limit (web.login_failures_account, 5 by default)
VICTIM=victim-$TAG@example.com
$CRMGATE user add "$VICTIM" --role manager >/dev/null
echo 'victim-password-1' | $CRMGATE user passwd "$VICTIM" >/dev/null
codes=""
for _ in 1 2 3 4 5; do codes="$codes $(login "$VICTIM" wrong)"; done
check "five wrong passwords answer 401 each" [ "$codes" = " 401 401 401 401 401" ]
check "then even the right password is refused (429)" [ "$(login "$VICTIM" victim-password-1)" = 429 ]
check "... with Retry-After" grep -qi '^Retry-After:' "$W/head"

# API tokens
out=$($CRMGATE token add "$BOSS")
TOKEN=$(printf '%s\n' "$out" | tail -n 1)
check "token add prints the token alone on the last line" bash -c "[[ '$TOKEN' =~ ^[A-Za-z0-9_-]{43}\$ ]]"
check "the token is stored hashed" \
    [ "$(psql_q -c "SELECT count(*) FROM api_tokens WHERE token_hash = sha256('$TOKEN'::bytea)")" = 1 ]
check "a wrong Bearer token answers 401 on /api/" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN%?}x" "$U/api/me")" = 401 ]
check "the Bearer token acts as its user with that user's role" \
    bash -c "curl -s -H 'Authorization: Bearer $TOKEN' '$U/api/me' | grep -q '\"email\": *\"$BOSS\".*\"role\": *\"chief\"'"
check "a Bearer token is not a session for pages" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$U/")" = 303 ]
check "token add for an unknown user fails" bash -c "! $CRMGATE token add nobody-$TAG@example.com >/dev/null 2>&1"

# hostile input never crashes the server
for q in '%' '%zz' 'a=%00b' "$(head -c 3000 /dev/zero | tr '\0' '&')" 'x=%ff%fe'; do
    curl -s -o /dev/null "$U/login?$q"
done
curl -s -o /dev/null -H "Cookie: crmgate_session=$(head -c 5000 /dev/zero | tr '\0' A)" "$U/"
curl -s -o /dev/null -H 'Cookie: ;;;=;crmgate_session' "$U/"
check "after hostile queries and cookies the server still answers" [ "$(code "$U/healthz")" = 200 ]
check "the login page escapes what it echoes" \
    bash -c "curl -s -c '$W/j2' -o /dev/null '$U/login?next=%22%3E%3Cscript%3Ex%3C/script%3E' && curl -s '$U/login?next=/%22%3E%3Cscript%3Ex%3C/script%3E' | grep -q 'value=\"/&quot;&gt;&lt;script&gt;x&lt;/script&gt;\"'"
check "an open redirect through next= is refused" \
    bash -c "code=\$(curl -s -o /dev/null -D '$W/h3' -w '%{http_code}' -b 'crmgate_session=x' '$U/login?next=//evil.test/'); grep -qi '^Set-Cookie: crmgate_csrf' '$W/h3'"
