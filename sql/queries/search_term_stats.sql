-- $1 query words (space separated, already normalised by rag_core::text).
-- One round trip for everything ranking needs: the text-search
-- configuration, corpus totals, each query lexeme with its document
-- frequency, and the embedding model/dimension the chunks hold.
WITH state AS (
    SELECT text_search_config, embedding_model, embedding_dim FROM rag_search.index_state
), lexemes AS (
    SELECT DISTINCT l.lexeme
    FROM state, unnest(tsvector_to_array(to_tsvector(state.text_search_config, $1))) AS l(lexeme)
)
SELECT state.text_search_config::text AS text_search_config,
       c.chunks,
       c.lexemes,
       coalesce((SELECT array_agg(l.lexeme ORDER BY l.lexeme) FROM lexemes l), '{}') AS query_lexemes,
       coalesce((SELECT array_agg(coalesce(t.df, 0) ORDER BY l.lexeme)
                 FROM lexemes l LEFT JOIN rag_search.term_stats t ON t.lexeme = l.lexeme), '{}') AS dfs,
       state.embedding_model,
       state.embedding_dim
FROM state, rag_search.corpus_stats c
