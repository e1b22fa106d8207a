# scripts/stack.d/postgres.sh -- the private PostgreSQL cluster (initdb, start, roles and
# database, migrations, stop).
# Sourced by scripts/stack (which sets REPO, PROG, SELF and the shell
# options); not a program of its own.
# shellcheck shell=bash

# ---------------------------------------------------------------------------
# postgres
# ---------------------------------------------------------------------------
PG_BIN=
pg_bindir() {
    [[ -n $PG_BIN ]] && return 0
    local d
    d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    if [[ -z $d ]] && command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir)
    fi
    [[ -n $d && -x $d/postgres && -x $d/initdb ]] ||
        die "postgres: PostgreSQL server binaries not found (run scripts/deps.sh)"
    PG_BIN=$d
}

pg_datadir() {
    if [[ -e $PGDATA_LINK || -L $PGDATA_LINK ]]; then
        readlink -f -- "$PGDATA_LINK"
    else
        printf '%s\n' "$PGDATA_LINK"
    fi
}

postgres_pid() {
    pidfile_pid "$(pg_datadir)/postmaster.pid" postgres
}

pg_sql_literal() { printf "'%s'" "${1//\'/\'\'}"; }

postgres_start() {
    local pid log=$LOGDIR/postgres.log data sockdir
    check_port CRMGATE_PG_PORT "$CRMGATE_PG_PORT"
    make_dirs
    pg_bindir
    if pid=$(postgres_pid); then
        say "postgres: already running (pid $pid)"
    else
        state_dir pg postgres
        data=$REPLY
        if ((IS_ROOT)); then
            id postgres >/dev/null 2>&1 || die "postgres: system user 'postgres' missing (run scripts/deps.sh)"
            chown postgres: -- "$data"
        fi
        chmod 0700 -- "$data"
        # Socket directory: $CRMGATE_VAR/run (group-writable for postgres,
        # sticky like /tmp), or the fallback directory when unreachable.
        if needs_fallback postgres; then
            sockdir=$(ext_base)/run
            mkdir -p -- "$sockdir"
            chown postgres: -- "$sockdir"
        else
            sockdir=$RUN
            if ((IS_ROOT)); then
                chgrp postgres -- "$RUN"
                chmod 1775 -- "$RUN"
            fi
        fi
        : >>"$log"
        if [[ ! -s $data/PG_VERSION ]]; then
            say "postgres: initdb $data"
            {
                printf '\n==== %s initdb\n' "$(date '+%F %T')"
                as_user postgres "$PG_BIN/initdb" -D "$data" --auth=trust -U postgres \
                    --encoding=UTF8 --locale=C.UTF-8 ||
                    as_user postgres "$PG_BIN/initdb" -D "$data" --auth=trust -U postgres \
                        --encoding=UTF8 --locale=C
            } >>"$log" 2>&1 </dev/null || fail postgres "$log" "initdb failed"
            printf "\n# crmgate: settings written by scripts/stack on every start\ninclude_if_exists = 'crmgate.conf'\n" \
                >>"$data/postgresql.conf"
        fi
        # Regenerated on every start so port/socket follow the environment.
        cat >"$data/crmgate.conf" <<EOF
# Written by scripts/stack -- changes are overwritten on the next start.
listen_addresses = '127.0.0.1'
port = $CRMGATE_PG_PORT
unix_socket_directories = $(pg_sql_literal "$sockdir")
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
EOF
        if ((IS_ROOT)); then chown postgres: -- "$data/crmgate.conf"; fi
        printf '\n==== %s start (port %s)\n' "$(date '+%F %T')" "$CRMGATE_PG_PORT" >>"$log"
        # Without -l, the server inherits this redirection (opened by us, so
        # the log may live where the postgres user cannot write). pg_ctl puts
        # the postmaster in its own session.
        (
            close_extra_fds
            as_user postgres "$PG_BIN/pg_ctl" start -D "$data" -w -t 30
        ) >>"$log" 2>&1 </dev/null || fail postgres "$log" "server did not start"
        if [[ $sockdir != "$RUN" ]]; then
            ln -sfn -- "$sockdir/.s.PGSQL.$CRMGATE_PG_PORT" "$RUN/.s.PGSQL.$CRMGATE_PG_PORT"
        fi
        pid=$(postgres_pid) || fail postgres "$log" "server exited after start"
        say "postgres: started (pid $pid, 127.0.0.1:$CRMGATE_PG_PORT)"
    fi
    wait_for 30 "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$CRMGATE_PG_PORT" -U postgres -d postgres -t 2 ||
        fail postgres "$log" "not ready on 127.0.0.1:$CRMGATE_PG_PORT after 30 s"
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$CRMGATE_PG_PORT" -U postgres -d postgres \
        >/dev/null <<'EOF' || fail postgres "$log" "could not create roles/database crmgate"
-- The bootstrap superuser (postgres) is the admin: it only creates the
-- roles and the database, as README "Database roles" tells a production
-- admin to. The owner crmgate migrates without SUPERUSER or CREATEROLE.
SELECT 'CREATE ROLE crmgate LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmgate') \gexec
ALTER ROLE crmgate NOSUPERUSER NOCREATEROLE NOCREATEDB;
SELECT 'CREATE ROLE crmgate_milter LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmgate_milter') \gexec
ALTER ROLE crmgate_milter LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB;
SELECT 'CREATE ROLE crmgate_web LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmgate_web') \gexec
ALTER ROLE crmgate_web LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB;
SELECT 'CREATE ROLE crmgate_worker LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmgate_worker') \gexec
ALTER ROLE crmgate_worker LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB;
SELECT 'CREATE DATABASE crmgate OWNER crmgate'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'crmgate') \gexec
EOF
    if [[ -x $BIN/crmgate ]]; then
        local out
        if ! out=$("$BIN/crmgate" -c "$CRMGATE_CONFIG" migrate 2>&1 </dev/null); then
            printf '%s\n' "$out" >&2
            die "postgres: '$BIN/crmgate -c $CRMGATE_CONFIG migrate' failed (CRMGATE_DSN=$CRMGATE_DSN)"
        fi
        say "postgres: schema migrated"
    fi
}

postgres_stop() {
    local pid data log=$LOGDIR/postgres.log i
    if ! pid=$(postgres_pid); then
        say "postgres: not running"
        return 0
    fi
    pg_bindir
    data=$(pg_datadir)
    if ! as_user postgres "$PG_BIN/pg_ctl" stop -D "$data" -m fast -w -t 30 >>"$log" 2>&1 </dev/null; then
        warn "postgres: pg_ctl stop failed; sending SIGQUIT to $pid"
        kill -QUIT "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            proc_running "$pid" || break
            sleep 0.2
        done
        if proc_running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f -- "$RUN/.s.PGSQL.$CRMGATE_PG_PORT"
    say "postgres: stopped"
}

