-- The keys a statement's update touched in a way the projection sees: new
-- keys whose mapped values changed (@changed@, over o and n) or that are
-- new, and old keys that are gone. An update of other columns only gives
-- no key, so it costs the projection nothing. Keys are paired as text.
SELECT coalesce(array_agg(DISTINCT k.key), '{}') AS keys
FROM (
    SELECT n.@key@::text AS key
    FROM @new@ AS n LEFT JOIN @old@ AS o ON o.@key@::text = n.@key@::text
    WHERE o.@key@ IS NULL OR @changed@
    UNION ALL
    SELECT o.@key@::text
    FROM @old@ AS o LEFT JOIN @new@ AS n ON n.@key@::text = o.@key@::text
    WHERE n.@key@ IS NULL
) AS k
