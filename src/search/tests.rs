//! Search semantics inside PostgreSQL. Vector-dependent cases use small
//! hand-made embeddings (dimension 4) and the precomputed-vector overload,
//! so no embedding server is involved; the HTTP paths are covered by the
//! integration tests.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

    use crate::test_support::{assert_error_with_hint, error_of, one, run};




    fn doc(doc_id: &str, title: &str, content: &str, metadata: &str) {
        let args: [DatumWithOid; 4] = [doc_id.into(), title.into(), content.into(), metadata.into()];
        Spi::run_with_args("SELECT rag_upsert_document($1, $2, $3, $4::jsonb)", &args).unwrap();
    }

    /// Ordered doc_ids of a search.
    fn docs_of(sql: &str) -> Vec<String> {
        Spi::connect(|c| {
            c.select(sql, None, &[])
                .unwrap()
                .map(|r| r.get_by_name::<String, _>("doc_id").unwrap().unwrap())
                .collect()
        })
    }

    fn korean_corpus() {
        doc("ko:1", "헌법재판소 심판", "국회는 대통령에 대한 탄핵을 의결했다. 헌법재판소의 심판 절차는 180일 이내에 끝난다.", "{}");
        doc("ko:2", "날씨", "오늘은 맑고 따뜻한 날씨가 이어진다. 주말에는 비가 온다.", "{}");
        doc("ko:3", "윤석열 대통령", "윤석열 대통령은 기자회견을 열었다.", "{}");
        doc("ko:4", "국회 일정", "국회는 예산안 심사 절차를 시작했다.", "{}");
    }

    #[pg_test]
    fn fts_finds_korean_words_with_particles() {
        korean_corpus();
        let hits = docs_of("SELECT doc_id FROM rag_hybrid_search('윤석열 탄핵 절차', 4, 'fts')");
        // ko:3 names 윤석열 in its title (indexed three times) and its text; ko:1
        // holds 탄핵을 and 절차는 (two query words), ko:4 only 절차를.
        assert_eq!(hits, ["ko:3", "ko:1", "ko:4"], "{hits:?}");
        // The other direction: particles in the query, bare words in the text.
        let hits = docs_of("SELECT doc_id FROM rag_hybrid_search('윤석열을 기자회견에서', 4, 'fts')");
        assert_eq!(hits.first().map(String::as_str), Some("ko:3"));
    }

    #[pg_test]
    fn hybrid_finds_korean_words_with_particles() {
        korean_corpus();
        run("SELECT rag_set_embedding_model('test-model', 4)");
        run("UPDATE rag_search.chunks SET embedding = '[0,0,1,0]', embedding_model = 'test-model', embedding_dim = 4, embedded_at = now()");
        let hits = docs_of("SELECT doc_id FROM rag_hybrid_search('윤석열 탄핵 절차', '[1,0,0,0]'::vector, 2, 'hybrid')");
        // Equal vectors: full text decides, as in fts_finds_korean_words_with_particles.
        assert_eq!(hits, ["ko:3", "ko:1"], "{hits:?}");
    }

    #[pg_test]
    fn fts_scores_are_bm25_and_descending() {
        doc("a", "", "rare word zebra appears here with common words", "{}");
        doc("b", "", "common words common words common words", "{}");
        doc("c", "", "zebra zebra zebra and common words", "{}");
        let rows: Vec<(String, f64, f64)> = Spi::connect(|c| {
            c.select("SELECT doc_id, score, fts_score FROM rag_hybrid_search('zebra common', 3, 'fts')", None, &[])
                .unwrap()
                .map(|r| (r.get(1).unwrap().unwrap(), r.get(2).unwrap().unwrap(), r.get(3).unwrap().unwrap()))
                .collect()
        });
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, "c", "{rows:?}");
        assert!(rows.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(rows.iter().all(|r| (r.1 - r.2).abs() < 1e-12), "fts mode score is the BM25 score");
        // Statistics follow ingestion and deletion.
        // Small corpora fold statistics on every ingestion call.
        let df = "SELECT df FROM rag_search.term_stats WHERE lexeme = 'zebra'";
        assert_eq!(one::<i64>(df), 2);
        run("SELECT rag_delete_document('c')");
        assert_eq!(one::<i64>(df), 1);
        assert!(one::<bool>("SELECT rag_search.term_stats_compact()"));
        assert_eq!(one::<i64>("SELECT df FROM rag_search.term_stats WHERE lexeme = 'zebra'"), 1);
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.term_stats_delta"), 0);
        assert_eq!(one::<i64>("SELECT chunks FROM rag_search.corpus_stats"), 2);
    }

    #[pg_test]
    fn vector_mode_orders_by_cosine_distance() {
        run("SELECT rag_set_embedding_model('test-model', 4)");
        for (id, v) in [("v1", "[1,0,0,0]"), ("v2", "[0.9,0.1,0,0]"), ("v3", "[0.5,1,0,0]"), ("v4", "[0,0,0,1]")] {
            doc(id, "t", &format!("document {id}"), "{}");
            run(&format!(
                "UPDATE rag_search.chunks c SET embedding = '{v}', embedding_model = 'test-model', embedding_dim = 4, embedded_at = now()
                 FROM rag_search.documents d WHERE d.id = c.document_id AND d.doc_id = '{id}'"
            ));
        }
        let hits = docs_of("SELECT doc_id FROM rag_hybrid_search('document', '[1,0,0,0]'::vector, 3, 'vector')");
        assert_eq!(hits, vec!["v1", "v2", "v3"]);
        let (score, vs): (f64, f64) = Spi::get_two(
            "SELECT score, vector_score FROM rag_hybrid_search('document', '[1,0,0,0]'::vector, 1, 'vector')",
        )
        .map(|(a, b)| (a.unwrap(), b.unwrap()))
        .unwrap();
        assert!((score - 1.0).abs() < 1e-9 && (vs - 1.0).abs() < 1e-9, "1/(1+0) for an identical vector");
        // Wrong dimension: a clear error.
        let e = error_of("SELECT * FROM rag_hybrid_search('document', '[1,0,0]'::vector, 3, 'vector')");
        assert!(e.starts_with("22023|"), "{e}");
    }

    #[pg_test]
    fn hybrid_unions_branches_and_fuses() {
        run("SELECT rag_set_embedding_model('test-model', 4)");
        doc("text-match", "t", "the quick brown fox", "{}");
        doc("vector-match", "t", "unrelated words entirely", "{}");
        run("UPDATE rag_search.chunks SET embedding = '[0,1,0,0]', embedding_model = 'test-model', embedding_dim = 4, embedded_at = now()");
        run("UPDATE rag_search.chunks c SET embedding = '[1,0,0,0]' FROM rag_search.documents d WHERE d.id = c.document_id AND d.doc_id = 'vector-match'");
        let rows: Vec<(String, String, Option<f64>, Option<f64>)> = Spi::connect(|c| {
            c.select("SELECT doc_id, mode, vector_score, fts_score FROM rag_hybrid_search('quick fox', '[1,0,0,0]'::vector, 2, 'hybrid')", None, &[])
                .unwrap()
                .map(|r| (r.get(1).unwrap().unwrap(), r.get(2).unwrap().unwrap(), r.get(3).unwrap(), r.get(4).unwrap()))
                .collect()
        });
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows.iter().all(|r| r.1 == "hybrid"));
        let by_id = |id: &str| rows.iter().find(|r| r.0 == id).unwrap().clone();
        assert!(by_id("text-match").3.unwrap() > 0.0);
        assert_eq!(by_id("vector-match").3, Some(0.0));
        assert!((by_id("vector-match").2.unwrap() - 1.0).abs() < 1e-9);

        // RRF: two lists, each candidate first in one of them.
        let scores: Vec<f64> = Spi::connect(|c| {
            c.select("SELECT score FROM rag_hybrid_search('quick fox', '[1,0,0,0]'::vector, 2, 'hybrid', NULL, '{\"fusion\": \"rrf\", \"rrf_k\": 60}')", None, &[])
                .unwrap()
                .map(|r| r.get::<f64>(1).unwrap().unwrap())
                .collect()
        });
        // vector-match: rank 1 by vector, rank 2 by (zero) fts is excluded; text-match: rank 2 by vector, 1 by fts.
        assert_eq!(scores.len(), 2);
        assert!((scores[0] - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12, "{scores:?}");
        assert!((scores[1] - 1.0 / 61.0).abs() < 1e-12, "{scores:?}");
    }

    #[pg_test]
    fn selective_filter_still_returns_top_k() {
        run("SELECT rag_set_embedding_model('test-model', 4)");
        run("SELECT count(*) FROM rag_upsert_documents((
               SELECT jsonb_agg(jsonb_build_object('doc_id', 'f:' || i, 'content', 'shared topic words ' || i,
                      'metadata', jsonb_build_object('tenant', CASE WHEN i % 100 = 0 THEN 'rare' ELSE 'common' END)))
               FROM generate_series(1, 1000) i))");
        run("UPDATE rag_search.chunks SET embedding = array[random(), random(), random(), random()]::real[]::vector,
             embedding_model = 'test-model', embedding_dim = 4, embedded_at = now()");
        run("ANALYZE rag_search.chunks");
        for mode in ["vector", "hybrid", "fts", "lexical"] {
            let sql = format!(
                "SELECT count(*) FILTER (WHERE d.metadata->>'tenant' = 'rare') || '/' || count(*)
                 FROM rag_hybrid_search('shared topic', '[1,1,1,1]'::vector, 10, '{mode}', '{{\"tenant\": \"rare\"}}') s
                 JOIN rag_search.documents d ON d.doc_id = s.doc_id"
            );
            assert_eq!(one::<String>(&sql), "10/10", "mode {mode}");
        }
    }

    #[pg_test]
    fn window_expansion_returns_neighbours() {
        run("SET rag_search.chunk_max_chars = 100");
        run("SET rag_search.chunk_overlap_chars = 0");
        let paras: Vec<String> = (0..5).map(|i| format!("Paragraph number {i} {}", "filler text ".repeat(6))).collect();
        doc("w:1", "Windowed", &paras.join("\n\n"), "{}");
        doc("w:2", "Other", "nothing relevant", "{}");
        let ctx: String = one("SELECT context FROM rag_hybrid_search('number 2', 1, 'fts', NULL, '{\"window\": 1}')");
        assert!(ctx.contains("number 1") && ctx.contains("number 2") && ctx.contains("number 3"), "{ctx}");
        assert!(!ctx.contains("number 0") && !ctx.contains("number 4"), "{ctx}");
        assert!(ctx.find("number 1") < ctx.find("number 3"), "neighbours in document order");
        assert!(Spi::get_one::<String>("SELECT context FROM rag_hybrid_search('number 2', 1, 'fts')").unwrap().is_none());
    }

    #[pg_test]
    fn keyword_rule_requires_every_keyword_in_the_window() {
        run("SET rag_search.chunk_max_chars = 100");
        run("SET rag_search.chunk_overlap_chars = 0");
        doc("k:1", "", &format!("alpha {}\n\nbeta {}", "x ".repeat(45), "y ".repeat(45)), "{}");
        doc("k:2", "", "alpha only here", "{}");
        let hits = docs_of("SELECT DISTINCT doc_id FROM rag_hybrid_search('alpha beta', 10, 'fts', NULL, '{\"require_all_keywords\": true, \"window\": 1}')");
        assert_eq!(hits, vec!["k:1"]);
        let hits = docs_of("SELECT DISTINCT doc_id FROM rag_hybrid_search('alpha beta', 10, 'fts', NULL, '{\"require_all_keywords\": true}')");
        assert!(hits.is_empty(), "without a window no single chunk holds both: {hits:?}");
    }

    #[pg_test]
    fn auto_without_embeddings_falls_back_with_notice() {
        doc("a:1", "Fallback", "full text still works", "{}");
        let mode: String = one("SELECT mode FROM rag_hybrid_search('full text', 3)");
        assert_eq!(mode, "fts+lexical");
    }

    #[pg_test]
    fn lexical_mode_uses_trigram_similarity() {
        doc("l:1", "PostgreSQL manual", "The planner chooses a bitmap index scan.", "{}");
        doc("l:2", "Cooking", "Slice the onions thinly.", "{}");
        let rows: Vec<(String, f64)> = Spi::connect(|c| {
            c.select("SELECT doc_id, lexical_score FROM rag_hybrid_search('bitmap indx scan', 5, 'lexical')", None, &[])
                .unwrap()
                .map(|r| (r.get(1).unwrap().unwrap(), r.get(2).unwrap().unwrap()))
                .collect()
        });
        assert_eq!(rows.first().map(|r| r.0.as_str()), Some("l:1"), "typo-tolerant: {rows:?}");
        assert!(rows[0].1 > 0.3);
        let hits = docs_of("SELECT doc_id FROM rag_hybrid_search('postgresql manual', 5, 'lexical')");
        assert_eq!(hits.first().map(String::as_str), Some("l:1"), "title similarity counts");
    }

    #[pg_test]
    fn bad_input_is_handled() {
        doc("b:1", "", "some searchable content", "{}");
        for q in ["NULL", "''", "'   '", "'!!! ??? ...'", r#"$q$ & | ! ( ) : * ' \ <-> $q$"#, "$q$'content' & !$q$"] {
            for mode in ["fts", "lexical", "auto"] {
                let e = error_of(&format!("SELECT * FROM rag_hybrid_search({q}, 5, '{mode}')"));
                assert!(e.starts_with("00000"), "{q} in {mode}: {e}");
            }
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_hybrid_search(NULL, 5)"), 0);
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_hybrid_search('', 5)"), 0);
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_hybrid_search('?!', 5)"), 0);
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_hybrid_search('content''s & !', 5, 'fts')"), 1);
        for (sql, state) in [
            ("SELECT * FROM rag_hybrid_search('x', 0)", "22023"),
            ("SELECT * FROM rag_hybrid_search('x', -5)", "22023"),
            ("SELECT * FROM rag_hybrid_search('x', 1001)", "22023"),
            ("SELECT * FROM rag_hybrid_search('x', NULL)", "22004"),
            ("SELECT * FROM rag_hybrid_search('x', 5, 'semantic')", "22023"),
            ("SELECT * FROM rag_hybrid_search('x', 5, 'fts', '[1]')", "22023"),
            ("SELECT * FROM rag_hybrid_search('x', 5, 'fts', NULL, '{\"bogus\": 1}')", "22023"),
            ("SELECT * FROM rag_hybrid_search('x', 5, 'fts', NULL, '{\"fusion\": \"max\"}')", "22023"),
            ("SELECT * FROM rag_candidate_pages('x', 0)", "22023"),
        ] {
            assert_error_with_hint(sql, state);
        }
        let e = error_of("SELECT * FROM rag_hybrid_search('x', 5, 'semantic')");
        assert!(e.contains("auto, hybrid, fts, vector, lexical"), "{e}");
        // A 1 MB query is cut to rag_search.max_query_chars, not a hang or an error.
        let big = one::<i64>("SELECT count(*) FROM rag_hybrid_search(repeat('content searchable ', 55000), 5, 'fts')");
        assert_eq!(big, 1);
        let big = one::<i64>("SELECT count(*) FROM rag_hybrid_search(repeat('가나다 ', 350000), 5, 'lexical')");
        assert_eq!(big, 0);
    }

    #[pg_test]
    fn candidate_pages_group_chunks_and_union_titles() {
        run("SET rag_search.chunk_max_chars = 100");
        run("SET rag_search.chunk_overlap_chars = 0");
        let many = (0..4).map(|i| format!("impeachment procedure part {i} {}", "words ".repeat(10))).collect::<Vec<_>>().join("\n\n");
        doc("p:many", "Many hits", &many, "{}");
        doc("p:one", "One hit", "impeachment procedure once", "{}");
        doc("p:title", "Impeachment procedure", "nothing about it in the body", "{}");
        let rows: Vec<(String, i32, Option<i64>)> = Spi::connect(|c| {
            c.select("SELECT doc_id, hit_chunks, best_chunk_id FROM rag_candidate_pages('impeachment procedure', 10)", None, &[])
                .unwrap()
                .map(|r| (r.get(1).unwrap().unwrap(), r.get(2).unwrap().unwrap(), r.get(3).unwrap()))
                .collect()
        });
        assert_eq!(rows[0].0, "p:title", "exact title match first: {rows:?}");
        // Its one chunk matches through the title the full text indexes.
        assert_eq!(rows[0].1, 1);
        let many = rows.iter().find(|r| r.0 == "p:many").unwrap();
        assert_eq!(many.1, 4);
        assert!(many.2.is_some());
        assert!(rows.iter().any(|r| r.0 == "p:one"));
        let limited = one::<i64>("SELECT count(*) FROM rag_candidate_pages('impeachment procedure', 2)");
        assert_eq!(limited, 2);
    }

    #[pg_test]
    fn candidate_pages_put_the_page_titled_as_the_query_first_wildcards_taken_literally() {
        doc("x:exact", "50% Off_Sale", "prices fall", "{}");
        doc("x:often", "Sale 50", "50 off sale, 50 off sale, off sale again and sale sale sale", "{}");
        doc("x:look", "50X OffXSale", "sale", "{}");
        let first = |q: &str| docs_of(&format!("SELECT doc_id FROM rag_candidate_pages('{q}', 3)")).first().cloned();
        assert_eq!(first("50% off_sale").as_deref(), Some("x:exact"), "the same title up to case");
        assert_eq!(first("50% OFF_SALE").as_deref(), Some("x:exact"));
        // Without the exact title, the page with the most query words leads.
        assert_eq!(first("50 off sale").as_deref(), Some("x:often"));
        // % and _ in the query are characters, not wildcards.
        assert_eq!(first("50% off%sale").as_deref(), Some("x:often"));
        assert_eq!(first("5_% off_sale").as_deref(), Some("x:often"));
        doc("x:path", "C:\\Temp sale", "files", "{}");
        doc("x:temps", "Temp sale C", "c temp sale, c temp sale, temp sale", "{}");
        assert_eq!(first("c temp sale").as_deref(), Some("x:temps"));
        assert_eq!(first("c:\\temp SALE").as_deref(), Some("x:path"), "a backslash is a character too");
        run("SET standard_conforming_strings = off");
        let escaped = first("c:\\\\temp SALE");
        run("RESET standard_conforming_strings");
        assert_eq!(escaped.as_deref(), Some("x:path"), "whatever the session's string syntax");
    }

    #[pg_test]
    fn candidate_pages_widen_past_a_page_that_crowds_the_hits() {
        run("SET rag_search.chunk_max_chars = 100");
        run("SET rag_search.chunk_overlap_chars = 0");
        // Six chunks of one page outscore every other page's chunk.
        let crowd = (0..6).map(|i| format!("glacier glacier glacier melt part {i} {}", "filler ".repeat(9))).collect::<Vec<_>>().join("\n\n");
        doc("w:crowd", "Crowd", &crowd, "{}");
        doc("w:two", "Two", "glacier melt in a long sentence about other things entirely", "{}");
        doc("w:three", "Three", "a glacier seen once in a much longer text about other things entirely", "{}");
        run("SET rag_search.candidate_oversample = 1");
        let pages: Vec<String> = Spi::connect(|c| {
            c.select("SELECT doc_id FROM rag_candidate_pages('glacier melt', 3)", None, &[])
                .unwrap()
                .map(|r| r.get_by_name::<String, _>("doc_id").unwrap().unwrap())
                .collect()
        });
        run("RESET rag_search.candidate_oversample");
        assert_eq!(pages, ["w:crowd", "w:two", "w:three"]);
    }

    #[pg_test]
    fn fts_candidate_query_uses_the_gin_index() {
        // Enough rows that a sequential scan is a real alternative.
        run("INSERT INTO rag_search.documents (doc_id, title, source_hash) SELECT 'e:' || i, 'doc ' || i, '\\x00' FROM generate_series(1, 2000) i");
        run("INSERT INTO rag_search.chunks (document_id, ordinal, content, content_hash)
             SELECT d.id, o, 'common filler text number ' || (d.id * 10 + o) || CASE WHEN d.id % 500 = 0 THEN ' needle' ELSE '' END, '\\x00'
             FROM rag_search.documents d, generate_series(0, 9) o");
        // Freshly inserted rows sit in the GIN pending list, which the planner
        // rightly charges for; autovacuum flushes it, here we do.
        run("SELECT gin_clean_pending_list('rag_search.chunks_tsv_gin')");
        run("ANALYZE rag_search.chunks");
        let plan: String = Spi::connect(|c| {
            let q = crate::queries::SEARCH_FTS;
            let args: [DatumWithOid; 5] = [
                "'needle'".into(),
                Vec::<u8>::new().into(),
                10i64.into(),
                Option::<crate::sql_types::JsonbText>::None.into(),
                Option::<i32>::None.into(),
            ];
            c.select(&format!("EXPLAIN (COSTS OFF) {q}"), None, &args)
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        });
        assert!(plan.contains("Bitmap Index Scan on chunks_tsv_gin"), "{plan}");
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_hybrid_search('needle', 10, 'fts')"), 10);
    }

    /// A skewed corpus: `docs` documents of 20 words from a 5,000-word
    /// vocabulary, the most common word in about a quarter of the chunks.
    fn skewed_corpus(prefix: &str, docs: i32, seed: f64) {
        run(&format!("SELECT setseed({seed})"));
        run(&format!(
            "SELECT count(*) FROM rag_upsert_documents((
               SELECT jsonb_agg(jsonb_build_object('doc_id', '{prefix}:' || n, 'title', '', 'content',
                 (SELECT string_agg('w' || floor(power(random(), 2) * 5000)::int, ' ')
                  FROM generate_series(1, 20) g WHERE g > 0 * n)))
               FROM generate_series(1, {docs}) n))"
        ));
    }

    /// Random queries of 2–6 words, mostly frequent ones; every fifth made
    /// only of the most common words.
    fn skewed_queries(n: usize) -> Vec<Vec<String>> {
        let mut seed: u64 = 99;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 10_000) as f64 / 10_000.0
        };
        (0..n)
            .map(|q| {
                let common_only = q % 5 == 0;
                (0..(2 + q % 5))
                    .map(|_| {
                        let r = next();
                        let w = if common_only { (r * 20.0) as i64 } else { (r.powi(3) * 5000.0) as i64 };
                        format!("w{w}")
                    })
                    .collect()
            })
            .collect()
    }

    #[pg_test]
    fn fts_top_k_equals_the_full_ranking() {
        // Merged chunks, chunks still pending, deleted chunks (some removed
        // from the blocks, some not yet), rare lexemes without postings.
        skewed_corpus("p", 3000, 0.42);
        run("SELECT rag_search.term_stats_compact()");
        run("SELECT rag_search.postings_merge()");
        run("DELETE FROM rag_search.documents WHERE doc_id IN (SELECT 'p:' || n FROM generate_series(1, 3000, 7) n)");
        run("SELECT rag_search.postings_merge()");
        skewed_corpus("q", 200, 0.17);
        run("DELETE FROM rag_search.documents WHERE doc_id IN (SELECT 'p:' || n FROM generate_series(3, 3000, 11) n)");
        assert!(one::<i64>("SELECT count(*) FROM rag_search.postings_pending") > 0, "some chunks stay pending");
        assert!(one::<i64>("SELECT count(*) FROM rag_search.postings_dead") > 0, "some deletions stay pending");
        assert!(one::<i64>("SELECT count(DISTINCT lexeme) FROM rag_search.postings") > 30);
        let filter = crate::search::options::Scope { metadata: Some(crate::sql_types::JsonbText("{}".to_string())), source: None };
        let mut cells_saved = 0usize;
        for words in skewed_queries(150) {
            let stats = crate::search::retrieve::query_stats(&words);
            let all = stats.tsquery(0..stats.terms.len());
            for k in [1i64, 8, 40, 300] {
                let full = crate::search::retrieve::ranked_chunks(&stats, &all, k, &Default::default());
                let (fast, work) = crate::search::fts::from_postings(&stats, k);
                assert_eq!(bits(&fast), bits(&full), "postings: query {words:?}, k {k}");
                let filtered = crate::search::fts::fts_top_k(&stats, k, &filter);
                assert_eq!(bits(&filtered), bits(&full), "filtered: query {words:?}, k {k}");
                let indexed = stats.terms.iter().filter(|t| t.indexed).count();
                if work.cells_fetched < indexed * rag_core::postings::CELLS {
                    cells_saved += 1;
                }
            }
        }
        assert!(cells_saved > 300, "the postings search stopped early in {cells_saved} of 600 searches");
    }

    fn bits(hits: &[(i64, f64)]) -> Vec<(i64, u64)> {
        hits.iter().map(|&(id, s)| (id, s.to_bits())).collect()
    }

    /// Every (lexeme, chunk, tf, dl) stored in the postings, sorted.
    fn stored_postings() -> Vec<(String, i64, u16, u32)> {
        let mut out = Vec::new();
        Spi::connect(|c| {
            for row in c.select("SELECT lexeme, data FROM rag_search.postings", None, &[]).unwrap() {
                let lexeme: String = row.get(1).unwrap().unwrap();
                let data: Vec<u8> = row.get(2).unwrap().unwrap();
                for p in rag_core::blocks::decode_block(&data).unwrap() {
                    out.push((lexeme.clone(), p.chunk_id, p.tf, p.dl));
                }
            }
        });
        out.sort();
        out
    }

    /// The same, computed from the chunks' tsvectors for the lexemes that
    /// have postings.
    fn postings_from_chunks() -> Vec<(String, i64, u16, u32)> {
        let indexed: std::collections::HashSet<String> = Spi::connect(|c| {
            c.select("SELECT DISTINCT lexeme FROM rag_search.postings", None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap())
                .collect()
        });
        let mut out = Vec::new();
        Spi::connect(|c| {
            for row in c.select("SELECT id, tsv FROM rag_search.chunks", None, &[]).unwrap() {
                let id: i64 = row.get(1).unwrap().unwrap();
                let tsv = row.get::<crate::sql_types::TsVectorBytes>(2).unwrap().unwrap().0;
                for (lexeme, tf, dl) in rag_core::postings::tsvector_terms(&tsv) {
                    let lexeme = String::from_utf8_lossy(lexeme).into_owned();
                    if indexed.contains(&lexeme) {
                        out.push((lexeme, id, tf, dl));
                    }
                }
            }
        });
        out.sort();
        out
    }

    #[pg_test]
    fn postings_equal_a_recount_from_the_chunks() {
        skewed_corpus("r", 1500, 0.7);
        run("SELECT rag_search.postings_merge()");
        run("DELETE FROM rag_search.documents WHERE doc_id IN (SELECT 'r:' || n FROM generate_series(1, 1500, 3) n)");
        skewed_corpus("s", 400, 0.3);
        // Merge until nothing is pending and the removal pass is complete.
        for _ in 0..50 {
            run("SELECT rag_search.postings_merge()");
            if one::<i64>("SELECT count(*) FROM rag_search.postings_pending") == 0
                && one::<i64>("SELECT count(*) FROM rag_search.postings_dead") == 0
            {
                break;
            }
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.postings_dead"), 0);
        let stored = stored_postings();
        assert!(stored.len() > 1_000, "{} postings", stored.len());
        assert!(stored == postings_from_chunks(), "postings differ from the chunks");
        // Lexemes in few chunks have no postings.
        assert_eq!(
            one::<i64>(&format!(
                "SELECT count(DISTINCT p.lexeme) FROM rag_search.postings p
                 WHERE (SELECT count(*) FROM rag_search.chunks c WHERE c.tsv @@ to_tsquery('simple', quote_literal(p.lexeme)))
                       <= {}", crate::postings::INDEXED_MIN_DF / 4)),
            0
        );
        // A rebuild agrees with the chunks as well.
        run("SELECT rag_search.postings_rebuild()");
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.postings_pending"), 0);
        assert!(stored_postings() == postings_from_chunks(), "rebuilt postings differ from the chunks");
    }

    #[pg_test]
    fn the_title_is_searched_with_every_chunk_and_a_new_title_moves_the_chunks() {
        // Embeddings built from the chunk text alone survive a new title.
        run("SET rag_search.document_template = '{text}'");
        run("SET rag_search.chunk_max_chars = 200");
        run("SET rag_search.chunk_overlap_chars = 0");
        let content = (1..=8)
            .map(|i| format!("Paragraph {i} tells how small marsupials live on islands and rest in shade."))
            .collect::<Vec<_>>()
            .join("\n\n");
        doc("ti:1", "Quokka habitats", &content, "{}");
        doc("ti:2", "Coastal notes", "Unrelated text about islands and ferries.", "{}");
        let chunks = one::<i64>("SELECT count(*) FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id WHERE d.doc_id = 'ti:1'");
        assert!(chunks >= 3, "{chunks} chunks");
        // The title word is in no chunk's text, yet every chunk matches it.
        let quokka = "SELECT doc_id FROM rag_hybrid_search('quokka', 20, 'fts')";
        assert_eq!(docs_of(quokka), vec!["ti:1".to_string(); chunks as usize]);
        run("UPDATE rag_search.chunks SET embedding = array_fill(0.5::real, ARRAY[s.embedding_dim])::vector,
                 embedding_model = s.embedding_model, embedding_dim = s.embedding_dim, embedded_at = now()
             FROM rag_search.index_state s");
        run("SELECT rag_backfill_recount()");
        let before: Vec<(i64, i32)> = Spi::connect(|c| {
            c.select("SELECT c.id, c.ordinal FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id
                      WHERE d.doc_id = 'ti:1' ORDER BY ordinal", None, &[])
                .unwrap()
                .map(|r| (r.get::<i64>(1).unwrap().unwrap(), r.get::<i32>(2).unwrap().unwrap()))
                .collect()
        });

        doc("ti:1", "Wallaby habitats", &content, "{}");
        assert!(docs_of(quokka).is_empty());
        assert_eq!(docs_of("SELECT doc_id FROM rag_hybrid_search('wallaby', 20, 'fts')").len(), chunks as usize);
        // New rows, same ordinals, embeddings kept, the new title stored.
        let after: Vec<(i64, i32, bool, String)> = Spi::connect(|c| {
            c.select("SELECT c.id, c.ordinal, c.embedding IS NOT NULL, c.document_title
                      FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id
                      WHERE d.doc_id = 'ti:1' ORDER BY ordinal", None, &[])
                .unwrap()
                .map(|r| (r.get::<i64>(1).unwrap().unwrap(), r.get::<i32>(2).unwrap().unwrap(),
                          r.get::<bool>(3).unwrap().unwrap(), r.get::<String>(4).unwrap().unwrap()))
                .collect()
        });
        assert_eq!(after.len(), before.len());
        for ((old_id, old_ordinal), (id, ordinal, embedded, title)) in before.iter().zip(&after) {
            assert!(id > old_id, "chunk {old_id} moved to a new row");
            assert_eq!((ordinal, *embedded, title.as_str()), (old_ordinal, true, "Wallaby habitats"));
        }
        // The other document did not move; the backfill counters agree.
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE document_title = 'Coastal notes'"), 1);
        assert_eq!(one::<i64>("SELECT embedded FROM rag_backfill_status()"), chunks + 1);
        // A chunk's title cannot change in place.
        assert_error_with_hint("UPDATE rag_search.chunks SET document_title = 'Other'", "55000");
        // With the title in the template, a new title makes the embeddings stale.
        run("SET rag_search.document_template = 'passage: {title} {text}'");
        doc("ti:1", "Kangaroo habitats", &content, "{}");
        assert_eq!(one::<i64>("SELECT embedded FROM rag_backfill_status()"), 1);
    }

    #[pg_test]
    fn retitled_documents_keep_statistics_and_postings_exact() {
        skewed_corpus("rt", 900, 0.4);
        run("SELECT rag_search.postings_merge()");
        // Every other document gets a title of common and new words.
        run("SELECT count(*) FROM rag_upsert_documents((
               SELECT jsonb_agg(jsonb_build_object('doc_id', t.doc_id, 'title', 'w1 w2 title' || (t.id % 3),
                                                   'content', t.content))
               FROM (SELECT d.id, d.doc_id, string_agg(c.content, ' ' ORDER BY c.ordinal) AS content
                     FROM rag_search.documents d JOIN rag_search.chunks c ON c.document_id = d.id
                     WHERE d.id % 2 = 0 GROUP BY d.id, d.doc_id) t))");
        for _ in 0..50 {
            run("SELECT rag_search.postings_merge()");
            if one::<i64>("SELECT count(*) FROM rag_search.postings_pending") == 0
                && one::<i64>("SELECT count(*) FROM rag_search.postings_dead") == 0
            {
                break;
            }
        }
        assert!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE document_title <> ''") >= 400);
        let stored = stored_postings();
        assert!(stored.iter().any(|p| p.0.starts_with("title")), "title lexemes have postings");
        assert!(stored == postings_from_chunks(), "postings differ from the chunks");
        run("SELECT rag_search.term_stats_compact()");
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM rag_search.term_stats s
                 FULL JOIN (SELECT u.lexeme, count(*) AS df FROM rag_search.chunks c, unnest(c.tsv) AS u GROUP BY u.lexeme) r
                   ON r.lexeme = s.lexeme
                 WHERE s.df IS DISTINCT FROM r.df"
            ),
            0
        );
        assert!(one::<bool>(
            "SELECT s.chunks = (SELECT count(*) FROM rag_search.chunks)
                AND s.lexemes = (SELECT sum(length(tsv)) FROM rag_search.chunks)
             FROM rag_search.corpus_stats s"
        ));
    }

    #[pg_test]
    fn chunk_content_cannot_change_in_place() {
        doc("im:1", "t", "some words here", "{}");
        assert_error_with_hint("UPDATE rag_search.chunks SET content = 'other words'", "55000");
        run("UPDATE rag_search.chunks SET ordinal = ordinal");
    }

    #[pg_test]
    fn search_limits_raise_22023_with_a_hint() {
        doc("lim:1", "t", "bounded search words", "{}");
        assert_error_with_hint(
            "SELECT * FROM rag_hybrid_search('bounded', 1000, 'fts', NULL, '{\"oversample\": 1000}')",
            "22023",
        );
        assert_error_with_hint("SELECT * FROM rag_hybrid_search('bounded', 1000, 'fts', NULL, '{\"window\": 20}')", "22023");
        run("SET rag_search.candidate_oversample = 10000");
        assert_error_with_hint("SELECT * FROM rag_candidate_pages('bounded', 10)", "22023");
        run("RESET rag_search.candidate_oversample");
        // Within the limits the same calls work.
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_hybrid_search('bounded', 600, 'fts', NULL, '{\"window\": 1}')"), 1);
    }
}
