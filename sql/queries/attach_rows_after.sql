-- Attached source table @table@: the next $2 rows in key order after key
-- $1 (text; NULL: from the first), with their mapped values (@columns@).
SELECT @columns@
FROM @table@ AS s
WHERE ($1::text IS NULL OR s.@key@ > $1::text::@key_type@)
ORDER BY s.@key@
LIMIT $2
