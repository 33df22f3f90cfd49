-- The merged batch $1 is no longer pending.
DELETE FROM rag_search.postings_pending WHERE chunk_id = ANY ($1::bigint[])
