-- The keys of the rows a statement inserted (transition table @new@).
SELECT coalesce(array_agg(n.@key@::text), '{}') AS keys FROM @new@ AS n
