-- The demo's attached tables (docs/attach.md): a wiki an application keeps
-- in its own page and chunk tables, some chunks already embedded (copied
-- with their vectors from the manual's chunks), attached in place and
-- searched next to the manual. Re-runnable: what exists is kept.
--   bash scripts/cluster.sh psql -f scripts/demo/wiki.sql
\set QUIET on
\set ON_ERROR_STOP on
\pset footer off
\pset pager off
SET client_min_messages = warning;

CREATE TABLE IF NOT EXISTS public.wiki_pages (
    id    bigint PRIMARY KEY,
    title text NOT NULL,
    space text NOT NULL
);
CREATE TABLE IF NOT EXISTS public.wiki_chunks (
    id          bigint PRIMARY KEY,
    page_id     bigint NOT NULL REFERENCES public.wiki_pages (id) ON DELETE CASCADE,
    chunk_index integer NOT NULL,
    content     text NOT NULL,
    embedding   vector
);
INSERT INTO public.wiki_pages VALUES
    (1, 'On-call runbook: replica lag', 'ops'),
    (2, 'Team notes: row security', 'eng'),
    (3, '운영 메모: 백업과 복구', 'ops')
ON CONFLICT (id) DO NOTHING;
INSERT INTO public.wiki_chunks (id, page_id, chunk_index, content) VALUES
    (101, 1, 0, 'When a read replica lags behind the primary, look at replay_lag in pg_stat_replication first.'),
    (102, 1, 1, 'Long queries on the standby hold back replay; hot_standby_feedback trades table bloat for fewer query cancels.'),
    (301, 3, 0, '매일 밤 pg_basebackup으로 전체 백업을 만들고 WAL 아카이브를 보관한다.'),
    (302, 3, 1, '복구 연습은 분기마다 한 번, 별도 서버에서 시점 복구(point-in-time recovery)로 한다.')
ON CONFLICT (id) DO NOTHING;
-- Chunks the application already has vectors for.
INSERT INTO public.wiki_chunks (id, page_id, chunk_index, content, embedding)
SELECT 200 + s.n, 2, s.n - 1, s.content, s.embedding
FROM (SELECT row_number() OVER (ORDER BY d.title ILIKE '%row security%' DESC, c.id) AS n, c.content, c.embedding
      FROM rag_search.chunks AS c JOIN rag_search.documents AS d ON d.id = c.document_id
      WHERE d.doc_id LIKE 'pgdoc:%' AND c.embedding IS NOT NULL) AS s
WHERE s.n <= 3
ON CONFLICT (id) DO NOTHING;

SELECT NOT EXISTS (SELECT 1 FROM rag_source_status() WHERE source = 'public.wiki_chunks') AS wiki_detached \gset
\if :wiki_detached
\echo '-- rag_attach: the wiki pair, reusing the vectors its chunks have'
SELECT source, kind, state, rows_done, rows_total
FROM rag_attach('public.wiki_chunks', pages => 'public.wiki_pages', metadata => '{space}', embedding => 'embedding');
\endif
\echo '-- the chunks without a vector are embedded (and written back into wiki_chunks)'
SELECT count(*) FILTER (WHERE embedding IS NOT NULL) AS wiki_chunks_with_vectors, count(*) AS wiki_chunks
FROM public.wiki_chunks;
SELECT claimed, embedded, remaining FROM rag_backfill_step();
SELECT count(*) FILTER (WHERE embedding IS NOT NULL) AS wiki_chunks_with_vectors, count(*) AS wiki_chunks
FROM public.wiki_chunks;
\echo '-- TABLE rag_source_progress'
SELECT source, kind, state, progress_pct, documents, chunks, embedded, coverage_pct FROM rag_source_progress;

\echo
\echo '#### replica lag behind the primary   (the wiki next to the manual; then the wiki only)'
SELECT rank, doc_id, left(title, 30) AS title, round(score::numeric, 3) AS score, mode AS ran
FROM rag_hybrid_search('replica lag behind the primary', 5);
SELECT rank, doc_id, left(title, 30) AS title, round(score::numeric, 3) AS score, mode AS ran
FROM rag_hybrid_search('replica lag behind the primary', 3, options => '{"source": "public.wiki_chunks"}');
