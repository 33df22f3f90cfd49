//! pg_dump round trips, custom format through pg_restore (at once, and in
//! sections with the HNSW index built after the data, as docs/runbook.md
//! describes for large dumps) and plain format through psql, of a database that switched its embedding model and
//! dimension (m2 at 8 dimensions), with the default text-search
//! configuration and with english: every dumped row, the identity sequences
//! and the results of every search mode are the same in the copies, the HNSW
//! index is rebuilt at the restored dimension and used, ingestion continues
//! where the source left off, and the bookkeeping agrees with a recount.

use fixture_embedder::{expected_vector, Fault, FixtureServer};
use pgvector::Vector;
use rag_search_integration::backfill::{start_small_fixture, step_until_idle, SMALL_DIM as DIM, SMALL_NATIVE_DIM as NATIVE_DIM};
use rag_search_integration::compare::*;
use rag_search_integration::samples::{load_samples, sample_documents, upsert_documents};
use rag_search_integration::tools::{pg_dump, pg_restore, psql, restore, DumpFormat};
use rag_search_integration::{connect_with_notices, shared_cluster, Client};

const DOCUMENTS: usize = 20;

/// The source database: 20 sample documents (English and Korean) plus one
/// the embedding server refuses, embedded at 8 dimensions by
/// rag_backfill_step, with text-search configuration `config`.
fn source(db: &str, fx: &FixtureServer, config: &str) -> Client {
    let mut c = shared_cluster().new_database(db);
    c.batch_execute(&format!(
        "SET rag_search.embedding_url = '{}';
         SELECT * FROM rag_set_embedding_model('m2', {DIM});
         SELECT rag_set_text_search_config('{config}');",
        fx.url()
    ))
    .expect("switch model and configuration");
    load_samples(&mut c, DOCUMENTS);
    c.execute(
        "SELECT rag_upsert_document('poison:1', 'Refused', 'A POISON text the embedding server always refuses.')",
        &[],
    )
    .expect("upsert poison document");
    fx.set_fault(Fault::Poison("POISON".into()));
    let (embedded, failed) = step_until_idle(&mut c, 16);
    assert_eq!(failed, 1);
    assert!(embedded > 40, "{embedded}");
    let failures: i64 = c.query_one("SELECT count(*) FROM rag_search.backfill_failures", &[]).unwrap().get(0);
    assert_eq!(failures, 1);
    // Searches read document frequencies from the folded statistics, which
    // may lag the last few chunks by design: fold them, so that the results
    // recorded here are those of exact statistics.
    c.batch_execute("SELECT rag_search.term_stats_compact()").expect("fold statistics");
    c
}

/// docs/runbook.md's restore of a large dump: the data without the HNSW
/// index, which is built once afterwards.
fn restore_in_sections(dsn: &str, dump: &[u8]) {
    pg_restore(dsn, dump, &["--section=pre-data"]);
    psql(dsn, b"DROP INDEX rag_search.chunks_embedding_hnsw;");
    pg_restore(dsn, dump, &["--section=data"]);
    psql(dsn, b"SELECT rag_search.embedding_index_rebuild(embedding_dim) FROM rag_search.index_state;");
    pg_restore(dsn, dump, &["--section=post-data"]);
}

/// The vector search inside rag_hybrid_search, as auto_explain reports it.
fn vector_plan(dsn: &str, query_vector: &Vector) -> String {
    let (mut c, notices) = connect_with_notices(dsn);
    c.batch_execute(
        "LOAD 'auto_explain';
         SET auto_explain.log_min_duration = 0;
         SET auto_explain.log_nested_statements = on;
         SET client_min_messages = log;",
    )
    .expect("auto_explain");
    c.query("SELECT chunk_id FROM rag_hybrid_search('vector', $1, 5, 'vector')", &[query_vector])
        .expect("vector search");
    let plans = notices.lock().unwrap().join("\n");
    plans
}

