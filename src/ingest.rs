//! Document ingestion: rag_upsert_document, rag_upsert_documents,
//! rag_delete_document.

use std::collections::{HashMap, VecDeque};

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use rag_core::chunk::{chunk_text, ChunkSettings};
use rag_core::hash::{chunk_hash, hex, source_hash};
use serde_json::Value;

use crate::error::{invalid_parameter, null_value, OrRaise};
use crate::{guc, queries};

/// Inserts or replaces the document `doc_id`.
///
/// `action` is `inserted`, `updated` (content, title, source or metadata
/// changed) or `unchanged` (nothing was written). Chunks whose text is
/// unchanged keep their rows and embeddings; new chunks wait for the
/// backfill.
#[pg_extern(volatile, parallel_unsafe)]
fn rag_upsert_document(
    doc_id: Option<&str>,
    title: Option<&str>,
    content: Option<&str>,
    metadata: default!(Option<JsonB>, "'{}'"),
    source: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(action, String),
        name!(chunks, i32),
        name!(chunks_kept, i32),
        name!(chunks_added, i32),
        name!(chunks_removed, i32),
    ),
> {
    let doc = DocumentInput::from_args(doc_id, title, content, metadata.map(|j| j.0), source, None);
    let settings = chunk_settings();
    let outcome = Spi::connect_mut(|client| {
        let outcome = upsert(client, &doc, &settings);
        compact_term_stats_now_and_then(client, false);
        outcome
    });
    TableIterator::once(outcome.into_row())
}

/// Upserts every document of a JSON array in one call (one transaction, one
/// round trip). Each element is an object with `doc_id` (required),
/// `title`, `content`, `metadata` (object) and `source`. Returns one row per
/// element, in input order.
#[pg_extern(volatile, parallel_unsafe)]
fn rag_upsert_documents(documents: Option<JsonB>) -> TableIterator<
    'static,
    (
        name!(doc_id, String),
        name!(action, String),
        name!(chunks, i32),
        name!(chunks_kept, i32),
        name!(chunks_added, i32),
        name!(chunks_removed, i32),
    ),
> {
    let Some(JsonB(value)) = documents else {
        null_value(
            "rag_upsert_documents: documents must not be NULL",
            "Pass a JSON array of objects such as '[{\"doc_id\": \"a:1\", \"content\": \"...\"}]'.",
        );
    };
    let Value::Array(items) = value else {
        invalid_parameter(
            "rag_upsert_documents: documents must be a JSON array",
            "Pass a JSON array of objects such as '[{\"doc_id\": \"a:1\", \"content\": \"...\"}]'.",
        );
    };
    let docs: Vec<DocumentInput> =
        items.into_iter().enumerate().map(|(i, item)| DocumentInput::from_json(i, item)).collect();
    let settings = chunk_settings();
    let rows = Spi::connect_mut(|client| {
        let rows = docs
            .iter()
            .map(|doc| {
                let outcome = upsert(client, doc, &settings);
                let (action, chunks, kept, added, removed) = outcome.into_row();
                (doc.doc_id.clone(), action, chunks, kept, added, removed)
            })
            .collect::<Vec<_>>();
        compact_term_stats_now_and_then(client, true);
        rows
    });
    TableIterator::new(rows)
}

/// Deletes the document and its chunks; returns whether it existed.
#[pg_extern(volatile, parallel_unsafe)]
fn rag_delete_document(doc_id: Option<&str>) -> bool {
    let doc_id = validate_doc_id(doc_id, None);
    Spi::connect_mut(|client| {
        let args: [DatumWithOid; 1] = [doc_id.into()];
        let deleted = client.update(queries::DOCUMENT_DELETE, None, &args).or_raise("delete document");
        compact_term_stats_now_and_then(client, false);
        !deleted.is_empty()
    })
}

