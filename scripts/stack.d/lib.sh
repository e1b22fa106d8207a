# scripts/stack.d/lib.sh -- configuration and helpers shared by the services of
# scripts/stack: variables, logging, process and port checks, state
# directories, background programs.
# Sourced by scripts/stack (which sets REPO, PROG, SELF and the shell
# options); not a program of its own.
# shellcheck shell=bash

# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------
: "${CRMGATE_VAR:=$REPO/var}"
case $CRMGATE_VAR in /*) ;; *) CRMGATE_VAR=$PWD/$CRMGATE_VAR ;; esac
CRMGATE_VAR=${CRMGATE_VAR%/}
: "${CRMGATE_CONFIG:=$REPO/etc/crmgate.conf}"
case $CRMGATE_CONFIG in /*) ;; *) CRMGATE_CONFIG=$PWD/$CRMGATE_CONFIG ;; esac
: "${CRMGATE_PG_PORT:=55432}"
: "${CRMGATE_SMTP_PORT:=2525}"
: "${CRMGATE_SUBMISSION_PORT:=2587}"
: "${CRMGATE_SINK_PORT:=2560}"
: "${CRMGATE_MILTER_SOCKET:=inet:8891@127.0.0.1}"
: "${CRMGATE_WEB_PORT:=8080}"
: "${CRMGATE_INTERNAL_DOMAINS:=example.com}"
: "${CRMGATE_CAPTURE_DOMAIN:=crm.example.com}"
: "${CRMGATE_DELIVERY:=sink}"
: "${CRMGATE_MILTER:=on}"

VAR=$CRMGATE_VAR
RUN=$VAR/run
LOGDIR=$VAR/log
PGDATA_LINK=$VAR/pg
PF_BASE=$VAR/postfix
PF_CONF=$PF_BASE/etc
SPOOL=$VAR/spool
SINK=$VAR/sink
BIN=${CRMGATE_BUILD:-$REPO/build}/bin
BIN=$(cd "$(dirname "$BIN")" 2>/dev/null && echo "$PWD/bin" || echo "$BIN")

CRMGATE_DSN="host=127.0.0.1 port=$CRMGATE_PG_PORT dbname=crmgate user=crmgate"
CRMGATE_MILTER_DSN="host=127.0.0.1 port=$CRMGATE_PG_PORT dbname=crmgate user=crmgate_milter"
CRMGATE_WEB_DSN="host=127.0.0.1 port=$CRMGATE_PG_PORT dbname=crmgate user=crmgate_web"
CRMGATE_WORKER_DSN="host=127.0.0.1 port=$CRMGATE_PG_PORT dbname=crmgate user=crmgate_worker"
CRMGATE_WEB_URL="http://127.0.0.1:$CRMGATE_WEB_PORT"
# The private cluster's admin (bootstrap superuser): creates roles and
# databases only; tests use it to make a fresh database to migrate.
CRMGATE_ADMIN_DSN="host=127.0.0.1 port=$CRMGATE_PG_PORT dbname=postgres user=postgres"
CRMGATE_SPOOL_DIR=$SPOOL
CRMGATE_SINK_DIR=$SINK
CRMGATE_POSTFIX_CONFIG=$PF_CONF
CRMGATE_LOG_DIR=$LOGDIR
export CRMGATE_VAR CRMGATE_CONFIG CRMGATE_PG_PORT CRMGATE_SMTP_PORT \
    CRMGATE_SUBMISSION_PORT CRMGATE_SINK_PORT CRMGATE_MILTER_SOCKET \
    CRMGATE_WEB_PORT CRMGATE_INTERNAL_DOMAINS CRMGATE_CAPTURE_DOMAIN \
    CRMGATE_DELIVERY CRMGATE_MILTER CRMGATE_DSN CRMGATE_MILTER_DSN \
    CRMGATE_WEB_DSN CRMGATE_WEB_URL CRMGATE_WORKER_DSN \
    CRMGATE_ADMIN_DSN CRMGATE_SPOOL_DIR CRMGATE_SINK_DIR CRMGATE_POSTFIX_CONFIG CRMGATE_LOG_DIR

SINK_USER=nobody
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
say() { printf '%s\n' "$*"; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    warn "$*"
    exit 1
}

# fail SERVICE LOGFILE MESSAGE [MORE_LOGFILES...]
fail() {
    local svc=$1 log=$2 msg=$3
    shift 3
    warn "$svc: $msg"
    for log in "$log" "$@"; do
        if [[ -n $log && -s $log ]]; then
            warn "$svc: see $log (last 20 lines):"
            tail -n 20 -- "$log" >&2 || true
        fi
    done
    exit 1
}

# Shell-quote a value for the `env` output (POSIX single quotes).
shq() {
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}

# Escape a value for the replacement side of a sed s|||.
sed_repl() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//|/\\|}
    s=${s//&/\\&}
    printf '%s' "$s"
}

check_port() {
    if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then
        die "$1 is not a valid port: '$2'"
    fi
}

# Close inherited descriptors above 2 (except bash's own 255) in a subshell
# that is about to exec a daemon: a long-lived server holding e.g. a test
# harness's pipe open would make that harness wait forever.
close_extra_fds() {
    local f n
    for f in /proc/self/fd/*; do
        n=${f##*/}
        if [[ $n =~ ^[0-9]+$ ]] && ((n > 2 && n != 255)); then
            eval "exec $n>&-" 2>/dev/null || true
        fi
    done
}

