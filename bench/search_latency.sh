#!/usr/bin/env bash
# Benchmark 2: latency of rag_hybrid_search (every mode) and
# rag_candidate_pages at 1024 dimensions, top_k 8, one client, against a
# client-side version of the reference retriever in the same run — at
# several corpus sizes, growing one seeded corpus: 10k, 30k and 100k chunks
# unless LATENCY_SIZES (chunks, comma-separated, multiples of 5) says
# otherwise. Generates its corpus, so it needs no data from ../shared. Writes
# the "Search latency" section of BENCHMARKS.md,
# bench/charts/search_latency.svg (largest size) and
# bench/charts/search_latency_vs_corpus.svg.
#   bash bench/search_latency.sh
#   LATENCY_SIZES=10000,100000 bash bench/search_latency.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SIZES="${LATENCY_SIZES:-10000,30000,100000}"
COMMAND="bash bench/search_latency.sh"
[ -n "${LATENCY_SIZES:-}" ] && COMMAND="LATENCY_SIZES=$SIZES $COMMAND"

bench_setup
start_cluster latency
"$BENCH_BIN/latency" \
    --dsn "$DSN" \
    --sizes "$SIZES" \
    --report "$ROOT/BENCHMARKS.md" \
    --charts "$ROOT/bench/charts" \
    --command "$COMMAND" \
    --revision "$REVISION"
