#!/usr/bin/env bash
# Ingestion throughput: rag_upsert_document called once per document from a
# client loop versus rag_upsert_documents with many documents per call.
# One command; writes the "Ingestion throughput" section of BENCHMARKS.md.
#
#   bash bench/ingest_throughput.sh
#
# Both sides are driven by pgbench over one TCP connection with prepared
# statements, and build the same documents server-side (about 700
# characters of words from a skewed 20,000-word vocabulary, one chunk each,
# like board posts), so only the ingestion path differs. Every pgbench
# transaction is one autocommit call. Commits are durable (fsync and
# synchronous_commit on), as in a deployment: that is part of what a client
# loop pays per document.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LOOP_DOCS="${RAG_BENCH_LOOP_DOCS:-3000}"
BULK_CALLS="${RAG_BENCH_BULK_CALLS:-10}"
BULK_SIZE="${RAG_BENCH_BULK_SIZE:-1000}"

bash scripts/setup.sh
source scripts/env.sh
PG_CONFIG="${RAG_BENCH_PG_CONFIG:-$RAG_PG_CONFIG}"
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
# The same document body on both sides: 110 words drawn from a skewed
# vocabulary of 20,000 (frequent words common, most words rare), ~700
# characters. The reference to n makes the subquery correlated, so every
# document gets its own body.
body="(SELECT string_agg('w' || (floor(power(random(), 3) * 20000)::int + 0 * g + 0 * n), ' ') FROM generate_series(1, 110) g)"
cat > "$work/loop.sql" <<SQL
\set n random(1, 1000000000)
SELECT action FROM rag_upsert_document('loop:' || :n, 'Document ' || :n, (SELECT $body FROM (SELECT :n::bigint AS n) s));
SQL
cat > "$work/bulk.sql" <<SQL
\set n random(1, 1000000)
SELECT count(*) FROM rag_upsert_documents((
  SELECT jsonb_agg(jsonb_build_object('doc_id', 'bulk:' || n, 'title', 'Document ' || n, 'content', $body))
  FROM (SELECT :n::bigint * 100000 + i AS n FROM generate_series(1, $BULK_SIZE) i) d));
SQL

pgbench_tps() {
    # prints transactions per second (excluding connection time)
    "$PG_BINDIR/pgbench" -n -M prepared -c 1 -j 1 "$@" "$DSN" 2>&1 \
        | awk '/tps = / { print $3; exit }'
}

log "warm-up"
pgbench_tps -f "$work/loop.sql" -t 200 >/dev/null
pgbench_tps -f "$work/bulk.sql" -t 2 >/dev/null
log "client loop: $LOOP_DOCS single upserts"
loop_tps="$(pgbench_tps -f "$work/loop.sql" -t "$LOOP_DOCS")"
log "bulk: $BULK_CALLS calls of $BULK_SIZE documents"
bulk_tps="$(pgbench_tps -f "$work/bulk.sql" -t "$BULK_CALLS")"
chunks="$(as_pg_psql -Atc "SELECT chunks FROM rag_stats()")"
docs="$(as_pg_psql -Atc "SELECT documents FROM rag_stats()")"

read -r loop_docs_s bulk_docs_s ratio loop_us bulk_us < <(python3 - "$loop_tps" "$bulk_tps" "$BULK_SIZE" <<'PY'
import sys
loop_tps, bulk_tps, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
loop, bulk = loop_tps, bulk_tps * size
print(f"{loop:.0f} {bulk:.0f} {bulk/loop:.1f} {1e6/loop:.0f} {1e6/bulk:.0f}")
PY
)
log "loop: $loop_docs_s docs/s, bulk: $bulk_docs_s docs/s (x$ratio)"

machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
section="$work/section.md"
cat > "$section" <<MD
## Ingestion throughput

Command: \`bash bench/ingest_throughput.sh\` — $(date -u +%Y-%m-%d), revision $(git rev-parse --short HEAD), $machine,
PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), release build, one pgbench client over TCP with prepared
statements, durable commits (fsync and synchronous_commit on). Documents of ~700 characters (110 words from a skewed
20,000-word vocabulary), built server-side on both sides; $docs documents and $chunks chunks at the end.

| path | documents/s | µs per document |
|---|---:|---:|
| \`rag_upsert_document\` in a client loop (one call and one commit per document, $LOOP_DOCS documents) | $loop_docs_s | $loop_us |
| \`rag_upsert_documents\` ($BULK_SIZE documents per call, $BULK_CALLS calls) | $bulk_docs_s | $bulk_us |

Bulk is **${ratio}×** faster per document (target ≥ 10×). Load average at the end of the run: $(cut -d' ' -f1-3 /proc/loadavg)
(other work on the machine inflates both sides and makes the ratio noisy).
MD
python3 - "$ROOT/BENCHMARKS.md" "$section" <<'PY'
import re, sys, pathlib
path, section = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
text = path.read_text() if path.exists() else "# Benchmarks\n\nEach section names the command and the machine that produced it.\n"
pattern = re.compile(r"^## Ingestion throughput\n.*?(?=^## |\Z)", re.S | re.M)
text = pattern.sub(lambda m: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
path.write_text(text)
PY
cat "$section"
