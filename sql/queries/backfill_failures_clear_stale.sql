-- Model or dimension switch: failures of the old model say nothing about
-- the new one. $1 model, $2 dimension.
DELETE FROM rag_search.backfill_failures
WHERE (embedding_model, embedding_dim) IS DISTINCT FROM ($1, $2)
