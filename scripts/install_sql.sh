#!/usr/bin/env bash
# Copies the frozen install scripts of earlier releases and every upgrade
# script into an extension directory (cargo pgrx writes only the current
# version's script).   scripts/install_sql.sh EXTENSION_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$1"
for f in "$ROOT"/sql/install/rag_search--*.sql "$ROOT"/sql/upgrade/rag_search--*--*.sql; do
    [ -e "$f" ] || continue
    cmp -s "$f" "$dest/$(basename "$f")" || install -m 0644 "$f" "$dest/$(basename "$f")"
done
