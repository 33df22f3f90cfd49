#!/usr/bin/env bash
# Benchmark 1: retrieval quality of rag_hybrid_search (nDCG@10, recall@100)
# on SciFact and the Korean dev set, every mode, with real embeddings
# precomputed in ../shared. Writes the "Retrieval quality" section of
# BENCHMARKS.md and bench/charts/retrieval_quality.svg.
#   bash bench/retrieval_quality.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_shared datasets/scifact datasets/autorag-ko-dev embeddings/me5-small-q4
bench_setup
start_cluster quality
"$BENCH_BIN/quality" \
    --dsn "$DSN" \
    --shared "$SHARED" \
    --report "$ROOT/BENCHMARKS.md" \
    --charts "$ROOT/bench/charts" \
    --command "bash bench/retrieval_quality.sh" \
    --revision "$REVISION"
