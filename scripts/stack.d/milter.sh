# scripts/stack.d/milter.sh -- crmgate-milter on $CRMGATE_MILTER_SOCKET.
# Sourced by scripts/stack (which sets REPO, PROG, SELF and the shell
# options); not a program of its own.
# shellcheck shell=bash

# --- milter ---------------------------------------------------------------------
# milter_ready SPEC: true when the libmilter socket SPEC accepts connections.
milter_ready() {
    local s=$1 hp
    case $s in
    inet:*@* | inet6:*@*)
        hp=${s#*:}
        tcp_open "${hp#*@}" "${hp%%@*}"
        ;;
    inet:*:*)
        hp=${s#inet:}
        tcp_open "${hp%:*}" "${hp##*:}"
        ;;
    unix:* | local:*) unix_open "${s#*:}" ;;
    /*) unix_open "$s" ;;
    *) return 1 ;;
    esac
}

milter_sockfile() {
    case $1 in
    unix:* | local:*) printf '%s\n' "${1#*:}" ;;
    /*) printf '%s\n' "$1" ;;
    *) return 1 ;;
    esac
}

milter_start() {
    local pid log=$LOGDIR/milter.log sock
    if [[ ! -x $BIN/crmgate-milter ]]; then
        say "milter: not built ($BIN/crmgate-milter missing), skipped"
        return 0
    fi
    make_dirs
    if pid=$(bg_pid milter crmgate-milter); then
        say "milter: already running (pid $pid)"
        return 0
    fi
    milter_ready "$CRMGATE_MILTER_SOCKET" &&
        die "milter: $CRMGATE_MILTER_SOCKET is already accepting connections (another milter?)"
    if sock=$(milter_sockfile "$CRMGATE_MILTER_SOCKET"); then
        rm -f -- "$sock"
    fi
    bg_launch milter "$log" "$BIN/crmgate-milter" -c "$CRMGATE_CONFIG" -p "$CRMGATE_MILTER_SOCKET"
    pid=$REPLY
    bg_wait milter "$pid" crmgate-milter "$log" 10 "not accepting connections on $CRMGATE_MILTER_SOCKET" \
        milter_ready "$CRMGATE_MILTER_SOCKET"
    # A UNIX socket must be writable by the Postfix daemons (user postfix).
    if ((IS_ROOT)) && sock=$(milter_sockfile "$CRMGATE_MILTER_SOCKET") && [[ -S $sock ]]; then
        if ! { chgrp postfix -- "$sock" && chmod 0660 -- "$sock"; }; then
            warn "milter: could not make $sock writable for group postfix"
        fi
    fi
    say "milter: started (pid $pid, $CRMGATE_MILTER_SOCKET)"
}

milter_stop() {
    local sock
    # It serves open SMTP sessions first (milter.drain_timeout, 30 s by
    # default), then stops its ingester.
    bg_stop milter crmgate-milter 45
    if sock=$(milter_sockfile "$CRMGATE_MILTER_SOCKET"); then
        rm -f -- "$sock"
    fi
}

milter_pid() { bg_pid milter crmgate-milter; }

milter_built() { [[ -x $BIN/crmgate-milter ]]; }