fn max_ids(c: &mut Client) -> (i64, i64) {
    let r = c
        .query_one(
            "SELECT (SELECT max(id) FROM rag_search.documents), (SELECT max(id) FROM rag_search.chunks)",
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

#[test]
fn dumps_after_a_model_switch_restore_every_row_and_search_result() {
    round_trips("it_dump_simple", "simple");
}

#[test]
fn dumps_after_a_model_and_configuration_switch_restore_every_row_and_search_result() {
    round_trips("it_dump_english", "english");
}

/// Dumps `{prefix}_source` in both formats, restores them into
/// `{prefix}_custom` and `{prefix}_plain`, and compares.
fn round_trips(prefix: &str, config: &str) {
    let fx = start_small_fixture();
    let cluster = shared_cluster();
    let src = format!("{prefix}_source");
    let src = src.as_str();
    let mut c = source(src, &fx, config);
    let rows = dumped_rows(&mut c);
    let sequences = sequence_positions(&mut c);
    let query_vector = Vector::from(expected_vector("hybrid search with vector similarity", NATIVE_DIM, DIM));
    let results = search_results(&mut c, &QUERIES, &query_vector, false);
    assert!(results.len() >= 60, "{results:#?}");
    let (max_doc, max_chunk) = max_ids(&mut c);

    for (label, format) in [("custom", DumpFormat::Custom), ("plain", DumpFormat::Plain), ("sections", DumpFormat::Custom)] {
        let copy = format!("{prefix}_{label}");
        let copy = copy.as_str();
        let what = format!("{label} restore ({config})");
        let dump = pg_dump(&cluster.dsn(src), format);
        cluster.empty_database(copy);
        if label == "sections" {
            restore_in_sections(&cluster.dsn(copy), &dump);
        } else {
            restore(&cluster.dsn(copy), format, &dump);
        }
        let mut d = cluster.connect(copy);

        assert_same_rows(&what, &rows, &dumped_rows(&mut d));
        assert_eq!(sequence_positions(&mut d), sequences, "{what}: identity sequences");
        assert_same_lines(&format!("{what}: search results"), &results, &search_results(&mut d, &QUERIES, &query_vector, false));

        // Rebuilt for the restored dimension and configuration, and used.
        let (index, restored_config): (String, String) = {
            let r = d
                .query_one(
                    "SELECT pg_get_indexdef('rag_search.chunks_embedding_hnsw'::regclass),
                            (SELECT text_search_config::text FROM rag_search.index_state)",
                    &[],
                )
                .unwrap();
            (r.get(0), r.get(1))
        };
        assert!(
            index.ends_with(&format!("USING hnsw (((embedding)::vector({DIM})) vector_cosine_ops) WHERE (embedding_dim = {DIM})")),
            "{what}: {index}"
        );
        assert_eq!(restored_config, config, "{what}");
        let plan = vector_plan(&cluster.dsn(copy), &query_vector);
        assert!(plan.contains("Index Scan using chunks_embedding_hnsw"), "{what}: {plan}");
        assert_bookkeeping_matches_recount(&mut d);

        // Ingestion continues: new ids above every restored one, an
        // unchanged document is recognised, changed content re-chunks.
        let first = sample_documents(1);
        assert_eq!(upsert_documents(&mut d, &first)[0].0, "unchanged", "{what}");
        let mut changed = first[0].clone();
        changed["content"] = format!("{}\n\nA paragraph added after the restore.", changed["content"].as_str().unwrap()).into();
        assert_eq!(upsert_documents(&mut d, &[changed])[0].0, "updated", "{what}");
        d.execute("SELECT rag_upsert_document('new:1', 'New', 'A document written after the restore.')", &[])
            .unwrap();
        let r = d
            .query_one(
                "SELECT d.id, min(c.id) FROM rag_search.documents d JOIN rag_search.chunks c ON c.document_id = d.id
                 WHERE d.doc_id = 'new:1' GROUP BY d.id",
                &[],
            )
            .unwrap();
        let (new_doc, new_chunk): (i64, i64) = (r.get(0), r.get(1));
        assert!(new_doc > max_doc && new_chunk > max_chunk, "{what}: ids {new_doc}/{new_chunk} after {max_doc}/{max_chunk}");
        let waiting: i64 = d
            .query_one("SELECT count(*) FROM rag_search.chunks WHERE embedding IS NULL", &[])
            .unwrap()
            .get(0);
        assert!(waiting >= 3, "{what}: the changed and new chunks wait for the backfill ({waiting})");
        assert_bookkeeping_matches_recount(&mut d);
    }
}
