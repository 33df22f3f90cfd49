#!/usr/bin/env bash
# Checks that the README's two commands never harm each other: runs
# `bash scripts/demo.sh && bash scripts/test.sh && bash scripts/demo.sh` and
# shows that the demo cluster stayed up through the tests (same postmaster,
# no crash or restart in its log, its library untouched, searches answer)
# and that the second demo run found its release build installed and
# running. Takes as long as the three commands (about 15 minutes on 2 cores).
# Exits non-zero with the reason on the first check that fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOGS="$ROOT/target/check-readme-commands"
mkdir -p "$LOGS"

fail() { echo "check_readme_commands: $*" >&2; exit 1; }
run() {
    local name="$1"; shift
    local t0=$SECONDS
    echo "== $name: $* (log: $LOGS/$name.log)"
    "$@" >"$LOGS/$name.log" 2>&1 || { tail -n 30 "$LOGS/$name.log" >&2; fail "$name failed"; }
    echo "   ok in $((SECONDS - t0))s"
}

run demo-1 bash scripts/demo.sh
source scripts/env.sh
PGDATA_DIR="${RAG_DEMO_PGDATA:-$ROOT/.pgdata}"
PG_USER="$( [ "$(id -u)" -eq 0 ] && echo "$RAG_PG_USER" || id -un )"
q() {
    "$RAG_PG_BINDIR/psql" -h 127.0.0.1 -p "${RAG_DEMO_PORT:-54318}" -U "$PG_USER" -X -qtA \
        -d "${RAG_DEMO_DB:-rag_demo}" -c "$1"
}
lib="$("$RAG_PG_CONFIG" --pkglibdir)/rag_search.so"
postmaster_pid() { head -n 1 "$PGDATA_DIR/postmaster.pid"; }
pid_before="$(postmaster_pid)"
lib_before="$(sha256sum "$lib")"
log_lines_before="$(wc -l <"$PGDATA_DIR/server.log")"

run tests bash scripts/test.sh

# The demo cluster after the tests.
[ -f "$PGDATA_DIR/postmaster.pid" ] || fail "the demo cluster is down after the tests"
[ "$(postmaster_pid)" = "$pid_before" ] || fail "the demo cluster was restarted during the tests"
[ "$(sha256sum "$lib")" = "$lib_before" ] || fail "the tests replaced the demo's library $lib"
if tail -n +"$((log_lines_before + 1))" "$PGDATA_DIR/server.log" \
    | grep -E "terminated by signal|reinitializ|server process .* was terminated|PANIC"; then
    fail "the demo cluster's log shows a crash during the tests (above)"
fi
hits="$(q "SELECT count(*) FROM rag_hybrid_search('transaction rollback', 5, 'fts')")"
[ "$hits" -gt 0 ] || fail "a search on the demo cluster found nothing after the tests"
echo "   demo cluster after the tests: postmaster $pid_before still up, library unchanged, no crash in its log, search answers ($hits hits)"

run demo-2 bash scripts/demo.sh
grep -q "installed extension is up to date" "$LOGS/demo-2.log" \
    || fail "the second demo run reinstalled the extension (see $LOGS/demo-2.log)"
grep -q "this checkout's release build" "$LOGS/demo-2.log" || fail "the second demo run did not confirm its build"
grep -q "coverage 100 %\|nothing to do" "$LOGS/demo-2.log" || fail "the second demo run did not reach full coverage"
echo "   second demo run: release build up to date and running, coverage 100 %, searches shown"
echo "check_readme_commands: demo → tests → demo left a healthy demo cluster"
