# scripts/stack.d/web.sh -- crmgate-web on 127.0.0.1:$CRMGATE_WEB_PORT.
# Sourced by scripts/stack (which sets REPO, PROG, SELF and the shell
# options); not a program of its own.
# shellcheck shell=bash

# web_secret: the key of the web view's signed links, made once per stack
# ($CRMGATE_VAR/web.secret, mode 0600) and handed over as
# CRMGATE_WEB_SECRET (the environment form of web.secret).
web_secret() {
    local f=$VAR/web.secret
    if [[ -z ${CRMGATE_WEB_SECRET:-} ]]; then
        if [[ ! -s $f ]]; then
            mkdir -p -- "$VAR"
            (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f")
        fi
        CRMGATE_WEB_SECRET=$(cat -- "$f")
    fi
    export CRMGATE_WEB_SECRET
    printf '%s\n' "$CRMGATE_WEB_SECRET"
}

# voip_secrets: the keys of the VoIP webhooks, made once per stack like
# web.secret ($CRMGATE_VAR/zadarma.secret and voip-events.secret, mode
# 0600) and handed to the web and the worker as CRMGATE_ZADARMA_SECRET and
# CRMGATE_VOIP_EVENTS_SECRET (the environment forms of voip.zadarma_secret
# and voip.events_secret).
voip_secrets() {
    local f
    if [[ -z ${CRMGATE_ZADARMA_SECRET:-} ]]; then
        f=$VAR/zadarma.secret
        if [[ ! -s $f ]]; then
            mkdir -p -- "$VAR"
            (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f")
        fi
        CRMGATE_ZADARMA_SECRET=$(cat -- "$f")
    fi
    if [[ -z ${CRMGATE_VOIP_EVENTS_SECRET:-} ]]; then
        f=$VAR/voip-events.secret
        if [[ ! -s $f ]]; then
            mkdir -p -- "$VAR"
            (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f")
        fi
        CRMGATE_VOIP_EVENTS_SECRET=$(cat -- "$f")
    fi
    export CRMGATE_ZADARMA_SECRET CRMGATE_VOIP_EVENTS_SECRET
}

web_ready() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$CRMGATE_WEB_PORT/healthz" 2>/dev/null ||
        tcp_open 127.0.0.1 "$CRMGATE_WEB_PORT"
}

web_start() {
    local pid log=$LOGDIR/web.log
    if [[ ! -x $BIN/crmgate-web ]]; then
        say "web: not built ($BIN/crmgate-web missing), skipped"
        return 0
    fi
    make_dirs
    if pid=$(bg_pid web crmgate-web); then
        say "web: already running (pid $pid)"
        return 0
    fi
    tcp_open 127.0.0.1 "$CRMGATE_WEB_PORT" &&
        die "web: 127.0.0.1:$CRMGATE_WEB_PORT is already taken (another web?)"
    web_secret >/dev/null
    voip_secrets
    CRMGATE_WEB_DSN=$CRMGATE_WEB_DSN CRMGATE_WEB_LISTEN=127.0.0.1 \
        bg_launch web "$log" "$BIN/crmgate-web" -c "$CRMGATE_CONFIG"
    pid=$REPLY
    bg_wait web "$pid" crmgate-web "$log" 10 "not listening on 127.0.0.1:$CRMGATE_WEB_PORT" \
        tcp_open 127.0.0.1 "$CRMGATE_WEB_PORT"
    say "web: started (pid $pid, http://127.0.0.1:$CRMGATE_WEB_PORT/)"
}

web_stop() { bg_stop web crmgate-web 15; }

web_pid() { bg_pid web crmgate-web; }

web_built() { [[ -x $BIN/crmgate-web ]]; }
