SELECT embedding_model, embedding_dim, text_search_config::text
FROM rag_search.index_state
