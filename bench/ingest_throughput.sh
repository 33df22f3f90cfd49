#!/usr/bin/env bash
# Ingestion throughput: rag_upsert_document called once per document from a
# client loop versus rag_upsert_documents with many documents per call.
# One command; writes the "Ingestion throughput" section of BENCHMARKS.md.
#
#   bash bench/ingest_throughput.sh
#
# Both sides are driven by pgbench over one TCP connection with prepared
# statements and take the same pre-generated documents from a table (about
# 700 characters of words from a skewed 20,000-word vocabulary, one chunk
# each, like board posts), so only the ingestion path differs. Every pgbench
# transaction is one autocommit call. Commits are durable (fsync and
# synchronous_commit on), as in a deployment: that is part of what a client
# loop pays per document.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LOOP_DOCS="${RAG_BENCH_LOOP_DOCS:-3000}"
BULK_CALLS="${RAG_BENCH_BULK_CALLS:-10}"
BULK_SIZE="${RAG_BENCH_BULK_SIZE:-1000}"
GROW_TO="${RAG_BENCH_GROW_TO:-100000}"

bash scripts/setup.sh
source scripts/env.sh
PG_CONFIG="${RAG_BENCH_PG_CONFIG:-$RAG_PG_CONFIG}"
REVISION="$(git rev-parse --short HEAD)"
if [ -n "$(git status --porcelain -- src sql crates rag_search.control)" ]; then
    REVISION="$REVISION + uncommitted changes"
fi
PG_BINDIR="$("$PG_CONFIG" --bindir)"
export PGRX_HOME="${RAG_BENCH_PGRX_HOME:-${PGRX_HOME:-$HOME/.pgrx}}"
if ! grep -qs "pg18 = \"$PG_CONFIG\"" "$PGRX_HOME/config.toml"; then
    cargo pgrx init --pg18 "$PG_CONFIG"
fi
log "building and installing rag_search (release)"
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
start_cluster ingest
as_pg_psql() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$DSN" "$@"; }
as_pg_psql -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
    -c "ALTER SYSTEM SET full_page_writes = on" -c "SELECT pg_reload_conf()" >/dev/null
as_pg_psql -c "CREATE EXTENSION rag_search CASCADE"

work="$(mktemp -d)"
trap 'stop_cluster; rm -rf "$work"' EXIT
# The same document bodies on both sides, generated before the clock starts
# (a client sends text it already has): 110 words drawn from a skewed
# vocabulary of 20,000 (frequent words common, most words rare), ~700
# characters each.
BODIES=20000
as_pg_psql <<SQL
CREATE TABLE bench_bodies (n integer PRIMARY KEY, body text NOT NULL);
INSERT INTO bench_bodies
SELECT n, (SELECT string_agg('w' || (floor(power(random(), 3) * 20000)::int + 0 * g + 0 * n), ' ')
           FROM generate_series(1, 110) g)
FROM generate_series(0, $BODIES - 1) n;
ANALYZE bench_bodies;
SQL
cat > "$work/loop.sql" <<SQL
\set n random(1, 1000000000)
SELECT action FROM rag_upsert_document('loop:' || :n, 'Document ' || :n, (SELECT body FROM bench_bodies WHERE n = :n % $BODIES));
SQL
cat > "$work/bulk.sql" <<SQL
\set n random(1, 1000000)
SELECT count(*) FROM rag_upsert_documents((
  SELECT jsonb_agg(jsonb_build_object('doc_id', 'bulk:' || d.n, 'title', 'Document ' || d.n, 'content', b.body))
  FROM (SELECT :n::bigint * 100000 + i AS n FROM generate_series(1, $BULK_SIZE) i) d
  JOIN bench_bodies b ON b.n = d.n % $BODIES));
SQL

pgbench_tps() {
    # prints transactions per second (excluding connection time)
    "$PG_BINDIR/pgbench" -n -M prepared -c 1 -j 1 "$@" "$DSN" 2>&1 \
        | awk '/tps = / { print $3; exit }'
}

