#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (tests/study/test_postgres.py).
#
#   tests/pg_server.sh bindir             print the directory holding initdb/pg_ctl (exit 1: none)
#   eval "$(tests/pg_server.sh start)"    start a server on 127.0.0.1 at a free port; prints
#                                         `export HPSTUDY_TEST_POSTGRES_URL=...` and
#                                         `export HPSTUDY_TEST_PG_DIR=...`
#   tests/pg_server.sh restart DIR [S]    stop it (fast shutdown), wait S seconds, start it again
#   tests/pg_server.sh stop DIR           stop it and delete DIR
#
# The cluster lives in a new temporary directory: a superuser `postgres` (local socket, trust)
# and a user `hpstudy` with a random password owning the database `hpstudy` (TCP, scram). As
# root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

MARKER=hpstudy-test-pg-server
DB=hpstudy
ROLE=hpstudy

bindir() {
    local found
    if found=$(command -v initdb 2>/dev/null) && [ -x "$(dirname "$found")/pg_ctl" ]; then
        dirname "$(readlink -f "$found")"
        return 0
    fi
    for found in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$found/initdb" ] && [ -x "$found/pg_ctl" ]; then
            echo "$found"
            return 0
        fi
    done
    return 1
}

server_user() {
    if [ "$(id -u)" -ne 0 ]; then
        id -un
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo nobody
    fi
}

as_server() {  # run a command as the user that owns the cluster
    local user
    user=$(cat "$DIR/user")
    if [ "$(id -un)" = "$user" ]; then
        "$@"
    else
        runuser -u "$user" -- "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_ctl_start() {
    as_server "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
}

check_dir() {
    if [ ! -f "$DIR/$MARKER" ]; then
        echo "pg_server.sh: $DIR is not a server directory made by this script" >&2
        exit 2
    fi
}

start() {
    BIN=$(bindir) || { echo "pg_server.sh: initdb/pg_ctl not found; install postgresql" >&2; exit 1; }
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/hpstudy-pg.XXXXXX")
    chmod 755 "$DIR"
    touch "$DIR/$MARKER"
    server_user >"$DIR/user"
    echo "$BIN" >"$DIR/bin"
    chown "$(cat "$DIR/user")" "$DIR"
    local port password
    port=$(free_port)
    password="pw$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    as_server "$BIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    pg_ctl_start || { cat "$DIR/server.log" >&2; exit 1; }
    as_server "$BIN/psql" -q -h "$DIR" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE $ROLE LOGIN PASSWORD '$password'" -c "CREATE DATABASE $DB OWNER $ROLE" \
        >/dev/null
    echo "export HPSTUDY_TEST_POSTGRES_URL='postgresql://$ROLE:$password@127.0.0.1:$port/$DB'"
    echo "export HPSTUDY_TEST_PG_DIR='$DIR'"
}

restart() {
    check_dir
    BIN=$(cat "$DIR/bin")
    as_server "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
    sleep "${1:-0}"
    pg_ctl_start
}

stop() {
    check_dir
    BIN=$(cat "$DIR/bin")
    if [ -f "$DIR/data/postmaster.pid" ]; then
        as_server "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

command=${1:-}
case "$command" in
    bindir) bindir ;;
    start) start ;;
    restart|stop)
        DIR=${2:?"usage: $0 $command DIR"}
        if [ "$command" = restart ]; then restart "${3:-0}"; else stop; fi
        ;;
    *) echo "usage: $0 bindir | start | restart DIR [SECONDS] | stop DIR" >&2; exit 2 ;;
esac
