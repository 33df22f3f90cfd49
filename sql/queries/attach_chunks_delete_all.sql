-- Deletes every projected chunk of source $1 (a TRUNCATE of its chunk
-- table); the pages stay.
DELETE FROM rag_search.chunks AS c
USING rag_search.documents AS d
WHERE d.id = c.document_id AND d.attached_source = $1
