#!/usr/bin/env bash
# Benchmark 2: latency of rag_hybrid_search (every mode) and
# rag_candidate_pages at 100k chunks × 1024 dimensions, top_k 8, one client,
# against a client-side version of the reference retriever in the same run.
# Generates its corpus (seeded), so it needs no data from ../shared. Writes
# the "Search latency" section of BENCHMARKS.md and
# bench/charts/search_latency.svg.
#   bash bench/search_latency.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bench_setup
start_cluster latency
"$BENCH_BIN/latency" \
    --dsn "$DSN" \
    --report "$ROOT/BENCHMARKS.md" \
    --charts "$ROOT/bench/charts" \
    --command "bash bench/search_latency.sh" \
    --revision "$REVISION"
