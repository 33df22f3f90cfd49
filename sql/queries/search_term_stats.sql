-- $1 query words (space separated, already normalised by rag_core::text).
-- Read as the extension's owner. One round trip for everything ranking
-- needs: corpus totals (including pending deltas), each query lexeme's
-- document frequency (folded totals; see sql/search.sql) and whether it has
-- postings (sql/postings.sql), the chunks not yet merged into postings,
-- the embedding model/dimension the chunks hold, and pgvector's version
-- (its filtered HNSW scans depend on it).
WITH state AS (
    SELECT text_search_config, embedding_model, embedding_dim FROM rag_search.index_state
), lexemes AS (
    SELECT DISTINCT l.lexeme
    FROM state, unnest(tsvector_to_array(to_tsvector(state.text_search_config, $1))) AS l(lexeme)
), frequencies AS (
    SELECT l.lexeme, coalesce(t.df, 0) AS df,
           EXISTS (SELECT FROM rag_search.postings AS p WHERE p.lexeme = l.lexeme) AS indexed
    FROM lexemes l LEFT JOIN rag_search.term_stats t ON t.lexeme = l.lexeme
), totals AS (
    SELECT c.chunks + coalesce(sum(d.chunks), 0) AS chunks,
           c.lexemes + coalesce(sum(d.lexemes), 0) AS lexemes
    FROM rag_search.corpus_stats c LEFT JOIN rag_search.corpus_stats_delta d ON true
    GROUP BY c.chunks, c.lexemes
)
SELECT state.text_search_config::text AS text_search_config,
       totals.chunks::bigint AS chunks,
       totals.lexemes::bigint AS lexemes,
       coalesce((SELECT array_agg(f.lexeme ORDER BY f.lexeme) FROM frequencies f), '{}') AS query_lexemes,
       coalesce((SELECT array_agg(greatest(f.df, 0)::bigint ORDER BY f.lexeme) FROM frequencies f), '{}') AS dfs,
       coalesce((SELECT array_agg(f.indexed ORDER BY f.lexeme) FROM frequencies f), '{}') AS indexed,
       coalesce((SELECT array_agg(DISTINCT p.chunk_id) FROM rag_search.postings_pending AS p), '{}') AS pending,
       state.embedding_model,
       state.embedding_dim,
       (SELECT e.extversion FROM pg_catalog.pg_extension AS e WHERE e.extname = 'vector') AS vector_version
FROM state, totals
