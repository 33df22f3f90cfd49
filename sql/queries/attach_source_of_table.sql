-- The source table $1 (oid) belongs to, as its document or chunk table or
-- as its page table.
SELECT s.id FROM rag_search.attached_sources AS s WHERE $1 IN (s.source_table, s.page_table)
