#!/usr/bin/env bash
# Embedding backfill benchmark: throughput at 1024 dimensions against an
# instantly answering fixture embedder (background worker, rag_backfill_step
# loop, plain client-side program, raw UPDATE ceiling) and
# rag_backfill_status() latency on 1M chunks. One command:
#
#   bash bench/backfill_throughput.sh   # CHUNKS=20000 HNSW_CHUNKS=2000 STATUS_CHUNKS=1000000
#
# Builds and installs a release build of rag_search, starts its own cluster
# (target/bench-backfill-pgdata) and a release fixture-embedder, and writes
# the results section of BENCHMARKS.md (between the backfill markers).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh
CHUNKS="${CHUNKS:-20000}"
HNSW_CHUNKS="${HNSW_CHUNKS:-2000}"
STATUS_CHUNKS="${STATUS_CHUNKS:-1000000}"
PORT="${BENCH_PORT:-54391}"
PGDATA_DIR="$ROOT/target/bench-backfill-pgdata"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then sudo -u "$RAG_PG_USER" -- "$@"; else "$@"; fi
}
pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo "$RAG_PG_USER"; else id -un; fi
}

echo "== building (release)"
cargo pgrx install --release --pg-config "$RAG_PG_CONFIG" >/dev/null
cargo build --release --locked -p fixture_embedder --bin fixture-embedder \
    -p rag_search_integration --bin clientside_backfill --bin backfill_bench

FIXTURE_PID=""
cleanup() {
    [ -n "$FIXTURE_PID" ] && kill "$FIXTURE_PID" 2>/dev/null || true
    if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
        as_pg "$RAG_PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

echo "== cluster"
cleanup
rm -rf "$PGDATA_DIR"
mkdir -p "$PGDATA_DIR"
[ "$(id -u)" -eq 0 ] && chown "$RAG_PG_USER" "$PGDATA_DIR"
as_pg "$RAG_PG_BINDIR/initdb" -A trust -E UTF8 --locale=C.UTF-8 -U "$(pg_user)" -D "$PGDATA_DIR" >/dev/null
as_pg tee -a "$PGDATA_DIR/postgresql.auto.conf" >/dev/null <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_worker_processes = 16
shared_buffers = '1GB'
maintenance_work_mem = '512MB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
CONF
as_pg "$RAG_PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w start >/dev/null

echo "== fixture embedder"
exec 3< <(target/release/fixture-embedder --port 0 --native-dim 1024 --dim 1024)
FIXTURE_PID=$!
read -r FIXTURE_URL <&3
echo "fixture at $FIXTURE_URL"

echo "== benchmark ($CHUNKS chunks, $HNSW_CHUNKS with HNSW maintained, status on $STATUS_CHUNKS chunks)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$(target/release/backfill_bench \
    --dsn-base "host=127.0.0.1 port=$PORT user=$(pg_user)" \
    --fixture-url "$FIXTURE_URL" \
    --clientside "$ROOT/target/release/clientside_backfill" \
    --chunks "$CHUNKS" --hnsw-chunks "$HNSW_CHUNKS" --status-chunks "$STATUS_CHUNKS")"

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
section="$(cat <<MD
<!-- backfill-throughput:start -->
## Embedding backfill throughput (issue 4)

Command: \`bash bench/backfill_throughput.sh\` (CHUNKS=$CHUNKS, HNSW_CHUNKS=$HNSW_CHUNKS, STATUS_CHUNKS=$STATUS_CHUNKS), $(date -u +%Y-%m-%d),
commit $(git rev-parse --short HEAD).
Machine: $(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ {print $2}') GB RAM; $("$RAG_PG_CONFIG" --version), release build;
shared_buffers 1GB, max_wal_size 8GB, otherwise default settings (fsync and synchronous_commit on).
Load average (1/5/15 min) before the run: $load_before; after: $load_after — the 2 cores are shared
with other work, so absolute figures are noisy; ratios within one table are measured minutes apart.

$results
<!-- backfill-throughput:end -->
MD
)"
touch BENCHMARKS.md
python3 - "$section" <<'PY'
import re, sys
section = sys.argv[1]
path = "BENCHMARKS.md"
text = open(path).read()
pattern = re.compile(r"<!-- backfill-throughput:start -->.*?<!-- backfill-throughput:end -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: section, text)
else:
    if not text.strip():
        text = "# Benchmarks\n"
    text = text.rstrip() + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
echo "$section"
echo "== written to BENCHMARKS.md"
