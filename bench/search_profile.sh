#!/usr/bin/env bash
# Where a search's time goes, statement by statement, on a database that
# bench/search_speed.sh built: every mode and rag_candidate_pages on the
# first PROFILE_QUERIES real questions (SciFact test claims and Korean dev
# questions, alternating, with their precomputed vectors), twice, with
# auto_explain logging every statement a call runs; the second pass is
# reported per mode (bench/search_profile.py). auto_explain times the
# executor only: planning, the extension's own work and the logging itself
# fall under "the function itself". Release build.
#
#   bash bench/search_profile.sh
#
# Settings: PROFILE_SIZE the database (rag_speed_<size>) [100000],
# PROFILE_QUERIES [40], RAG_BENCH_DATA and those of bench/common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_shared datasets/scifact datasets/autorag-ko-dev embeddings/me5-small-q4

SIZE="${PROFILE_SIZE:-100000}"
QUERIES="${PROFILE_QUERIES:-40}"
DATA="${RAG_BENCH_DATA:-$ROOT/../bench-data}"
if [ ! -f "$DATA/cluster/data/PG_VERSION" ]; then
    echo "[bench] no speed benchmark cluster in $DATA: run bench/search_speed.sh first" >&2
    exit 1
fi
DATA="$(cd "$DATA" && pwd)"
exec 9>"$DATA/lock"
if ! flock -n 9; then
    echo "[bench] another run holds $DATA/lock" >&2
    exit 1
fi

bench_setup
start_kept_cluster "$DATA/cluster"
script="$(mktemp)"
python3 bench/search_profile.py sql "$SHARED" "$QUERIES" >"$script"
log "profiling rag_speed_$SIZE on $QUERIES questions (rag_search at $REVISION)"
"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$PORT user=$(pg_user) dbname=rag_speed_$SIZE" -f "$script"
rm -f "$script"
echo "rag_search at $REVISION, release build, rag_speed_$SIZE, $QUERIES questions; load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/search_profile.py report "$DATA/cluster/server.log"
