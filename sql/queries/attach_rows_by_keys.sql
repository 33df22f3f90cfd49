-- Attached source table @table@ (rendered by src/attach): the mapped
-- values (@columns@, a select list over alias s) of the rows whose key is
-- among $1 (text).
SELECT @columns@
FROM @table@ AS s
WHERE s.@key@ = ANY ($1::text[]::@key_type@[])
