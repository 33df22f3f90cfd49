-- $1 model, $2 dimension, $3 input hash, $4 embedding
INSERT INTO rag_search.query_embedding_cache (model, dimension, input_hash, embedding)
VALUES ($1, $2, $3, $4)
ON CONFLICT (model, dimension, input_hash) DO NOTHING
