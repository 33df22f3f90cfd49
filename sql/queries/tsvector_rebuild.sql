-- $1 text search configuration (see rag_search.tsvector_rebuild in
-- sql/schema.sql; an unknown name fails with 42704).
SELECT rag_search.tsvector_rebuild($1::regconfig)
