# tests/lib.sh - shared helpers for the shell test layers. Source it.
#
# Every check prints one TAP line, "ok - NAME" or "not ok - NAME", which
# tests/run-all.sh counts. The environment comes from tests/run-all.sh
# (the test stack: CRMGATE_DSN, CRMGATE_SMTP_PORT, CRMGATE_SINK_DIR, ...).

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${CRMGATE_BUILD:-$REPO/build}/bin
CRMGATE="$BIN/crmgate -c $CRMGATE_CONFIG"

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }

# check NAME COMMAND...: ok when the command succeeds.
check() {
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$name"; else not_ok "$name"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [[ "$2" == "$3" ]]; then ok "$1"; else
        not_ok "$1"; echo "#   expected: '$2'"; echo "#   actual:   '$3'"; fi
}

# sql "SELECT ...": prints the result unaligned, tuples only.
sql() { psql -X -At -v ON_ERROR_STOP=1 "$CRMGATE_DSN" -c "$1"; }

# uniq_id: a token unique to this run, for addresses and Message-IDs.
uniq_id() { echo "t$(date +%s%N | tail -c 10)$RANDOM"; }

# wait_for SECONDS COMMAND...: retries the command until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}

# wait_message MESSAGE_ID [SECONDS]: waits until the message is stored.
has_message() { [ -n "$(sql "SELECT id FROM messages WHERE message_id = '$1'")" ]; }
wait_message() { wait_for "${2:-15}" has_message "$1"; }

# smtp PORT FROM TO[,TO...] MESSAGE_ID SUBJECT [swaks options...]
smtp() {
    local port=$1 from=$2 to=$3 mid=$4 subject=$5; shift 5
    swaks --silent 2 --server "127.0.0.1:$port" --from "$from" --to "$to" \
        --header "Message-Id: <$mid>" --header "Subject: $subject" "$@"
}

# sink_rcpts: every recipient delivered to the sink so far, one a line.
sink_rcpts() {
    sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$CRMGATE_SINK_DIR"/* 2>/dev/null
}
