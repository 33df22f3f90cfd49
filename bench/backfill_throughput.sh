#!/usr/bin/env bash
# Embedding backfill benchmark: throughput at 1024 dimensions against an
# instantly answering fixture embedder (background worker, rag_backfill_step
# loop, plain client-side program, raw UPDATE ceiling), a sweep of the
# worker's batch size (rag_search.backfill_batch_size) and
# rag_backfill_status() latency on 1M chunks. One command:
#
#   bash bench/backfill_throughput.sh
#
# Sizes (environment): CHUNKS=20000 HNSW_CHUNKS=2000 STATUS_CHUNKS=1000000
# SWEEP_CHUNKS=10000 SWEEP_BATCHES=8,16,32,64,128,256,512,1024 SWEEP_REPEATS=3
# (a count of 0 skips that part; CHUNKS is always measured). The RAG_BENCH_*
# settings of bench/common.sh choose the PostgreSQL, target directory,
# PGRX_HOME and port.
#
# Builds and installs a release build of rag_search, starts its own cluster
# (target/bench-backfill-pgdata) and a release fixture-embedder, writes the
# results section of BENCHMARKS.md (between the backfill markers) and
# bench/charts/backfill_batch_size.svg.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CHUNKS="${CHUNKS:-20000}"
HNSW_CHUNKS="${HNSW_CHUNKS:-2000}"
STATUS_CHUNKS="${STATUS_CHUNKS:-1000000}"
SWEEP_CHUNKS="${SWEEP_CHUNKS:-10000}"
SWEEP_BATCHES="${SWEEP_BATCHES:-8,16,32,64,128,256,512,1024}"
SWEEP_REPEATS="${SWEEP_REPEATS:-3}"
PGDATA_DIR="$ROOT/target/bench-backfill-pgdata"

bench_setup
log "building the fixture embedder and the backfill programs"
cargo build --release --locked --quiet -p fixture_embedder --bin fixture-embedder \
    -p rag_search_integration --bin clientside_backfill --bin backfill_bench

FIXTURE_PID=""
cleanup() {
    [ -n "$FIXTURE_PID" ] && kill "$FIXTURE_PID" 2>/dev/null || true
    if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "cluster"
cleanup
rm -rf "$PGDATA_DIR"
mkdir -p "$PGDATA_DIR"
[ "$(id -u)" -eq 0 ] && chown "$RAG_PG_USER" "$PGDATA_DIR"
as_pg "$PG_BINDIR/initdb" -A trust -E UTF8 --locale=C.UTF-8 -U "$(pg_user)" -D "$PGDATA_DIR" >/dev/null
PORT="$(free_port)"
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
as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w start >/dev/null
log "cluster $PGDATA_DIR on port $PORT"

log "fixture embedder"
exec 3< <("$BENCH_BIN/fixture-embedder" --port 0 --native-dim 1024 --dim 1024)
FIXTURE_PID=$!
read -r FIXTURE_URL <&3
log "fixture at $FIXTURE_URL"

log "benchmark ($CHUNKS chunks, $HNSW_CHUNKS with HNSW maintained, batch sweep on $SWEEP_CHUNKS, status on $STATUS_CHUNKS chunks)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$SECONDS
results="$("$BENCH_BIN/backfill_bench" \
    --dsn-base "host=127.0.0.1 port=$PORT user=$(pg_user)" \
    --fixture-url "$FIXTURE_URL" \
    --clientside "$BENCH_BIN/clientside_backfill" \
    --chunks "$CHUNKS" --hnsw-chunks "$HNSW_CHUNKS" --status-chunks "$STATUS_CHUNKS" \
    --sweep-chunks "$SWEEP_CHUNKS" --sweep-batches "$SWEEP_BATCHES" --sweep-repeats "$SWEEP_REPEATS" \
    --sweep-chart "$ROOT/bench/charts/backfill_batch_size.svg")"
seconds=$((SECONDS - started))

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
section="$(cat <<MD
<!-- backfill-throughput:start -->
## Embedding backfill throughput

Command: \`bash bench/backfill_throughput.sh\` (CHUNKS=$CHUNKS, HNSW_CHUNKS=$HNSW_CHUNKS, STATUS_CHUNKS=$STATUS_CHUNKS,
SWEEP_CHUNKS=$SWEEP_CHUNKS, SWEEP_BATCHES=$SWEEP_BATCHES, SWEEP_REPEATS=$SWEEP_REPEATS; measurements $seconds s),
$(date -u +%Y-%m-%d), rag_search at $REVISION.
Machine: $(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ {print $2}') GB RAM; $("$PG_CONFIG" --version), release build;
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
log "written to BENCHMARKS.md and bench/charts/backfill_batch_size.svg"
