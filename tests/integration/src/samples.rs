//! The bundled sample documents (samples/*.json, English and Korean),
//! ingested with small chunks so that every document has several.

use fixture_embedder::FixtureServer;
use postgres::Client;
use serde_json::Value;

use crate::backfill::{point_at, start_small_fixture, step_until_idle, SMALL_DIM};
use crate::shared_cluster;

/// Chunk settings the samples are ingested with (a re-upsert must use the
/// same ones to be `unchanged`).
pub const SAMPLE_CHUNK_SETTINGS: &str = "SET rag_search.chunk_max_chars = 100; SET rag_search.chunk_overlap_chars = 20";

/// The first `n` sample documents: the English file's, then the Korean
/// file's (39 in all).
pub fn sample_documents(n: usize) -> Vec<Value> {
    let mut docs: Vec<Value> = Vec::new();
    for file in [include_str!("../../../samples/sample_docs.json"), include_str!("../../../samples/korean_docs.json")] {
        let parsed: Vec<Value> = serde_json::from_str(file).expect("sample JSON");
        docs.extend(parsed);
    }
    assert!(n <= docs.len(), "only {} sample documents", docs.len());
    docs.truncate(n);
    docs
}

/// Upserts `docs` in one rag_upsert_documents call with the sample chunk
/// settings; returns (action, chunks) per document.
pub fn upsert_documents(c: &mut Client, docs: &[Value]) -> Vec<(String, i32)> {
    c.batch_execute(SAMPLE_CHUNK_SETTINGS).expect("chunk settings");
    let payload = Value::Array(docs.to_vec()).to_string();
    c.query("SELECT action, chunks FROM rag_upsert_documents($1::text::jsonb)", &[&payload])
        .expect("rag_upsert_documents")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Ingests the first `n` sample documents; returns the number of chunks.
pub fn load_samples(c: &mut Client, n: usize) -> i64 {
    let rows = upsert_documents(c, &sample_documents(n));
    assert!(rows.iter().all(|(action, chunks)| action == "inserted" && *chunks >= 2), "{rows:?}");
    rows.iter().map(|(_, chunks)| i64::from(*chunks)).sum()
}

/// A new database of the shared cluster at SMALL_DIM (model `m`) holding
/// the first `n` sample documents, embedded by a new fixture that every
/// session of the database is pointed at. Returns a superuser session.
pub fn embedded_samples_database(db: &str, n: usize) -> (Client, FixtureServer) {
    let fx = start_small_fixture();
    let cluster = shared_cluster();
    let mut c = cluster.new_database(db);
    point_at(&mut c, db, &fx);
    let mut c = cluster.connect(db);
    c.batch_execute(&format!("SELECT * FROM rag_set_embedding_model('m', {SMALL_DIM})")).expect("switch model");
    let chunks = load_samples(&mut c, n);
    assert_eq!(step_until_idle(&mut c, 64), (chunks, 0));
    (c, fx)
}
