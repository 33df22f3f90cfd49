#!/usr/bin/env bash
# What options.max_per_document does to document-level retrieval quality:
# SciFact (test split) ingested with the default chunking, so long abstracts
# become several chunks, searched in fts mode top 10 with and without a cap
# of one chunk per document, judged per document (a document counts once,
# at its best chunk) by rag_evaluate itself. Prints a report to paste into
# BENCHMARKS.md.
#   bash bench/document_cap.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_shared datasets/scifact
bench_setup
start_cluster doccap
started=$SECONDS
psql_bench() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "${DSN/dbname=postgres/dbname=doccap}" "$@"; }
"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$DSN" -c "CREATE DATABASE doccap"
psql_bench -c "SET client_min_messages = warning" -c "CREATE EXTENSION rag_search CASCADE"

work="$CLUSTER_DIR/doccap"
mkdir -p "$work"
# The corpus as rag_upsert_documents batches, the judged test queries as CSV.
python3 - "$SHARED/datasets/scifact" "$work" <<'PY'
import csv, json, sys
src, out = sys.argv[1], sys.argv[2]
docs = [json.loads(line) for line in open(f"{src}/corpus.jsonl", encoding="utf-8")]
for i in range(0, len(docs), 1000):
    batch = [{"doc_id": d["_id"], "title": d.get("title", ""), "content": d.get("text", "")} for d in docs[i:i + 1000]]
    json.dump(batch, open(f"{out}/batch-{i // 1000:03d}.json", "w", encoding="utf-8"), ensure_ascii=False)
judged = {row[0] for row in csv.reader(open(f"{src}/qrels/test.tsv", encoding="utf-8"), delimiter="\t")}
with open(f"{out}/queries.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    for line in open(f"{src}/queries.jsonl", encoding="utf-8"):
        q = json.loads(line)
        if q["_id"] in judged:
            w.writerow([q["_id"], q["text"]])
PY
for f in "$work"/batch-*.json; do
    # \set reads the file in psql: no size limit of a command-line argument.
    psql_bench <<SQL >/dev/null
\set docs \`cat $f\`
SELECT count(*) FROM rag_upsert_documents(:'docs');
SQL
done
psql_bench <<SQL
ANALYZE;
CREATE TABLE scifact_queries (query_id text PRIMARY KEY, query text NOT NULL);
CREATE TABLE scifact_qrels (query_id text, doc_id text, relevance int);
\copy scifact_queries FROM '$work/queries.csv' (FORMAT csv)
\copy scifact_qrels FROM '$SHARED/datasets/scifact/qrels/test.tsv' (FORMAT csv, DELIMITER E'\t', HEADER)
SQL
read -r documents chunks multi < <(psql_bench -At -F ' ' -c "
    SELECT (SELECT count(*) FROM rag_search.documents), (SELECT count(*) FROM rag_search.chunks),
           (SELECT count(*) FROM (SELECT document_id FROM rag_search.chunks GROUP BY document_id HAVING count(*) > 1) m)")
result="$(psql_bench -At -F ' | ' -c "
    SELECT 'none', query_count, round(ndcg_at_k::numeric, 3), round(recall_at_k::numeric, 3), round(mrr_at_k::numeric, 3),
           round(mean_latency_ms::numeric, 1)
    FROM rag_evaluate('scifact_queries', 'scifact_qrels', ARRAY['fts'], 10, '{\"max_per_document\": null}')
    UNION ALL
    SELECT '1', query_count, round(ndcg_at_k::numeric, 3), round(recall_at_k::numeric, 3), round(mrr_at_k::numeric, 3),
           round(mean_latency_ms::numeric, 1)
    FROM rag_evaluate('scifact_queries', 'scifact_qrels', ARRAY['fts'], 10, '{\"max_per_document\": 1}')")"

cat <<REPORT
### Chunks per document in the top 10 (max_per_document)

Command: \`bash bench/document_cap.sh\` (load and measurement $((SECONDS - started)) s, build excluded) · $(date -u '+%Y-%m-%d %H:%M UTC') · rag_search at $REVISION · $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)

SciFact test queries, corpus ingested with the default chunking (\`chunk_max_chars\` 1200, overlap 150): $documents documents → $chunks chunks, $multi documents with more than one chunk. \`rag_evaluate(queries, qrels, ARRAY['fts'], 10, options)\`: fts top 10 chunks, judged per document (a document counts once, at its best chunk).

| max_per_document | queries | nDCG@10 | recall@10 | MRR@10 | ms/query |
|---|---:|---:|---:|---:|---:|
$(sed 's/^/| /; s/$/ |/' <<<"$result")
REPORT
