#!/usr/bin/env bash
# README command (1): the main job end to end on an embedded PostgreSQL 18.
#
#  1. set-up (scripts/setup.sh; plus the Debian package postgresql-doc-15)
#  2. builds the extension (release) and installs it when it changed
#  3. starts the cluster (scripts/cluster.sh: .pgdata, port 54318,
#     shared_preload_libraries = 'rag_search') and creates the extension
#  4. picks the embedding server: Ollama if one answers with its model, else
#     the bundled multilingual-e5-small server (scripts/demo/embedder.sh)
#  5. loads the corpus: the first $RAG_DEMO_PAGES pages of the PostgreSQL
#     manual in reading order + the Korean sample in samples/
#  6. runs the background backfill and shows its progress until coverage is
#     100 %
#  7. runs example searches in every mode (scripts/demo/searches.sql), then
#     attaches a wiki page/chunk table pair in place, some chunks already
#     embedded, and searches it next to the manual (scripts/demo/wiki.sql)
# The cluster and the embedding server keep running. A second run reuses
# them and skips what is done.
#
# Environment (defaults in brackets):
#   RAG_DEMO_PAGES [45]   manual pages in reading order (tutorial, SQL syntax,
#                         data definition up to row security), 0 = all 1,169.
#                         The bundled model costs ~0.26 CPU-seconds per chunk
#                         of ~700 characters: 45 pages + the samples are 300
#                         chunks: ~1 minute estimated on an idle 2-core
#                         machine, 7 minutes measured on one shared by four
#                         developers (load 11);
#                         the whole manual (~6.9 million characters, ~8,700
#                         chunks) about 25 minutes idle, hours when busy.
#   RAG_PG_CONFIG [.venv's embedded PostgreSQL]   CARGO_TARGET_DIR [target]
#   PGRX_HOME [~/.pgrx]   RAG_DEMO_PGDATA [.pgdata]   RAG_DEMO_PORT [54318]
#   RAG_DEMO_DB [rag_demo]   RAG_DEMO_STATE [target/demo: corpus, logs, pid]
#   RAG_DEMO_EMBEDDER [auto|bundled|ollama], RAG_DEMO_OLLAMA_URL/_MODEL/_DIM,
#   RAG_DEMO_EMBED_PORT [11435]   (see scripts/demo/embedder.sh)
#   RAG_DEMO_STALL_SECONDS [300]: give up when the backfill makes no progress
#   for that long.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
T0=$SECONDS

PAGES="${RAG_DEMO_PAGES:-45}"
export RAG_DEMO_DB="${RAG_DEMO_DB:-rag_demo}"
export RAG_DEMO_PORT="${RAG_DEMO_PORT:-54318}"
export RAG_DEMO_STATE="${RAG_DEMO_STATE:-$ROOT/target/demo}"
STALL_SECONDS="${RAG_DEMO_STALL_SECONDS:-300}"
# Demo chunking: the extension's defaults. The bundled model's cost is about
# linear in characters, so the chunk size hardly changes the total time;
# embedding_max_chars caps title + chunk below e5's 512-token window.
CHUNK_MAX_CHARS=1200
CHUNK_OVERLAP_CHARS=150
EMBEDDING_MAX_CHARS=1600
# Small batches: a progress update every few seconds on 2 cores.
BACKFILL_BATCH=8

step() { printf '\n== %s  [%ss]\n' "$*" "$((SECONDS - T0))"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

step "1/7 set-up"
bash scripts/setup.sh
source scripts/env.sh
ensure_debian_package postgresql-doc-15 "the manual, the demo's corpus"
mkdir -p "$RAG_DEMO_STATE"
PG_USER="$( [ "$(id -u)" -eq 0 ] && echo "$RAG_PG_USER" || id -un )"
# No pager: on a terminal, psql would stop at long tables and wait for a key.
psql_db() { "$RAG_PG_BINDIR/psql" -h 127.0.0.1 -p "$RAG_DEMO_PORT" -U "$PG_USER" -X -P pager=off -v ON_ERROR_STOP=1 "$@"; }
# One value per line, no decoration, no NOTICEs (the rows say it all).
q() { PGOPTIONS="-c client_min_messages=warning" psql_db -qtA -d "$RAG_DEMO_DB" "$@"; }
cluster_running() { bash scripts/cluster.sh status >/dev/null 2>&1; }

step "2/7 build rag_search (release) for $("$RAG_PG_CONFIG" --version)"
# cargo pgrx package builds into a staging tree (absolute paths below it);
# files are copied only when they differ from the installed ones.
pkg="${CARGO_TARGET_DIR:-$ROOT/target}/demo-package"
rm -rf "$pkg"
if ! cargo pgrx package --pg-config "$RAG_PG_CONFIG" --out-dir "$pkg" >"$RAG_DEMO_STATE/build.log" 2>&1; then
    tail -n 40 "$RAG_DEMO_STATE/build.log" >&2
    die "the build failed (full log: $RAG_DEMO_STATE/build.log)"
fi
# The frozen install scripts of earlier releases and the upgrade scripts go
# with the build (ALTER EXTENSION rag_search UPDATE on an older database).
bash scripts/install_sql.sh "$pkg$("$RAG_PG_CONFIG" --sharedir)/extension"
# pgrx writes the extension script's statements in a different order from
# one build to the next: compare scripts as sorted lines.
same_file() {
    case "$1" in
    *.sql) [ -f "$2" ] && cmp -s <(sort "$1") <(sort "$2") ;;
    *) cmp -s "$1" "$2" ;;
    esac
}
changed=(); lib_changed=0
while IFS= read -r -d '' f; do
    if ! same_file "$f" "/${f#"$pkg"/}"; then
        changed+=("$f")
        case "$f" in *.so) lib_changed=1 ;; esac
    fi