thread_local! {
    static CALLS_SINCE_COMPACTION: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Folds the BM25 statistics deltas written by the chunk triggers into the
/// totals: after every bulk call, and every 100th single call of a backend,
/// so the delta tables stay small. A no-op while another transaction holds
/// the compaction lock.
fn compact_term_stats_now_and_then(client: &mut SpiClient<'_>, bulk: bool) {
    let due = bulk
        || CALLS_SINCE_COMPACTION.with(|c| {
            let n = c.get() + 1;
            c.set(if n >= 100 { 0 } else { n });
            n >= 100
        });
    if due {
        client.update(queries::TERM_STATS_COMPACT, None, &[]).or_raise("compact term statistics");
    }
}

struct DocumentInput {
    doc_id: String,
    title: String,
    content: String,
    metadata: Value,
    source: Option<String>,
}

impl DocumentInput {
    fn from_args(
        doc_id: Option<&str>,
        title: Option<&str>,
        content: Option<&str>,
        metadata: Option<Value>,
        source: Option<&str>,
        element: Option<usize>,
    ) -> Self {
        let doc_id = validate_doc_id(doc_id, element);
        let metadata = match metadata {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(v @ Value::Object(_)) => v,
            Some(other) => invalid_parameter(
                format!(
                    "{}metadata must be a JSON object, not {}",
                    element_prefix(element),
                    json_type_name(&other)
                ),
                "Wrap values in an object, e.g. '{\"tags\": [\"a\", \"b\"]}'.",
            ),
        };
        DocumentInput {
            doc_id,
            title: title.unwrap_or("").to_string(),
            content: content.unwrap_or("").to_string(),
            metadata,
            source: source.map(str::to_string),
        }
    }

    fn from_json(index: usize, item: Value) -> Self {
        let Value::Object(mut obj) = item else {
            invalid_parameter(
                format!("rag_upsert_documents: element {index} is {}, not an object", json_type_name(&item)),
                "Each element needs at least {\"doc_id\": \"...\"}.",
            );
        };
        let text_field = |obj: &mut serde_json::Map<String, Value>, key: &str| -> Option<String> {
            match obj.remove(key) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(other) => invalid_parameter(
                    format!(
                        "rag_upsert_documents: element {index}: \"{key}\" must be a string, not {}",
                        json_type_name(&other)
                    ),
                    "Pass doc_id, title, content and source as JSON strings and metadata as an object.",
                ),
            }
        };
        let doc_id = text_field(&mut obj, "doc_id");
        let title = text_field(&mut obj, "title");
        let content = text_field(&mut obj, "content");
        let source = text_field(&mut obj, "source");
        let metadata = obj.remove("metadata");
        Self::from_args(
            doc_id.as_deref(),
            title.as_deref(),
            content.as_deref(),
            metadata,
            source.as_deref(),
            Some(index),
        )
    }
}

