SELECT rag_search.compact_chunk_counts()
