#!/usr/bin/env bash
# The long run of the SQL fuzzer: generated calls of every rag_* function
# (query strings of every Unicode class, control characters, tsquery syntax,
# huge and empty texts, mixed Korean and English; random filter and options
# JSON with deep nesting and wrong types; random top_k and modes; random
# documents for ingestion; settings, backfill and worker calls) against a
# release build. Every error must be a SQLSTATE docs/errors.md lists, with
# a hint when the extension raised it; no XX000, no crashed backend. The
# fast seeded subset is tests/integration/tests/fuzz_sql.rs (scripts/test.sh).
#
#   bash bench/fuzz.sh
#   FUZZ_INPUTS=100000 FUZZ_SEED=7 bash bench/fuzz.sh
#
# Settings (environment): FUZZ_INPUTS [20000], FUZZ_SEED [1], FUZZ_MAX_TEXT
# (longest generated text in characters) [200000], and those of
# bench/common.sh. Writes the "SQL fuzzing" section of BENCHMARKS.md; exits
# non-zero (after writing it) when a rule was broken.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

INPUTS="${FUZZ_INPUTS:-20000}"
SEED="${FUZZ_SEED:-1}"
MAX_TEXT="${FUZZ_MAX_TEXT:-200000}"
# The dimension of the fuzzing corpus: small, so that inputs are cheap.
DIMENSION=8
COMMAND="$(bench_command bench/fuzz.sh FUZZ_INPUTS FUZZ_SEED FUZZ_MAX_TEXT)"

bench_setup
build_fixture_program fuzz_bench
start_cluster_and_fixture fuzz $((DIMENSION * 2)) "$DIMENSION"
report_args "$COMMAND"
log "$INPUTS inputs of seed $SEED"

"$BENCH_BIN/fuzz_bench" \
    --dsn "host=127.0.0.1 port=$PORT user=$(pg_user)" \
    --fixture-url "$FIXTURE_URL" \
    --dimension "$DIMENSION" \
    --seed "$SEED" \
    --inputs "$INPUTS" \
    --max-text "$MAX_TEXT" \
    "${REPORT_ARGS[@]}"
log "written to BENCHMARKS.md"
