#!/usr/bin/env bash
# Builds rag_search and installs it into the PostgreSQL of a pg_config,
# with the frozen install scripts of earlier releases (sql/install) and the
# upgrade scripts (sql/upgrade), so CREATE EXTENSION ... VERSION and ALTER
# EXTENSION ... UPDATE work. Never run it against an installation whose
# server has the library loaded (overwriting a loaded library crashes it).
#   scripts/install_extension.sh PG_CONFIG [--release]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
pg_config="$1"; shift
cargo pgrx install --pg-config "$pg_config" "$@" >/dev/null
bash scripts/install_sql.sh "$("$pg_config" --sharedir)/extension"
