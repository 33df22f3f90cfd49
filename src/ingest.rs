//! Document ingestion: rag_upsert_document, rag_upsert_documents,
//! rag_delete_document.

use std::collections::{HashMap, VecDeque};

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use rag_core::chunk::{chunk_text, ChunkSettings};
use rag_core::attach::page_source_hash as given_chunks_hash;
use rag_core::document::{doc_id_problem, DocIdProblem, MAX_DOC_ID_BYTES};
use rag_core::hash::{chunk_hash, hex, source_hash};
use rag_core::json_text::{metadata_object, parse_documents, DocumentFields, DocumentsError};

use crate::error::{invalid_parameter, null_value, raise, OrRaise};
use crate::security::as_extension_owner;
use crate::sql_types::JsonbText;
use crate::{guc, queries};

/// Inserts or replaces the document `doc_id`.
///
/// `action` is `inserted`, `updated` (content, title, source or metadata
/// changed) or `unchanged` (nothing was written). Chunks whose text is
/// unchanged keep their rows and embeddings; new chunks wait for the
/// backfill.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rag_upsert_document(
    doc_id: Option<&str>,
    title: Option<&str>,
    content: Option<&str>,
    metadata: default!(Option<JsonbText>, "'{}'"),
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
    crate::security::require_current_schema();
    crate::security::require_writable("rag_upsert_document()");
    let doc = DocumentInput::from_args(doc_id, title, content, metadata.as_ref().map(|j| j.0.as_str()), source, None);
    crate::attach::refuse_attached_doc_ids([doc.doc_id.as_str()]);
    let settings = chunk_settings();
    let outcome = Spi::connect_mut(|client| {
        let outcome = upsert_batch(client, std::slice::from_ref(&doc), &settings).pop();
        compact_term_stats_when_due(client);
        outcome
    });
    match outcome {
        Some(o) => TableIterator::once(o.into_row()),
        None => TableIterator::new(Vec::new()),
    }
}

/// Upserts every document of a JSON array in one call (one transaction, one
/// round trip). Each element is an object with `doc_id` (required),
/// `title`, `content`, `metadata` (object) and `source`. Returns one row per
/// element, in input order.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rag_upsert_documents(documents: Option<JsonbText>) -> TableIterator<
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
    crate::security::require_current_schema();
    crate::security::require_writable("rag_upsert_documents()");
    let Some(JsonbText(payload)) = documents else {
        null_value(
            "rag_upsert_documents: documents must not be NULL",
            "Pass a JSON array of objects such as '[{\"doc_id\": \"a:1\", \"content\": \"...\"}]'.",
        );
    };
    let docs: Vec<DocumentInput> = match parse_documents(&payload) {
        Ok(elements) => elements.into_iter().enumerate().map(|(i, fields)| DocumentInput::from_fields(i, fields)).collect(),
        Err(e) => invalid_parameter(
            format!("rag_upsert_documents: {e}"),
            match e {
                DocumentsError::NotAString { .. } => {
                    "Pass doc_id, title, content and source as JSON strings and metadata as an object."
                }
                _ => "Pass a JSON array of objects such as '[{\"doc_id\": \"a:1\", \"content\": \"...\"}]'.",
            },
        ),
    };
    drop(payload);
    crate::attach::refuse_attached_doc_ids(docs.iter().map(|d| d.doc_id.as_str()));
    let settings = chunk_settings();
    let rows = Spi::connect_mut(|client| {
        let rows = upsert_batch(client, &docs, &settings)
            .into_iter()
            .zip(&docs)
            .map(|(outcome, doc)| {
                let (action, chunks, kept, added, removed) = outcome.into_row();
                (doc.doc_id.clone(), action, chunks, kept, added, removed)
            })
            .collect::<Vec<_>>();
        compact_term_stats_when_due(client);
        rows
    });
    TableIterator::new(rows)
}

