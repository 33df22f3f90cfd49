-- Whether the current role may add query embeddings to the cache (and trim
-- it now and then).
SELECT has_table_privilege('rag_search.query_embedding_cache', 'INSERT')
   AND has_table_privilege('rag_search.query_embedding_cache', 'DELETE')
