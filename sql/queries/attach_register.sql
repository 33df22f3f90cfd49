-- Registers a source: $1 source table, $2 page table (NULL: a document
-- table), $3 doc_id prefix, $4 key column, $5 page key column, $6 title,
-- $7 content, $8 metadata columns, $9 page column, $10 ordinal column,
-- $11 embedding column, $12 its model, $13 its dimension, $14 the first
-- phase, $15 the rows to walk.
INSERT INTO rag_search.attached_sources
    (source_table, page_table, doc_id_prefix, key_column, page_key_column, title_column, content_column,
     metadata_columns, page_ref_column, ordinal_column, embedding_column, embedding_model, embedding_dim,
     phase, rows_total)
VALUES ($1::oid::regclass, $2::oid::regclass, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
RETURNING id
