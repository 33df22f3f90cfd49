#!/usr/bin/env bash
# Runs every test tier of rag_search; README command (2) and .ci/run.
#   1. unit tests of the pgrx-free crates (plain cargo test)
#   2. #[pg_test] SQL-semantics tests inside PostgreSQL 18 (cargo pgrx test)
#   3. integration tests against live clusters over client connections
#   4. the SQL tests of tier 2 on PostgreSQL 16 (scripts/test_other_versions.sh)
# Exits non-zero on the first failing tier. RAG_TEST_TIERS (default "1 2 3 4")
# runs only some tiers; extra arguments go to the integration tier's test
# binaries (e.g. a test name filter).
#
# The tests install rag_search (debug builds) into their own copy of the
# embedded PostgreSQL (target/test-pg, with PGRX_HOME target/test-pgrx), never
# into the one the demo cluster runs from, so running the tests never touches
# a library a running server has loaded. The upgrade test also needs the
# previous release, built once from its commit into target/releases/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A clean clone builds everything once, so incremental artifacts would only
# take disk (a first run of every tier leaves 6.4 GB in target/ with them, 5.1 GB without).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
# A full disk fails the build midway with "No space left on device"; say so
# before anything starts.
free_kb="$(df -Pk "$ROOT" | awk 'NR == 2 { print $4 }')"
if [ ! -d "$ROOT/target/debug" ] && [ "${free_kb:-0}" -lt $((5 * 1024 * 1024)) ]; then
    echo "scripts/test.sh: only $((free_kb / 1024)) MB free on the disk of $ROOT; a first run needs about 5 GB for target/" >&2
    echo "hint: free disk space (old clones, other target/ directories) and run again" >&2
    exit 1
fi
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
            sudo -u "$RAG_PG_USER" "$TEST_PG/bin/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
        else
            "$TEST_PG/bin/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$ROOT"/target/it-clusters
}

# copy_postgres: a private copy of the embedded PostgreSQL.
source scripts/copy_postgres.sh

TEST_PG="$(copy_postgres "$(dirname "$RAG_PG_BINDIR")" "$ROOT/target/test-pg")"
trap stop_stray_clusters EXIT
export PGRX_HOME="$ROOT/target/test-pgrx"
mkdir -p "$PGRX_HOME"
printf '[configs]\npg18 = "%s"\n' "$TEST_PG/bin/pg_config" > "$PGRX_HOME/config.toml.new"
cmp -s "$PGRX_HOME/config.toml.new" "$PGRX_HOME/config.toml" || mv "$PGRX_HOME/config.toml.new" "$PGRX_HOME/config.toml"
rm -f "$PGRX_HOME/config.toml.new"
if [ "$(id -u)" -eq 0 ]; then chmod -R o+rX "$ROOT/target/test-pg"; fi

tiers="${RAG_TEST_TIERS:-1 2 3 4}"
tier() { case " $tiers " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if tier 1; then
echo "== 1/4 unit tests (pgrx-free crates)"
cargo test --locked -p rag_core -p fixture_embedder
fi

if tier 2; then
echo "== 2/4 SQL tests in PostgreSQL 18 (cargo pgrx test)"
pgdata="$ROOT/target/pgrx-test-pgdata"
mkdir -p "$pgdata"
if [ "$(id -u)" -eq 0 ]; then chown "$RAG_PG_USER" "$pgdata"; fi
# One test at a time: the tests share one database and some run DDL on the
# extension's tables (model and text-search switches, TRUNCATE), which can
# deadlock with another test's open transaction.
RUST_TEST_THREADS=1 cargo pgrx test pg18 "${runas[@]}" --pgdata "$pgdata"
fi

if tier 3; then
echo "== 3/4 integration tests (live clusters, client connections)"
# The previous release, for the upgrade test: its own PostgreSQL copy and
# build directory, built once per release.
read -r previous_version previous_commit < <(grep -v '^#' sql/install/releases.txt | tail -n 1)
previous="$ROOT/target/releases/$previous_version"
if [ ! -f "$previous/.built" ]; then
    echo "building rag_search $previous_version (commit $previous_commit) for the upgrade test"
    if ! git cat-file -e "$previous_commit^{commit}" 2>/dev/null; then
        echo "the upgrade test needs commit $previous_commit (rag_search $previous_version) in this clone's history" >&2
        exit 1
    fi
    rm -rf "$previous"
    mkdir -p "$previous/src"
    git archive "$previous_commit" | tar -x -C "$previous/src"
    previous_pg="$(copy_postgres "$(dirname "$RAG_PG_BINDIR")" "$previous/pg")"
    (cd "$previous/src" && CARGO_TARGET_DIR="$previous/target" \
        cargo pgrx install --pg-config "$previous_pg/bin/pg_config" >"$previous/build.log" 2>&1) \
        || { tail -n 40 "$previous/build.log" >&2; exit 1; }
    echo "$previous_pg" > "$previous/.built"
fi
previous_pg="$(cat "$previous/.built")"
if [ "$(id -u)" -eq 0 ]; then chmod -R o+rX "$previous"; fi
bash scripts/install_extension.sh "$TEST_PG/bin/pg_config"
RAG_PG_BINDIR="$TEST_PG/bin" RAG_PREVIOUS_PG_BINDIR="$previous_pg/bin" RAG_PREVIOUS_VERSION="$previous_version" \
    cargo test --locked -p rag_search_integration -- --test-threads=2 "$@"
fi

if tier 4; then
echo "== 4/4 SQL tests on the other PostgreSQL versions"
bash scripts/test_other_versions.sh
fi
