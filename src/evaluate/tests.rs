//! rag_evaluate and rag_tune_weights on the shipped samples and their judged
//! queries (samples/evaluation/), against figures computed here from the
//! searches' own results.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use std::collections::HashMap;

    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;
    use pgrx::JsonB;

    use crate::test_support::{assert_error_with_hint, error_of, one, run};

    fn load_samples() {
        for file in [include_str!("../../samples/sample_docs.json"), include_str!("../../samples/korean_docs.json")] {
            let args: [DatumWithOid; 1] = [file.into()];
            Spi::run_with_args("SELECT * FROM rag_upsert_documents($1::jsonb)", &args).unwrap();
        }
    }

    /// samples/evaluation/*.csv as tables eval_queries and eval_qrels.
    fn load_judgments() {
        run("CREATE TABLE eval_queries (query_id text PRIMARY KEY, query text NOT NULL)");
        run("CREATE TABLE eval_qrels (query_id text, doc_id text, relevance int)");
        for line in include_str!("../../samples/evaluation/queries.csv").lines().skip(1) {
            let (id, q) = line.split_once(',').expect("query_id,query");
            let args: [DatumWithOid; 2] = [id.into(), q.into()];
            Spi::run_with_args("INSERT INTO eval_queries VALUES ($1, $2)", &args).unwrap();
        }
        for line in include_str!("../../samples/evaluation/qrels.csv").lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let args: [DatumWithOid; 3] = [f[0].into(), f[1].into(), f[2].parse::<i32>().unwrap().into()];
            Spi::run_with_args("INSERT INTO eval_qrels VALUES ($1, $2, $3)", &args).unwrap();
        }
    }

    /// The figures of one query, computed here from first principles:
    /// graded nDCG (log2 discount), recall, reciprocal rank and hit at k.
    fn figures(ranked: &[String], judged: &HashMap<String, i32>, k: usize) -> [f64; 4] {
        let mut docs: Vec<&String> = Vec::new();
        for d in ranked {
            if !docs.contains(&d) {
                docs.push(d);
            }
        }
        docs.truncate(k);
        let gain = |d: &String| f64::from(judged.get(d).copied().unwrap_or(0).max(0));
        let dcg: f64 = docs.iter().enumerate().map(|(i, d)| gain(d) / (i as f64 + 2.0).log2()).sum();
        let mut best: Vec<i32> = judged.values().copied().filter(|r| *r > 0).collect();
        best.sort_by(|a, b| b.cmp(a));
        let idcg: f64 = best.iter().take(k).enumerate().map(|(i, r)| f64::from(*r) / (i as f64 + 2.0).log2()).sum();
        let relevant = best.len() as f64;
        let found = docs.iter().filter(|d| gain(d) > 0.0).count() as f64;
        let first = docs.iter().position(|d| gain(d) > 0.0);
        [
            if idcg > 0.0 { dcg / idcg } else { 0.0 },
            if relevant > 0.0 { found / relevant } else { 0.0 },
            first.map_or(0.0, |i| 1.0 / (i as f64 + 1.0)),
            if first.is_some() { 1.0 } else { 0.0 },
        ]
    }

    fn judgments() -> HashMap<String, HashMap<String, i32>> {
        let mut out: HashMap<String, HashMap<String, i32>> = HashMap::new();
        Spi::connect(|c| {
            for r in c.select("SELECT query_id, doc_id, relevance FROM eval_qrels", None, &[]).unwrap() {
                out.entry(r.get::<String>(1).unwrap().unwrap())
                    .or_default()
                    .insert(r.get::<String>(2).unwrap().unwrap(), r.get::<i32>(3).unwrap().unwrap());
            }
        });
        out
    }

    /// Mean figures over the judged queries of `queries_sql` (query_id,
    /// query), each searched by `search_sql` ($1 the query text, $2 its id)
    /// returning doc_id in rank order.
    fn expected(queries_sql: &str, search_sql: &str, k: usize) -> (usize, [f64; 4]) {
        let judged = judgments();
        let queries: Vec<(String, String)> = Spi::connect(|c| {
            c.select(queries_sql, None, &[])
                .unwrap()
                .map(|r| (r.get::<String>(1).unwrap().unwrap(), r.get::<String>(2).unwrap().unwrap()))
                .collect()
        });
        let mut sum = [0.0; 4];
        let mut n = 0;
        for (id, q) in queries {
            let Some(j) = judged.get(&id) else { continue };
            let args: [DatumWithOid; 2] = [q.as_str().into(), id.as_str().into()];
            let ranked: Vec<String> = Spi::connect(|c| {
                c.select(search_sql, None, &args).unwrap().map(|r| r.get::<String>(1).unwrap().unwrap()).collect()
            });
            for (s, f) in sum.iter_mut().zip(figures(&ranked, j, k)) {
                *s += f;
            }
            n += 1;
        }
        (n, sum.map(|s| s / n as f64))
    }

    /// (query_count, [ndcg, recall, mrr, hit]) of rag_evaluate's row for `mode`.
    fn evaluated(sql: &str, mode: &str) -> (usize, [f64; 4]) {
        Spi::connect(|c| {
            let rows = c.select(sql, None, &[]).unwrap();
            for r in rows {
                if r.get_by_name::<String, _>("mode").unwrap().unwrap() == mode {
                    let f = |name: &str| r.get_by_name::<f64, _>(name).unwrap().unwrap();
                    let latency = f("mean_latency_ms");
                    assert!(latency >= 0.0 && latency.is_finite());
                    return (
                        r.get_by_name::<i32, _>("query_count").unwrap().unwrap() as usize,
                        [f("ndcg_at_k"), f("recall_at_k"), f("mrr_at_k"), f("hit_at_k")],
                    );
                }
            }
            panic!("no row for mode {mode}")
        })
    }

    fn assert_same(got: (usize, [f64; 4]), want: (usize, [f64; 4]), what: &str) {
        assert_eq!(got.0, want.0, "{what}: query count");
        for (g, w) in got.1.iter().zip(want.1) {
            assert!((g - w).abs() < 1e-9, "{what}: {got:?} != {want:?}");
        }
    }

    #[pg_test]
    fn rag_evaluate_equals_an_independent_computation_on_the_samples() {
        load_samples();
        load_judgments();
        for k in [3, 10] {
            let got = evaluated(&format!("SELECT * FROM rag_evaluate('eval_queries', 'eval_qrels', ARRAY['fts', 'lexical'], {k})"), "fts");
            let want = expected(
                "SELECT query_id, query FROM eval_queries",
                &format!("SELECT doc_id FROM rag_hybrid_search($1, {k}, 'fts', NULL, '{{\"max_per_document\": 1}}') ORDER BY rank"),
                k,
            );
            assert_eq!(want.0, 15);
            assert!(want.1[0] > 0.3, "the samples' judged documents are found: {want:?}");
            assert_same(got, want, &format!("fts k={k}"));
            let got = evaluated(&format!("SELECT * FROM rag_evaluate('eval_queries', 'eval_qrels', ARRAY['fts', 'lexical'], {k})"), "lexical");
            let want = expected(
                "SELECT query_id, query FROM eval_queries",
                &format!("SELECT doc_id FROM rag_hybrid_search($1, {k}, 'lexical', NULL, '{{\"max_per_document\": 1}}') ORDER BY rank"),
                k,
            );
            assert_same(got, want, &format!("lexical k={k}"));
        }
        // Options are the search's: without the per-document cap, documents
        // still count once, at their best chunk.
        let got = evaluated(
            "SELECT * FROM rag_evaluate('eval_queries', 'eval_qrels', ARRAY['fts'], 5, '{\"max_per_document\": null, \"weights\": {\"fts\": 1}}')",
            "fts",
        );
        let want = expected(
            "SELECT query_id, query FROM eval_queries",
            "SELECT doc_id FROM rag_hybrid_search($1, 5, 'fts') ORDER BY rank",
            5,
        );
        assert_same(got, want, "fts uncapped");
        // Queries without judgments are left out; a filter applies to every search.
        run("INSERT INTO eval_queries VALUES ('unjudged', 'nothing judged')");
        let got = evaluated(
            "SELECT * FROM rag_evaluate('eval_queries', 'eval_qrels', ARRAY['fts'], 10, NULL, '{\"lang\": \"ko\"}')",
            "fts",
        );
        let want = expected(
            "SELECT query_id, query FROM eval_queries",
            "SELECT doc_id FROM rag_hybrid_search($1, 10, 'fts', '{\"lang\": \"ko\"}', '{\"max_per_document\": 1}') ORDER BY rank",
            10,
        );
        assert_same(got, want, "fts filtered");
    }

    /// Documents with 4-dimensional embeddings, and judged queries with
    /// precomputed vectors in a vector and in a real[] column.
    fn vector_corpus() {
        for (doc_id, content) in [
            ("v:1", "autovacuum freezes old tuples"),
            ("v:2", "vacuum reclaims space of dead tuples"),
            ("v:3", "hnsw builds a proximity graph"),
            ("v:4", "bm25 ranks by term frequency"),
        ] {
            let args: [DatumWithOid; 2] = [doc_id.into(), content.into()];
            Spi::run_with_args("SELECT rag_upsert_document($1, '', $2)", &args).unwrap();
        }
        run("SELECT rag_set_embedding_model('test-model', 4)");
        run("UPDATE rag_search.chunks c SET embedding = (CASE d.doc_id WHEN 'v:1' THEN '[1,0,0,0]' WHEN 'v:2' THEN '[0.6,0.8,0,0]'
                        WHEN 'v:3' THEN '[0,0,1,0]' ELSE '[0,0,0.6,0.8]' END)::vector,
                    embedding_model = 'test-model', embedding_dim = 4, embedded_at = now()
             FROM rag_search.documents d WHERE d.id = c.document_id");
        run("CREATE TABLE vq (query_id int, query varchar, query_vector vector(4))");
        run("INSERT INTO vq VALUES (1, 'vacuum tuples', '[0.5,0.9,0,0]'), (2, 'graph index', '[0,0,1,0]'), (3, 'bm25 ranking', '[1,0,0,0]')");
        run("CREATE TABLE vq_array (query_id bigint, query text, query_vector real[])");
        run("INSERT INTO vq_array SELECT query_id, query, query_vector::real[] FROM vq");
        run("CREATE TABLE eval_qrels (query_id text, doc_id text, relevance int)");
        run("INSERT INTO eval_qrels VALUES ('1', 'v:2', 2), ('1', 'v:1', 1), ('2', 'v:3', 1), ('3', 'v:4', 1), ('3', 'v:9', 1)");
    }

    #[pg_test]
    fn rag_evaluate_uses_precomputed_query_vectors() {
        vector_corpus();
        for table in ["vq", "vq_array"] {
            let sql = format!("SELECT * FROM rag_evaluate('{table}', 'eval_qrels', ARRAY['vector', 'hybrid', 'fts'], 2)");
            for mode in ["vector", "hybrid"] {
                let want = expected(
                    "SELECT query_id::text, query::text FROM vq",
                    &format!(
                        "SELECT doc_id FROM rag_hybrid_search($1, (SELECT query_vector FROM vq WHERE query_id::text = $2), 2, '{mode}', NULL,
                             '{{\"max_per_document\": 1}}') ORDER BY rank"
                    ),
                    2,
                );
                assert_same(evaluated(&sql, mode), want, &format!("{table} {mode}"));
            }
        }
        // By hand: query 1 ranks v:2 (2) then v:1 (1) by vector, the ideal
        // order; query 2 finds v:3 first; query 3 ranks v:1 (0) then v:2 (0),
        // and half of its relevant documents are unknown to the corpus.
        let (n, [ndcg, recall, mrr, hit]) = evaluated("SELECT * FROM rag_evaluate('vq', 'eval_qrels', ARRAY['vector'], 2)", "vector");
        assert_eq!(n, 3);
        assert!((ndcg - 2.0 / 3.0).abs() < 1e-9 && (recall - 2.0 / 3.0).abs() < 1e-9, "{ndcg} {recall}");
        assert!((mrr - 2.0 / 3.0).abs() < 1e-9 && (hit - 2.0 / 3.0).abs() < 1e-9, "{mrr} {hit}");
    }

    #[pg_test]
    fn rag_evaluate_checks_its_tables_and_arguments() {
        vector_corpus();
        let eval = |queries: &str, qrels: &str, rest: &str| format!("SELECT * FROM rag_evaluate({queries}, {qrels}{rest})");
        assert_error_with_hint(&eval("NULL", "'eval_qrels'", ""), "22004");
        assert_error_with_hint(&eval("'vq'", "NULL", ""), "22004");
        run("CREATE TABLE no_query (query_id text, text text)");
        assert_error_with_hint(&eval("'no_query'", "'eval_qrels'", ""), "42703");
        run("CREATE TABLE bad_rel (query_id text, doc_id text, relevance float8)");
        assert_error_with_hint(&eval("'vq'", "'bad_rel'", ""), "42804");
        run("CREATE TABLE bad_vec (query_id text, query text, query_vector text)");
        assert_error_with_hint(&eval("'bad_vec'", "'eval_qrels'", ""), "42804");
        run("CREATE SEQUENCE not_a_table");
        assert_error_with_hint(&eval("'not_a_table'", "'eval_qrels'", ""), "42809");
        run("CREATE TABLE other_ids (query_id text, query text)");
        run("INSERT INTO other_ids VALUES ('x', 'vacuum')");
        assert_error_with_hint(&eval("'other_ids'", "'eval_qrels'", ""), "22023");
        run("CREATE TABLE twice (query_id text, query text)");
        run("INSERT INTO twice VALUES ('1', 'a'), ('1', 'b')");
        assert_error_with_hint(&eval("'twice'", "'eval_qrels'", ""), "22023");
        run("CREATE TABLE null_text (query_id text, query text)");
        run("INSERT INTO null_text VALUES ('1', NULL)");
        assert_error_with_hint(&eval("'null_text'", "'eval_qrels'", ""), "22004");
        for bad in [", ARRAY[]::text[]", ", ARRAY['fts', NULL]", ", ARRAY['nope']", ", ARRAY['fts'], 0", ", ARRAY['fts'], 10, '{\"window\": -1}'"] {
            let got = error_of(&eval("'vq'", "'eval_qrels'", bad));
            assert!(got.starts_with("22023|") || got.starts_with("22004|"), "{bad}: {got}");
        }
        // A name that is no relation fails in PostgreSQL's own cast.
        assert!(error_of(&eval("'no_such_table'", "'eval_qrels'", "")).starts_with("42P01|"));
    }

    #[pg_test]
    fn rag_evaluate_reads_tables_with_the_callers_privileges() {
        vector_corpus();
        run("CREATE ROLE rag_eval_probe");
        run("GRANT USAGE ON SCHEMA rag_search TO rag_eval_probe");
        run("GRANT SELECT ON rag_search.documents, rag_search.chunks TO rag_eval_probe");
        run("GRANT SELECT ON eval_qrels TO rag_eval_probe");
        // As the role, from the start of the call on.
        let as_probe = |table: &str| {
            error_of(&format!(
                "SELECT count(*) FROM (SELECT set_config('role', 'rag_eval_probe', true) AS r) AS s,
                     LATERAL rag_evaluate(('{table}' || substr(s.r, 1, 0))::regclass, 'eval_qrels', ARRAY['fts'], 2)"
            ))
        };
        let tune_as_probe = |table: &str| {
            error_of(&format!(
                "SELECT count(*) FROM (SELECT set_config('role', 'rag_eval_probe', true) AS r) AS s,
                     LATERAL rag_tune_weights(('{table}' || substr(s.r, 1, 0))::regclass, 'eval_qrels', 'vq', 2)"
            ))
        };
        let denied = as_probe("vq");
        assert!(denied.starts_with("42501|") && denied.contains("GRANT SELECT"), "{denied}");
        assert!(tune_as_probe("vq_array").starts_with("42501|"));
        // A column-level grant that leaves out a column read is not enough.
        run("GRANT SELECT (query_id, query) ON vq TO rag_eval_probe");
        let denied = as_probe("vq");
        assert!(denied.starts_with("42501|") && denied.contains("query_vector"), "{denied}");
        run("GRANT SELECT ON vq TO rag_eval_probe");
        assert_eq!(as_probe("vq"), "00000||");
        run("RESET ROLE");
        // Row-level security applies: the role sees query 2 only.
        run("ALTER TABLE vq ENABLE ROW LEVEL SECURITY");
        run("CREATE POLICY only_two ON vq FOR SELECT TO rag_eval_probe USING (query_id = 2)");
        let count: i32 = one(
            "SELECT query_count FROM (SELECT set_config('role', 'rag_eval_probe', true) AS r) AS s,
                 LATERAL rag_evaluate(('vq' || substr(s.r, 1, 0))::regclass, 'eval_qrels', ARRAY['fts'], 2)",
        );
        run("RESET ROLE");
        assert_eq!(count, 1);
    }

    /// rag_tune_weights' rows: setting → (weights, train, held-out, counts, tried, options).
    type TuneRow = ([f64; 5], f64, Option<f64>, i32, i32, i32, serde_json::Value);

    fn tuned(sql: &str) -> HashMap<String, TuneRow> {
        Spi::connect(|c| {
            c.select(sql, None, &[])
                .unwrap()
                .map(|r| {
                    let f = |n: &str| r.get_by_name::<f64, _>(n).unwrap().unwrap();
                    let i = |n: &str| r.get_by_name::<i32, _>(n).unwrap().unwrap();
                    (
                        r.get_by_name::<String, _>("setting").unwrap().unwrap(),
                        (
                            [f("vector"), f("fts"), f("title"), f("lexical"), f("entity")],
                            f("train_ndcg"),
                            r.get_by_name::<f64, _>("heldout_ndcg").unwrap(),
                            i("train_query_count"),
                            i("heldout_query_count"),
                            i("settings_tried"),
                            r.get_by_name::<JsonB, _>("search_options").unwrap().unwrap().0,
                        ),
                    )
                })
                .collect()
        })
    }

    #[pg_test]
    fn rag_tune_weights_reports_the_best_setting_without_applying_it() {
        vector_corpus();
        run("CREATE TABLE vq_train AS SELECT * FROM vq WHERE query_id IN (1, 3)");
        run("CREATE TABLE vq_heldout AS SELECT * FROM vq WHERE query_id = 2");
        let before: String = one("SELECT current_setting('rag_search.weight_vector') || current_setting('rag_search.weight_fts')");
        let rows = tuned("SELECT * FROM rag_tune_weights('vq_train', 'eval_qrels', 'vq_heldout', 2)");
        assert_eq!(rows.len(), 2);
        let current = &rows["current"];
        let best = &rows["best"];
        let w = rag_core::fusion::DEFAULT_WEIGHTS;
        assert_eq!(current.0, [w.vec, w.fts, w.title, w.lex, w.entity], "the session's weights");
        assert!(best.1 >= current.1, "best {best:?} current {current:?}");
        assert_eq!((best.3, best.4), (2, 1));
        assert!(best.2.is_some());
        assert!(best.5 > 400, "a grid of settings: {}", best.5);
        let after: String = one("SELECT current_setting('rag_search.weight_vector') || current_setting('rag_search.weight_fts')");
        assert_eq!(before, after, "nothing is applied");
        // The reported figures are rag_evaluate's with the reported options.
        for (table, figure) in [("vq_train", best.1), ("vq_heldout", best.2.unwrap())] {
            let options = best.6.to_string();
            let args: [DatumWithOid; 1] = [options.as_str().into()];
            let ndcg = Spi::get_one_with_args::<f64>(
                &format!("SELECT ndcg_at_k FROM rag_evaluate('{table}', 'eval_qrels', ARRAY['hybrid'], 2, $1::jsonb)"),
                &args,
            )
            .unwrap()
            .unwrap();
            assert!((ndcg - figure).abs() < 1e-9, "{table}: evaluate {ndcg} tune {figure}");
        }
        let current_train = Spi::get_one::<f64>("SELECT ndcg_at_k FROM rag_evaluate('vq_train', 'eval_qrels', ARRAY['hybrid'], 2)")
            .unwrap()
            .unwrap();
        assert!((current_train - current.1).abs() < 1e-9);
        // Without a held-out table, a fixed share of the queries is held out.
        let rows = tuned("SELECT * FROM rag_tune_weights('vq', 'eval_qrels', k => 2)");
        assert_eq!(rows["best"].3 + rows["best"].4, 3);
        assert_eq!(rows["best"].0[4], 0.0, "no entity metadata: the entity weight is not tuned");
        // The grid, plus the session's weights when they are not on it.
        let tried = |entity: bool| rag_core::evaluate::weight_grid(rag_core::fusion::DEFAULT_WEIGHTS, entity).len() as i32;
        assert_eq!(rows["best"].5, tried(false));
        // With entity metadata, entity weights are tried too.
        run("SELECT rag_upsert_document('v:5', '', 'graph index of entities', '{\"entity_names\": [\"graph\"]}')");
        run("UPDATE rag_search.chunks SET embedding = '[0,0,0.8,0.6]', embedding_model = 'test-model', embedding_dim = 4, embedded_at = now()
             WHERE embedding IS NULL");
        let rows = tuned("SELECT * FROM rag_tune_weights('vq_train', 'eval_qrels', 'vq_heldout', 2)");
        assert_eq!(rows["best"].5, tried(true));
        assert!(rows["best"].1 >= rows["current"].1);
    }

    #[pg_test]
    fn rag_tune_weights_refuses_what_it_cannot_tune() {
        vector_corpus();
        assert_error_with_hint("SELECT * FROM rag_tune_weights('vq', 'eval_qrels', 'vq', 2)", "22023");
        assert_error_with_hint("SELECT * FROM rag_tune_weights('vq', 'eval_qrels', NULL, 2, '{\"fusion\": \"rrf\"}')", "22023");
        run("CREATE TABLE heldout_only AS SELECT * FROM vq WHERE false");
        assert_error_with_hint("SELECT * FROM rag_tune_weights('heldout_only', 'eval_qrels')", "22023");
    }
}
