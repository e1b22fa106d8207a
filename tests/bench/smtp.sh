#!/usr/bin/env bash
# tests/bench/smtp.sh - SMTP sending throughput of core/smtp_send.c
# (libcurl, kept-alive connections) against Postfix's smtp-source, both
# into one smtp-sink on loopback that discards everything (`make bench`
# runs it from tests/bench/run.sh; it also runs alone, needing only
# build/tests/smtp-blast: `make all`).
#
# Runs, with BENCH_SMTP_MESSAGES prebuilt messages of about
# BENCH_SMTP_SIZE bytes, one recipient each:
#   smtp-blast over 4 connections, then over BENCH_SMTP_CONNECTIONS;
#   smtp-source -s BENCH_SMTP_CONNECTIONS -d (connections kept open, as
#   ours are) -m BENCH_SMTP_MESSAGES -l BENCH_SMTP_SIZE.
# Figures, in run.sh's format ("bench: NAME VALUE UNIT"):
#   bench: smtp_blast_4conn_msgs_per_s N msg/s
#   bench: smtp_blast_msgs_per_s N msg/s       (BENCH_SMTP_CONNECTIONS)
#   bench: smtp_blast_connects N connections   (new connections opened)
#   bench: smtp_blast_cpu_us_per_msg N us      (client user+sys CPU)
#   bench: smtp_source_msgs_per_s N msg/s
#   bench: smtp_blast_vs_source N x            (target >= 0.5)
# Exit status 1 when a run failed (a transfer not accepted, a tool
# missing) or smtp-blast opened more connections than it may.
#
# Knobs: BENCH_SMTP_MESSAGES [20000] BENCH_SMTP_SIZE [3000]
# BENCH_SMTP_CONNECTIONS [8] BENCH_SMTP_SINK_PORT [2591; the next free
# port up when taken].
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
BUILD=${CRMGATE_BUILD:-$REPO/build}
BLAST=$BUILD/tests/smtp-blast
N=${BENCH_SMTP_MESSAGES:-20000}
SIZE=${BENCH_SMTP_SIZE:-3000}
CONNS=${BENCH_SMTP_CONNECTIONS:-8}

say() { printf '# %s\n' "$*"; }
fig() { printf 'bench: %s %s %s\n' "$1" "$2" "$3"; }
failed=0
bad() {
    printf '# FAIL: %s\n' "$*"
    failed=1
}
calc() { awk "BEGIN { printf \"%s\", $1 }" 2>/dev/null; }

for tool in "$BLAST" smtp-sink smtp-source; do
    if ! command -v "$tool" >/dev/null; then
        bad "$tool not found (make all; scripts/deps.sh installs Postfix)"
        exit 1
    fi
done

PORT=$(python3 "$REPO/tests/bench/benchutil.py" free-port "${BENCH_SMTP_SINK_PORT:-2591}") || exit 1

user=()
[[ $(id -u) == 0 ]] && user=(-u nobody)
smtp-sink "${user[@]}" -m 512 127.0.0.1:"$PORT" 512 </dev/null >/dev/null 2>&1 &
SINK_PID=$!
trap 'kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
    sleep 0.05
done
say "smtp-sink pid $SINK_PID on 127.0.0.1:$PORT; $N messages of ~$SIZE bytes"

# blast CONNS: runs smtp-blast; sets RATE, CONNECTS, CPU_US (per message).
blast() {
    local out t rc
    out=$(mktemp)
    {
        TIMEFORMAT='cpu %U %S'
        time "$BLAST" "smtp://127.0.0.1:$PORT" "$N" "$1" "$SIZE" 2>&1
    } >"$out" 2>&1
    rc=$?
    sed 's/^/#   /' "$out"
    ((rc == 0)) || bad "smtp-blast over $1 connections exited $rc"
    RATE=$(sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' "$out")
    CONNECTS=$(sed -n 's/.*connects=\([0-9]*\).*/\1/p' "$out")
    t=$(awk '/^cpu / { print $2 + $3 }' "$out")
    CPU_US=$(printf %.1f "$(calc "$t * 1000000 / $N")")
    rm -f "$out"
    [[ -n $RATE ]] || RATE=0
}

blast 4
fig smtp_blast_4conn_msgs_per_s "$RATE" msg/s
((CONNECTS <= 4 + 2)) || bad "4 connections wanted, $CONNECTS opened"
blast "$CONNS"
BLAST_RATE=$RATE
fig smtp_blast_msgs_per_s "$RATE" msg/s
fig smtp_blast_connects "$CONNECTS" connections
fig smtp_blast_cpu_us_per_msg "$CPU_US" us
((CONNECTS <= CONNS + 2)) || bad "$CONNS connections wanted, $CONNECTS opened"

out=$(mktemp)
t0=$(date +%s.%N)
{
    TIMEFORMAT='cpu %U %S'
    time smtp-source -s "$CONNS" -d -m "$N" -l "$SIZE" -f news@crm.test \
        -t rcpt@example.test -N 127.0.0.1:"$PORT" 2>&1
} >"$out" 2>&1
rc=$?
t1=$(date +%s.%N)
if ((rc != 0)) || grep -qv '^cpu \|^$' "$out"; then
    bad "smtp-source exited $rc"
    sed 's/^/#   /' "$out" | head -n 10
fi
SRC_RATE=$(printf %.0f "$(calc "$N / ($t1 - $t0)")")
say "smtp-source: $N messages in $(printf %.3f "$(calc "$t1 - $t0")") s, $(grep '^cpu' "$out")"
rm -f "$out"
fig smtp_source_msgs_per_s "$SRC_RATE" msg/s
fig smtp_blast_vs_source "$(printf %.3f "$(calc "$BLAST_RATE / $SRC_RATE")")" x
if awk "BEGIN { exit !($BLAST_RATE / $SRC_RATE >= 0.5) }"; then
    say "target smtp_blast_vs_source >= 0.5: met"
else
    say "target smtp_blast_vs_source >= 0.5: MISSED"
fi
exit "$failed"
