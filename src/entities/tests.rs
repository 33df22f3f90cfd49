//! Graph-RAG metadata inside PostgreSQL: the entity index, the entity
//! signal of search and the relation walk, on the hand-made corpus
//! samples/graph_docs.json and small corpora made here.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;
    use serde_json::Value;

    use crate::test_support::{assert_error_with_hint, one, run};

    fn load_graph_corpus() {
        let args: [DatumWithOid; 1] = [include_str!("../../samples/graph_docs.json").into()];
        Spi::run_with_args("SELECT * FROM rag_upsert_documents($1::jsonb)", &args).unwrap();
    }

    fn doc(doc_id: &str, content: &str, metadata: &str) {
        let args: [DatumWithOid; 3] = [doc_id.into(), content.into(), metadata.into()];
        Spi::run_with_args("SELECT rag_upsert_document($1, '', $2, $3::jsonb)", &args).unwrap();
    }

    /// (doc_id, hops, entity, relation, path) rows of a walk.
    fn related(sql: &str) -> Vec<(String, i32, String, Option<String>, Value)> {
        Spi::connect(|c| {
            c.select(sql, None, &[])
                .unwrap()
                .map(|r| {
                    (
                        r.get_by_name::<String, _>("doc_id").unwrap().unwrap(),
                        r.get_by_name::<i32, _>("hops").unwrap().unwrap(),
                        r.get_by_name::<String, _>("entity").unwrap().unwrap(),
                        r.get_by_name::<String, _>("relation").unwrap(),
                        r.get_by_name::<pgrx::JsonB, _>("path").unwrap().unwrap().0,
                    )
                })
                .collect()
        })
    }

    #[pg_test]
    fn entity_keys_read_every_shape_and_tolerate_malformed_metadata() {
        load_graph_corpus();
        let keys: Vec<String> = one(
            "SELECT rag_search.entity_keys(metadata) FROM rag_search.documents WHERE doc_id = 'graph:pgvector'",
        );
        assert_eq!(keys, vec!["hnsw", "pgvector", "postgresql"]);
        let keys: Vec<String> = one(
            "SELECT rag_search.entity_keys(metadata) FROM rag_search.documents WHERE doc_id = 'graph:seoul-metro'",
        );
        assert_eq!(keys, vec!["서울", "서울 지하철", "서울교통공사"]);
        // Malformed metadata: no key, no error, at ingestion or later.
        assert_eq!(
            one::<i64>("SELECT cardinality(rag_search.entity_keys(metadata))::bigint FROM rag_search.documents WHERE doc_id = 'graph:broken'"),
            0
        );
        for bad in ["'{\"entity_names\": {\"a\": [1]}}'", "'[1, 2]'", "'\"x\"'", "'{\"entity_relations\": [null, [], {}]}'"] {
            assert_eq!(one::<i64>(&format!("SELECT cardinality(rag_search.entity_keys({bad}::jsonb))::bigint")), 0, "{bad}");
        }
        // The index predicate names exactly the metadata keys rag_core reads.
        let predicate: String = one(
            "SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'rag_search.documents_entity_keys'::regclass",
        );
        for key in [rag_core::entities::ENTITY_NAMES, rag_core::entities::ENTITY_NODES, rag_core::entities::ENTITY_RELATIONS] {
            assert!(predicate.contains(key), "{predicate}");
        }
    }

    #[pg_test]
    fn entity_lookups_go_through_the_entity_index() {
        run("INSERT INTO rag_search.documents (doc_id, metadata, source_hash)
             SELECT 'bulk:' || i, jsonb_build_object('entity_names', jsonb_build_array('entity ' || i)), '\\x00'
             FROM generate_series(1, 3000) i");
        run("INSERT INTO rag_search.documents (doc_id, source_hash) SELECT 'other:' || i, '\\x00' FROM generate_series(1, 3000) i");
        run("ANALYZE rag_search.documents");
        for (name, sql) in [
            ("entity keys of a query", crate::queries::SEARCH_ENTITY_KEYS),
            ("documents of a walk", crate::queries::RELATED_DOCUMENTS),
        ] {
            let args: Vec<DatumWithOid> = if sql == crate::queries::SEARCH_ENTITY_KEYS {
                vec![vec!["entity 7".to_string()].into()]
            } else {
                vec![vec!["entity 7".to_string()].into(), 10i64.into(), Vec::<i64>::new().into()]
            };
            let plan: String = Spi::connect(|c| {
                c.select(&format!("EXPLAIN (COSTS OFF) {sql}"), None, &args)
                    .unwrap()
                    .map(|r| r.get::<String>(1).unwrap().unwrap())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            assert!(plan.contains("documents_entity_keys"), "{name}: {plan}");
        }
    }

    /// Two documents with the same text, one naming the entity the query
    /// names; embeddings equal too, so only the entity signal tells them
    /// apart.
    fn twin_corpus() {
        doc("plain", "Seoul subway lines and stations", "{}");
        doc("named", "Seoul subway lines and stations", "{\"entity_names\": [\"SEOUL\", \"서울\"]}");
        doc("elsewhere", "Busan harbour and ferries", "{\"entity_names\": [\"Seoul\"]}");
        doc("unrelated", "Kimchi recipes", "{}");
        run("SELECT rag_set_embedding_model('test-model', 4)");
        run("UPDATE rag_search.chunks SET embedding = '[1,0,0,0]', embedding_model = 'test-model', embedding_dim = 4, embedded_at = now()");
    }

    fn scores(sql: &str) -> Vec<(String, f64)> {
        Spi::connect(|c| {
            c.select(sql, None, &[])
                .unwrap()
                .map(|r| (r.get_by_name::<String, _>("doc_id").unwrap().unwrap(), r.get_by_name::<f64, _>("score").unwrap().unwrap()))
                .collect()
        })
    }

    #[pg_test]
    fn a_query_naming_an_entity_boosts_the_documents_that_list_it() {
        twin_corpus();
        let search = |options: &str| {
            scores(&format!(
                "SELECT doc_id, score FROM rag_hybrid_search('seoul subway', '[1,0,0,0]'::vector, 4, 'hybrid', NULL, '{options}')"
            ))
        };
        // Off by default: the twins tie and the older chunk comes first.
        let off = search("{}");
        assert_eq!(off[0].0, "plain", "{off:?}");
        assert_eq!(off[0].1, off[1].1);
        let on = search("{\"weights\": {\"entity\": 0.5}}");
        assert_eq!(on[0].0, "named", "{on:?}");
        let plain = on.iter().find(|r| r.0 == "plain").unwrap().1;
        assert!((on[0].1 - plain - 0.5).abs() < 1e-9, "the whole query entity named: + weight × 1: {on:?}");
        // The setting works as the option does; case and particles do not matter.
        run("SET LOCAL rag_search.weight_entity = 0.5");
        assert_eq!(search("{}")[0].0, "named");
        let korean = scores("SELECT doc_id, score FROM rag_hybrid_search('서울에서 subway', '[1,0,0,0]'::vector, 4, 'hybrid')");
        assert_eq!(korean[0].0, "named", "{korean:?}");
        // rrf and the single-signal modes ignore it.
        let rrf = search("{\"fusion\": \"rrf\", \"weights\": {\"entity\": 0.5}}");
        assert_eq!(rrf[0].0, "plain", "{rrf:?}");
    }

    #[pg_test]
    fn the_entity_list_brings_in_documents_no_other_list_found() {
        twin_corpus();
        // One candidate per list: the vector and full-text lists hold the
        // twins' first chunk only; "elsewhere" names the entity but shares
        // no word with the query.
        let options = "{\"oversample\": 1, \"weights\": {\"entity\": 1.0}}";
        let hits = scores(&format!(
            "SELECT doc_id, score FROM rag_hybrid_search('seoul subway', '[0,1,0,0]'::vector, 1, 'hybrid', NULL, '{options}')"
        ));
        let without = scores(
            "SELECT doc_id, score FROM rag_hybrid_search('seoul subway', '[0,1,0,0]'::vector, 1, 'hybrid', NULL, '{\"oversample\": 1}')",
        );
        assert_eq!(without.len(), 1);
        assert_eq!(hits.len(), 1);
        assert_ne!(hits[0].0, "plain", "{hits:?}");
        // With a filter the entity list keeps to the matching documents.
        run("UPDATE rag_search.documents SET metadata = metadata || '{\"lang\": \"en\"}' WHERE doc_id = 'plain'");
        let filtered = scores(&format!(
            "SELECT doc_id, score FROM rag_hybrid_search('seoul subway', '[0,1,0,0]'::vector, 3, 'hybrid', '{{\"lang\": \"en\"}}', '{options}')"
        ));
        assert!(filtered.iter().all(|r| r.0 == "plain"), "{filtered:?}");
    }

    #[pg_test]
    fn related_documents_follow_relations_one_and_two_hops() {
        load_graph_corpus();
        let rows = related("SELECT * FROM rag_related_documents(entity => 'postgresql', hops => 2)");
        let summary: Vec<(&str, i32, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1, r.2.as_str())).collect();
        assert_eq!(
            summary,
            vec![
                ("graph:pgvector", 0, "postgresql"),
                ("graph:postgresql", 0, "postgresql"),
                ("graph:rag", 1, "pgvector"),
                ("graph:hnsw", 2, "HNSW"),
            ],
            "graph:plain mentions PostgreSQL in its text only; graph:broken's relations are malformed"
        );
        assert_eq!(rows[2].3.as_deref(), Some("extends"));
        assert_eq!(
            rows[3].4,
            serde_json::json!([
                {"source": "pgvector", "relation": "extends", "target": "PostgreSQL", "doc_id": "graph:pgvector"},
                {"source": "pgvector", "relation": "implements", "target": "HNSW", "doc_id": "graph:pgvector"}
            ])
        );
        // One hop stops before HNSW; the limit cuts in hop order.
        let one_hop = related("SELECT * FROM rag_related_documents(entity => 'PostgreSQL')");
        assert_eq!(one_hop.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), vec!["graph:pgvector", "graph:postgresql", "graph:rag"]);
        let limited = related("SELECT * FROM rag_related_documents(entity => 'PostgreSQL', hops => 2, \"limit\" => 3)");
        assert_eq!(limited.len(), 3);

        // From a document: those sharing its entities, then one relation on.
        let rows = related("SELECT * FROM rag_related_documents(doc_id => 'graph:hnsw')");
        let summary: Vec<(&str, i32, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1, r.2.as_str())).collect();
        assert_eq!(summary, vec![("graph:malkov", 0, "Yury Malkov"), ("graph:pgvector", 0, "HNSW"), ("graph:rag", 1, "pgvector")]);

        // Korean names, case and particles aside.
        let rows = related("SELECT * FROM rag_related_documents(entity => '서울교통공사는', hops => 2)");
        let summary: Vec<(&str, i32)> = rows.iter().map(|r| (r.0.as_str(), r.1)).collect();
        assert_eq!(summary, vec![("graph:seoul-metro", 0), ("graph:seoul", 2)]);
        assert_eq!(rows[1].2, "서울");

        // Nothing to walk: no rows.
        assert!(related("SELECT * FROM rag_related_documents(doc_id => 'graph:plain')").is_empty());
        assert!(related("SELECT * FROM rag_related_documents(doc_id => 'missing')").is_empty());
        assert!(related("SELECT * FROM rag_related_documents(entity => 'nobody')").is_empty());
    }

    #[pg_test]
    fn related_documents_refuse_bad_arguments() {
        load_graph_corpus();
        for sql in [
            "SELECT * FROM rag_related_documents()",
            "SELECT * FROM rag_related_documents('graph:hnsw', 'HNSW')",
            "SELECT * FROM rag_related_documents(entity => 'HNSW', hops => 3)",
            "SELECT * FROM rag_related_documents(entity => 'HNSW', hops => 0)",
            "SELECT * FROM rag_related_documents(entity => 'HNSW', \"limit\" => 0)",
            "SELECT * FROM rag_related_documents(entity => '!!')",
        ] {
            assert_error_with_hint(sql, "22023");
        }
        assert_error_with_hint("SELECT * FROM rag_related_documents(entity => 'HNSW', hops => NULL)", "22004");
    }
}
