#!/usr/bin/env bash
# Manages the demo cluster in .pgdata (git-ignored; RAG_DEMO_PGDATA, RAG_DEMO_PORT
# override): start | stop | status | psql.
# Runs PostgreSQL as $RAG_PG_USER when invoked as root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
PGDATA_DIR="${RAG_DEMO_PGDATA:-$ROOT/.pgdata}"
PORT="${RAG_DEMO_PORT:-54318}"

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then sudo -u "$RAG_PG_USER" -- "$@"; else "$@"; fi
}
pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo "$RAG_PG_USER"; else id -un; fi
}

case "${1:-status}" in
start)
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
        mkdir -p "$PGDATA_DIR"
        [ "$(id -u)" -eq 0 ] && chown "$RAG_PG_USER" "$PGDATA_DIR"
        as_pg "$RAG_PG_BINDIR/initdb" -A trust -E UTF8 --locale=C.UTF-8 -U "$(pg_user)" -D "$PGDATA_DIR" >/dev/null
        as_pg tee -a "$PGDATA_DIR/postgresql.auto.conf" >/dev/null <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_preload_libraries = 'rag_search'
max_worker_processes = 16
CONF
    fi
    if ! as_pg "$RAG_PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
        as_pg "$RAG_PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w start >/dev/null
    fi
    ;;
stop)
    as_pg "$RAG_PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop
    ;;
status)
    as_pg "$RAG_PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" status
    ;;
psql)
    shift
    exec "$RAG_PG_BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U "$(pg_user)" "${RAG_DEMO_DB:-rag_demo}" "$@"
    ;;
*)
    echo "usage: scripts/cluster.sh start|stop|status|psql [psql args]" >&2
    exit 2
    ;;
esac
