# scripts/stack.d/sink.sh -- smtp-sink, receiving everything the private Postfix
# delivers (one file per transaction under $CRMGATE_SINK_DIR).
# Sourced by scripts/stack (which sets REPO, PROG, SELF and the shell
# options); not a program of its own.
# shellcheck shell=bash

# --- sink ---------------------------------------------------------------------
sink_start() {
    local pid log=$LOGDIR/sink.log dir
    check_port CRMGATE_SINK_PORT "$CRMGATE_SINK_PORT"
    command -v smtp-sink >/dev/null 2>&1 || die "sink: smtp-sink not installed (package postfix; run scripts/deps.sh)"
    make_dirs
    if pid=$(bg_pid sink smtp-sink); then
        say "sink: already running (pid $pid)"
        return 0
    fi
    tcp_open 127.0.0.1 "$CRMGATE_SINK_PORT" && die "sink: 127.0.0.1:$CRMGATE_SINK_PORT is already in use by another program"
    local -a user_opt=()
    if ((IS_ROOT)); then
        state_dir sink "$SINK_USER"
        dir=$REPLY
        chown "$SINK_USER" -- "$dir"
        user_opt=(-u "$SINK_USER")
    else
        mkdir -p -- "$SINK"
        dir=$SINK
    fi
    # -d: one file per transaction, named by strftime + random hex suffix.
    bg_launch sink "$log" smtp-sink "${user_opt[@]}" -h sink.crmgate.test \
        -d "$dir/%Y%m%d-%H%M%S." 127.0.0.1:"$CRMGATE_SINK_PORT" 256
    pid=$REPLY
    bg_wait sink "$pid" smtp-sink "$log" 10 "no SMTP greeting on 127.0.0.1:$CRMGATE_SINK_PORT" \
        smtp_banner 127.0.0.1 "$CRMGATE_SINK_PORT"
    say "sink: started (pid $pid, 127.0.0.1:$CRMGATE_SINK_PORT -> $SINK)"
    # Retry mail deferred while the sink was down right away.
    if postfix_pid >/dev/null; then
        postqueue -c "$PF_CONF" -f >/dev/null 2>&1 || true
    fi
}

sink_stop() { bg_stop sink smtp-sink; }

sink_clear() {
    if [[ -d $SINK ]]; then
        find "$SINK/" -mindepth 1 -delete
    fi
    say "sink: cleared $SINK"
}

sink_pid() { bg_pid sink smtp-sink; }
