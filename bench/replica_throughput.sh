#!/usr/bin/env bash
# Search throughput on a primary and on its hot standby (streaming
# replication, pg_basebackup -R): SciFact and the Korean dev pages from
# ../shared with their real multilingual-e5-small vectors, concurrent
# clients running the real questions in every search mode and
# rag_candidate_pages against the primary, the standby, and both at once.
# Writes the "Search throughput on a primary and a hot standby" section of
# BENCHMARKS.md (docs/scaling.md quotes it).
#
#   bash bench/replica_throughput.sh
#   REPLICA_CLIENTS=16 REPLICA_SECONDS=60 bash bench/replica_throughput.sh
#
# Settings (environment, all optional):
#   REPLICA_CLIENTS          client connections per server [8]
#   REPLICA_SECONDS          measured seconds per run [30]
#   REPLICA_WARMUP_SECONDS   unmeasured seconds before each run [10]
#   and those of bench/common.sh. Unless RAG_BENCH_PG_CONFIG names another
#   installation, the release build goes into a private copy of the
#   embedded PostgreSQL (target/bench-pg, PGRX_HOME target/bench-pgrx),
#   never into one a running server may have loaded. Both clusters live in
#   target/bench-clusters and are removed at the end.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_shared datasets/scifact datasets/autorag-ko-dev embeddings/me5-small-q4

CLIENTS="${REPLICA_CLIENTS:-8}"
SECONDS_PER_RUN="${REPLICA_SECONDS:-30}"
WARMUP="${REPLICA_WARMUP_SECONDS:-10}"
COMMAND="$(bench_command bench/replica_throughput.sh REPLICA_CLIENTS REPLICA_SECONDS REPLICA_WARMUP_SECONDS)"

use_private_postgres
bench_setup

start_cluster replica-primary
PRIMARY_DSN="$DSN"
PRIMARY_PORT="$PORT"

# The standby: a base backup of the primary with standby.signal and
# primary_conninfo (-R), on its own port.
STANDBY_DIR="$CLUSTER_DIR-standby"
stop_standby() {
    if [ -f "$STANDBY_DIR/data/postmaster.pid" ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$STANDBY_DIR/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$STANDBY_DIR"
}
# stop_cluster reports a failure from the exit status it finds: keep it
# (set +e: under set -e the "(exit $status)" would end the trap there).
trap 'status=$?; set +e; stop_standby; (exit $status); stop_cluster' EXIT
mkdir -p "$STANDBY_DIR"
if [ "$(id -u)" -eq 0 ]; then chown "$RAG_PG_USER" "$STANDBY_DIR"; fi
as_pg "$PG_BINDIR/pg_basebackup" -D "$STANDBY_DIR/data" -R -X stream -c fast -d "$PRIMARY_DSN"
STANDBY_PORT="$(RAG_BENCH_PORT='' RAG_BENCH_PORT_FROM=$((PRIMARY_PORT + 1)) free_port)"
printf 'port = %s\nhot_standby = on\nhot_standby_feedback = on\n' "$STANDBY_PORT" \
    | as_pg tee -a "$STANDBY_DIR/data/postgresql.auto.conf" >/dev/null
as_pg "$PG_BINDIR/pg_ctl" -D "$STANDBY_DIR/data" -l "$STANDBY_DIR/server.log" -w start >/dev/null 9>&-
STANDBY_DSN="host=127.0.0.1 port=$STANDBY_PORT user=$(pg_user) dbname=postgres"
log "standby $STANDBY_DIR on port $STANDBY_PORT"

"$BENCH_BIN/replica" \
    --primary "$PRIMARY_DSN" \
    --standby "$STANDBY_DSN" \
    --shared "$SHARED" \
    --clients "$CLIENTS" \
    --seconds "$SECONDS_PER_RUN" \
    --warmup-seconds "$WARMUP" \
    --report "$ROOT/BENCHMARKS.md" \
    --command "$COMMAND" \
    --revision "$REVISION"