/// Deletes the document and its chunks; returns whether it existed.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rag_delete_document(doc_id: Option<&str>) -> bool {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_delete_document()");
    let doc_id = validate_doc_id(doc_id, None);
    crate::attach::refuse_attached_doc_ids([doc_id.as_str()]);
    Spi::connect_mut(|client| {
        let args: [DatumWithOid; 1] = [doc_id.into()];
        let deleted = client.update(queries::DOCUMENT_DELETE, None, &args).or_raise("delete document");
        compact_term_stats_when_due(client);
        !deleted.is_empty()
    })
}

/// Folds the BM25 statistics deltas written by the chunk triggers into the
/// totals when enough have accumulated (see sql/search.sql). The statistics
/// belong to the extension: folded as its owner.
fn compact_term_stats_when_due(client: &mut SpiClient<'_>) {
    as_extension_owner(|| {
        client.update(queries::TERM_STATS_COMPACT, None, &[]).or_raise("compact term statistics");
    });
}

pub(crate) struct DocumentInput {
    doc_id: String,
    title: String,
    content: String,
    /// The metadata object as JSON text (stored as given).
    metadata: String,
    source: Option<String>,
    /// The attached source this document projects (src/attach).
    attached_source: Option<i32>,
    /// The page of a page/chunk pair: its chunks come from the chunk table,
    /// `content` is unused.
    chunks_given: bool,
    /// Its embeddings come from the source: a new title does not make them
    /// stale.
    vectors_given: bool,
}

impl DocumentInput {
    fn from_args(
        doc_id: Option<&str>,
        title: Option<&str>,
        content: Option<&str>,
        metadata: Option<&str>,
        source: Option<&str>,
        element: Option<usize>,
    ) -> Self {
        let doc_id = validate_doc_id(doc_id, element);
        let metadata = match metadata_object(metadata) {
            Ok(object) => object.unwrap_or("{}").to_string(),
            Err(found) => invalid_parameter(
                format!("{}metadata must be a JSON object, not {}", element_prefix(element), found.described()),
                "Wrap values in an object, e.g. '{\"tags\": [\"a\", \"b\"]}'.",
            ),
        };
        DocumentInput {
            doc_id,
            title: title.unwrap_or("").to_string(),
            content: content.unwrap_or("").to_string(),
            metadata,
            source: source.map(str::to_string),
            attached_source: None,
            chunks_given: false,
            vectors_given: false,
        }
    }

    /// A document of attached source `source` (src/attach): a row of a
    /// document table, chunked here, or (`pair` set) a page whose chunks the
    /// source gives, with (`vectors_given`) their embeddings.
    pub(crate) fn attached(
        source: i32,
        doc_id: String,
        title: String,
        content: String,
        metadata: serde_json::Value,
        pair: bool,
        vectors_given: bool,
    ) -> Self {
        // The mapped columns build a jsonb object; anything else (NULL) is empty.
        let metadata = if metadata.is_object() { metadata.to_string() } else { "{}".to_string() };
        DocumentInput {
            doc_id,
            title,
            content,
            metadata,
            source: None,
            attached_source: Some(source),
            chunks_given: pair,
            vectors_given,
        }
    }