done < <(find "$pkg" -type f -print0)
if [ "${#changed[@]}" -eq 0 ]; then
    echo "installed extension is up to date"
else
    # Overwriting the library of a running server crashes it: stop first.
    if [ "$lib_changed" = 1 ] && cluster_running; then
        echo "the extension library changed: stopping the demo cluster to install it"
        bash scripts/cluster.sh stop >/dev/null
    fi
    for f in "${changed[@]}"; do
        dest="/${f#"$pkg"/}"
        mkdir -p "$(dirname "$dest")"
        cp "$f" "$dest.tmp.$$" && chmod 0644 "$dest.tmp.$$" && mv -f "$dest.tmp.$$" "$dest"
        echo "installed $dest"
    done
fi

step "3/7 cluster and extension"
bash scripts/cluster.sh start
echo "PostgreSQL runs on 127.0.0.1:$RAG_DEMO_PORT (data in ${RAG_DEMO_PGDATA:-.pgdata})"
# The server must run the release build just made: the installed library is
# that build, and the server started after it was installed (a server started
# earlier may hold another library in memory).
lib="$("$RAG_PG_CONFIG" --pkglibdir)/rag_search.so"
cmp -s "$pkg$lib" "$lib" || die "$lib is not the release build of this checkout (was it replaced meanwhile?)"
started="$(psql_db -qtA -d postgres -c "SELECT extract(epoch FROM pg_postmaster_start_time())::bigint")"
if [ "$started" -le "$(stat -c %Y "$lib")" ]; then
    echo "the server started before $lib was installed: restarting it"
    bash scripts/cluster.sh stop >/dev/null
    bash scripts/cluster.sh start
fi
echo "rag_search library: this checkout's release build ($(sha256sum "$lib" | cut -c1-12))"
if [ -z "$(psql_db -qtA -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$RAG_DEMO_DB'")" ]; then
    psql_db -q -d postgres -c "CREATE DATABASE \"$RAG_DEMO_DB\""
fi
# Same extension version, new SQL (e.g. functions added during
# development): recreate it, since there is no upgrade script for that.
sharedir="$("$RAG_PG_CONFIG" --sharedir)"
ext_hash="$(cat "$sharedir"/extension/rag_search.control "$sharedir"/extension/rag_search--*.sql | sort | sha256sum | cut -c1-16)"
q <<SQL
CREATE TABLE IF NOT EXISTS public.rag_demo_meta (key text PRIMARY KEY, value text NOT NULL);
SQL
old_hash="$(q -c "SELECT value FROM public.rag_demo_meta WHERE key = 'extension_sql'")"
has_ext="$(q -c "SELECT count(*) FROM pg_extension WHERE extname = 'rag_search'")"
outdated="$(q -c "SELECT e.extversion <> a.default_version FROM pg_extension e
                  JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'rag_search'")"
if [ "$outdated" = t ]; then
    echo "upgrading the extension: $(q -c "SELECT extversion FROM pg_extension WHERE extname = 'rag_search'") → \
$(q -c "SELECT default_version FROM pg_available_extensions WHERE name = 'rag_search'")"
    q -c "ALTER EXTENSION rag_search UPDATE"
elif [ "$has_ext" = 1 ] && [ "$old_hash" != "$ext_hash" ]; then
    echo "the installed extension's SQL changed within one version: recreating it (documents are reloaded and re-embedded)"
    q -c "SELECT rag_backfill_stop()" >/dev/null 2>&1 || true
    q -c "DROP EXTENSION rag_search CASCADE"
