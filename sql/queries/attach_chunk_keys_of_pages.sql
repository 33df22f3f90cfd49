-- The keys of the chunks (table @table@) of pages $1 (text keys), found
-- through the chunk column @page_ref@.
SELECT coalesce(array_agg(s.@key@::text), '{}') AS keys
FROM @table@ AS s
WHERE s.@page_ref@ = ANY ($1::text[]::@page_ref_type@[])
