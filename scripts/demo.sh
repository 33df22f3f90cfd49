#!/usr/bin/env bash
# README command (1): the main job end to end on the embedded PostgreSQL 18.
# Installs what is missing, builds and installs the extension, starts the
# cluster in .pgdata, ingests the bilingual sample and shows what it holds.
# A second run reuses everything that is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
source scripts/env.sh

echo "== building and installing rag_search into $("$RAG_PG_CONFIG" --version)"
cargo pgrx install --release --pg-config "$RAG_PG_CONFIG" >/dev/null

echo "== starting the cluster in .pgdata"
bash scripts/cluster.sh start
psql_demo() { bash scripts/cluster.sh psql -v ON_ERROR_STOP=1 -X "$@"; }
RAG_DEMO_DB=postgres bash scripts/cluster.sh psql -X -tAc "SELECT 1 FROM pg_database WHERE datname = 'rag_demo'" | grep -q 1 \
    || RAG_DEMO_DB=postgres bash scripts/cluster.sh psql -X -qc "CREATE DATABASE rag_demo"
psql_demo -qc "CREATE EXTENSION IF NOT EXISTS rag_search CASCADE"

echo "== ingesting samples/sample_docs.json"
psql_demo -v docs="$(cat samples/sample_docs.json)" <<'SQL'
SELECT doc_id, action, chunks FROM rag_upsert_documents(:'docs'::jsonb) ORDER BY doc_id;
SELECT * FROM rag_stats();
SQL

port="${RAG_DEMO_PORT:-54318}"
user="$( [ "$(id -u)" -eq 0 ] && echo "$RAG_PG_USER" || id -un )"
cat <<EOT
== done. The cluster keeps running.
   connect:  bash scripts/cluster.sh psql      (or: psql -h 127.0.0.1 -p $port -U $user rag_demo)
   stop:     bash scripts/cluster.sh stop
   try:      SELECT * FROM rag_upsert_document('note:1', 'My note', 'Some text');
             SELECT * FROM rag_stats();
EOT
