-- Example searches of the demo, in every mode; run by scripts/demo.sh and
-- re-runnable by hand:
--   bash scripts/cluster.sh psql -f scripts/demo/searches.sql
--   bash scripts/cluster.sh psql -v q='your question' -f scripts/demo/searches.sql
-- With -v q=..., only that query is shown, in every mode.
\set QUIET on
\pset footer off
\pset pager off
\pset null ''
\set ON_ERROR_STOP on

-- :show prints one result table for the query in :q and the mode in :m
-- (psql expands the variables inside the macro when it is used).
\set show 'SELECT rank, doc_id, left(title, 26) AS title, round(score::numeric, 3) AS score, round(vector_score::numeric, 3) AS vector, round(fts_score::numeric, 3) AS fts, round(title_score::numeric, 3) AS title_s, round(lexical_score::numeric, 3) AS lexical, mode AS ran, left(regexp_replace(content, ''\\s+'', '' '', ''g''), 52) AS snippet FROM rag_hybrid_search(:''q'', 3, :''m'')'
\set pages 'SELECT doc_id, left(title, 40) AS title, round(rank::numeric, 3) AS rank, hit_chunks, best_chunk_id, round(title_score::numeric, 3) AS title_score FROM rag_candidate_pages(:''q'', 5)'

\if :{?q}
\else
\set all 1
\set q 'How do I make each user see only their own rows?'
\endif

\echo
\echo '#### ':q'   (English; the words barely occur in the answer, so vector search carries it)'
\set m fts
\echo '-- mode fts: BM25 over the stored tsvector'
:show;
\set m lexical
\echo '-- mode lexical: pg_trgm similarity to content and title'
:show;
\set m vector
\echo '-- mode vector: nearest chunks by cosine (HNSW)'
:show;
\set m hybrid
\echo '-- mode hybrid: vector and full-text candidates, every signal, weighted fusion'
:show;
\set m auto
\echo '-- mode auto: hybrid when embeddings are usable, else fts+lexical (the ran column says which)'
:show;
\echo '-- rag_candidate_pages: documents ranked by their best full-text chunk (titles are indexed with every chunk); a title equal to the query comes first'
:pages;

\if :{?all}
\set q '윤석열 탄핵 절차'
\echo
\echo '#### ':q'   (Korean; the documents say 탄핵을 and 절차는: particle-free stems match them)'
\set m fts
\echo '-- mode fts'
:show;
\set m lexical
\echo '-- mode lexical'
:show;
\set m vector
\echo '-- mode vector'
:show;
\set m hybrid
\echo '-- mode hybrid'
:show;
\set m auto
\echo '-- mode auto'
:show;
\echo '-- rag_candidate_pages'
:pages;

\set q 'foreign key ON DELETE CASCADE'
\echo
\echo '#### ':q'   (exact SQL keywords: full-text search is strong here)'
\set m hybrid
\echo '-- mode hybrid'
:show;
\echo '-- rag_candidate_pages'
:pages;

\set q '김치 만드는 방법'
\echo
\echo '#### ':q'   (Korean; the recipe says 배추김치 and 담그는 법: no shared words, the vectors find it)'
\set m fts
\echo '-- mode fts'
:show;
\set m vector
\echo '-- mode vector'
:show;
\set m hybrid
\echo '-- mode hybrid'
:show;
\endif
