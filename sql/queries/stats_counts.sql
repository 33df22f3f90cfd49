SELECT (SELECT count(*) FROM rag_search.documents) AS documents,
       (SELECT count(*) FROM rag_search.chunks) AS chunks,
       (SELECT count(*) FROM rag_search.chunks WHERE embedding IS NOT NULL) AS embedded