fi
q -c "CREATE EXTENSION IF NOT EXISTS rag_search CASCADE" \
  -c "INSERT INTO public.rag_demo_meta VALUES ('extension_sql', '$ext_hash')
      ON CONFLICT (key) DO UPDATE SET value = excluded.value"
q -c "SELECT 'rag_search ' || extversion || ' in database $RAG_DEMO_DB' FROM pg_extension WHERE extname = 'rag_search'"

step "4/7 embedding server"
picked="$(bash scripts/demo/embedder.sh pick)" || die "no embedding server (see above)"
eval "$picked"
echo "model $EMBED_MODEL ($EMBED_DIM dimensions) at $EMBED_URL, provider $EMBED_PROVIDER"
# Database-level settings: every new session and the backfill worker of
# this database see them. URL and provider are superuser-only settings.
psql_db -q -d "$RAG_DEMO_DB" -v db="$RAG_DEMO_DB" -v url="$EMBED_URL" -v provider="$EMBED_PROVIDER" \
    -v model="$EMBED_MODEL" -v dim="$EMBED_DIM" -v qt="$EMBED_QUERY_TEMPLATE" -v dt="$EMBED_DOCUMENT_TEMPLATE" <<SQL
ALTER DATABASE :"db" SET rag_search.embedding_url = :'url';
ALTER DATABASE :"db" SET rag_search.embedding_provider = :'provider';
ALTER DATABASE :"db" SET rag_search.embedding_model = :'model';
ALTER DATABASE :"db" SET rag_search.embedding_dimension = :dim;
ALTER DATABASE :"db" SET rag_search.query_template = :'qt';
ALTER DATABASE :"db" SET rag_search.document_template = :'dt';
ALTER DATABASE :"db" SET rag_search.embedding_max_chars = $EMBEDDING_MAX_CHARS;
ALTER DATABASE :"db" SET rag_search.chunk_max_chars = $CHUNK_MAX_CHARS;
ALTER DATABASE :"db" SET rag_search.chunk_overlap_chars = $CHUNK_OVERLAP_CHARS;
SQL
# A no-op when the chunks already hold this model; otherwise every
# embedding is cleared (and re-filled by the backfill below).
psql_db -d "$RAG_DEMO_DB" -c "SELECT * FROM rag_set_embedding_model(current_setting('rag_search.embedding_model'),
                                   current_setting('rag_search.embedding_dimension')::int)"

step "5/7 corpus: PostgreSQL manual (first ${PAGES/#0/all} pages) + Korean sample"
python3 scripts/demo/build_corpus.py "$RAG_DEMO_STATE/corpus" --pages "$PAGES" \
    --extra samples/sample_docs.json --extra samples/korean_docs.json
for f in "$RAG_DEMO_STATE"/corpus/batch-*.json; do
    # \set reads the file in psql: no size limit of a command-line argument.
    psql_db -qtA -d "$RAG_DEMO_DB" -F ' ' <<SQL
