-- Postings: which chunks contain which lexeme, with the term frequency and
-- the chunk's length, organised in impact cells so that a full-text search
-- reads the postings that can decide its top results first and stops when
-- the rest cannot change them (rag_core::postings, rag_core::topk).
--
-- A row is one block of up to 256 postings of one (lexeme, cell), sorted by
-- chunk id and encoded by rag_core::blocks; first_id, last_id and n
-- describe it without decoding. Only lexemes found in more than a few
-- chunks have postings ("indexed"); a search takes the chunks of the other
-- query lexemes from the tsvector GIN index, which is cheap for them.
--
-- Maintenance is batched, like the BM25 statistics: statement triggers on
-- chunks append the ids of new chunks to postings_pending and of deleted
-- ones to postings_dead, then run rag_search.postings_merge(true) (as the
-- extension's owner, one merger at a time), which once enough is pending
-- builds the postings of every pending chunk and removes deleted chunks
-- from a slice of the blocks. Whatever writes the chunks — the ingestion
-- functions, a restore's COPY, a hand-written INSERT — keeps them current. Searches score pending chunks
-- directly and ignore postings of chunks that no longer exist, so results
-- are exact at every moment. All of it is the extension's bookkeeping: no
-- role but the owner has privileges on these tables, and a dump leaves
-- them out (restoring the chunks fills postings_pending again).
CREATE TABLE rag_search.postings (
    lexeme   text     NOT NULL,
    cell     smallint NOT NULL,
    block    integer  NOT NULL,
    first_id bigint   NOT NULL,
    last_id  bigint   NOT NULL,
    n        integer  NOT NULL CHECK (n > 0),
    data     bytea    NOT NULL,
    PRIMARY KEY (lexeme, cell, block)
) WITH (fillfactor = 80);

CREATE TABLE rag_search.postings_pending (
    chunk_id bigint NOT NULL
);

CREATE TABLE rag_search.postings_dead (
    seq      bigint GENERATED ALWAYS AS IDENTITY,
    chunk_id bigint NOT NULL
);

-- One row: where the removal of deleted chunks from the blocks stands. A
-- pass walks every block in (lexeme, cell, block) order, a slice per merge;
-- dead ids up to gc_upto (the newest when the pass began) are forgotten
-- when it completes.
CREATE TABLE rag_search.postings_state (
    singleton    boolean  PRIMARY KEY DEFAULT true CHECK (singleton),
    gc_upto      bigint,
    gc_lexeme    text,
    gc_cell      smallint,
    gc_block     integer
);
INSERT INTO rag_search.postings_state DEFAULT VALUES;

CREATE FUNCTION rag_search.postings_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.postings_pending (chunk_id) SELECT n.id FROM new_chunks AS n;
    PERFORM rag_search.postings_merge(true);
    RETURN NULL;
END $$;

CREATE FUNCTION rag_search.postings_remove() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.postings_dead (chunk_id) SELECT o.id FROM old_chunks AS o;
    PERFORM rag_search.postings_merge(true);
    RETURN NULL;
END $$;

CREATE FUNCTION rag_search.postings_reset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    TRUNCATE rag_search.postings, rag_search.postings_pending, rag_search.postings_dead;
    UPDATE rag_search.postings_state SET gc_upto = NULL, gc_lexeme = NULL, gc_cell = NULL, gc_block = NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_postings_insert AFTER INSERT ON rag_search.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag_search.postings_add();
CREATE TRIGGER chunks_postings_delete AFTER DELETE ON rag_search.chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag_search.postings_remove();
CREATE TRIGGER chunks_postings_truncate AFTER TRUNCATE ON rag_search.chunks
    FOR EACH STATEMENT EXECUTE FUNCTION rag_search.postings_reset();

-- A chunk's text never changes in place: ingestion replaces changed chunks
-- (new rows) and keeps unchanged ones, and the stored tsvector, the content
-- hash, the embedding and the postings all describe the text the row was
-- inserted with. The document title indexed with it is part of that text:
-- a retitled document's chunks move to new rows.
CREATE FUNCTION rag_search.chunk_content_is_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'the content or document title of a chunk cannot be changed'
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Upsert the document with rag_upsert_document (changed chunks are replaced, a new title '
                     'moves them to new rows), or delete the chunk and insert a new one.';
END $$;
CREATE TRIGGER chunks_content_immutable BEFORE UPDATE OF content, document_title ON rag_search.chunks
    FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content OR OLD.document_title IS DISTINCT FROM NEW.document_title)
    EXECUTE FUNCTION rag_search.chunk_content_is_immutable();

-- Rebuilds every posting from the chunks (after a text-search configuration
-- change, to repair, or when upgrading from a version without postings).
CREATE FUNCTION rag_search.postings_rebuild() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rag_search.require_writable('rag_search.postings_rebuild()');
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('rag_search.postings_merge'));
    TRUNCATE rag_search.postings, rag_search.postings_pending, rag_search.postings_dead;
    UPDATE rag_search.postings_state SET gc_upto = NULL, gc_lexeme = NULL, gc_cell = NULL, gc_block = NULL;
    INSERT INTO rag_search.postings_pending (chunk_id) SELECT id FROM rag_search.chunks;
    RETURN rag_search.postings_merge(false);
END $$;
