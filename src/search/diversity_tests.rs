//! The per-document cap of rag_hybrid_search (`max_per_document`): fewer
//! near-duplicate chunks of one document in a result page, the ranking
//! going further down the candidates to fill top_k.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

    use crate::test_support::{assert_error_with_hint, run};

    fn doc(doc_id: &str, content: &str) {
        let args: [DatumWithOid; 2] = [doc_id.into(), content.into()];
        Spi::run_with_args("SELECT rag_upsert_document($1, '', $2)", &args).unwrap();
    }

    fn docs_of(sql: &str) -> Vec<String> {
        Spi::connect(|c| {
            c.select(sql, None, &[]).unwrap().map(|r| r.get_by_name::<String, _>("doc_id").unwrap().unwrap()).collect()
        })
    }

    /// A long page whose chunks all say "vacuum freeze" many times, and
    /// two short pages that say it less.
    fn corpus() {
        run("SET rag_search.chunk_max_chars = 100");
        run("SET rag_search.chunk_overlap_chars = 0");
        let paragraph = |i: usize| format!("Vacuum freeze vacuum freeze vacuum freeze, part {i} of the long page.");
        doc("long", &(0..6).map(paragraph).collect::<Vec<_>>().join("\n\n"));
        doc("short:1", "Vacuum freeze once, among many other words about tables and rows.");
        doc("short:2", "Freeze vacuum, and a few other words about tuples and pages here.");
        doc("other", "Nothing about the query at all.");
        run("SELECT rag_set_embedding_model('test-model', 4)");
        run("UPDATE rag_search.chunks c SET embedding = CASE WHEN d.doc_id = 'long' THEN '[1,0,0,0]' ELSE '[0.8,0.6,0,0]' END::vector,
                    embedding_model = 'test-model', embedding_dim = 4, embedded_at = now()
             FROM rag_search.documents d WHERE d.id = c.document_id");
    }

    #[pg_test]
    fn max_per_document_caps_the_chunks_of_one_document() {
        corpus();
        for (mode, vector) in [("fts", ""), ("hybrid", "'[1,0,0,0]'::vector, "), ("vector", "'[1,0,0,0]'::vector, ")] {
            let search = |options: &str| {
                docs_of(&format!("SELECT doc_id FROM rag_hybrid_search('vacuum freeze', {vector}3, '{mode}', NULL, '{options}') ORDER BY rank"))
            };
            assert_eq!(search("{}"), vec!["long", "long", "long"], "{mode}: the long page fills the page");
            let one = search("{\"max_per_document\": 1}");
            assert_eq!(one.len(), 3, "{mode}: {one:?}");
            assert_eq!(one[0], "long", "{mode}");
            let mut rest = one[1..].to_vec();
            rest.sort();
            assert_eq!(rest, vec!["short:1", "short:2"], "{mode}");
            let two = search("{\"max_per_document\": 2}");
            assert_eq!(two[..2], ["long", "long"], "{mode}: {two:?}");
            assert_ne!(two[2], "long", "{mode}");
            // null: no cap.
            assert_eq!(search("{\"max_per_document\": null}"), search("{}"), "{mode}");
        }
        // Ranks are consecutive and scores descending after the cap.
        let rows: Vec<(i32, f64)> = Spi::connect(|c| {
            c.select("SELECT rank, score FROM rag_hybrid_search('vacuum freeze', 10, 'fts', NULL, '{\"max_per_document\": 1}')", None, &[])
                .unwrap()
                .map(|r| (r.get::<i32>(1).unwrap().unwrap(), r.get::<f64>(2).unwrap().unwrap()))
                .collect()
        });
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3], "three documents match: {rows:?}");
        assert!(rows.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[pg_test]
    fn max_per_document_combines_with_keywords_and_windows() {
        corpus();
        let hits = docs_of(
            "SELECT doc_id FROM rag_hybrid_search('vacuum freeze tuples', 5, 'fts', NULL,
                '{\"max_per_document\": 1, \"require_all_keywords\": true}')",
        );
        assert_eq!(hits, vec!["short:2"], "only short:2 holds every keyword, once");
        let contexts: Vec<Option<String>> = Spi::connect(|c| {
            c.select(
                "SELECT context FROM rag_hybrid_search('vacuum freeze', 2, 'fts', NULL, '{\"max_per_document\": 1, \"window\": 1}')",
                None,
                &[],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap())
            .collect()
        });
        assert_eq!(contexts.len(), 2);
        assert!(contexts.iter().all(Option::is_some));
    }

    #[pg_test]
    fn max_per_document_refuses_bad_values() {
        for bad in ["0", "-1", "1001", "\"one\"", "true"] {
            assert_error_with_hint(
                &format!("SELECT * FROM rag_hybrid_search('x', 3, 'fts', NULL, '{{\"max_per_document\": {bad}}}')"),
                "22023",
            );
        }
    }
}
