-- Search-side state: corpus statistics for BM25 and the query-embedding cache.

-- Document frequency of every lexeme in rag_search.chunks.tsv, and corpus
-- totals, for BM25 (IDF and average length) without scanning the corpus.
--
-- Writers never update shared rows: statement triggers on chunks append one
-- delta row per statement to the *_delta tables (no row locks, so concurrent
-- ingesters neither wait for nor deadlock with each other), and
-- rag_search.term_stats_compact() folds them into the totals, one compactor
-- at a time. A term delta row holds the statement's lexemes and document
-- frequencies as two sorted arrays, counted in Rust
-- (rag_search.document_frequencies): one row per statement instead of one
-- per lexeme keeps a 1,000-chunk insert's statistics at a few milliseconds.
-- Searches read document frequencies from the folded totals only, which lag
-- the corpus by at most the compaction threshold (a tenth of the corpus, at
-- most 20,000 chunks; nothing on small corpora). Chunk and length totals
-- include pending deltas and are always exact.
--
-- term_stats leaves room in each page so that compaction updates stay HOT.
CREATE TABLE rag_search.term_stats (
    lexeme text   PRIMARY KEY,
    df     bigint NOT NULL
) WITH (fillfactor = 70);
CREATE TABLE rag_search.term_stats_delta (
    lexemes text[]   NOT NULL,
    dfs     bigint[] NOT NULL,
    CHECK (cardinality(lexemes) = cardinality(dfs))
);

CREATE TABLE rag_search.corpus_stats (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chunks    bigint  NOT NULL DEFAULT 0,
    -- Sum over chunks of the number of distinct lexemes (BM25 length unit).
    lexemes   bigint  NOT NULL DEFAULT 0
);
INSERT INTO rag_search.corpus_stats DEFAULT VALUES;
CREATE TABLE rag_search.corpus_stats_delta (
    chunks  bigint NOT NULL,
    lexemes bigint NOT NULL
);

-- The statistics triggers run as the extension's owner (SECURITY DEFINER):
-- roles that may write chunks need no privilege on the statistics tables.
-- They fold the deltas when due, so that chunks written other than through
-- the ingestion functions (a restore's COPY, a hand-written INSERT or
-- DELETE) reach the totals searches read.
CREATE FUNCTION rag_search.term_stats_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.term_stats_delta (lexemes, dfs)
    SELECT f.lexemes, f.dfs
    FROM rag_search.document_frequencies((SELECT array_agg(n.tsv) FROM new_chunks n), 1) AS f
    WHERE cardinality(f.lexemes) > 0;
    INSERT INTO rag_search.corpus_stats_delta (chunks, lexemes)
    SELECT count(*), coalesce(sum(length(tsv)), 0) FROM new_chunks HAVING count(*) > 0;
    PERFORM rag_search.term_stats_compact(true);
    RETURN NULL;
END $$;

CREATE FUNCTION rag_search.term_stats_remove() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.term_stats_delta (lexemes, dfs)
    SELECT f.lexemes, f.dfs
    FROM rag_search.document_frequencies((SELECT array_agg(o.tsv) FROM old_chunks o), -1) AS f
    WHERE cardinality(f.lexemes) > 0;
    INSERT INTO rag_search.corpus_stats_delta (chunks, lexemes)
    SELECT -count(*), -coalesce(sum(length(tsv)), 0) FROM old_chunks HAVING count(*) > 0;
    PERFORM rag_search.term_stats_compact(true);
    RETURN NULL;
END $$;

