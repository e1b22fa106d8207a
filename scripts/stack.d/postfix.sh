# scripts/stack.d/postfix.sh -- the private Postfix instance (rendered main.cf/master.cf,
# start, stop) and `wait-queue`.
# Sourced by scripts/stack (which sets REPO, PROG, SELF and the shell
# options); not a program of its own.
# shellcheck shell=bash

# ---------------------------------------------------------------------------
# postfix (private instance)
# ---------------------------------------------------------------------------
pf_queue() {
    if [[ -e $PF_BASE/queue || -L $PF_BASE/queue ]]; then
        readlink -f -- "$PF_BASE/queue"
    else
        printf '%s\n' "$PF_BASE/queue"
    fi
}

postfix_pid() {
    pidfile_pid "$(pf_queue)/pid/master.pid" master
}

# Convert a libmilter socket spec (inet:PORT@HOST, inet6:PORT@HOST,
# unix:/path, local:/path) to Postfix syntax; Postfix-style specs pass through.
milter_to_postfix() {
    local s=$1
    case $s in
    inet:*@*)
        s=${s#inet:}
        printf 'inet:%s:%s' "${s#*@}" "${s%%@*}"
        ;;
    inet6:*@*)
        s=${s#inet6:}
        printf 'inet:[%s]:%s' "${s#*@}" "${s%%@*}"
        ;;
    local:*) printf 'unix:%s' "${s#local:}" ;;
    inet:* | unix:*) printf '%s' "$s" ;;
    /*) printf 'unix:%s' "$s" ;;
    *) die "unsupported milter socket spec '$s' (use inet:PORT@HOST or unix:/path)" ;;
    esac
}

postfix_render() {
    local out=$1 queue=$2 data=$3 transport milters relay d
    case $CRMGATE_DELIVERY in
    sink) transport="smtp:[127.0.0.1]:$CRMGATE_SINK_PORT" ;;
    discard) transport="discard:crmgate-benchmark" ;;
    *) die "CRMGATE_DELIVERY must be 'sink' or 'discard', not '$CRMGATE_DELIVERY'" ;;
    esac
    case $CRMGATE_MILTER in
    off | no | none | "") milters= ;;
    on | yes) milters="{ $(milter_to_postfix "$CRMGATE_MILTER_SOCKET"), default_action=accept }" ;;
    *) milters="{ $(milter_to_postfix "$CRMGATE_MILTER"), default_action=accept }" ;;
    esac
    relay=
    for d in ${CRMGATE_INTERNAL_DOMAINS//,/ } $CRMGATE_CAPTURE_DOMAIN; do
        case " ${relay//,/} " in *" $d "*) continue ;; esac
        relay=${relay:+$relay, }$d
    done
    [[ -n $relay ]] || die "no relay domains (CRMGATE_INTERNAL_DOMAINS/CRMGATE_CAPTURE_DOMAIN empty)"
    local tpl
    for tpl in main master; do
        [[ -r $REPO/etc/postfix/$tpl.cf.in ]] || die "postfix: missing template $REPO/etc/postfix/$tpl.cf.in"
        sed -e "s|@CONFIG_DIR@|$(sed_repl "$PF_CONF")|g" \
            -e "s|@QUEUE_DIR@|$(sed_repl "$queue")|g" \
            -e "s|@DATA_DIR@|$(sed_repl "$data")|g" \
            -e "s|@LOG_FILE@|$(sed_repl "$LOGDIR/postfix.log")|g" \
            -e "s|@LOG_DIR@|$(sed_repl "$LOGDIR")|g" \
            -e "s|@RELAY_DOMAINS@|$(sed_repl "$relay")|g" \
            -e "s|@TRANSPORT@|$(sed_repl "$transport")|g" \
            -e "s|@MILTERS@|$(sed_repl "$milters")|g" \
            -e "s|@SMTP_PORT@|$CRMGATE_SMTP_PORT|g" \
            -e "s|@SUBMISSION_PORT@|$CRMGATE_SUBMISSION_PORT|g" \
            "$REPO/etc/postfix/$tpl.cf.in" >"$out/$tpl.cf"
    done
}

postfix_start() {
    local pid queue data log=$LOGDIR/postfix.log ctl tmp changed=0 f
    check_port CRMGATE_SMTP_PORT "$CRMGATE_SMTP_PORT"
    check_port CRMGATE_SUBMISSION_PORT "$CRMGATE_SUBMISSION_PORT"
    check_port CRMGATE_SINK_PORT "$CRMGATE_SINK_PORT"
    ((IS_ROOT)) || die "postfix: the private Postfix instance must be started as root"
    command -v postfix >/dev/null 2>&1 || die "postfix: not installed (run scripts/deps.sh)"
    id postfix >/dev/null 2>&1 || die "postfix: system user 'postfix' missing (run scripts/deps.sh)"
    make_dirs
    mkdir -p -- "$PF_CONF"
    state_dir postfix/queue postfix
    queue=$REPLY
    state_dir postfix/data postfix
    data=$REPLY
    chown root: -- "$queue"
    chown postfix: -- "$data"
    chmod 0755 -- "$queue"
    chmod 0700 -- "$data"

    tmp=$PF_BASE/.render
    rm -rf -- "$tmp"
    mkdir -- "$tmp"
    postfix_render "$tmp" "$queue" "$data"
    for f in main.cf master.cf; do
        if ! cmp -s "$tmp/$f" "$PF_CONF/$f"; then
            install -m 0644 "$tmp/$f" "$PF_CONF/$f"
            changed=1
        fi
    done
    rm -rf -- "$tmp"
    : >>"$log"

    ctl=$LOGDIR/postfix-ctl.log
    printf '\n==== %s check\n' "$(date '+%F %T')" >>"$ctl"
    postfix -c "$PF_CONF" check >>"$ctl" 2>&1 </dev/null ||
        fail postfix "$ctl" "'postfix -c $PF_CONF check' failed"

    if pid=$(postfix_pid) && ((changed)); then
        # A full restart (not `postfix reload`, where idle smtpd processes may
        # still serve a connection or two with the old settings), so the new
        # CRMGATE_MILTER/CRMGATE_DELIVERY/... apply to the very next message.
        say "postfix: configuration changed, restarting"
        postfix_stop >/dev/null
    fi
    if pid=$(postfix_pid); then
        say "postfix: already running (pid $pid)"
    else
        for f in "$CRMGATE_SMTP_PORT" "$CRMGATE_SUBMISSION_PORT"; do
            tcp_open 127.0.0.1 "$f" && die "postfix: 127.0.0.1:$f is already in use by another program"
        done
        printf '==== %s start\n' "$(date '+%F %T')" >>"$ctl"
        (
            close_extra_fds
            exec postfix -c "$PF_CONF" start
        ) >>"$ctl" 2>&1 </dev/null ||
            fail postfix "$ctl" "'postfix -c $PF_CONF start' failed" "$log"
        pid=$(postfix_pid) || fail postfix "$log" "master process not running after start"
        say "postfix: started (pid $pid, smtp 127.0.0.1:$CRMGATE_SMTP_PORT, submission 127.0.0.1:$CRMGATE_SUBMISSION_PORT, config $PF_CONF)"
    fi
    wait_for 20 smtp_banner 127.0.0.1 "$CRMGATE_SMTP_PORT" ||
        fail postfix "$log" "no SMTP greeting on 127.0.0.1:$CRMGATE_SMTP_PORT after 20 s"
    wait_for 5 smtp_banner 127.0.0.1 "$CRMGATE_SUBMISSION_PORT" ||
        fail postfix "$log" "no SMTP greeting on 127.0.0.1:$CRMGATE_SUBMISSION_PORT"
}

postfix_stop() {
    local pid ctl=$LOGDIR/postfix-ctl.log i
    if ! pid=$(postfix_pid); then
        say "postfix: not running"
        return 0
    fi
    mkdir -p -- "$LOGDIR"
    printf '\n==== %s stop\n' "$(date '+%F %T')" >>"$ctl"
    postfix -c "$PF_CONF" stop >>"$ctl" 2>&1 </dev/null || warn "postfix: 'postfix stop' failed; killing master $pid"
    for ((i = 0; i < 50; i++)); do
        proc_running "$pid" || break
        sleep 0.2
    done
    if proc_running "$pid"; then
        warn "postfix: master $pid still alive; sending SIGKILL to its process group"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    say "postfix: stopped"
}

cmd_wait_queue() {
    local secs=${1:-60} out i
    [[ $secs =~ ^[0-9]+$ ]] || die "wait-queue: SECONDS must be a number, not '$secs'"
    postfix_pid >/dev/null || die "wait-queue: the private postfix ($PF_CONF) is not running"
    for ((i = 0; ; i++)); do
        out=$(postqueue -c "$PF_CONF" -p 2>&1) || true
        [[ $out == *"Mail queue is empty"* ]] && return 0
        ((i >= secs * 5)) && break
        sleep 0.2
    done
    warn "wait-queue: queue not empty after ${secs} s:"
    printf '%s\n' "$out" | head -n 40 >&2
    exit 1
}