fn element_prefix(element: Option<usize>) -> String {
    match element {
        Some(i) => format!("rag_upsert_documents: element {i}: "),
        None => String::new(),
    }
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn validate_doc_id(doc_id: Option<&str>, element: Option<usize>) -> String {
    match doc_id {
        None => null_value(
            format!("{}doc_id must not be NULL", element_prefix(element)),
            "Use a stable external key such as 'board_post:12' or 'run:42'.",
        ),
        Some(s) if s.trim().is_empty() => invalid_parameter(
            format!("{}doc_id must not be empty", element_prefix(element)),
            "Use a stable external key such as 'board_post:12' or 'run:42'.",
        ),
        Some(s) => s.to_string(),
    }
}

/// Reads and cross-checks the chunk settings (each GUC has its own bounds;
/// the overlap bound depends on max_chars, so it is checked here).
fn chunk_settings() -> ChunkSettings {
    let max = guc::chunk_max_chars();
    let overlap = guc::chunk_overlap_chars();
    match ChunkSettings::new(max.max(0) as usize, overlap.max(0) as usize) {
        Ok(s) => s,
        Err(e) => invalid_parameter(
            format!("invalid chunk settings: {e}"),
            "Lower rag_search.chunk_overlap_chars to at most half of rag_search.chunk_max_chars.",
        ),
    }
}

#[derive(Debug)]
enum Action {
    Inserted,
    Updated,
    Unchanged,
}

struct Outcome {
    action: Action,
    chunks: usize,
    kept: usize,
    added: usize,
    removed: usize,
}

impl Outcome {
    fn into_row(self) -> (String, i32, i32, i32, i32) {
        let action = match self.action {
            Action::Inserted => "inserted",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
        };
        (
            action.to_string(),
            self.chunks as i32,
            self.kept as i32,
            self.added as i32,
            self.removed as i32,
        )
    }
}

struct NewChunk {
    content: String,
    hash_hex: String,
}

fn make_chunks(content: &str, settings: &ChunkSettings) -> Vec<NewChunk> {
    chunk_text(content, settings)
        .into_iter()
        .map(|c| {
            let hash_hex = hex(&chunk_hash(&c));
            NewChunk { content: c, hash_hex }
        })
        .collect()
}

fn upsert(client: &mut SpiClient<'_>, doc: &DocumentInput, settings: &ChunkSettings) -> Outcome {
    let source_hex = hex(&source_hash(&doc.content, settings));
    let metadata = JsonB(doc.metadata.clone());

    let inserted_id: Option<i64> = {
        let args: [DatumWithOid; 5] = [
            doc.doc_id.as_str().into(),
            doc.title.as_str().into(),
            doc.source.as_deref().into(),
            JsonB(doc.metadata.clone()).into(),
            source_hex.as_str().into(),
        ];
        let rows = client.update(queries::DOCUMENT_INSERT, None, &args).or_raise("insert document");
        if rows.is_empty() {
            None
        } else {
            rows.first().get_one::<i64>().or_raise("read new document id")
        }
    };
    if let Some(id) = inserted_id {
        let chunks = make_chunks(&doc.content, settings);
        let n = chunks.len();
        insert_chunks(client, id, chunks.into_iter().enumerate().map(|(i, c)| (i as i32, c)).collect());
        return Outcome { action: Action::Inserted, chunks: n, kept: 0, added: n, removed: 0 };
    }

    // The document exists: lock it so concurrent upserts of one doc_id serialize.
    let (id, same_source) = {
        let args: [DatumWithOid; 2] = [doc.doc_id.as_str().into(), source_hex.as_str().into()];
        let rows = client.update(queries::DOCUMENT_LOCK, None, &args).or_raise("lock document");
        let (id, same) = if rows.is_empty() {
            (None, None)
        } else {
            rows.first().get_two::<i64, bool>().or_raise("read locked document")
        };
        match (id, same) {
            (Some(id), Some(same)) => (id, same),
            // Deleted between our insert attempt and the lock: try again.
            _ => return upsert(client, doc, settings),
        }
    };

    if same_source {
        let args: [DatumWithOid; 4] = [
            id.into(),
            doc.title.as_str().into(),
            doc.source.as_deref().into(),
            metadata.into(),
        ];
        let updated =
            client.update(queries::DOCUMENT_UPDATE_FIELDS, None, &args).or_raise("update document");
        let count = count_chunks(client, id);
        let action = if updated.is_empty() { Action::Unchanged } else { Action::Updated };
        return Outcome { action, chunks: count, kept: count, added: 0, removed: 0 };
    }

    let args: [DatumWithOid; 5] = [
        id.into(),
        doc.title.as_str().into(),
        doc.source.as_deref().into(),
        metadata.into(),
        source_hex.as_str().into(),
    ];
    client.update(queries::DOCUMENT_UPDATE_SOURCE, None, &args).or_raise("update document source");

    let new_chunks = make_chunks(&doc.content, settings);
    let old = old_chunks(client, id);
    let plan = plan_rechunk(&old, &new_chunks);
    let total = new_chunks.len();
    let kept = total - plan.inserts.len();
    let removed = plan.deletes.len();

    if !plan.deletes.is_empty() {
        let args: [DatumWithOid; 1] = [plan.deletes.clone().into()];
        client.update(queries::CHUNKS_DELETE, None, &args).or_raise("delete stale chunks");
    }
    if !plan.renumber_ids.is_empty() {
        let args: [DatumWithOid; 2] =
            [plan.renumber_ids.clone().into(), plan.renumber_ordinals.clone().into()];
        client.update(queries::CHUNKS_RENUMBER, None, &args).or_raise("renumber kept chunks");
    }
    let added = plan.inserts.len();
    let mut new_chunks: Vec<Option<NewChunk>> = new_chunks.into_iter().map(Some).collect();
    let inserts = plan
        .inserts
        .iter()
        .filter_map(|&i| new_chunks.get_mut(i).and_then(Option::take).map(|c| (i as i32, c)))
        .collect();
    insert_chunks(client, id, inserts);
    Outcome { action: Action::Updated, chunks: total, kept, added, removed }
}

struct OldChunk {
    id: i64,
    ordinal: i32,
    hash_hex: String,
}

fn old_chunks(client: &mut SpiClient<'_>, document_id: i64) -> Vec<OldChunk> {
    let args: [DatumWithOid; 1] = [document_id.into()];
    let rows = client.select(queries::CHUNKS_OF_DOCUMENT, None, &args).or_raise("read chunks");
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.get::<i64>(1).or_raise("read chunk id");
        let ordinal = row.get::<i32>(2).or_raise("read chunk ordinal");
        let hash_hex = row.get::<String>(3).or_raise("read chunk hash");
        if let (Some(id), Some(ordinal), Some(hash_hex)) = (id, ordinal, hash_hex) {
            out.push(OldChunk { id, ordinal, hash_hex });
        }
    }
    out
}

