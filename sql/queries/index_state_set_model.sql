-- $1 model, $2 dimension
UPDATE rag_search.index_state SET embedding_model = $1, embedding_dim = $2, changed_at = now()
