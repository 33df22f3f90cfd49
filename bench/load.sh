#!/usr/bin/env bash
# Search under load while the corpus changes: 16 concurrent search clients
# (every mode and rag_candidate_pages, the real SciFact and Korean questions
# of ../shared with their real query vectors) for 60 s while the background
# worker backfills >= 50k chunks through the fixture embedder and an
# ingester upserts and deletes documents; then the worker finishes and the
# end state is checked (coverage 100%, rag_backfill_status() equal to
# rag_backfill_recount(), every document's chunks those of its content).
#
#   bash bench/load.sh
#   LOAD_CLIENTS=8 LOAD_SECONDS=30 LOAD_MIN_CHUNKS=10000 bash bench/load.sh   # a small check
#
# Settings (environment): LOAD_CLIENTS [16], LOAD_SECONDS [60],
# LOAD_MIN_CHUNKS [50000], LOAD_DRAIN_TIMEOUT_S (how long the worker may take
# to finish after the window) [3600], and those of bench/common.sh. Writes
# the "Search under load" section of BENCHMARKS.md; exits non-zero (after
# writing it) when a search or an ingest failed, a deadlock happened or a
# check failed.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_shared datasets/scifact datasets/autorag-ko-dev embeddings/me5-small-q4

CLIENTS="${LOAD_CLIENTS:-16}"
SECONDS_RUN="${LOAD_SECONDS:-60}"
MIN_CHUNKS="${LOAD_MIN_CHUNKS:-50000}"
DRAIN_TIMEOUT_S="${LOAD_DRAIN_TIMEOUT_S:-3600}"
# The dimension of the real query vectors (multilingual-e5-small).
DIMENSION=384
COMMAND="$(bench_command bench/load.sh LOAD_CLIENTS LOAD_SECONDS LOAD_MIN_CHUNKS LOAD_DRAIN_TIMEOUT_S)"

bench_setup
build_fixture_program load_bench
start_cluster_and_fixture load "$DIMENSION" "$DIMENSION"
report_args "$COMMAND"

"$BENCH_BIN/load_bench" \
    --dsn "host=127.0.0.1 port=$PORT user=$(pg_user)" \
    --shared "$SHARED" \
    --fixture-url "$FIXTURE_URL" \
    --clients "$CLIENTS" \
    --seconds "$SECONDS_RUN" \
    --min-chunks "$MIN_CHUNKS" \
    --drain-timeout-s "$DRAIN_TIMEOUT_S" \
    "${REPORT_ARGS[@]}"
log "written to BENCHMARKS.md"