\\set docs \`cat '$f'\`
SELECT action || ': ' || count(*) || ' documents (' || sum(chunks) || ' chunks)'
FROM rag_upsert_documents(:'docs'::jsonb) GROUP BY action ORDER BY action;
SQL
done
# Manual pages outside the current slice (a larger RAG_DEMO_PAGES before).
ids="$(python3 -c 'import json, glob, sys
print(json.dumps([d["doc_id"] for f in sorted(glob.glob(sys.argv[1] + "/batch-*.json")) for d in json.load(open(f))]))' "$RAG_DEMO_STATE/corpus")"
q -v ids="$ids" <<'SQL'
SELECT 'deleted ' || count(*) || ' pages outside the slice'
FROM (SELECT rag_delete_document(doc_id) FROM rag_search.documents
      WHERE doc_id LIKE 'pgdoc:%'
        AND doc_id NOT IN (SELECT jsonb_array_elements_text(:'ids'::jsonb))) d
HAVING count(*) > 0;
SQL
# After a bulk load: planner statistics, and the GIN pending list flushed
# (docs/runbook.md, "Seq Scan").
q -c "ANALYZE rag_search.documents, rag_search.chunks" \
  -c "SELECT gin_clean_pending_list('rag_search.chunks_tsv_gin')" >/dev/null
psql_db -d "$RAG_DEMO_DB" -c "SELECT * FROM rag_stats()"

step "6/7 embedding backfill"
status_sql="SELECT coverage_pct, embedded, total, missing, failed, chunks_per_sec,
                   coalesce(to_char(justify_hours(eta), 'HH24:MI:SS'), '--:--:--'), state,
                   coalesce(regexp_replace(last_error, '\s+', ' ', 'g'), '')
            FROM rag_backfill_status()"
read_status() { IFS='|' read -r cov emb tot miss fail rate eta state err < <(q -F '|' -c "$status_sql"); }
read_status
if [ "$miss" -gt 0 ]; then
    q -F ' ' -c "SELECT 'worker: ' || message FROM rag_backfill_start('bootstrap', batch_size => $BACKFILL_BATCH, batch_sleep_ms => 0)"
    tty=0; [ -t 1 ] && tty=1
    emb0=$emb; last_emb=-1; last_change=$SECONDS; last_print=0; last_resume=$SECONDS; t_fill=$SECONDS
    while :; do
        read_status
        line="$(printf '[backfill] %6s%%  %s/%s chunks  %s chunks/s  ETA %s  %s' "$cov" "$emb" "$tot" "$rate" "$eta" "$state")"
        [ "$fail" -gt 0 ] && line+="  failed $fail"
        if [ "$tty" = 1 ]; then
            printf '\r%-100s' "$line"
        elif [ $((SECONDS - last_print)) -ge 15 ] || [ "$miss" -eq 0 ]; then
            echo "$line"; last_print=$SECONDS
        fi
        [ "$miss" -eq 0 ] && break
        if [ "$emb" != "$last_emb" ]; then last_emb=$emb; last_change=$SECONDS; fi
        if [ "$state" != running ] && [ "$state" != stopping ] && [ $((SECONDS - last_resume)) -ge 30 ]; then
            # e.g. the cluster was restarted under a running worker
            [ "$tty" = 1 ] && echo
            echo "the worker is $state with $miss chunks missing: resuming it"
            q -F ' ' -c "SELECT 'worker: ' || message FROM rag_backfill_resume()"
            last_resume=$SECONDS
        fi
        if [ $((SECONDS - last_change)) -ge "$STALL_SECONDS" ]; then
            [ "$tty" = 1 ] && echo
            psql_db -x -d "$RAG_DEMO_DB" -c "SELECT * FROM rag_backfill_status()" >&2 || true
            echo "--- server log (${RAG_DEMO_PGDATA:-.pgdata}/server.log), last lines:" >&2
            tail -n 15 "${RAG_DEMO_PGDATA:-$ROOT/.pgdata}/server.log" >&2 || true
            [ "$EMBED_KIND" = bundled ] && { echo "--- embedding server log:" >&2; tail -n 15 "$RAG_DEMO_STATE/embedder.log" >&2 || true; }
            die "the backfill made no progress for ${STALL_SECONDS}s (last error: ${err:-none}). It keeps running; watch it with TABLE rag_backfill_progress; (docs/runbook.md)"
        fi
        sleep 2
    done
    [ "$tty" = 1 ] && echo
    echo "coverage 100 % after $((SECONDS - t_fill))s ($((emb - emb0)) chunks embedded now)"
else
    echo "no chunk is missing an embedding (coverage $cov % of $tot): nothing to do"
fi
if [ "$fail" -gt 0 ]; then
    echo "warning: $fail chunks failed and are parked; see docs/runbook.md, 'Failures'" >&2
    psql_db -d "$RAG_DEMO_DB" -c "SELECT chunk_id, attempts, error_kind, left(last_error, 80) AS last_error
                                  FROM rag_search.backfill_failures ORDER BY chunk_id LIMIT 10" >&2
fi
psql_db -x -d "$RAG_DEMO_DB" -c "TABLE rag_backfill_progress"

step "7/7 searches (scripts/demo/searches.sql), an attached wiki (scripts/demo/wiki.sql)"
psql_db -d "$RAG_DEMO_DB" -f scripts/demo/searches.sql
psql_db -d "$RAG_DEMO_DB" -f scripts/demo/wiki.sql

cat <<EOT

== done in $((SECONDS - T0))s. The cluster and the embedding server keep running.
   connect:    bash scripts/cluster.sh psql      (psql -h 127.0.0.1 -p $RAG_DEMO_PORT -U $PG_USER $RAG_DEMO_DB)
   stop:       bash scripts/cluster.sh stop; bash scripts/demo/embedder.sh stop
   try:        bash scripts/cluster.sh psql -v q='window functions running total' -f scripts/demo/searches.sql
               SELECT rank, doc_id, title, score, mode FROM rag_hybrid_search('트랜잭션 롤백', 5);
               SELECT * FROM rag_upsert_document('note:1', '메모', '새 문서는 백필이 곧 임베딩한다.');
               SELECT * FROM rag_backfill_start('maintenance');   -- keep new chunks embedded
               TABLE rag_backfill_progress;
   operators:  docs/runbook.md
EOT