# Figures per corpus size: "size loop_docs_s bulk_docs_s ratio loop_us bulk_us".
results="$work/results"
measure() {
    local loop_tps bulk_tps docs
    log "client loop: $LOOP_DOCS single upserts"
    loop_tps="$(pgbench_tps -f "$work/loop.sql" -t "$LOOP_DOCS")"
    log "bulk: $BULK_CALLS calls of $BULK_SIZE documents"
    bulk_tps="$(pgbench_tps -f "$work/bulk.sql" -t "$BULK_CALLS")"
    docs="$(as_pg_psql -Atc "SELECT documents FROM rag_stats()")"
    python3 - "$1" "$docs" "$loop_tps" "$bulk_tps" "$BULK_SIZE" >>"$results" <<'PY'
import sys
before, after, loop_tps, bulk_tps, size = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
loop, bulk = loop_tps, bulk_tps * size
print(f"{before}-{after} {loop:.0f} {bulk:.0f} {bulk/loop:.1f} {1e6/loop:.0f} {1e6/bulk:.0f}")
PY
    log "$(tail -n 1 "$results")"
}

log "warm-up"
pgbench_tps -f "$work/loop.sql" -t 200 >/dev/null
pgbench_tps -f "$work/bulk.sql" -t 2 >/dev/null
measure "$(as_pg_psql -Atc "SELECT documents FROM rag_stats()")"
# Then again on a corpus of the size a deployment has: statistics compaction
# is due every tenth of the corpus (at most 20,000 chunks), so how often a
# bulk call pays for it depends on the corpus size.
log "growing the corpus to $GROW_TO documents (not timed)"
as_pg_psql <<SQL
SELECT count(*) FROM generate_series(1, ($GROW_TO - (SELECT documents FROM rag_stats())) / 1000) c,
     rag_upsert_documents((
       SELECT jsonb_agg(jsonb_build_object('doc_id', 'base:' || c || ':' || i, 'title', 'Base ' || i, 'content', b.body))
       FROM generate_series(1, 1000) i JOIN bench_bodies b ON b.n = (c * 1000 + i) % $BODIES));
SELECT rag_search.term_stats_compact();
VACUUM ANALYZE;
SQL
measure "$(as_pg_psql -Atc "SELECT documents FROM rag_stats()")"

machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
section="$work/section.md"
{
cat <<MD
## Ingestion throughput

Command: \`bash bench/ingest_throughput.sh\` — $(date -u +%Y-%m-%d), revision $REVISION, $machine,
PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), release build, one pgbench client over TCP with prepared
statements, durable commits (fsync and synchronous_commit on). Documents of ~700 characters (110 words from a skewed
20,000-word vocabulary, one chunk each), generated into a table before timing and read from it on both sides. The
client loop calls \`rag_upsert_document\` once per document ($LOOP_DOCS calls, one commit each); bulk calls
\`rag_upsert_documents\` with $BULK_SIZE documents ($BULK_CALLS calls). Measured on a small corpus, then again after
growing it to $GROW_TO documents.

| documents in the corpus (before–after) | loop documents/s | loop µs/document | bulk documents/s | bulk µs/document | bulk ÷ loop per document |
|---|---:|---:|---:|---:|---:|
MD
while read -r size loop bulk ratio loop_us bulk_us; do
    echo "| $size | $loop | $loop_us | $bulk | $bulk_us | **${ratio}×** |"
done <"$results"
cat <<MD

Target: bulk ≥ 10× faster per document. Load average at the end of the run: $(cut -d' ' -f1-3 /proc/loadavg)
(other work on the machine slows the client loop's round trips more than bulk calls, which inflates the ratio:
only figures from an idle machine count).
MD
} >"$section"
python3 - "$ROOT/BENCHMARKS.md" "$section" <<'PY'
import re, sys, pathlib
path, section = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
text = path.read_text() if path.exists() else "# Benchmarks\n\nEach section names the command and the machine that produced it.\n"
pattern = re.compile(r"^## Ingestion throughput\n.*?(?=^## |\Z)", re.S | re.M)
text = pattern.sub(lambda m: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
path.write_text(text)
PY
cat "$section"
