# scripts/stack.d/worker.sh -- crmgate-worker, the job queue's worker pool.
# Runs as role crmgate_worker (CRMGATE_WORKER_DSN, derived in lib.sh); its
# LISTEN connection goes straight to the private PostgreSQL too.
# Sourced by scripts/stack (which sets REPO, PROG, SELF and the shell
# options); not a program of its own.
# shellcheck shell=bash

# worker_ready PID LOG: the worker logged its start line.
worker_ready() { grep -q "crmgate-worker\[$1\].*started owner=" -- "$2" 2>/dev/null; }

worker_start() {
    local pid log=$LOGDIR/worker.log
    if [[ ! -x $BIN/crmgate-worker ]]; then
        say "worker: not built ($BIN/crmgate-worker missing), skipped"
        return 0
    fi
    make_dirs
    if pid=$(bg_pid worker crmgate-worker); then
        say "worker: already running (pid $pid)"
        return 0
    fi
    : >>"$log"
    voip_secrets
    CRMGATE_WORKER_DSN=$CRMGATE_WORKER_DSN \
        CRMGATE_WORKER_LISTEN_DSN=${CRMGATE_WORKER_LISTEN_DSN:-$CRMGATE_WORKER_DSN} \
        bg_launch worker "$log" "$BIN/crmgate-worker" -c "$CRMGATE_CONFIG"
    pid=$REPLY
    bg_wait worker "$pid" crmgate-worker "$log" 10 "no start line in $log" \
        worker_ready "$pid" "$log"
    say "worker: started (pid $pid)"
}

# The drain (worker.drain_timeout, 30 s by default) plus a margin.
worker_stop() { bg_stop worker crmgate-worker 40; }

worker_pid() { bg_pid worker crmgate-worker; }

worker_built() { [[ -x $BIN/crmgate-worker ]]; }
