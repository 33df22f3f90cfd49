//! ALTER EXTENSION rag_search UPDATE from the previous release on a database
//! that release wrote: a cluster started from the previous release's build
//! (RAG_PREVIOUS_PG_BINDIR, version RAG_PREVIOUS_VERSION, built by
//! scripts/test.sh from the commit sql/install/releases.txt names) ingests
//! English and Korean documents, switches model and dimension, embeds with
//! the fixture embedder and records every search; the same data directory
//! is then started with the current build. Until the update, the library
//! refuses with 55000; after it, every row is the same (the chunks now also
//! hold their document's title, which the full text indexes), vector
//! results are the same, every search answers as after a full-text
//! rebuild, and the extension's objects are exactly those of a fresh
//! CREATE EXTENSION. Only functions every release has are used before the
//! update, so the test serves the next release's upgrade unchanged.

use fixture_embedder::{expected_vector, Fault};
use pgvector::Vector;
use rag_search_integration::backfill::{point_at, start_small_fixture, step_until_idle, SMALL_DIM as DIM, SMALL_NATIVE_DIM as NATIVE_DIM};
use rag_search_integration::compare::*;
use rag_search_integration::samples::load_samples;
use rag_search_integration::tools::previous_release;
use rag_search_integration::{bindir, Client, Cluster, ClusterOptions};

const MODEL: &str = "m2";

fn extension_version(c: &mut Client) -> String {
    c.query_one("SELECT extversion FROM pg_extension WHERE extname = 'rag_search'", &[]).unwrap().get(0)
}

/// Everything compared across the upgrade.
struct Recorded {
    rows: std::collections::BTreeMap<String, Vec<String>>,
    sequences: Vec<(String, i64, bool)>,
    results: Vec<String>,
    stats: (i64, i64, i64),
}

fn record(c: &mut Client, query_vector: &Vector) -> Recorded {
    // Searches read the folded statistics; fold the last deltas so both
    // sides compare exact statistics.
    c.batch_execute("SELECT rag_search.term_stats_compact()").expect("fold statistics");
    let s = c.query_one("SELECT documents, chunks, embedded FROM rag_stats()", &[]).unwrap();
    Recorded {
        rows: dumped_rows(c),
        sequences: sequence_positions(c),
        results: search_results(c, &QUERIES, query_vector, true),
        stats: (s.get(0), s.get(1), s.get(2)),
    }
}

/// The grants 0.1.0's README ("Using it") and runbook ("Privileges")
/// showed, for roles app and ingest.
const LEGACY_GRANTS: &str = "
    DROP ROLE IF EXISTS app; DROP ROLE IF EXISTS ingest;
    CREATE ROLE app LOGIN; CREATE ROLE ingest LOGIN;
    GRANT USAGE ON SCHEMA rag_search TO app;
    GRANT SELECT ON ALL TABLES IN SCHEMA rag_search TO app;
    GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA rag_search TO ingest;
    GRANT INSERT, DELETE ON rag_search.query_embedding_cache TO app;";

