-- Source $1: its
-- registration, with the oids of its tables.
SELECT s.id, s.source_table::oid AS source_oid, s.page_table::oid AS page_oid, s.source_table::text AS name,
       s.doc_id_prefix, s.key_column, s.page_key_column, s.title_column, s.content_column, s.metadata_columns,
       s.page_ref_column, s.ordinal_column, s.embedding_column, s.embedding_model, s.embedding_dim,
       s.state, s.phase, s.cursor_key, s.rows_total, s.rows_done
FROM rag_search.attached_sources AS s
WHERE s.id = $1
