//! Crash safety of ingestion: the backend running rag_upsert_documents with
//! 1,000 documents is killed with SIGKILL in the middle — after its
//! documents, chunks, statistics deltas, counters and postings are written,
//! before it commits (held there deterministically by a test trigger that
//! waits for an advisory lock). The server restarts and recovers: none of
//! the 1,000 documents exists, and the BM25 statistics, the postings and
//! the backfill counters agree with a recount. The same call then runs to
//! the end and everything agrees again.

use std::time::Duration;

use rag_search_integration::backfill::backend_waiting_for_advisory_lock;
use rag_search_integration::compare::{assert_bookkeeping_matches_recount, assert_postings_match_rebuild};
use rag_search_integration::samples::{load_samples, SAMPLE_CHUNK_SETTINGS};
use rag_search_integration::{connect_dsn, Client, Cluster, ClusterOptions};
use serde_json::{json, Value};

const DB: &str = "crash";
const LONG: Duration = Duration::from_secs(120);
/// The advisory lock the test holds while the ingestion waits for it.
const PAUSE_LOCK: i64 = 4_242_001;

/// `n` documents `{prefix}:{i}` of three chunks each (with the sample
/// chunk settings), sharing their vocabulary, so that a batch's statistics
/// and postings touch the lexemes of the documents already stored.
fn batch(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "doc_id": format!("{prefix}:{i}"),
                "title": format!("Crash test document {i}"),
                "content": format!(
                    "Hybrid search over document {i} combines vectors with full text.\n\n\
                     The backfill embeds chunk {i} later; 탄핵 절차 {i} is part of it.\n\n\
                     Statistics, postings and counters must survive a crash of document {i}."
                ),
                "metadata": {"n": i},
            })
        })
        .collect()
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

#[test]
fn a_killed_bulk_upsert_leaves_no_partial_document_and_consistent_bookkeeping() {
    let cluster = Cluster::start("ingest_crash", ClusterOptions::new().set("log_min_messages", "log"));
    let mut c = cluster.new_database(DB);
    load_samples(&mut c, 39);
    c.batch_execute(SAMPLE_CHUNK_SETTINGS).unwrap();
    let base = Value::Array(batch("base", 300)).to_string();
    c.query("SELECT * FROM rag_upsert_documents($1::text::jsonb)", &[&base]).unwrap();
    c.batch_execute("SELECT rag_search.postings_merge()").unwrap();
    let before = count(&mut c, "SELECT count(*) FROM rag_search.chunks");
    let documents_before = count(&mut c, "SELECT count(*) FROM rag_search.documents");

    // Hold the ingestion after every statement's triggers have run: a
    // statement trigger on the chunks (it fires after the extension's own,
    // in name order) waits for a lock the test holds.
    c.batch_execute(&format!(
        "CREATE FUNCTION public.pause_ingestion() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_advisory_xact_lock_shared({PAUSE_LOCK}); RETURN NULL; END $$;
         CREATE TRIGGER zz_pause_ingestion AFTER INSERT ON rag_search.chunks
             FOR EACH STATEMENT EXECUTE FUNCTION public.pause_ingestion();"
    ))
    .unwrap();
    let mut control = cluster.connect(DB);
    control.execute("SELECT pg_advisory_lock($1)", &[&PAUSE_LOCK]).unwrap();

    let payload = Value::Array(batch("crash", 1000)).to_string();
    let dsn = cluster.dsn(DB);
    let ingest_payload = payload.clone();
    let ingester = std::thread::spawn(move || {
        let mut c = connect_dsn(&dsn);
        c.batch_execute(SAMPLE_CHUNK_SETTINGS).unwrap();
        c.query("SELECT * FROM rag_upsert_documents($1::text::jsonb)", &[&ingest_payload]).map(|rows| rows.len())
    });
    // The ingestion has written everything but not committed.
    let pid = backend_waiting_for_advisory_lock(&mut control, DB, "rag_upsert_documents", LONG);
    // Everything is written but not committed: another session sees none of it.
    assert_eq!(count(&mut control, "SELECT count(*) FROM rag_search.documents WHERE doc_id LIKE 'crash:%'"), 0);
    // SAFETY: sends SIGKILL to the PostgreSQL backend found above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill -9 {pid}");
    let outcome = ingester.join().expect("ingester thread");
    assert!(outcome.is_err(), "the killed upsert returned {outcome:?}");
    drop(control);

    // The postmaster restarts every backend and recovers from the WAL.
    let mut c = connect_dsn(&cluster.dsn(DB));
    let log = cluster.server_log();
    assert!(log.contains(&format!("(PID {pid}) was terminated by signal 9")), "no crash in the log:\n{log}");
    assert!(log.contains("all server processes terminated; reinitializing"), "no restart in the log:\n{log}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.documents WHERE doc_id LIKE 'crash:%'"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.documents"), documents_before);
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.chunks"), before);
    assert_bookkeeping_matches_recount(&mut c);
    assert_postings_match_rebuild(&mut c);

    // The same call, not held this time, inserts all 1,000.
    c.batch_execute("DROP TRIGGER zz_pause_ingestion ON rag_search.chunks; DROP FUNCTION public.pause_ingestion()")
        .unwrap();
    c.batch_execute(SAMPLE_CHUNK_SETTINGS).unwrap();
    let actions: Vec<String> = c
        .query("SELECT action FROM rag_upsert_documents($1::text::jsonb)", &[&payload])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!((actions.len(), actions.iter().all(|a| a == "inserted")), (1000, true));
    assert_eq!(count(&mut c, "SELECT count(DISTINCT document_id) FROM rag_search.chunks c JOIN rag_search.documents d
                                ON d.id = c.document_id WHERE d.doc_id LIKE 'crash:%'"), 1000);
    assert_bookkeeping_matches_recount(&mut c);
    assert_postings_match_rebuild(&mut c);
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_hybrid_search('survive crash', 5, 'fts')"), 5);
}
