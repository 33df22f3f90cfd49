-- The model and dimension embeddings must be written for. KEY SHARE makes
-- rag_set_embedding_model (which locks this row FOR UPDATE) wait until the
-- batch that read it has committed, so no vector of a replaced model is
-- ever written after the switch.
SELECT embedding_model, embedding_dim
FROM rag_search.index_state
FOR KEY SHARE
