-- $1 model, $2 dimension, $3 sha256 of the embedded input text
SELECT embedding FROM rag_search.query_embedding_cache
WHERE model = $1 AND dimension = $2 AND input_hash = $3