# Run a command as USER (only when we are root; otherwise as ourselves).
as_user() {
    local user=$1
    shift
    if ((IS_ROOT)); then
        # cd /: the caller's cwd may not be accessible to USER.
        (cd / && runuser -u "$user" -- "$@")
    else
        "$@"
    fi
}

# tcp_open HOST PORT: true when something accepts TCP connections there.
tcp_open() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# unix_open PATH: true when a UNIX socket accepts connections.
unix_open() {
    [[ -S $1 ]] || return 1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(2)
s.connect(sys.argv[1])
EOF
    fi
}

# smtp_banner HOST PORT: true when an SMTP server there sends a 220 greeting.
smtp_banner() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && IFS= read -r l <&3 && [[ $l == 220* ]] && printf "QUIT\r\n" >&3' \
        _ "$1" "$2" 2>/dev/null
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    "$@"
}

# pid_alive PID PATTERN: process PID exists and its command line contains
# PATTERN (guards against acting on a recycled pid from a stale pid file).
pid_alive() {
    local pid=$1 pat=$2 cmd stat
    [[ $pid =~ ^[0-9]+$ ]] && ((pid > 1)) || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r /proc/$pid/stat ]]; then
        # A zombie (exited, not yet reaped by init) counts as dead.
        stat=$(cat /proc/"$pid"/stat 2>/dev/null) || return 1
        stat=${stat##*) }
        [[ ${stat:0:1} != Z ]] || return 1
    fi
    if [[ -r /proc/$pid/cmdline ]]; then
        cmd=$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null) || return 0
        [[ -z $cmd || $cmd == *"$pat"* ]] || return 1
    fi
    return 0
}

proc_running() { pid_alive "$1" ""; }

# pidfile_pid FILE PATTERN: print the pid from FILE if that process lives.
pidfile_pid() {
    local file=$1 pat=$2 pid
    [[ -r $file ]] || return 1
    pid=$(head -n 1 -- "$file" 2>/dev/null | tr -d ' \t\r') || return 1
    pid_alive "$pid" "$pat" || return 1
    printf '%s\n' "$pid"
}

# ---------------------------------------------------------------------------
# state directories
#
# PostgreSQL, the Postfix daemons and smtp-sink run as unprivileged users
# (postgres, postfix, nobody), which must be able to traverse every parent of
# their directories. A clone under /tmp or /work is fine, but one under /root
# (mode 0700) is not. Rather than loosening the permissions of someone's home
# directory (chmod o+x /root would be intrusive and surprising), the few
# directories those users need are then placed under a per-instance fallback
# /var/tmp/crmgate-<hash of CRMGATE_VAR>/ and symlinked from $CRMGATE_VAR, so
# every documented path under $CRMGATE_VAR still works for root (and tests).
# Config files and logs stay in $CRMGATE_VAR (read and written as root).
# ---------------------------------------------------------------------------
make_dirs() {
    local d
    for d in "$VAR" "$RUN" "$LOGDIR" "$PF_BASE" "$SPOOL"; do
        [[ -d $d ]] || mkdir -p -- "$d" || die "cannot create directory $d"
    done
}

