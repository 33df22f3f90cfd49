-- Search-side state: corpus statistics for BM25 and the query-embedding cache.

-- Document frequency of every lexeme in rag_search.chunks.tsv, and corpus
-- totals, kept current by statement-level triggers on chunks. BM25 reads
-- them for IDF and average length without scanning the corpus.
CREATE TABLE rag_search.term_stats (
    lexeme text   PRIMARY KEY,
    df     bigint NOT NULL CHECK (df >= 0)
);

CREATE TABLE rag_search.corpus_stats (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chunks    bigint  NOT NULL DEFAULT 0,
    -- Sum over chunks of the number of distinct lexemes (BM25 length unit).
    lexemes   bigint  NOT NULL DEFAULT 0
);
INSERT INTO rag_search.corpus_stats DEFAULT VALUES;

CREATE FUNCTION rag_search.term_stats_add() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Sorted so concurrent writers lock lexeme rows in one order (no deadlock).
    INSERT INTO rag_search.term_stats AS t (lexeme, df)
    SELECT u.lexeme, count(*) FROM new_chunks n, unnest(n.tsv) AS u
    GROUP BY u.lexeme ORDER BY u.lexeme
    ON CONFLICT (lexeme) DO UPDATE SET df = t.df + excluded.df;
    UPDATE rag_search.corpus_stats
    SET chunks = chunks + (SELECT count(*) FROM new_chunks),
        lexemes = lexemes + (SELECT coalesce(sum(length(tsv)), 0) FROM new_chunks);
    RETURN NULL;
END $$;

CREATE FUNCTION rag_search.term_stats_remove() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE rag_search.term_stats AS t SET df = t.df - o.n
    FROM (SELECT u.lexeme, count(*) AS n FROM old_chunks c, unnest(c.tsv) AS u
          GROUP BY u.lexeme ORDER BY u.lexeme) o
    WHERE t.lexeme = o.lexeme;
    UPDATE rag_search.corpus_stats
    SET chunks = greatest(chunks - (SELECT count(*) FROM old_chunks), 0),
        lexemes = greatest(lexemes - (SELECT coalesce(sum(length(tsv)), 0) FROM old_chunks), 0);
    RETURN NULL;
END $$;

-- Recomputes everything from the chunks (after a text-search configuration
-- change, or to repair statistics after TRUNCATE).
CREATE FUNCTION rag_search.term_stats_rebuild() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM rag_search.term_stats;
    INSERT INTO rag_search.term_stats (lexeme, df)
    SELECT u.lexeme, count(*) FROM rag_search.chunks c, unnest(c.tsv) AS u GROUP BY u.lexeme;
    UPDATE rag_search.corpus_stats
    SET chunks = (SELECT count(*) FROM rag_search.chunks),
        lexemes = (SELECT coalesce(sum(length(tsv)), 0) FROM rag_search.chunks);
$$;

CREATE FUNCTION rag_search.term_stats_reset() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM rag_search.term_stats;
    UPDATE rag_search.corpus_stats SET chunks = 0, lexemes = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_term_stats_insert AFTER INSERT ON rag_search.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag_search.term_stats_add();
CREATE TRIGGER chunks_term_stats_delete AFTER DELETE ON rag_search.chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag_search.term_stats_remove();
CREATE TRIGGER chunks_term_stats_truncate AFTER TRUNCATE ON rag_search.chunks
    FOR EACH STATEMENT EXECUTE FUNCTION rag_search.term_stats_reset();

-- Query embeddings by (model, dimension, sha256 of the exact input text), so
-- a repeated query costs no HTTP call. Written only in read-write
-- transactions on a primary.
CREATE TABLE rag_search.query_embedding_cache (
    model      text        NOT NULL,
    dimension  integer     NOT NULL,
    input_hash bytea       NOT NULL,
    embedding  real[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, dimension, input_hash)
);
CREATE INDEX query_embedding_cache_created ON rag_search.query_embedding_cache (created_at);