-- Folds the deltas into the totals. With due_only, only once the pending
-- chunk changes reach a tenth of the corpus (at most 20,000, at least 1):
-- folding many statements at once collapses repeated lexemes into one
-- update each. Returns false, doing nothing, when not due or while another
-- transaction compacts. The ingestion functions call it (as the extension's
-- owner) with due_only after every call; safe to call any time.
CREATE FUNCTION rag_search.term_stats_compact(due_only boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    emptied text[];
BEGIN
    PERFORM rag_search.require_writable('rag_search.term_stats_compact()');
    IF due_only AND (SELECT coalesce(sum(abs(d.chunks)), 0) FROM rag_search.corpus_stats_delta d)
                    < greatest(1, least(20000, (SELECT chunks / 10 FROM rag_search.corpus_stats))) THEN
        RETURN false;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('rag_search.term_stats_compact')) THEN
        RETURN false;
    END IF;
    -- Only the compactor (under the advisory lock) writes term_stats, so a
    -- plain update of known lexemes plus an insert of new ones is safe.
    WITH moved AS (DELETE FROM rag_search.term_stats_delta RETURNING lexemes, dfs),
         summed AS (
             SELECT u.lexeme, sum(u.df)::bigint AS df
             FROM moved, unnest(moved.lexemes, moved.dfs) AS u(lexeme, df)
             GROUP BY u.lexeme),
         updated AS (
             UPDATE rag_search.term_stats AS t SET df = t.df + s.df
             FROM summed s WHERE t.lexeme = s.lexeme AND s.df <> 0
             RETURNING t.lexeme, t.df),
         inserted AS (
             INSERT INTO rag_search.term_stats (lexeme, df)
             SELECT s.lexeme, s.df FROM summed s
             WHERE s.df > 0 AND NOT EXISTS (SELECT FROM updated u WHERE u.lexeme = s.lexeme)
             RETURNING 1)
    SELECT array_agg(u.lexeme) INTO emptied FROM updated u WHERE u.df <= 0;
    IF emptied IS NOT NULL THEN
        DELETE FROM rag_search.term_stats WHERE lexeme = ANY (emptied) AND df <= 0;
    END IF;
    WITH moved AS (DELETE FROM rag_search.corpus_stats_delta RETURNING chunks, lexemes)
    UPDATE rag_search.corpus_stats
    SET chunks = chunks + (SELECT coalesce(sum(chunks), 0) FROM moved),
        lexemes = lexemes + (SELECT coalesce(sum(lexemes), 0) FROM moved);
    RETURN true;
END $$;

-- Recomputes everything from the chunks (after a text-search configuration
-- change, or to repair statistics).
CREATE FUNCTION rag_search.term_stats_rebuild() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT rag_search.require_writable('rag_search.term_stats_rebuild()');
    SELECT pg_advisory_xact_lock(hashtext('rag_search.term_stats_compact'));
    DELETE FROM rag_search.term_stats_delta;
    DELETE FROM rag_search.corpus_stats_delta;
    DELETE FROM rag_search.term_stats;
    INSERT INTO rag_search.term_stats (lexeme, df)
    SELECT u.lexeme, count(*) FROM rag_search.chunks c, unnest(c.tsv) AS u GROUP BY u.lexeme;
    UPDATE rag_search.corpus_stats
    SET chunks = (SELECT count(*) FROM rag_search.chunks),
        lexemes = (SELECT coalesce(sum(length(tsv)), 0) FROM rag_search.chunks);
$$;

CREATE FUNCTION rag_search.term_stats_reset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rag_search.term_stats_rebuild();
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_term_stats_insert AFTER INSERT ON rag_search.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag_search.term_stats_add();
CREATE TRIGGER chunks_term_stats_delete AFTER DELETE ON rag_search.chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag_search.term_stats_remove();
CREATE TRIGGER chunks_term_stats_truncate AFTER TRUNCATE ON rag_search.chunks
    FOR EACH STATEMENT EXECUTE FUNCTION rag_search.term_stats_reset();

-- Query embeddings, so a repeated query costs no HTTP call. The key is the
-- sha256 of everything that determines the vector (the role, the provider,
-- the server URL, the model, the dimension and the exact text sent, after
-- the template and truncation: rag_core::embed::query_cache_key), so no
-- setting a session changes can make another session read a vector it
-- would not have been sent, and no role can look up another role's queries.
-- Only the extension's own code reads and writes it, as the extension's
-- owner: no other role has any privilege on it. Written only in read-write
-- transactions on a primary; trimmed to rag_search.query_cache_max_entries.
CREATE TABLE rag_search.query_embedding_cache (
    key        bytea       PRIMARY KEY,
    embedding  real[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX query_embedding_cache_created ON rag_search.query_embedding_cache (created_at);
-- Counts cache inserts across all sessions: every 64th insert trims the
-- cache, so it stays within rag_search.query_cache_max_entries + 64 however
-- short the connections are.
CREATE SEQUENCE rag_search.query_embedding_cache_inserts;