# needs_fallback USER: true when USER cannot reach $CRMGATE_VAR.
needs_fallback() {
    ((IS_ROOT)) || return 1
    ! runuser -u "$1" -- test -x "$VAR" 2>/dev/null
}

ext_base() {
    local base
    base=/var/tmp/crmgate-$(printf '%s' "$VAR" | sha256sum | cut -c1-12)
    [[ -d $base ]] || mkdir -m 0755 -- "$base" || die "cannot create $base"
    [[ ! -L $base && -O $base ]] || die "$base exists but is not a directory owned by $(id -un)"
    chmod 0755 -- "$base"
    printf '%s\n' "$base"
}

# state_dir NAME USER: make $VAR/NAME a directory USER can reach (see above);
# sets REPLY to its real path.
state_dir() {
    local name=$1 user=$2 link=$VAR/$1 real
    if [[ -L $link ]]; then
        real=$(readlink -f -- "$link") || die "broken symlink $link"
        [[ -d $real ]] || mkdir -p -- "$real"
    elif [[ -d $link ]]; then
        real=$link
        if needs_fallback "$user"; then
            die "$link exists but user $user cannot reach it (a parent directory is not traversable); move it away or pick another CRMGATE_VAR"
        fi
    elif needs_fallback "$user"; then
        real=$(ext_base)/$name
        mkdir -p -- "$real"
        ln -s -- "$real" "$link"
        say "$name: $VAR is not reachable by user $user; using $real (symlinked from $link)"
    else
        mkdir -p -- "$link"
        real=$link
    fi
    REPLY=$real
}

# ---------------------------------------------------------------------------
# background programs (sink, milter, worker, web)
# ---------------------------------------------------------------------------
bg_pid() { pidfile_pid "$RUN/$1.pid" "$2"; }

# bg_launch NAME LOGFILE CMD...: start CMD in its own session, detached from
# our terminal and process group; writes $RUN/NAME.pid.
bg_launch() {
    local name=$1 log=$2 pid
    shift 2
    printf '\n==== %s start: %s\n' "$(date '+%F %T')" "$*" >>"$log"
    (
        close_extra_fds
        exec setsid "$@" >>"$log" 2>&1 </dev/null
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$RUN/$name.pid"
    REPLY=$pid
}

# bg_wait NAME PID PATTERN LOG SECS WHAT CHECK...: wait until CHECK succeeds;
# fail early (with the log tail) when the process exits or after SECS.
bg_wait() {
    local name=$1 pid=$2 pat=$3 log=$4 secs=$5 what=$6 i
    shift 6
    for ((i = 0; i <= secs * 5; i++)); do
        # Our own child: alive is enough (its command line names the
        # program only once the subshell has exec'd it, which a busy
        # machine may not have done yet: matching PATTERN here made a
        # healthy start look like an exit).
        if ! proc_running "$pid"; then
            rm -f -- "$RUN/$name.pid"
            fail "$name" "$log" "exited during start-up"
        fi
        "$@" && return 0
        sleep 0.2
    done
    kill -TERM "$pid" 2>/dev/null || true
    rm -f -- "$RUN/$name.pid"
    fail "$name" "$log" "$what after $secs s ($pat)"
}

# bg_stop NAME PATTERN [SECONDS]: SIGTERM, wait up to SECONDS (10), then
# SIGKILL.
bg_stop() {
    local name=$1 pat=$2 secs=${3:-10} pid i
    if ! pid=$(bg_pid "$name" "$pat"); then
        rm -f -- "$RUN/$name.pid"
        say "$name: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 5; i++)); do
        proc_running "$pid" || break
        sleep 0.2
    done
    if proc_running "$pid"; then
        warn "$name: pid $pid did not exit within $secs s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f -- "$RUN/$name.pid"
    say "$name: stopped"
}

