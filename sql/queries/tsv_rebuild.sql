-- Text-search configuration switch: recreate the stored tsvector with the new
-- configuration. %L is the configuration name, quoted by format().
SELECT format($ddl$
    ALTER TABLE rag_search.chunks DROP COLUMN tsv;
    ALTER TABLE rag_search.chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS
        (rag_search.index_tsvector(%L::regconfig, content)) STORED;
    CREATE INDEX chunks_tsv_gin ON rag_search.chunks USING gin (tsv);
    SELECT rag_search.term_stats_rebuild();
$ddl$, $1::regconfig::text)