/// After the update nobody but the owner writes the bookkeeping or reads
/// the statistics, while the grants on documents and chunks stay.
fn assert_legacy_grants_cut_back(c: &mut Client) {
    let wrong: Vec<String> = c
        .query(
            "SELECT r.rolname || ' ' || p.privilege || ' ' || t.relname
             FROM pg_roles r, pg_class t,
                  unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p(privilege)
             WHERE r.rolname IN ('app', 'ingest') AND t.relnamespace = 'rag_search'::regnamespace
               AND t.relkind = 'r' AND t.relname NOT IN ('documents', 'chunks')
               AND has_table_privilege(r.oid, t.oid, p.privilege)
               AND NOT (p.privilege = 'SELECT'
                        AND t.relname IN ('index_state', 'backfill_failures', 'backfill_state', 'chunk_counts'))
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(wrong.is_empty(), "privileges left on the bookkeeping after the update: {wrong:?}");
    let kept: bool = c
        .query_one(
            "SELECT has_table_privilege('app', 'rag_search.chunks', 'SELECT')
                AND has_table_privilege('app', 'rag_search.documents', 'SELECT')
                AND has_table_privilege('ingest', 'rag_search.chunks', 'INSERT, UPDATE, DELETE')
                AND has_table_privilege('ingest', 'rag_search.documents', 'INSERT, UPDATE, DELETE')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(kept, "the grants on documents and chunks stay");
}

#[test]
fn update_from_the_previous_release_keeps_every_row_and_result_and_matches_a_fresh_install() {
    let Some(previous) = previous_release() else {
        eprintln!("skipped: RAG_PREVIOUS_PG_BINDIR/RAG_PREVIOUS_VERSION not set (scripts/test.sh sets them)");
        return;
    };
    let fx = start_small_fixture();
    let mut cluster = Cluster::start("upgrade", ClusterOptions::new().bindir(&previous.bindir));
    let db = "upgraded";
    let mut c = cluster.new_database(db);
    assert_eq!(extension_version(&mut c), previous.version);
    point_at(&mut c, db, &fx);
    let mut c = cluster.connect(db);

    // Data written by the previous release: a model and dimension switch,
    // documents of several chunks, embeddings, one recorded failure.
    c.batch_execute(&format!("SELECT * FROM rag_set_embedding_model('{MODEL}', {DIM})")).unwrap();
    let chunks = load_samples(&mut c, 39);
    c.execute(
        "SELECT rag_upsert_document('poison:1', 'Refused', 'A POISON text the embedding server always refuses.')",
        &[],
    )
    .unwrap();
    fx.set_fault(Fault::Poison("POISON".into()));
    let (embedded, failed) = step_until_idle(&mut c, 32);
    assert_eq!((embedded, failed), (chunks, 1));
    fx.set_fault(Fault::None);
    let query_vector = Vector::from(expected_vector("hybrid search with vector similarity", NATIVE_DIM, DIM));
    let before = record(&mut c, &query_vector);
    assert!(before.results.len() >= 100, "{:#?}", before.results);
    assert_eq!(before.rows["rag_search.backfill_failures"].len(), 1);
    drop(c);
    // 0.1.0's README and runbook granted on ALL TABLES of the schema, the
    // bookkeeping included: a second database follows them.
    let legacy = previous.version == "0.1.0";
    if legacy {
        let mut l = cluster.new_database("legacy");
        l.batch_execute(LEGACY_GRANTS).expect("0.1.0's documented grants");
    }

    // New binaries, same data directory.
    cluster.restart_with_bindir(bindir());
    let mut c = cluster.connect(db);
    let current: String = c
        .query_one("SELECT default_version FROM pg_available_extensions WHERE name = 'rag_search'", &[])
        .unwrap()
        .get(0);
    assert_ne!(current, previous.version);
    // The new library refuses to work on the old objects.
    for call in [
        "SELECT * FROM rag_hybrid_search('탄핵 절차', 5, 'fts')",
        "SELECT * FROM rag_candidate_pages('탄핵 절차', 5)",
        "SELECT * FROM rag_upsert_document('refused:1', 'Refused', 'Not written before the update.')",
        "SELECT rag_delete_document('wiki:backfill')",
        "SELECT * FROM rag_stats()",
        "SELECT * FROM rag_backfill_status()",
        "SELECT * FROM rag_backfill_step(8)",
    ] {
        let err = c.query(call, &[]).unwrap_err();
        let e = err.as_db_error().unwrap_or_else(|| panic!("{call}: {err}"));
        assert_eq!(e.code().code(), "55000", "{call}: {}", e.message());
        assert!(e.hint().is_some_and(|h| h.contains("ALTER EXTENSION rag_search UPDATE")), "{call}: {:?}", e.hint());
    }
    c.batch_execute("ALTER EXTENSION rag_search UPDATE").expect("ALTER EXTENSION rag_search UPDATE");
    assert_eq!(extension_version(&mut c), current);

    let after = record(&mut c, &query_vector);
    // Columns the update added (rag_search 0.2.0: the attached source of a
    // document, the source key of a chunk) are NULL in the existing rows.
    // 0.2.0's full text indexes each chunk's document title: the chunk
    // stores it and its tsvector is rebuilt; every other value is as before.
    assert_same_rows_but_added_columns(&before.rows, &after.rows, &["document_title", "tsv"]);
    let stale: i64 = c
        .query_one(
            "SELECT count(*) FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id,
                    rag_search.index_state s
             WHERE c.document_title <> d.title
                OR c.tsv IS DISTINCT FROM rag_search.chunk_tsvector(s.text_search_config, d.title, c.content)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stale, 0, "chunks whose stored title or tsvector is not their document's");
    assert_eq!(after.sequences, before.sequences);
    assert_eq!(after.stats, before.stats);
    // Rankings that read no full text are unchanged (scores up to the
    // full-text explanation columns)...
    let vector_only = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains("/ vector "))
            .map(|l| l.split(" fts ").next().unwrap_or_default().to_string())
            .collect()
    };
    assert_same_lines("vector results after the update", &vector_only(&before.results), &vector_only(&after.results));
    // ...and every search answers as after rebuilding the full text, its
    // statistics and postings from scratch.
    c.batch_execute("SELECT rag_search.tsvector_rebuild(text_search_config) FROM rag_search.index_state").unwrap();
    let rebuilt = record(&mut c, &query_vector);
    assert_same_lines("search results after the update and after a full-text rebuild", &rebuilt.results, &after.results);
    assert_bookkeeping_matches_recount(&mut c);

    // The same objects as a fresh installation in the same state (same
    // model and dimension: the HNSW index is declared at the dimension).
    let mut fresh = cluster.new_database("fresh");
    fresh.batch_execute(&format!("SELECT * FROM rag_set_embedding_model('{MODEL}', {DIM})")).unwrap();
    assert_same_lines(
        "extension objects of the upgraded database and of a fresh CREATE EXTENSION",
        &catalog_fingerprint(&mut fresh),
        &catalog_fingerprint(&mut c),
    );

    if legacy {
        let mut l = cluster.connect("legacy");
        l.batch_execute("ALTER EXTENSION rag_search UPDATE").expect("update the legacy database");
        assert_legacy_grants_cut_back(&mut l);
    }

    // The upgraded database keeps working: ingestion and the backfill.
    c.execute("SELECT rag_upsert_document('new:1', 'After the update', 'Written after ALTER EXTENSION.')", &[])
        .unwrap();
    assert_eq!(step_until_idle(&mut c, 32), (1, 0));
    assert_bookkeeping_matches_recount(&mut c);
    cluster.stop();
}
