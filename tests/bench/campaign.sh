#!/usr/bin/env bash
# tests/bench/campaign.sh - campaign sending: personalised messages built
# and sent by ONE crmgate-worker straight to a local smtp-sink, against
# Postfix's smtp-source into the same kind of sink in the same run (`make
# bench` runs it from tests/bench/run.sh, section 7; it also runs alone).
#
# In one run:
#   1. smtp-source -s 4 -d (4 sessions = the account's concurrency, kept
#      open) of BENCH_CAMPAIGN_N messages of about the campaign's size (the
#      size of a real message of this campaign, measured first with
#      `crmgate campaign test` into a dumping smtp-sink);
#   2. a BENCH_CAMPAIGN_SMALL-recipient campaign, then
#   3. a BENCH_CAMPAIGN_N-recipient campaign, each from a generated csv
#      segment (email, first_name, last_name, company, title; recipients
#      spread over 50 domains), templates of ~3 KB HTML + ~1.3 KB text with
#      6 variables, default campaign settings (batch 100, concurrency 4),
#      sent by a freshly started crmgate-worker (worker defaults, log level
#      info). The clock runs from `crmgate campaign start` until the
#      campaign's state is finished.
# Figures, in run.sh's format ("bench: NAME VALUE UNIT"):
#   bench: campaign_msg_bytes N bytes            (one built message)
#   bench: campaign_smtp_source_msgs_per_s N msg/s
#   bench: campaign_create_s N s                 (create with N ledger rows)
#   bench: campaign_msgs_per_s_10k N msg/s
#   bench: campaign_msgs_per_s N msg/s           (the N-recipient campaign)
#   bench: campaign_vs_smtp_source N x           (target >= 0.5)
#   bench: campaign_worker_rss_mb_10k N MB       (VmHWM of the worker)
#   bench: campaign_worker_rss_mb_100k N MB      (target <= 32, flat)
#   bench: campaign_cpu_ms_per_msg_worker N ms   (utime+stime, N campaign)
#   bench: campaign_cpu_ms_per_msg_postgres N ms (every PostgreSQL process)
# (the _10k / _100k names stay whatever the knobs below set). Also "# "
# lines: the CPU of worker, PostgreSQL and sink per campaign and what the
# rest of the machine used (benchutil.py cpu-diff), and the worker threads'
# time on a CPU against time runnable but waiting for one (schedstat: a
# busy machine shows there).
# Checks (a "# FAIL:" line and exit status 1 when one does not hold): the
# sink counted exactly as many messages as each run sent (smtp-sink -c),
# every ledger row is sent, the campaign finished within
# BENCH_CAMPAIGN_TIMEOUT [900] s, the worker exited cleanly. Targets are
# reported, not enforced.
#
# Knobs: BENCH_CAMPAIGN_N [100000] BENCH_CAMPAIGN_SMALL [10000]
# BENCH_CAMPAIGN_TIMEOUT [900] BENCH_CAMPAIGN_SINK_PORT [2592; the next
# free port up when taken] BENCH_CAMPAIGN_PG_SET ["NAME=VALUE ...": sets
# PostgreSQL parameters for the crmgate database, for experiments such as
# synchronous_commit=off; in a shared stack they stay set]
# BENCH_CAMPAIGN_SET ["KEY = VALUE; ...": campaign settings of the
# worker's configuration, e.g. "batch = 500"] BENCH_CAMPAIGN_CONNS [4: the
# account's concurrency and smtp-source's sessions] BENCH_CAMPAIGN_PROFILE
# [1: the big campaign's worker runs under callgrind (slow: use a small
# BENCH_CAMPAIGN_N; its figures are then not comparable) and the top
# functions are printed]. Stack: with BENCH_CAMPAIGN_STACK=shared (what
# run.sh sets) the caller's PostgreSQL is used (its environment exported);
# otherwise a private PostgreSQL under var/bench-campaign on a free port
# from 15502, stopped at the end.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$REPO" || exit 1
BENCH_DIR=$REPO/tests/bench
BUILD=${CRMGATE_BUILD:-$REPO/build}
CLI=$BUILD/bin/crmgate
WORKER=$BUILD/bin/crmgate-worker
N=${BENCH_CAMPAIGN_N:-100000}
SMALL=${BENCH_CAMPAIGN_SMALL:-10000}
TIMEOUT=${BENCH_CAMPAIGN_TIMEOUT:-900}
CONNS=${BENCH_CAMPAIGN_CONNS:-4}

