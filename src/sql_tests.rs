//! SQL-semantics tests, run inside PostgreSQL by `cargo pgrx test`.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

    use crate::test_support::{assert_error_with_hint, error_of, one, run};




    fn upsert(doc_id: &str, content: &str) -> (String, i32, i32, i32, i32) {
        let args: [DatumWithOid; 2] = [doc_id.into(), content.into()];
        Spi::connect(|c| {
            let t = c
                .select(
                    "SELECT action, chunks, chunks_kept, chunks_added, chunks_removed
                     FROM rag_upsert_document($1, 'Title', $2, '{\"k\": 1}')",
                    None,
                    &args,
                )
                .expect("upsert failed")
                .first();
            (
                t.get::<String>(1).unwrap().unwrap(),
                t.get::<i32>(2).unwrap().unwrap(),
                t.get::<i32>(3).unwrap().unwrap(),
                t.get::<i32>(4).unwrap().unwrap(),
                t.get::<i32>(5).unwrap().unwrap(),
            )
        })
    }

    fn three_paragraphs(middle: &str) -> String {
        format!(
            "{}\n\n{}\n\n{}",
            "First paragraph about impeachment procedure. ".repeat(20),
            middle,
            "Third paragraph about the constitutional court. ".repeat(20)
        )
    }

    #[pg_test]
    fn extension_creates_its_objects() {
        assert_eq!(one::<i64>("SELECT count(*) FROM pg_extension WHERE extname IN ('vector', 'pg_trgm')"), 2);
        let idx: i64 = one(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'rag_search'
             AND indexname IN ('chunks_tsv_gin', 'chunks_embedding_hnsw', 'documents_title_trgm', 'documents_metadata_gin')",
        );
        assert_eq!(idx, 4);
        // No declared dimension: a dump restores whatever the dimension; the
        // HNSW index is an expression index at the current one.
        assert_eq!(one::<String>("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'rag_search.chunks'::regclass AND attname = 'embedding'"), "vector");
        assert!(one::<String>("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding_hnsw'")
            .ends_with("USING hnsw (((embedding)::vector(1024)) vector_cosine_ops) WHERE (embedding_dim = 1024)"));
        assert_eq!(one::<String>("SELECT embedding_model FROM rag_search.index_state"), "qwen3-embedding:8b");
    }

    #[pg_test]
    fn insert_creates_document_and_chunks() {
        let (action, chunks, kept, added, removed) = upsert("board_post:12", &three_paragraphs("Middle."));
        assert_eq!(action, "inserted");
        assert!(chunks >= 2, "expected several chunks, got {chunks}");
        assert_eq!((kept, added, removed), (0, chunks, 0));
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id WHERE d.doc_id = 'board_post:12'"), chunks as i64);
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE embedding IS NULL"), chunks as i64);
        assert_eq!(one::<String>("SELECT metadata->>'k' FROM rag_search.documents WHERE doc_id = 'board_post:12'"), "1");
        // The stored hash is the sha256 of the chunk text.
        assert!(one::<bool>("SELECT bool_and(content_hash = sha256(convert_to(content, 'UTF8'))) FROM rag_search.chunks"));
    }

    #[pg_test]
    fn unchanged_reupsert_writes_nothing() {
        let content = three_paragraphs("Middle.");
        upsert("run:42", &content);
        let before: String = one("SELECT string_agg(xmin::text || ctid::text, ',' ORDER BY id) FROM (SELECT id, xmin, ctid FROM rag_search.chunks UNION ALL SELECT -id, xmin, ctid FROM rag_search.documents) s");
        let (action, chunks, kept, added, removed) = upsert("run:42", &content);
        assert_eq!(action, "unchanged");
        assert_eq!((kept, added, removed), (chunks, 0, 0));
        let after: String = one("SELECT string_agg(xmin::text || ctid::text, ',' ORDER BY id) FROM (SELECT id, xmin, ctid FROM rag_search.chunks UNION ALL SELECT -id, xmin, ctid FROM rag_search.documents) s");
        assert_eq!(before, after, "an unchanged upsert must not create row versions");
    }

    #[pg_test]
    fn metadata_change_keeps_chunks_and_title_change_moves_them() {
        let content = three_paragraphs("Middle.");
        upsert("wiki:1", &content);
        let rows = "SELECT string_agg(ctid::text || ' ' || ordinal || ' ' || document_title, ',' ORDER BY id) FROM rag_search.chunks";
        let before: String = one(rows);
        // Same title, new metadata: the document row only.
        let action: String = one(&format!(
            "SELECT action FROM rag_upsert_document('wiki:1', 'Title', $c${content}$c$, '{{\"k\": 2}}')"
        ));
        assert_eq!(action, "updated");
        assert_eq!(before, one::<String>(rows));
        // A new title: the chunks move to rows indexing it, same texts and ordinals.
        let texts = "SELECT string_agg(ordinal || content, ',' ORDER BY ordinal) FROM rag_search.chunks";
        let texts_before: String = one(texts);
        let action: String = one(&format!(
            "SELECT action FROM rag_upsert_document('wiki:1', 'New wiki', $c${content}$c$, '{{\"k\": 2}}')"
        ));
        assert_eq!(action, "updated");
        assert_eq!(one::<String>("SELECT title FROM rag_search.documents WHERE doc_id = 'wiki:1'"), "New wiki");
        assert_eq!(texts_before, one::<String>(texts));
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE document_title <> 'New wiki'"), 0);
        assert!(one::<bool>("SELECT bool_and(tsv @@ 'new & wiki'::tsquery) FROM rag_search.chunks"));
    }

    #[pg_test]
    fn changed_content_keeps_embeddings_of_unchanged_chunks() {
        run("SET rag_search.chunk_max_chars = 1000");
        run("SET rag_search.chunk_overlap_chars = 0");
        let (_, n, _, _, _) = upsert("coach:7", &three_paragraphs(&"Original middle paragraph. ".repeat(25)));
        assert_eq!(n, 3);
        // Give every chunk an embedding, as the backfill would.
        run("UPDATE rag_search.chunks SET embedding = array_fill(0.5, ARRAY[1024])::vector,
             embedding_model = 'qwen3-embedding:8b', embedding_dim = 1024, embedded_at = now()");
        let (action, chunks, kept, added, removed) = upsert("coach:7", &three_paragraphs(&"Rewritten middle paragraph. ".repeat(25)));
        assert_eq!(action, "updated");
        assert_eq!((chunks, kept, added, removed), (3, 2, 1, 1));
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE embedding IS NOT NULL"), 2);
        assert!(one::<String>("SELECT content FROM rag_search.chunks WHERE embedding IS NULL").starts_with("Rewritten middle paragraph."));
        assert_eq!(one::<String>("SELECT string_agg(ordinal::text, ',' ORDER BY ordinal) FROM rag_search.chunks"), "0,1,2");
    }

    #[pg_test]
    fn inserted_paragraph_renumbers_kept_chunks() {
        run("SET rag_search.chunk_max_chars = 1000");
        run("SET rag_search.chunk_overlap_chars = 0");
        let a = "Alpha paragraph. ".repeat(40);
        let b = "Beta paragraph. ".repeat(40);
        let c = "Gamma paragraph. ".repeat(40);
        upsert("doc:r", &format!("{a}\n\n{c}"));
        run("UPDATE rag_search.chunks SET embedding = array_fill(0.5, ARRAY[1024])::vector,
             embedding_model = 'm', embedding_dim = 1024, embedded_at = now()");
        let (_, chunks, kept, added, removed) = upsert("doc:r", &format!("{a}\n\n{b}\n\n{c}"));
        assert_eq!((chunks, kept, added, removed), (3, 2, 1, 0));
        assert_eq!(one::<String>("SELECT string_agg((embedding IS NOT NULL)::text, ',' ORDER BY ordinal) FROM rag_search.chunks"), "true,false,true");
    }

    #[pg_test]
    fn delete_cascades_to_chunks() {
        upsert("board_post:1", &three_paragraphs("x"));
        upsert("board_post:2", &three_paragraphs("y"));
        assert!(one::<bool>("SELECT rag_delete_document('board_post:1')"));
        assert!(!one::<bool>("SELECT rag_delete_document('board_post:1')"));
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.documents"), 1);
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks c WHERE NOT EXISTS (SELECT 1 FROM rag_search.documents d WHERE d.id = c.document_id)"), 0);
        assert!(one::<i64>("SELECT count(*) FROM rag_search.chunks") > 0);
    }

    #[pg_test]
    fn korean_chunking_and_particles_are_indexed() {
        run("SET rag_search.chunk_max_chars = 200");
        run("SET rag_search.chunk_overlap_chars = 20");
        let text = "국회는 윤석열 대통령에 대한 탄핵을 의결했다. 헌법재판소의 심판 절차는 180일 이내에 끝난다. ".repeat(20);
        let (_, chunks, _, _, _) = upsert("ko:1", &text);
        assert!(chunks >= 5);
        assert!(one::<bool>("SELECT bool_and(char_length(content) <= 200) FROM rag_search.chunks"));
        // Valid UTF-8 round trip: convert_to would fail on a split character.
        assert!(one::<bool>("SELECT bool_and(length(convert_to(content, 'UTF8')) > 0) FROM rag_search.chunks"));
        assert!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE tsv @@ to_tsquery('simple', '탄핵')") > 0);
        assert!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE tsv @@ to_tsquery('simple', '절차')") > 0);
    }

    #[pg_test]
    fn empty_and_large_content_work() {
        let (action, chunks, _, _, _) = upsert("empty:1", "");
        assert_eq!((action.as_str(), chunks), ("inserted", 0));
        let big = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(10 * 1024 * 1024 / 57 + 1);
        assert!(big.len() >= 10 * 1024 * 1024);
        let (action, chunks, _, _, _) = upsert("big:1", &big);
        assert_eq!(action, "inserted");
        assert!(chunks > 8000);
    }

    #[pg_test]
    fn bulk_upsert_reports_each_document() {
        let rows: String = one(
            "SELECT string_agg(doc_id || '=' || action, ',' ORDER BY doc_id) FROM rag_upsert_documents(
               '[{\"doc_id\": \"b:1\", \"title\": \"One\", \"content\": \"first\"},
                 {\"doc_id\": \"b:2\", \"content\": \"second\", \"metadata\": {\"lang\": \"en\"}, \"source\": \"test\"}]')",
        );
        assert_eq!(rows, "b:1=inserted,b:2=inserted");
        let again: String = one(
            "SELECT string_agg(action, ',') FROM rag_upsert_documents('[{\"doc_id\": \"b:1\", \"title\": \"One\", \"content\": \"first\"}]')",
        );
        assert_eq!(again, "unchanged");
        assert_eq!(one::<String>("SELECT source FROM rag_search.documents WHERE doc_id = 'b:2'"), "test");
    }

    #[pg_test]
    fn bulk_upsert_applies_repeated_doc_ids_in_order() {
        let rows: String = one(
            "SELECT string_agg(doc_id || '=' || action || '/' || chunks, ',') FROM rag_upsert_documents(
               '[{\"doc_id\": \"r:1\", \"content\": \"first version\"},
                 {\"doc_id\": \"r:2\", \"content\": \"other\"},
                 {\"doc_id\": \"r:1\", \"content\": \"second version\"},
                 {\"doc_id\": \"r:1\", \"content\": \"second version\"}]')",
        );
        assert_eq!(rows, "r:1=inserted/1,r:2=inserted/1,r:1=updated/1,r:1=unchanged/1");
        assert_eq!(one::<String>("SELECT string_agg(content, ',') FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id WHERE d.doc_id = 'r:1'"), "second version");
    }

    #[pg_test]
    fn bad_input_raises_sqlstate_with_hint() {
        let cases = [
            ("SELECT * FROM rag_upsert_document(NULL, 't', 'c')", "22004"),
            ("SELECT * FROM rag_upsert_document('', 't', 'c')", "22023"),
            ("SELECT * FROM rag_upsert_document('  ', 't', 'c')", "22023"),
            ("SELECT * FROM rag_upsert_document('a', 't', 'c', '[1, 2]')", "22023"),
            ("SELECT * FROM rag_upsert_document('a', 't', 'c', '\"text\"')", "22023"),
            ("SELECT rag_delete_document(NULL)", "22004"),
            ("SELECT * FROM rag_upsert_documents('{\"doc_id\": \"a\"}')", "22023"),
            ("SELECT * FROM rag_upsert_documents('[{\"title\": \"no id\"}]')", "22004"),
            ("SELECT * FROM rag_upsert_documents('[{\"doc_id\": 5}]')", "22023"),
            ("SELECT * FROM rag_set_embedding_model('m', 0)", "22023"),
            ("SELECT * FROM rag_set_embedding_model('m', 4096)", "22023"),
            ("SELECT * FROM rag_set_embedding_model('', 1024)", "22023"),
        ];
        for (sql, state) in cases {
            assert_error_with_hint(sql, state);
        }
        // Chunk settings out of range: the setting itself refuses the value.
        assert_eq!(error_of("SET rag_search.chunk_max_chars = 10").split('|').next(), Some("22023"));
        assert_eq!(error_of("SET rag_search.chunk_overlap_chars = -1").split('|').next(), Some("22023"));
        // Overlap above half of max_chars is caught when chunking.
        run("SET rag_search.chunk_max_chars = 200");
        run("SET rag_search.chunk_overlap_chars = 150");
        let got = error_of("SELECT * FROM rag_upsert_document('a', 't', 'c')");
        assert!(got.starts_with("22023|"), "{got}");
    }

    #[pg_test]
    fn model_switch_marks_embeddings_stale_and_rebuilds_index() {
        upsert("m:1", &three_paragraphs("x"));
        run("UPDATE rag_search.chunks SET embedding = array_fill(0.5, ARRAY[1024])::vector,
             embedding_model = 'qwen3-embedding:8b', embedding_dim = 1024, embedded_at = now()");
        let n: i64 = one("SELECT count(*) FROM rag_search.chunks");

        // Same dimension, other model: every embedding cleared, index kept.
        let (cleared, rebuilt): (i64, bool) = Spi::get_two("SELECT embeddings_cleared, index_rebuilt FROM rag_set_embedding_model('other-model', 1024)")
            .map(|(a, b)| (a.unwrap(), b.unwrap()))
            .unwrap();
        assert_eq!((cleared, rebuilt), (n, false));
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE embedding IS NOT NULL"), 0);
        assert_eq!(one::<String>("SELECT embedding_model FROM rag_search.index_state"), "other-model");

        // Dimension change: HNSW index rebuilt for it.
        run("UPDATE rag_search.chunks SET embedding = array_fill(0.5, ARRAY[1024])::vector,
             embedding_model = 'other-model', embedding_dim = 1024, embedded_at = now()");
        let oid_before: i64 = one("SELECT 'rag_search.chunks_embedding_hnsw'::regclass::oid::bigint");
        let (cleared, rebuilt): (i64, bool) = Spi::get_two("SELECT embeddings_cleared, index_rebuilt FROM rag_set_embedding_model('small-model', 384)")
            .map(|(a, b)| (a.unwrap(), b.unwrap()))
            .unwrap();
        assert_eq!((cleared, rebuilt), (n, true));
        assert!(one::<String>("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding_hnsw'")
            .ends_with("USING hnsw (((embedding)::vector(384)) vector_cosine_ops) WHERE (embedding_dim = 384)"));
        // A vector whose length is not the recorded dimension is refused.
        let refused = error_of(
            "UPDATE rag_search.chunks SET embedding = array_fill(0.1, ARRAY[3])::vector, embedding_model = 'x', embedding_dim = 384",
        );
        assert!(refused.starts_with("23514|"), "{refused}");
        assert_ne!(oid_before, one::<i64>("SELECT 'rag_search.chunks_embedding_hnsw'::regclass::oid::bigint"));
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE embedding IS NOT NULL"), 0);
        run("UPDATE rag_search.chunks SET embedding = array_fill(0.1, ARRAY[384])::vector, embedding_model = 'small-model', embedding_dim = 384");
        assert_eq!(one::<String>("SELECT embedding_dim::text FROM rag_search.index_state"), "384");

        // Defaults come from the settings; the same model again changes nothing.
        run("SET rag_search.embedding_model = 'small-model'");
        run("SET rag_search.embedding_dimension = 384");
        let (cleared, rebuilt): (i64, bool) = Spi::get_two("SELECT embeddings_cleared, index_rebuilt FROM rag_set_embedding_model()")
            .map(|(a, b)| (a.unwrap(), b.unwrap()))
            .unwrap();
        assert_eq!((cleared, rebuilt), (0, false));
    }

    fn status_counts() -> (i64, i64, i64, i64, String, String) {
        Spi::connect(|c| {
            let t = c
                .select(
                    "SELECT total, embedded, missing, failed, coverage_pct::text, state FROM rag_backfill_status()",
                    None,
                    &[],
                )
                .expect("status")
                .first();
            (
                t.get::<i64>(1).unwrap().unwrap(),
                t.get::<i64>(2).unwrap().unwrap(),
                t.get::<i64>(3).unwrap().unwrap(),
                t.get::<i64>(4).unwrap().unwrap(),
                t.get::<String>(5).unwrap().unwrap(),
                t.get::<String>(6).unwrap().unwrap(),
            )
        })
    }

    #[pg_test]
    fn backfill_status_of_an_empty_database() {
        assert_eq!(status_counts(), (0, 0, 0, 0, "100.00".to_string(), "idle".to_string()));
        let view: i64 = one("SELECT count(*) FROM rag_backfill_progress");
        assert_eq!(view, 1);
    }

    #[pg_test]
    fn backfill_counters_follow_inserts_deletes_and_truncate() {
        run("SET rag_search.chunk_max_chars = 1000");
        run("SET rag_search.chunk_overlap_chars = 0");
        upsert("c:1", &three_paragraphs("Middle one."));
        upsert("c:2", &three_paragraphs("Middle two."));
        let chunks: i64 = one("SELECT count(*) FROM rag_search.chunks");
        assert_eq!(status_counts().0, chunks);
        assert_eq!(status_counts().2, chunks);
        // Embeddings written by hand are invisible to the counters until a recount.
        run("UPDATE rag_search.chunks SET embedding = array_fill(0.5, ARRAY[1024])::vector,
             embedding_model = 'qwen3-embedding:8b', embedding_dim = 1024, embedded_at = now()
             WHERE document_id = (SELECT id FROM rag_search.documents WHERE doc_id = 'c:1')");
        let embedded: i64 = one("SELECT count(embedding) FROM rag_search.chunks");
        assert_eq!(status_counts().1, 0);
        assert_eq!(one::<i64>("SELECT embedded FROM rag_backfill_recount()"), embedded);
        let (total, emb, missing, _, _, _) = status_counts();
        assert_eq!((total, emb, missing), (chunks, embedded, chunks - embedded));
        // Deleting a document removes its chunks and their embeddings from the counts.
        assert!(one::<bool>("SELECT rag_delete_document('c:1')"));
        let left: i64 = one("SELECT count(*) FROM rag_search.chunks");
        assert_eq!(&status_counts().0, &left);
        assert_eq!(status_counts().1, 0);
        // A model switch takes the cleared embeddings off the counter.
        run("UPDATE rag_search.chunks SET embedding = array_fill(0.5, ARRAY[1024])::vector,
             embedding_model = 'qwen3-embedding:8b', embedding_dim = 1024, embedded_at = now()");
        run("SELECT * FROM rag_backfill_recount()");
        assert_eq!(status_counts().1, left);
        run("SELECT * FROM rag_set_embedding_model('another-model', 1024)");
        assert_eq!((status_counts().1, status_counts().2), (0, left));
        run("TRUNCATE rag_search.documents CASCADE");
        assert_eq!(status_counts().0, 0);
        // Old deltas fold into one row without changing the sums.
        upsert("c:3", &three_paragraphs("Middle three."));
        let before = status_counts();
        run("UPDATE rag_search.chunk_counts SET at = at - interval '1 hour'");
        run("SELECT rag_search.compact_chunk_counts()");
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunk_counts"), 1);
        assert_eq!(status_counts(), before);
    }

    #[pg_test]
    fn backfill_bad_arguments_raise_sqlstate_with_hint() {
        for (sql, state) in [
            ("SELECT * FROM rag_backfill_step(0)", "22023"),
            ("SELECT * FROM rag_backfill_step(5000)", "22023"),
            ("SELECT * FROM rag_backfill_start(mode => 'fast')", "22023"),
            ("SELECT * FROM rag_backfill_start(batch_size => 0)", "22023"),
            ("SELECT * FROM rag_backfill_start(batch_sleep_ms => -1)", "22023"),
            ("SELECT * FROM rag_backfill_start(max_chunks => -1)", "22023"),
            ("SELECT * FROM rag_backfill_start(report_every => 0)", "22023"),
        ] {
            assert_error_with_hint(sql, state);
        }
        assert_eq!(error_of("SET rag_search.backfill_batch_size = 0").split('|').next(), Some("22023"));
    }

    #[pg_test]
    fn backfill_step_with_nothing_missing_sends_nothing() {
        // An address nothing listens on: a request would be an error.
        run("SET rag_search.embedding_url = 'http://127.0.0.1:9'");
        let (claimed, remaining): (i32, i64) = Spi::get_two("SELECT claimed, remaining FROM rag_backfill_step(8)")
            .map(|(a, b)| (a.unwrap(), b.unwrap()))
            .unwrap();
        assert_eq!((claimed, remaining), (0, 0));
    }

    #[pg_test]
    fn backfill_stop_without_a_worker_records_the_stop() {
        let (requested, state): (bool, String) = Spi::get_two("SELECT stop_requested, state FROM rag_backfill_stop()")
            .map(|(a, b)| (a.unwrap(), b.unwrap()))
            .unwrap();
        assert_eq!((requested, state.as_str()), (false, "stopped"));
        assert_eq!(status_counts().5, "stopped");
        assert_eq!(one::<String>("SELECT stop_reason FROM rag_search.backfill_state"), "operator");
    }

    #[pg_test]
    fn backfill_failures_reset_and_model_switch() {
        upsert("f:1", "Some text to embed.");
        run("INSERT INTO rag_search.backfill_failures
                 (chunk_id, embedding_model, embedding_dim, content_hash, attempts, error_kind, last_error, next_retry_at, parked)
             SELECT id, 'qwen3-embedding:8b', 1024, content_hash, 5, 'http', 'HTTP 500', NULL, true FROM rag_search.chunks");
        assert_eq!(status_counts().3, 1);
        assert_eq!(status_counts().2, 0, "parked chunks are failed, not missing");
        assert_eq!(one::<i64>("SELECT rag_backfill_retry_failed(include_waiting => false)"), 1);
        assert_eq!((status_counts().2, status_counts().3), (1, 0));
        // Failures of a replaced model are void.
        run("INSERT INTO rag_search.backfill_failures
                 (chunk_id, embedding_model, embedding_dim, content_hash, attempts, error_kind, last_error, next_retry_at, parked)
             SELECT id, 'qwen3-embedding:8b', 1024, content_hash, 1, 'http', 'HTTP 500', now() + interval '1 hour', false
             FROM rag_search.chunks");
        run("SELECT * FROM rag_set_embedding_model('other-model', 1024)");
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.backfill_failures"), 0);
    }

    #[pg_test]
    fn backfill_operator_role_and_privileges() {
        assert!(one::<bool>("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rag_search_admin')"));
        for f in [
            "rag_backfill_start(text, integer, integer, bigint, integer)",
            "rag_backfill_stop()",
            "rag_backfill_resume()",
            "rag_backfill_step(integer)",
            "rag_backfill_retry_failed(bigint[], boolean)",
            "rag_backfill_recount()",
        ] {
            assert!(one::<bool>(&format!("SELECT has_function_privilege('rag_search_admin', '{f}', 'EXECUTE')")), "{f}");
            let public: bool = one(&format!(
                "SELECT EXISTS (SELECT FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                 WHERE p.oid = '{f}'::regprocedure AND a.grantee = 0 AND a.privilege_type = 'EXECUTE')"
            ));
            assert!(!public, "{f} must not be executable by PUBLIC");
        }
        assert!(one::<bool>("SELECT has_function_privilege('public', 'rag_backfill_status()', 'EXECUTE')"));
        // They run as the extension's owner, so the role holds no table privilege.
        assert!(!one::<bool>(
            "SELECT EXISTS (SELECT FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.relnamespace = 'rag_search'::regnamespace AND a.grantee = 'rag_search_admin'::regrole)"
        ));
        assert_eq!(one::<String>("SELECT shobj_description('rag_search_admin'::regrole, 'pg_authid')"),
                   "rag_search: operators of the embedding backfill (created by CREATE EXTENSION rag_search)");
    }

    #[pg_test]
    fn search_caps_refuse_oversized_requests_with_22023() {
        // top_k × oversample above rag_search.max_candidates (10,000).
        assert_error_with_hint(
            "SELECT * FROM rag_hybrid_search('q', 1000, 'fts', NULL, '{\"oversample\": 1000}')",
            "22023",
        );
        assert_error_with_hint(
            "SELECT * FROM rag_hybrid_search('q', array_fill(0.1, ARRAY[1024])::vector, 1000, 'hybrid', NULL,
             '{\"oversample\": 1000}')",
            "22023",
        );
        // top_k × (2 × window + 1) above rag_search.max_context_chunks (2,000).
        assert_error_with_hint("SELECT * FROM rag_hybrid_search('q', 100, 'fts', NULL, '{\"window\": 20}')", "22023");
        // limit × rag_search.candidate_oversample above max_candidates.
        run("SET rag_search.candidate_oversample = 100");
        assert_error_with_hint("SELECT * FROM rag_candidate_pages('q', 101)", "22023");
        assert_eq!(error_of("SELECT * FROM rag_candidate_pages('q', 100)"), "00000||");
        run("RESET rag_search.candidate_oversample");
        assert_eq!(error_of("SELECT * FROM rag_candidate_pages('q', 1000)"), "00000||");
        assert_eq!(error_of("SELECT * FROM rag_hybrid_search('q', 95, 'fts', NULL, '{\"window\": 10}')"), "00000||");
        // A superuser may raise the caps.
        run("SET rag_search.max_candidates = 1000000");
        assert_eq!(
            error_of("SELECT * FROM rag_hybrid_search('q', 1000, 'fts', NULL, '{\"oversample\": 1000}')"),
            "00000||"
        );
    }

    #[pg_test]
    fn superuser_only_settings_refuse_other_roles() {
        run("CREATE ROLE rag_settings_probe");
        for (name, value) in [
            ("rag_search.max_candidates", "1000000"),
            ("rag_search.max_context_chunks", "1000000"),
            ("rag_search.max_query_chars", "1000000"),
            ("rag_search.query_cache_max_entries", "0"),
            ("rag_search.embedding_max_chars", "20"),
            ("rag_search.document_template", "{title}"),
            ("rag_search.embedding_url", "http://127.0.0.1:9"),
            ("rag_search.embedding_provider", "openai"),
            ("rag_search.embedding_api_key", "k"),
        ] {
            // As the role, for the rest of the statement: SET LOCAL ROLE, then the setting.
            let got = error_of(&format!(
                "SELECT set_config('role', 'rag_settings_probe', true), set_config('{name}', '{value}', true)"
            ));
            assert!(got.starts_with("42501|"), "{name}: {got}");
        }
        // Settings that only shape one session's search stay open to everyone.
        assert_eq!(
            error_of("SELECT set_config('role', 'rag_settings_probe', true), set_config('rag_search.hybrid_oversample', '20', true)"),
            "00000||"
        );
    }

    #[pg_test]
    fn security_definer_functions_are_not_executable_by_public_and_pin_search_path() {
        // (The schema `tests` holds these tests, part of the extension in test builds.)
        let members = "FROM pg_proc p
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'rag_search'
             JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname <> 'tests'";
        assert!(one::<i64>(&format!("SELECT count(*) {members} WHERE p.prosecdef")) >= 12);
        let public: Option<String> = Spi::get_one(&format!(
            "SELECT string_agg(p.oid::regprocedure::text, ', ') {members}
             WHERE p.prosecdef AND EXISTS (
                 SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                 WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')"
        ))
        .expect("list functions");
        assert_eq!(public, None, "SECURITY DEFINER functions executable by PUBLIC");
        // Only rag_search_admin (besides the owner) may run any of them.
        let grantees: String = one(&format!(
            "SELECT string_agg(DISTINCT a.grantee::regrole::text, ',') {members}
             CROSS JOIN aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
             WHERE p.prosecdef AND a.grantee <> p.proowner"
        ));
        assert_eq!(grantees, "rag_search_admin");
        // Every function that runs statements pins its search_path; only the
        // pure functions of the stored tsvector, BM25 and the entity index
        // have none.
        let unpinned: String = one(&format!(
            "SELECT string_agg(p.proname, ',' ORDER BY p.proname) {members}
             WHERE p.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pg_temp']"
        ));
        assert_eq!(unpinned, "bm25,chunk_tsvector,document_frequencies,entity_keys,index_text,index_tsvector");
    }

    #[pg_test]
    fn text_search_config_switch_rebuilds_tsvector() {
        upsert("ts:1", "The running dogs were barking loudly.");
        // `simple` keeps every word (English ones as their Porter stems);
        // `english` drops stop words such as "the" as well.
        let the = "SELECT count(*) FROM rag_search.chunks WHERE tsv @@ 'the'::tsquery";
        assert_eq!(one::<i64>(the), 1);
        assert_eq!(one::<String>("SELECT rag_set_text_search_config('english')"), "english");
        assert_eq!(one::<i64>(the), 0);
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.chunks WHERE tsv @@ to_tsquery('english', 'run')"), 1);
        assert_eq!(one::<i64>("SELECT count(*) FROM pg_indexes WHERE indexname = 'chunks_tsv_gin'"), 1);
        assert_eq!(error_of("SELECT rag_set_text_search_config('no_such_config')").split('|').next(), Some("42704"));
    }

    /// Texts for the tokenizer tests: the bundled samples plus words drawn
    /// from an alphabet full of what PostgreSQL's parser treats specially
    /// (digits with `e`, punctuation, upper case, accents, CJK, jamo).
    fn tokenizer_texts() -> Vec<String> {
        let mut texts: Vec<String> = Vec::new();
        for file in [include_str!("../samples/sample_docs.json"), include_str!("../samples/korean_docs.json")] {
            let docs: Vec<serde_json::Value> = serde_json::from_str(file).expect("sample JSON");
            texts.extend(docs.iter().filter_map(|d| d["content"].as_str().map(str::to_string)));
        }
        let alphabet: Vec<char> = "abcdeeexyz0123456789 가각탄핵을는 -./:@_'ÉéÅ東京\u{1112}\u{1161}\u{11AB}\t\n²"
            .chars()
            .collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..400 {
            let mut t = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 1 + (seed % 60) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                t.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            texts.push(t);
        }
        texts.push(vec!["x"; 400].join(" "));
        texts.push(format!("{} y y", vec!["w"; 20000].join(" ")));
        texts.push(format!("{} b", "a".repeat(2047)));
        texts.push(String::new());
        texts
    }

    #[pg_test]
    fn stored_tsvector_equals_the_postgres_parser() {
        let texts = tokenizer_texts();
        let args: [DatumWithOid; 1] = [texts.clone().into()];
        for config in ["simple", "english"] {
            let sql = format!(
                "SELECT count(*) FROM unnest($1::text[]) AS t(x)
                 WHERE rag_search.index_tsvector('{config}', x)::text
                       IS DISTINCT FROM to_tsvector('{config}', rag_search.index_text(x))::text"
            );
            let differing = Spi::get_one_with_args::<i64>(&sql, &args).expect("compare").expect("count");
            assert_eq!(differing, 0, "{config}: tsvectors differ from to_tsvector");
        }
        // Both paths were exercised: the samples (English and Korean words)
        // are built in Rust, most random texts go to PostgreSQL.
        let fast = texts
            .iter()
            .filter(|t| rag_core::tsvector::simple_tsvector(&rag_core::text::index_text(t)).is_some())
            .count();
        assert!(fast >= 60 && texts.len() - fast >= 60, "{fast} of {} built in Rust", texts.len());
    }

    #[pg_test]
    fn term_statistics_match_a_recount() {
        let docs: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../samples/korean_docs.json")).expect("sample JSON");
        let batch = serde_json::Value::Array(docs.clone()).to_string();
        let args: [DatumWithOid; 1] = [batch.as_str().into()];
        Spi::run_with_args("SELECT count(*) FROM rag_upsert_documents($1::jsonb)", &args).expect("bulk");
        // Changed content, removed documents, a single upsert.
        for d in docs.iter().take(5) {
            let id = d["doc_id"].as_str().expect("doc_id");
            let args: [DatumWithOid; 2] = [id.into(), format!("{} 추가된 문장입니다.", d["content"]).into()];
            Spi::run_with_args("SELECT rag_upsert_document($1, 'T', $2)", &args).expect("upsert");
        }
        for d in docs.iter().skip(5).take(4) {
            let args: [DatumWithOid; 1] = [d["doc_id"].as_str().expect("doc_id").into()];
            Spi::run_with_args("SELECT rag_delete_document($1)", &args).expect("delete");
        }
        run("SELECT rag_search.term_stats_compact()");
        let mismatched: i64 = one(
            "SELECT count(*) FROM rag_search.term_stats s
             FULL JOIN (SELECT u.lexeme, count(*) AS df FROM rag_search.chunks c, unnest(c.tsv) AS u GROUP BY u.lexeme) r
               ON r.lexeme = s.lexeme
             WHERE s.df IS DISTINCT FROM r.df",
        );
        assert_eq!(mismatched, 0);
        assert!(one::<i64>("SELECT count(*) FROM rag_search.term_stats") > 100);
        assert!(one::<bool>(
            "SELECT s.chunks = (SELECT count(*) FROM rag_search.chunks)
                AND s.lexemes = (SELECT sum(length(tsv)) FROM rag_search.chunks)
             FROM rag_search.corpus_stats s"
        ));
        assert_eq!(one::<i64>("SELECT count(*) FROM rag_search.term_stats_delta"), 0);
    }
}