    fn from_fields(index: usize, fields: DocumentFields) -> Self {
        Self::from_args(
            fields.doc_id.as_deref(),
            fields.title.as_deref(),
            fields.content.as_deref(),
            fields.metadata.as_deref(),
            fields.source.as_deref(),
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

fn validate_doc_id(doc_id: Option<&str>, element: Option<usize>) -> String {
    const EXAMPLE: &str = "Use a stable external key such as 'board_post:12' or 'run:42'.";
    let Some(doc_id) = doc_id else {
        null_value(format!("{}doc_id must not be NULL", element_prefix(element)), EXAMPLE);
    };
    match doc_id_problem(doc_id) {
        None => doc_id.to_string(),
        Some(DocIdProblem::Blank) => {
            invalid_parameter(format!("{}doc_id must not be empty", element_prefix(element)), EXAMPLE)
        }
        Some(DocIdProblem::TooLong(bytes)) => invalid_parameter(
            format!("{}doc_id is {bytes} bytes long, more than {MAX_DOC_ID_BYTES}", element_prefix(element)),
            "Use a short stable key (a URL or path can be hashed) and keep the long form in metadata or source.",
        ),
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

/// Upserts the documents of an attached source (src/attach) through the
/// same path as rag_upsert_documents; returns which were inserted.
pub(crate) fn upsert_attached(client: &mut SpiClient<'_>, docs: &[DocumentInput]) -> Vec<bool> {
    let settings = chunk_settings();
    upsert_batch(client, docs, &settings).into_iter().map(|o| matches!(o.action, Action::Inserted)).collect()
}

/// Upserts `docs` with a fixed number of statements per call, whatever the
/// batch size: lock the existing documents, insert the new ones, update the
/// changed ones, then delete, renumber and insert chunks for all of them at
/// once. Outcomes come back in input order. A doc_id repeated in one batch is
/// applied in order, one occurrence per round.
fn upsert_batch(client: &mut SpiClient<'_>, docs: &[DocumentInput], settings: &ChunkSettings) -> Vec<Outcome> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, d) in docs.iter().enumerate() {
        let round = seen.entry(d.doc_id.as_str()).and_modify(|r| *r += 1).or_insert(0);
        if rounds.len() <= *round {
            rounds.push(Vec::new());
        }
        rounds[*round].push(i);
    }
    let mut outcomes: Vec<Option<Outcome>> = docs.iter().map(|_| None).collect();
    for round in rounds {
        upsert_distinct(client, docs, &round, settings, &mut outcomes);
    }
    outcomes.into_iter().flatten().collect()
}

/// Chunk writes collected over a batch, executed as three statements.
#[derive(Default)]
struct ChunkWrites {
    deletes: Vec<i64>,
    renumber_ids: Vec<i64>,
    renumber_ordinals: Vec<i32>,
    insert_documents: Vec<i64>,
    insert_ordinals: Vec<i32>,
    insert_contents: Vec<String>,
    insert_hashes: Vec<String>,
}

impl ChunkWrites {
    fn insert(&mut self, document_id: i64, ordinal: usize, chunk: NewChunk) {
        self.insert_documents.push(document_id);
        self.insert_ordinals.push(ordinal as i32);
        self.insert_contents.push(chunk.content);
        self.insert_hashes.push(chunk.hash_hex);
    }

    fn execute(self, client: &mut SpiClient<'_>) {
        if !self.deletes.is_empty() {
            let args: [DatumWithOid; 1] = [self.deletes.into()];
            client.update(queries::CHUNKS_DELETE, None, &args).or_raise("delete stale chunks");
        }
        if !self.renumber_ids.is_empty() {
            let args: [DatumWithOid; 2] = [self.renumber_ids.into(), self.renumber_ordinals.into()];
            client.update(queries::CHUNKS_RENUMBER, None, &args).or_raise("renumber kept chunks");
        }
        if !self.insert_documents.is_empty() {
            let args: [DatumWithOid; 4] = [
                self.insert_documents.into(),
                self.insert_ordinals.into(),
                self.insert_contents.into(),
                self.insert_hashes.into(),
            ];
            client.update(queries::CHUNKS_INSERT, None, &args).or_raise("insert chunks");
        }
    }
}

/// Document columns as SQL arrays, for the positions `idxs` of `docs`.
struct DocumentColumns {
    titles: Vec<String>,
    sources: Vec<Option<String>>,
    metadata: Vec<String>,
    source_hashes: Vec<String>,
    attached_sources: Vec<Option<i32>>,
}

fn columns(docs: &[DocumentInput], idxs: &[usize], hashes: &HashMap<usize, String>) -> DocumentColumns {
    DocumentColumns {
        titles: idxs.iter().map(|&i| docs[i].title.clone()).collect(),
        sources: idxs.iter().map(|&i| docs[i].source.clone()).collect(),
        metadata: idxs.iter().map(|&i| docs[i].metadata.clone()).collect(),
        source_hashes: idxs.iter().map(|&i| hashes.get(&i).cloned().unwrap_or_default()).collect(),
        attached_sources: idxs.iter().map(|&i| docs[i].attached_source).collect(),
    }
}

/// Upserts the documents at positions `idxs` (distinct doc_ids).
fn upsert_distinct(
    client: &mut SpiClient<'_>,
    docs: &[DocumentInput],
    idxs: &[usize],
    settings: &ChunkSettings,
    outcomes: &mut [Option<Outcome>],
) {
    let hashes: HashMap<usize, String> = idxs
        .iter()
        .map(|&i| {
            let doc = &docs[i];
            let hash = if doc.chunks_given { given_chunks_hash() } else { source_hash(&doc.content, settings) };
            (i, hex(&hash))
        })
        .collect();
    let mut writes = ChunkWrites::default();
    let mut pending: Vec<usize> = idxs.to_vec();
    // Documents whose title changed: their chunks move to rows indexing the
    // new title, and embeddings built with the title (a document template
    // with {title}) are stale unless the source gives them.
    let mut retitled: Vec<i64> = Vec::new();
    let mut stale_embeddings: Vec<i64> = Vec::new();
    // A doc_id that another transaction inserts between our lock and our
    // insert is picked up as existing on the next pass.
    for _pass in 0..3 {
        if pending.is_empty() {
            break;
        }
        let existing = lock_documents(client, docs, &pending);
        let mut new = Vec::new();
        let mut same = Vec::new();
        let mut changed = Vec::new();
        for &i in &pending {
            match existing.get(docs[i].doc_id.as_str()) {
                None => new.push(i),
                Some(e) => {
                    if e.title != docs[i].title {
                        retitled.push(e.id);
                        if !docs[i].vectors_given {
                            stale_embeddings.push(e.id);
                        }
                    }
                    if e.source_hash == hashes[&i] {
                        same.push((i, e.id));
                    } else {
                        changed.push((i, e.id));
                    }
                }
            }
        }
        let counts = chunk_counts(client, &same);
        // Same source but no chunks while the content has some (rows lost
        // outside the extension, e.g. a partial restore): chunk it again.
        let (same, lost): (Vec<_>, Vec<_>) = same.into_iter().partition(|&(i, id)| {
            docs[i].chunks_given
                || counts.get(&id).is_some_and(|&n| n > 0)
                || chunk_text(&docs[i].content, settings).is_empty()
        });
        changed.extend(lost);
        pending = insert_new_documents(client, docs, &new, &hashes, settings, &mut writes, outcomes);
        update_unchanged_sources(client, docs, &same, &counts, &hashes, outcomes);
        update_changed_sources(client, docs, &changed, &hashes, settings, &mut writes, outcomes);
    }
    if !pending.is_empty() {
        raise(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            "could not upsert documents that other transactions keep inserting and deleting",
            "Retry the transaction.",
        );
    }
    writes.execute(client);
    if !retitled.is_empty() {
        let args: [DatumWithOid; 1] = [retitled.into()];
        client.update(queries::CHUNKS_RETITLE, None, &args).or_raise("move chunks to their new title");
    }
    if !stale_embeddings.is_empty() && guc::document_template().contains("{title}") {
        clear_embeddings_of(client, &stale_embeddings);
    }
}

/// Chunks per document, for the documents in `same`.
fn chunk_counts(client: &mut SpiClient<'_>, same: &[(usize, i64)]) -> HashMap<i64, i32> {
    if same.is_empty() {
        return HashMap::new();
    }
    let ids: Vec<i64> = same.iter().map(|p| p.1).collect();
    let args: [DatumWithOid; 1] = [ids.into()];
    client
        .select(queries::CHUNK_COUNTS_OF_DOCUMENTS, None, &args)
        .or_raise("count chunks")
        .filter_map(|r| {
            Some((
                r.get_by_name::<i64, _>("document_id").ok().flatten()?,
                r.get_by_name::<i32, _>("chunks").ok().flatten()?,
            ))
        })
        .collect()
}

/// Makes the embeddings of the documents' chunks wait for the backfill
/// again (their embedding input included the old title).
pub(crate) fn clear_embeddings_of(client: &mut SpiClient<'_>, document_ids: &[i64]) {
    let args: [DatumWithOid; 1] = [document_ids.to_vec().into()];
    let cleared = client
        .update(queries::EMBEDDINGS_CLEAR_OF_DOCUMENTS, None, &args)
        .or_raise("clear stale embeddings")
        .len() as i64;
    if cleared > 0 {
        // The counters are the extension's bookkeeping (see sql/backfill.sql).
        as_extension_owner(|| {
            let delta: [DatumWithOid; 2] = [0i64.into(), (-cleared).into()];
            client.update(queries::BACKFILL_COUNTS_ADD, None, &delta).or_raise("count cleared embeddings");
        });
    }
}

/// An existing document as locked for the upsert.
struct Existing {
    id: i64,
    source_hash: String,
    title: String,
}

/// doc_id → the existing documents, locked.
fn lock_documents(client: &mut SpiClient<'_>, docs: &[DocumentInput], idxs: &[usize]) -> HashMap<String, Existing> {
    let ids: Vec<String> = idxs.iter().map(|&i| docs[i].doc_id.clone()).collect();
    let args: [DatumWithOid; 1] = [ids.into()];
    let rows = client.update(queries::DOCUMENTS_LOCK, None, &args).or_raise("lock documents");
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = row.get_by_name::<i64, _>("id").or_raise("read locked documents");
        let doc_id = row.get_by_name::<String, _>("doc_id").or_raise("read locked documents");
        let hash = row.get_by_name::<String, _>("source_hash").or_raise("read locked documents");
        let title = row.get_by_name::<String, _>("title").or_raise("read locked documents");
        if let (Some(id), Some(doc_id), Some(source_hash)) = (id, doc_id, hash) {
            out.insert(doc_id, Existing { id, source_hash, title: title.unwrap_or_default() });
        }
    }
    out
}

/// Inserts new documents and queues their chunks; returns the positions
/// that lost an insert race and must be retried as existing documents.
fn insert_new_documents(
    client: &mut SpiClient<'_>,
    docs: &[DocumentInput],
    new: &[usize],
    hashes: &HashMap<usize, String>,
    settings: &ChunkSettings,
    writes: &mut ChunkWrites,
    outcomes: &mut [Option<Outcome>],
) -> Vec<usize> {
    if new.is_empty() {
        return Vec::new();
    }
    let cols = columns(docs, new, hashes);
    let doc_ids: Vec<String> = new.iter().map(|&i| docs[i].doc_id.clone()).collect();
    let args: [DatumWithOid; 6] = [
        doc_ids.into(),
        cols.titles.into(),
        cols.sources.into(),
        cols.metadata.into(),
        cols.source_hashes.into(),
        cols.attached_sources.into(),
    ];
    let rows = client.update(queries::DOCUMENTS_INSERT, None, &args).or_raise("insert documents");
    let mut inserted: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = row.get::<i64>(1).or_raise("read inserted documents");
        let doc_id = row.get::<String>(2).or_raise("read inserted documents");
        if let (Some(id), Some(doc_id)) = (id, doc_id) {
            inserted.insert(doc_id, id);
        }
    }
    let mut lost = Vec::new();
    for &i in new {
        let Some(&id) = inserted.get(docs[i].doc_id.as_str()) else {
            lost.push(i);
            continue;
        };
        let chunks = make_chunks(&docs[i].content, settings);
        let n = chunks.len();
        for (ordinal, c) in chunks.into_iter().enumerate() {
            writes.insert(id, ordinal, c);
        }
        outcomes[i] = Some(Outcome { action: Action::Inserted, chunks: n, kept: 0, added: n, removed: 0 });
    }
    lost
}

/// Same source hash: at most the title, source or metadata change; chunks
/// stay as they are. `counts`: chunks per document.
fn update_unchanged_sources(
    client: &mut SpiClient<'_>,
    docs: &[DocumentInput],
    same: &[(usize, i64)],
    counts: &HashMap<i64, i32>,
    hashes: &HashMap<usize, String>,
    outcomes: &mut [Option<Outcome>],
) {
    if same.is_empty() {
        return;
    }
    let idxs: Vec<usize> = same.iter().map(|p| p.0).collect();
    let ids: Vec<i64> = same.iter().map(|p| p.1).collect();
    let cols = columns(docs, &idxs, hashes);
    let args: [DatumWithOid; 4] = [ids.into(), cols.titles.into(), cols.sources.into(), cols.metadata.into()];
    let updated: std::collections::HashSet<i64> = client
        .update(queries::DOCUMENTS_UPDATE_FIELDS, None, &args)
        .or_raise("update documents")
        .filter_map(|r| r.get::<i64>(1).ok().flatten())
        .collect();
    for &(i, id) in same {
        let n = counts.get(&id).copied().unwrap_or(0).max(0) as usize;
        let action = if updated.contains(&id) { Action::Updated } else { Action::Unchanged };
        outcomes[i] = Some(Outcome { action, chunks: n, kept: n, added: 0, removed: 0 });
    }
}

/// New source hash: re-chunk, keeping the rows (and embeddings) of chunks
/// whose text is unchanged.
fn update_changed_sources(
    client: &mut SpiClient<'_>,
    docs: &[DocumentInput],
    changed: &[(usize, i64)],
    hashes: &HashMap<usize, String>,
    settings: &ChunkSettings,
    writes: &mut ChunkWrites,
    outcomes: &mut [Option<Outcome>],
) {
    if changed.is_empty() {
        return;
    }
    let idxs: Vec<usize> = changed.iter().map(|p| p.0).collect();
    let ids: Vec<i64> = changed.iter().map(|p| p.1).collect();
    let cols = columns(docs, &idxs, hashes);
    let args: [DatumWithOid; 5] = [
        ids.clone().into(),
        cols.titles.into(),
        cols.sources.into(),
        cols.metadata.into(),
        cols.source_hashes.into(),
    ];
    client.update(queries::DOCUMENTS_UPDATE_SOURCE, None, &args).or_raise("update document sources");
    let mut old_by_doc = old_chunks(client, &ids);
    for &(i, id) in changed {
        let new_chunks = make_chunks(&docs[i].content, settings);
        let old = old_by_doc.remove(&id).unwrap_or_default();
        let plan = plan_rechunk(&old, &new_chunks);
        let total = new_chunks.len();
        let added = plan.inserts.len();
        let removed = plan.deletes.len();
        writes.deletes.extend(plan.deletes);
        writes.renumber_ids.extend(plan.renumber_ids);
        writes.renumber_ordinals.extend(plan.renumber_ordinals);
        let inserts: std::collections::HashSet<usize> = plan.inserts.into_iter().collect();
        for (ordinal, c) in new_chunks.into_iter().enumerate() {
            if inserts.contains(&ordinal) {
                writes.insert(id, ordinal, c);
            }
        }
        outcomes[i] =
            Some(Outcome { action: Action::Updated, chunks: total, kept: total - added, added, removed });
    }
}

struct OldChunk {
    id: i64,
    ordinal: i32,
    hash_hex: String,
}

fn old_chunks(client: &mut SpiClient<'_>, document_ids: &[i64]) -> HashMap<i64, Vec<OldChunk>> {
    let args: [DatumWithOid; 1] = [document_ids.to_vec().into()];
    let rows = client.select(queries::CHUNKS_OF_DOCUMENTS, None, &args).or_raise("read chunks");
    let mut out: HashMap<i64, Vec<OldChunk>> = HashMap::new();
    for row in rows {
        let id = row.get::<i64>(1).or_raise("read chunk id");
        let document_id = row.get::<i64>(2).or_raise("read chunk document");
        let ordinal = row.get::<i32>(3).or_raise("read chunk ordinal");
        let hash_hex = row.get::<String>(4).or_raise("read chunk hash");
        if let (Some(id), Some(document_id), Some(ordinal), Some(hash_hex)) = (id, document_id, ordinal, hash_hex) {
            out.entry(document_id).or_default().push(OldChunk { id, ordinal, hash_hex });
        }
    }
    out
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
