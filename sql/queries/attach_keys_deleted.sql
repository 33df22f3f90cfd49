-- The keys of the rows a statement deleted (transition table @old@).
SELECT coalesce(array_agg(o.@key@::text), '{}') AS keys FROM @old@ AS o
