-- $1 chunks, $2 embeddings added (negative: removed).
INSERT INTO rag_search.chunk_counts (chunks, embedded) VALUES ($1, $2)