say() { printf '# %s\n' "$*"; }
fig() { printf 'bench: %s %s %s\n' "$1" "$2" "$3"; }
failed=0
bad() {
    printf '# FAIL: %s\n' "$*"
    failed=1
}
calc() { awk "BEGIN { printf \"%s\", $1 }" 2>/dev/null; }
now() { date +%s.%N; }

for tool in "$CLI" "$WORKER" smtp-sink smtp-source psql jq; do
    command -v "$tool" >/dev/null || {
        echo "# FAIL: $tool not found (make all; scripts/deps.sh)"
        exit 1
    }
done

# free_port BASE: BASE or the next free port up (benchutil.py free-port).
free_port() { python3 "$BENCH_DIR/benchutil.py" free-port "$1"; }

T=$(mktemp -d /tmp/crmgate-campaign-bench.XXXXXX)
chmod 0755 "$T"
WPID=
SINK_PID=
PROBE_SINK_PID=
private=0
cleanup() {
    [[ -n $WPID ]] && kill -KILL "$WPID" 2>/dev/null
    [[ -n $SINK_PID ]] && kill -TERM "$SINK_PID" 2>/dev/null
    [[ -n $PROBE_SINK_PID ]] && kill -TERM "$PROBE_SINK_PID" 2>/dev/null
    wait 2>/dev/null
    ((private)) && scripts/stack stop >/dev/null 2>&1
    [[ -n ${KEEP_TMP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ${BENCH_CAMPAIGN_STACK:-} != shared ]]; then
    private=1
    export CRMGATE_VAR=$REPO/var/bench-campaign
    export CRMGATE_CONFIG=$BENCH_DIR/bench.conf
    CRMGATE_PG_PORT=$(free_port 15502) || exit 1
    export CRMGATE_PG_PORT
    scripts/stack stop >/dev/null 2>&1
    rm -rf "$CRMGATE_VAR"
    mkdir -p "$CRMGATE_VAR"
    scripts/stack start postgres >"$T/stack.log" 2>&1 || {
        sed 's/^/#   /' "$T/stack.log" | tail -n 20
        echo "# FAIL: the private stack did not start"
        exit 1
    }
fi
eval "$(scripts/stack env)"
# only our worker may send the campaigns
scripts/stack stop worker >/dev/null 2>&1
psqlq() { psql -X -At -v ON_ERROR_STOP=1 "$CRMGATE_DSN" -c "$1"; }
PG_PID=$(scripts/stack status postgres 2>/dev/null | awk '/running pid/ { print $4 }')
[[ -n $PG_PID ]] || {
    echo "# FAIL: PostgreSQL is not running"
    exit 1
}

if [[ -n ${BENCH_CAMPAIGN_PG_SET:-} ]]; then
    # experiments, not the default (synchronous_commit=off: what the WAL
    # flush at each mark and claim costs); new sessions get them
    for kv in $BENCH_CAMPAIGN_PG_SET; do
        psqlq "ALTER DATABASE crmgate SET ${kv%%=*} = '${kv#*=}'" >/dev/null ||
            bad "cannot set ${kv%%=*}"
    done
    say "EXPERIMENT: database crmgate SET $BENCH_CAMPAIGN_PG_SET"
fi

# The configuration: the bench's (production defaults) plus what campaigns
# need: a signing secret, the bounce domain, the public base URL.
CONF=$T/campaign.conf
{
    sed -e "s|\"\\.\\./\\.\\./|\"$REPO/|g" "$CRMGATE_CONFIG"
    cat <<'EOF'
web {
    base_url = "https://crm.bench.test"
}
campaign {
    secret = "campaign-bench-secret-0123456789abcdef"
    bounce_domain = "bounce.bench.test"
EOF
    # experiments: campaign settings other than the defaults
    [[ -n ${BENCH_CAMPAIGN_SET:-} ]] && printf '    %s\n' "${BENCH_CAMPAIGN_SET//;/$'\n'    }"
    echo '}'
} >"$CONF"
cli() { "$CLI" -c "$CONF" "$@"; }

# --- the sinks -----------------------------------------------------------------

SINK_USER=()
if [[ $(id -u) == 0 ]]; then
    chmod 0777 "$T"
    SINK_USER=(-u nobody)
fi
wait_port() {
    local _
    for _ in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
PORT=$(free_port "${BENCH_CAMPAIGN_SINK_PORT:-2592}") || exit 1
# -c: running counters on stdout ("sess=N quit=N mesg=N", CR-separated),
# nothing stored
smtp-sink "${SINK_USER[@]}" -c 127.0.0.1:"$PORT" 512 </dev/null >"$T/sink.out" 2>&1 &
SINK_PID=$!
wait_port "$PORT" || {
    echo "# FAIL: smtp-sink did not listen on $PORT"
    exit 1
}
# sink_count: messages the sink accepted so far (its last "mesg=" counter).
sink_count() {
    tr '\r' '\n' <"$T/sink.out" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1 |
        grep . || echo 0
}
# sink_wait TARGET: the counter reaches TARGET (the sink updates it at
# each "."; the last one may trail the 250 by a moment). Sets SINK_NOW.
sink_wait() {
    local _
    for _ in $(seq 1 50); do
        SINK_NOW=$(sink_count)
        ((SINK_NOW >= $1)) && return 0
        sleep 0.1
    done
    return 1
}

say "campaign bench: $N and $SMALL recipients, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); smtp-sink pid $SINK_PID on 127.0.0.1:$PORT; PostgreSQL pid $PG_PID, synchronous_commit $(psqlq 'SHOW synchronous_commit')"

# --- templates and segments -------------------------------------------------

U=b$(date +%s)$$
cat >"$T/subject.txt" <<'EOF'
{{first_name|Hello}}, what is new at Acme this December
EOF
{
    cat <<'EOF'
Hello {{first_name|there}} {{last_name}},

Thank you for being a customer of ours at {{company|your company}}. As
{{title|a valued reader}} you are among the first to hear what changed this
month, and what is coming next.

What is new
-----------
* Faster exports: reports of any size are ready in seconds, and the
  scheduled ones arrive as a link instead of a heavy attachment.
* A calendar view for tasks, shared with your team, with reminders by mail
  and in the browser.
* Import from spreadsheets: map your columns once, the next import
  remembers them.

Coming next
-----------
We are working on a mobile view of the deal pipeline and on two-way
calendar sync. Replies to this message reach a person: tell us what you
need most and we will take it into account.

Best regards,
The Acme team

--
You receive this because you are a contact of Acme Ltd.
Unsubscribe with one click: {{unsubscribe_url}}
EOF
} >"$T/text.txt"
{
    cat <<'EOF'
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{campaign_name}}</title>
<style>
body { margin: 0; padding: 0; background: #f4f5f7; font-family: Helvetica, Arial, sans-serif; color: #222; }
.wrap { max-width: 600px; margin: 0 auto; background: #ffffff; }
.head { background: #1f3a60; color: #ffffff; padding: 24px 32px; font-size: 22px; }
.body { padding: 24px 32px; font-size: 15px; line-height: 1.5; }
.item { border-left: 4px solid #1f3a60; padding: 4px 12px; margin: 12px 0; }
.cta { display: inline-block; background: #e0662b; color: #ffffff; padding: 12px 24px; text-decoration: none; border-radius: 4px; }
.foot { padding: 16px 32px; font-size: 12px; color: #777; }
</style></head>
<body>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td>
<div class="wrap">
<div class="head">What is new at Acme &mdash; December</div>
<div class="body">
<p>Hello {{first_name|there}} {{last_name}},</p>
<p>Thank you for being a customer of ours at <strong>{{company|your company}}</strong>.
As {{title|a valued reader}} you are among the first to hear what changed this month,
and what is coming next.</p>
<h2 style="font-size:18px;color:#1f3a60;">What is new</h2>
<div class="item"><strong>Faster exports.</strong> Reports of any size are ready in seconds,
and the scheduled ones arrive as a link instead of a heavy attachment.</div>
<div class="item"><strong>A calendar view for tasks</strong>, shared with your team, with
reminders by mail and in the browser.</div>
<div class="item"><strong>Import from spreadsheets.</strong> Map your columns once; the next
import remembers them.</div>
<h2 style="font-size:18px;color:#1f3a60;">Coming next</h2>
<p>We are working on a mobile view of the deal pipeline and on two-way calendar sync.
Replies to this message reach a person: tell us what you need most and we will take it
into account.</p>
<p style="text-align:center;margin:28px 0;"><a class="cta" href="https://www.acme.test/news/december">Read the full story</a></p>
<p>Best regards,<br>The Acme team</p>
</div>
<div class="foot">You receive this because you are a contact of Acme Ltd, 1 Example Road,
Springfield. <a href="{{unsubscribe_url}}">Unsubscribe with one click</a>.</div>
</div>
</td></tr></table>
</body></html>
EOF
} >"$T/html.html"
# gen_csv FILE COUNT TAG: COUNT recipients over 50 domains.
gen_csv() {
    awk -v n="$2" -v t="$3" 'BEGIN {
        print "email,first_name,last_name,company,title"
        split("Anna Ben Carla David Eva Farid Greta Hugo Ines Jonas", fn, " ")
        split("Smith Meier Rossi Dubois Novak Silva Jensen Kowalski", ln, " ")
        split("Manager,Director,Engineer,Buyer,Owner", ti, ",")
        for (i = 1; i <= n; i++)
            printf "r%d.%s@d%d.%s.test,%s,%s,Company %d Ltd,%s\n", i, t, i % 50, t,
                fn[i % 10 + 1], ln[i % 8 + 1], i % 997, ti[i % 5 + 1]
    }' >"$1"
}

ACC=$(cli --json account add "news-$U@acme.test" --name "Acme News" \
    --relay "smtp://127.0.0.1:$PORT" --concurrency "$CONNS" 2>"$T/acc.err" | jq -r .id)
[[ $ACC =~ ^[0-9]+$ ]] || {
    echo "# FAIL: account add: $(head -n 3 "$T/acc.err")"
    exit 1
}

# create NAME COUNT: a campaign for COUNT generated recipients; sets CID
# and CREATE_S.
create() {
    local t0 t1
    gen_csv "$T/$1.csv" "$2" "$1$U"
    t0=$(now)
    CID=$(cli --json campaign create "Bench $1 $U" --account "$ACC" \
        --subject "$(cat "$T/subject.txt")" --text "$T/text.txt" \
        --html "$T/html.html" --segment "csv:$T/$1.csv" 2>"$T/$1.create.err" | jq -r .id)
    t1=$(now)
    CREATE_S=$(printf %.1f "$(calc "$t1 - $t0")")
    if ! [[ $CID =~ ^[0-9]+$ ]]; then
        bad "campaign create ($1): $(head -n 3 "$T/$1.create.err")"
        return 1
    fi
    local rows
    rows=$(psqlq "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $CID")
    say "campaign $CID ($1): $rows ledger rows, created in $CREATE_S s"
    ((rows == $2)) || {
        bad "campaign $CID: $rows ledger rows for $2 recipients"
        return 1
    }
}

# --- the size of one message ------------------------------------------------

PPORT=$(free_port $((PORT + 1))) || exit 1
mkdir -p "$T/probe"
chmod 0777 "$T/probe"
smtp-sink "${SINK_USER[@]}" -D "$T/probe/dump" 127.0.0.1:"$PPORT" 16 </dev/null >/dev/null 2>&1 &
PROBE_SINK_PID=$!
wait_port "$PPORT" || bad "the probe smtp-sink did not listen on $PPORT"
PACC=$(cli --json account add "probe-$U@acme.test" --name "Acme News" \
    --relay "smtp://127.0.0.1:$PPORT" | jq -r .id)
gen_csv "$T/probe.csv" 1 "probe$U"
PCID=$(cli --json campaign create "Bench probe $U" --account "$PACC" \
    --subject "$(cat "$T/subject.txt")" --text "$T/text.txt" \
    --html "$T/html.html" --segment "csv:$T/probe.csv" | jq -r .id)
cli campaign test "$PCID" --to "r1.probe$U@d1.probe$U.test" >"$T/probe.out" 2>&1 ||
    bad "campaign test: $(head -n 3 "$T/probe.out")"
sleep 0.3
kill -TERM "$PROBE_SINK_PID" 2>/dev/null
wait "$PROBE_SINK_PID" 2>/dev/null
PROBE_SINK_PID=
# the message as sent: the dump less smtp-sink's envelope records
MSG_BYTES=$(grep -av '^X-\(Client-Addr\|Client-Proto\|Helo-Args\|Mail-Args\|Rcpt-Args\): ' \
    "$T/probe/dump" 2>/dev/null | wc -c)
if ((MSG_BYTES < 1000)); then
    bad "the probe message was not received (dump: $MSG_BYTES bytes)"
    MSG_BYTES=4500
fi
fig campaign_msg_bytes "$MSG_BYTES" bytes
grep -aq "Anna\|Ben\|Carla\|David\|Eva\|Farid\|Greta\|Hugo\|Ines\|Jonas" "$T/probe/dump" ||
    bad "the probe message is not personalised"

# --- 1. smtp-source ------------------------------------------------------------

base=$(sink_count)
t0=$(now)
{
    TIMEFORMAT='cpu %U %S'
    time smtp-source -s "$CONNS" -d -m "$N" -l "$MSG_BYTES" -f "news-$U@acme.test" \
        -t "rcpt@src.test" -N 127.0.0.1:"$PORT" 2>&1
} >"$T/source.out" 2>&1
rc=$?
t1=$(now)
if ((rc != 0)) || grep -qv '^cpu \|^$' "$T/source.out"; then
    bad "smtp-source exited $rc"
    sed 's/^/#   /' "$T/source.out" | head -n 10
fi
SRC_RATE=$(printf %.0f "$(calc "$N / ($t1 - $t0)")")
sink_wait $((base + N)) || true
say "smtp-source -s $CONNS -d -m $N -l $MSG_BYTES: $(printf %.2f "$(calc "$t1 - $t0")") s, $(grep '^cpu' "$T/source.out"); sink counted $((SINK_NOW - base))"
((SINK_NOW - base == N)) || bad "smtp-source: the sink counted $((SINK_NOW - base)) of $N messages"
fig campaign_smtp_source_msgs_per_s "$SRC_RATE" msg/s

# --- 2., 3. the campaigns --------------------------------------------------------

# sched_snap PID: one line per thread, "on-CPU-ns runqueue-wait-ns"
# (summed into one line: threads come and go little in a worker).
sched_snap() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null |
        awk '{ r += $1; w += $2 } END { printf "%.0f %.0f\n", r, w }'
}

# run_campaign NAME COUNT: a fresh worker sends campaign CID (COUNT rows);
# sets RATE, HWM_MB; CPU snapshots in $T/NAME.cpu0/1.
run_campaign() {
    local name=$1 count=$2 t0 t1 st="" base last_report
    : >"$T/$name.worker.log"
    local -a wrap=()
    [[ ${BENCH_CAMPAIGN_PROFILE:-} == 1 && $name == big ]] &&
        wrap=(valgrind --tool=callgrind --callgrind-out-file="$T/callgrind.out")
    "${wrap[@]}" "$WORKER" -c "$CONF" >>"$T/$name.worker.log" 2>&1 &
    WPID=$!
    local _
    for _ in $(seq 1 600); do
        grep -q 'started owner=' "$T/$name.worker.log" && break
        sleep 0.05
    done
    grep -q 'started owner=' "$T/$name.worker.log" || {
        bad "($name) the worker did not start: $(tail -n 3 "$T/$name.worker.log")"
        return 1
    }
    sleep 0.5 # its first periodic jobs out of the way
    base=$(sink_count)
    python3 "$BENCH_DIR/benchutil.py" cpu-snap "$T/$name.cpu0" "worker=$WPID" \
        "postgres=$PG_PID" "sink=$SINK_PID"
    sched_snap "$WPID" >"$T/$name.sched0"
    t0=$(now)
    cli campaign start "$CID" >"$T/$name.start" 2>&1 ||
        bad "($name) campaign start: $(head -n 3 "$T/$name.start")"
    last_report=$t0
    while :; do
        st=$(psqlq "SELECT state FROM campaigns WHERE id = $CID") || st=error
        [[ $st == finished ]] && break
        if ! kill -0 "$WPID" 2>/dev/null; then
            bad "($name) the worker exited: $(tail -n 3 "$T/$name.worker.log")"
            WPID=
            return 1
        fi
        if awk "BEGIN { exit !($(now) - $t0 > $TIMEOUT) }"; then
            bad "($name) not finished after $TIMEOUT s (state $st)"
            break
        fi
        if awk "BEGIN { exit !($(now) - $last_report > 15) }"; then
            last_report=$(now)
            say "($name) $(psqlq "SELECT count(*) FILTER (WHERE state = 'sent') FROM campaign_recipients WHERE campaign_id = $CID") sent after $(printf %.0f "$(calc "$last_report - $t0")") s, worker VmRSS $(awk '/^VmRSS:/ { print $2 }' "/proc/$WPID/status") kB"
        fi
        sleep 0.1
    done
    t1=$(now)
    python3 "$BENCH_DIR/benchutil.py" cpu-snap "$T/$name.cpu1" "worker=$WPID" \
        "postgres=$PG_PID" "sink=$SINK_PID"
    sched_snap "$WPID" >"$T/$name.sched1"
    # where the worker's wall time went: on a CPU, runnable but waiting for
    # one (a busy machine), or blocked (network, database)
    read -r ON_CPU RUNQ <<<"$(paste "$T/$name.sched0" "$T/$name.sched1" |
        awk '{ r += $3 - $1; w += $4 - $2 } END { printf "%.2f %.2f", r / 1e9, w / 1e9 }')"
    say "($name) worker threads over $(printf %.1f "$(calc "$t1 - $t0")") s: on a CPU $ON_CPU s, runnable waiting for a CPU $RUNQ s (/proc/PID/task/*/schedstat)"
    HWM_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$WPID/status")
    local rss_kb
    rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$WPID/status")
    HWM_MB=$(printf %.1f "$(calc "$HWM_KB / 1024")")
    RATE=$(printf %.0f "$(calc "$count / ($t1 - $t0)")")
    kill -TERM "$WPID"
    wait "$WPID" || bad "($name) the worker did not exit 0"
    WPID=
    sink_wait $((base + count)) || true
    local sent
    sent=$(psqlq "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $CID AND state = 'sent'")
    say "($name) campaign $CID: $count recipients in $(printf %.2f "$(calc "$t1 - $t0")") s ($RATE msg/s); ledger sent $sent; sink counted $((SINK_NOW - base)); worker VmHWM $HWM_KB kB, VmRSS at the end $rss_kb kB"
    ((sent == count)) || bad "($name) the ledger shows $sent of $count sent"
    ((SINK_NOW - base == count)) || bad "($name) the sink counted $((SINK_NOW - base)) messages for $count recipients"
    if grep -qiE 'warn|error|fail' "$T/$name.worker.log"; then
        say "($name) the worker logged:"
        grep -iE 'warn|error|fail' "$T/$name.worker.log" | head -n 5 | sed 's/^/#   /'
    fi
    LEFT=$(psqlq "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $CID AND state IN ('queued', 'leased')")
    ((LEFT == 0)) || bad "($name) $LEFT rows still queued or leased"
}

if create small "$SMALL"; then
    run_campaign small "$SMALL"
    fig campaign_msgs_per_s_10k "$RATE" msg/s
    fig campaign_worker_rss_mb_10k "$HWM_MB" MB
    RSS_SMALL=$HWM_MB
    python3 "$BENCH_DIR/benchutil.py" cpu-diff "$T/small.cpu0" "$T/small.cpu1" "$SMALL"
fi
psqlq "VACUUM ANALYZE campaign_recipients" >/dev/null
if create big "$N"; then
    fig campaign_create_s "$CREATE_S" s
    psqlq "VACUUM ANALYZE campaign_recipients" >/dev/null
    run_campaign big "$N"
    BIG_RATE=$RATE
    fig campaign_msgs_per_s "$RATE" msg/s
    fig campaign_vs_smtp_source "$(printf %.3f "$(calc "$RATE / $SRC_RATE")")" x
    fig campaign_worker_rss_mb_100k "$HWM_MB" MB
    RSS_BIG=$HWM_MB
    python3 "$BENCH_DIR/benchutil.py" cpu-diff "$T/big.cpu0" "$T/big.cpu1" "$N" \
        "worker:campaign_cpu_ms_per_msg_worker,postgres:campaign_cpu_ms_per_msg_postgres"
fi

if [[ ${BENCH_CAMPAIGN_PROFILE:-} == 1 && -s $T/callgrind.out ]]; then
    say "profile: callgrind of the worker sending the $N-recipient campaign (self cost, top 30)"
    callgrind_annotate --inclusive=no "$T/callgrind.out" 2>/dev/null |
        sed -n '/^Ir/,$p' | head -n 32 | sed 's/^/#   /'
    cp "$T/callgrind.out" "$REPO/var/campaign-callgrind.out" 2>/dev/null &&
        say "full profile: callgrind_annotate $REPO/var/campaign-callgrind.out"
fi

target() { # NAME VALUE OP LIMIT
    if awk "BEGIN { exit !($2 $3 $4) }"; then
        say "target $1 $3 $4: met ($2)"
    else
        say "target $1 $3 $4: MISSED ($2)"
    fi
}
if [[ -n ${BIG_RATE:-} ]]; then
    target campaign_msgs_per_s "$BIG_RATE" '>=' 1000
    target campaign_vs_smtp_source "$(calc "$BIG_RATE / $SRC_RATE")" '>=' 0.5
    target campaign_worker_rss_mb_100k "$RSS_BIG" '<=' 32
    [[ -n ${RSS_SMALL:-} ]] &&
        target campaign_worker_rss_100k_vs_10k "$(calc "$RSS_BIG / $RSS_SMALL")" '<=' 1.1
fi
exit "$failed"
