-- $1 query words (space separated, already normalised by rag_core::text).
-- One round trip for everything ranking needs: corpus totals and each query
-- lexeme's document frequency (compacted totals plus pending deltas), and
-- the embedding model/dimension the chunks hold.
WITH state AS (
    SELECT text_search_config, embedding_model, embedding_dim FROM rag_search.index_state
), lexemes AS (
    SELECT DISTINCT l.lexeme
    FROM state, unnest(tsvector_to_array(to_tsvector(state.text_search_config, $1))) AS l(lexeme)
), frequencies AS (
    SELECT l.lexeme,
           coalesce((SELECT t.df FROM rag_search.term_stats t WHERE t.lexeme = l.lexeme), 0)
         + coalesce((SELECT sum(d.df) FROM rag_search.term_stats_delta d WHERE d.lexeme = l.lexeme), 0) AS df
    FROM lexemes l
), totals AS (
    SELECT c.chunks + coalesce(sum(d.chunks), 0) AS chunks,
           c.lexemes + coalesce(sum(d.lexemes), 0) AS lexemes
    FROM rag_search.corpus_stats c LEFT JOIN rag_search.corpus_stats_delta d ON true
    GROUP BY c.chunks, c.lexemes
)
SELECT state.text_search_config::text AS text_search_config,
       totals.chunks::bigint,
       totals.lexemes::bigint,
       coalesce((SELECT array_agg(f.lexeme ORDER BY f.lexeme) FROM frequencies f), '{}') AS query_lexemes,
       coalesce((SELECT array_agg(greatest(f.df, 0)::bigint ORDER BY f.lexeme) FROM frequencies f), '{}') AS dfs,
       state.embedding_model,
       state.embedding_dim
FROM state, totals
