-- Search functions run queries with pgvector and pg_trgm operators. Pin
-- their search_path to the schemas those extensions live in, so they work
-- whatever the caller's search_path is and cannot be redirected by objects
-- in other schemas. (Settings the functions change while they run, such as
-- hnsw.ef_search, are also undone when they return.)
ALTER FUNCTION @extschema@.rag_hybrid_search(text, integer, text, jsonb, jsonb)
    SET search_path = pg_catalog, @extschema:vector@, @extschema:pg_trgm@, pg_temp;
ALTER FUNCTION @extschema@.rag_hybrid_search(text, @extschema:vector@.vector, integer, text, jsonb, jsonb)
    SET search_path = pg_catalog, @extschema:vector@, @extschema:pg_trgm@, pg_temp;
ALTER FUNCTION @extschema@.rag_candidate_pages(text, integer)
    SET search_path = pg_catalog, @extschema:vector@, @extschema:pg_trgm@, pg_temp;