fn count_chunks(client: &mut SpiClient<'_>, document_id: i64) -> usize {
    let args: [DatumWithOid; 1] = [document_id.into()];
    client.select(queries::CHUNKS_OF_DOCUMENT, None, &args).or_raise("count chunks").len()
}

#[derive(Debug, Default, PartialEq)]
struct RechunkPlan {
    deletes: Vec<i64>,
    renumber_ids: Vec<i64>,
    renumber_ordinals: Vec<i32>,
    /// Positions in the new chunk list that need a new row.
    inserts: Vec<usize>,
}

/// Matches new chunks to old ones by content hash (a multiset match, in
/// order, so repeated paragraphs pair up one to one). Matched rows are kept
/// with their embeddings and only renumbered if their position moved.
fn plan_rechunk(old: &[OldChunk], new: &[NewChunk]) -> RechunkPlan {
    let mut by_hash: HashMap<&str, VecDeque<(i64, i32)>> = HashMap::new();
    for o in old {
        by_hash.entry(o.hash_hex.as_str()).or_default().push_back((o.id, o.ordinal));
    }
    let mut plan = RechunkPlan::default();
    for (i, n) in new.iter().enumerate() {
        match by_hash.get_mut(n.hash_hex.as_str()).and_then(VecDeque::pop_front) {
            Some((id, ordinal)) => {
                if ordinal != i as i32 {
                    plan.renumber_ids.push(id);
                    plan.renumber_ordinals.push(i as i32);
                }
            }
            None => plan.inserts.push(i),
        }
    }
    for queue in by_hash.into_values() {
        plan.deletes.extend(queue.into_iter().map(|(id, _)| id));
    }
    plan.deletes.sort_unstable();
    plan
}

fn insert_chunks(client: &mut SpiClient<'_>, document_id: i64, chunks: Vec<(i32, NewChunk)>) {
    if chunks.is_empty() {
        return;
    }
    let mut ordinals = Vec::with_capacity(chunks.len());
    let mut contents = Vec::with_capacity(chunks.len());
    let mut hashes = Vec::with_capacity(chunks.len());
    for (ordinal, c) in chunks {
        ordinals.push(ordinal);
        contents.push(c.content);
        hashes.push(c.hash_hex);
    }
    let args: [DatumWithOid; 4] = [document_id.into(), ordinals.into(), contents.into(), hashes.into()];
    client.update(queries::CHUNKS_INSERT, None, &args).or_raise("insert chunks");
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    fn old(id: i64, ordinal: i32, h: &str) -> OldChunk {
        OldChunk { id, ordinal, hash_hex: h.to_string() }
    }
    fn new(h: &str) -> NewChunk {
        NewChunk { content: String::new(), hash_hex: h.to_string() }
    }

    #[pg_test]
    fn rechunk_plan_keeps_matching_chunks() {
        let plan = plan_rechunk(
            &[old(10, 0, "a"), old(11, 1, "b"), old(12, 2, "c"), old(13, 3, "a")],
            &[new("a"), new("x"), new("c"), new("a"), new("a")],
        );
        assert_eq!(plan.inserts, vec![1, 4]);
        assert_eq!(plan.deletes, vec![11]);
        assert!(plan.renumber_ids.is_empty());
    }

    #[pg_test]
    fn rechunk_plan_renumbers_moved_chunks() {
        let plan = plan_rechunk(&[old(1, 0, "a"), old(2, 1, "b")], &[new("z"), new("a"), new("b")]);
        assert_eq!(plan.inserts, vec![0]);
        assert_eq!(plan.renumber_ids, vec![1, 2]);
        assert_eq!(plan.renumber_ordinals, vec![1, 2]);
        assert!(plan.deletes.is_empty());
    }
}
