# tests/web/lib.sh - what the web test scripts (tests/web/t*.sh) share:
# the base URL, a scratch directory, check/code helpers, and logging a
# user in to get a session cookie and its CSRF token. Source it after
# tests/lib.sh.
# shellcheck shell=bash

U="http://127.0.0.1:$CRMGATE_WEB_PORT"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
psql_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$CRMGATE_DSN" "$@"; }
# check NAME COMMAND...: one TAP line from the command's exit status.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# code CURL_ARGS...: the HTTP status; body in $W/body, headers in $W/head.
code() { curl -s -o "$W/body" -D "$W/head" -w '%{http_code}' "$@"; }

# web_user EMAIL ROLE PASSWORD [NAME]: creates a user with a password.
web_user() {
    $CRMGATE user add "$1" --role "$2" --name "${4:-$1}" >/dev/null &&
        printf '%s\n' "$3" | $CRMGATE user passwd "$1" >/dev/null
}

# web_login EMAIL PASSWORD: logs in; sets SID (the session cookie value)
# and SCSRF (the session's form token). Returns non-zero on failure.
web_login() {
    local jar=$W/jar.$$ csrf
    SID= SCSRF=
    curl -s -o "$W/form" -c "$jar" "$U/login" || return 1
    csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$W/form")
    curl -s -o /dev/null -D "$W/lhead" -b "$jar" --data-urlencode "csrf=$csrf" \
        --data-urlencode "email=$1" --data-urlencode "password=$2" "$U/login"
    SID=$(sed -n 's/^Set-Cookie: crmgate_session=\([^;]*\);.*/\1/ip' "$W/lhead" | tr -d '\r')
    [ -n "$SID" ] || return 1
    SCSRF=$(psql_q -c "SELECT csrf FROM web_sessions WHERE id_hash = sha256('$SID'::bytea)")
    [ -n "$SCSRF" ]
}

# as SID CURL_ARGS...: curl with that session cookie; status printed,
# body in $W/body, headers in $W/head.
as() {
    local sid=$1
    shift
    code -b "crmgate_session=$sid" "$@"
}

# api TOKEN PATH: GET an /api/ path with a Bearer token; status printed,
# body in $W/body.
api() { code -H "Authorization: Bearer $1" "$U$2"; }
