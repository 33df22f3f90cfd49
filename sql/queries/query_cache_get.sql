-- $1 cache key (rag_core::embed::EmbedConfig::query_cache_key)
SELECT embedding FROM rag_search.query_embedding_cache WHERE key = $1
