#!/usr/bin/env bash
# Runs every test tier of rag_search; README command (2) and .ci/run.
#   1. unit tests of the pgrx-free crates (plain cargo test)
#   2. #[pg_test] SQL-semantics tests inside PostgreSQL 18 (cargo pgrx test)
#   3. integration tests against live clusters over client connections
# Exits non-zero on the first failing tier.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
source scripts/env.sh

runas=()
if [ "$(id -u)" -eq 0 ]; then
    runas=(--runas "$RAG_PG_USER")
fi

stop_stray_clusters() {
    for d in "$ROOT"/target/it-clusters/*/; do
        [ -f "$d/postmaster.pid" ] || continue
        if [ "$(id -u)" -eq 0 ]; then
            sudo -u "$RAG_PG_USER" "$RAG_PG_BINDIR/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
        else
            "$RAG_PG_BINDIR/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$ROOT"/target/it-clusters
}
trap stop_stray_clusters EXIT

echo "== 1/3 unit tests (pgrx-free crates)"
cargo test --locked -p rag_core -p fixture_embedder

echo "== 2/3 SQL tests in PostgreSQL 18 (cargo pgrx test)"
pgdata="$ROOT/target/pgrx-test-pgdata"
mkdir -p "$pgdata"
if [ "$(id -u)" -eq 0 ]; then chown "$RAG_PG_USER" "$pgdata"; fi
# One test at a time: the tests share one database and some run DDL on the
# extension's tables (model and text-search switches, TRUNCATE), which can
# deadlock with another test's open transaction.
RUST_TEST_THREADS=1 cargo pgrx test pg18 "${runas[@]}" --pgdata "$pgdata"

echo "== 3/3 integration tests (live clusters, client connections)"
cargo pgrx install --pg-config "$RAG_PG_CONFIG" >/dev/null
RAG_PG_BINDIR="$RAG_PG_BINDIR" cargo test --locked -p rag_search_integration -- --test-threads=2
