-- The doc_id prefixes of the attached sources, with their names.
SELECT s.doc_id_prefix, s.source_table::text AS name FROM rag_search.attached_sources AS s
