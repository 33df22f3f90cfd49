//! The projection of a source's rows into rag_search.documents and chunks,
//! shared by the first projection (steps) and the triggers: the rows of
//! some keys are read from the source and their documents and chunks made
//! to match; keys without a row lose their projection. Rows whose mapped
//! values are unchanged write nothing.
//!
//! Documents of a document table go through the ingestion path of
//! rag_upsert_documents (chunking, hashes, unchanged detection, races).
//! Pages of a pair go through it too, as documents whose chunks are given;
//! their chunks map one to one to the chunk table's rows
//! (rag_core::attach::plan_chunk_sync), taking the source's embeddings.

use std::collections::{HashMap, HashSet};

use pgrx::datum::DatumWithOid;
use pgrx::spi::{SpiClient, SpiTupleTable};
use pgrx::JsonB;
use rag_core::attach::{doc_id, ordinal, plan_chunk_sync, ProjectedChunk, Role, SourceChunk, TableSql, PROJECT_SLICE};
use rag_core::hash::chunk_hash;
use serde_json::Value;

use super::{render, Source};
use crate::embedding::{current_target, Target};
use crate::error::OrRaise;
use crate::ingest::{upsert_attached, DocumentInput};
use crate::queries;

/// Rows read from one table of a source.
pub enum Rows {
    Documents(Vec<DocumentRow>),
    Pages(Vec<PageRow>),
    Chunks(Vec<ChunkRow>),
}

pub struct DocumentRow {
    key: String,
    title: String,
    content: String,
    metadata: Value,
}

pub struct PageRow {
    key: String,
    title: String,
    metadata: Value,
}

pub struct ChunkRow {
    key: String,
    page: Option<String>,
    ordinal: Option<i64>,
    content: String,
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Rows::Documents(r) => r.len(),
            Rows::Pages(r) => r.len(),
            Rows::Chunks(r) => r.len(),
        }
    }

    pub fn keys(&self) -> Vec<String> {
        match self {
            Rows::Documents(r) => r.iter().map(|x| x.key.clone()).collect(),
            Rows::Pages(r) => r.iter().map(|x| x.key.clone()).collect(),
            Rows::Chunks(r) => r.iter().map(|x| x.key.clone()).collect(),
        }
    }
}

fn table_sql(source: &Source, role: Role) -> &TableSql {
    match source.mapping.sql(role) {
        Some(sql) => sql,
        None => crate::error::raise(
            pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("attached source {} has no {} table", source.name, role.as_str()),
            "",
        ),
    }
}

fn read(table: SpiTupleTable<'_>, role: Role) -> Rows {
    let ctx = "read source rows";
    let mut docs = Vec::new();
    let mut pages = Vec::new();
    let mut chunks = Vec::new();
    for r in table {
        let text = |name: &str| r.get_by_name::<String, _>(name).or_raise(ctx);
        let metadata = || r.get_by_name::<JsonB, _>("metadata").or_raise(ctx).map(|j| j.0).unwrap_or(Value::Null);
        let key = text("key").unwrap_or_default();
        match role {
            Role::Documents => docs.push(DocumentRow {
                key,
                title: text("title").unwrap_or_default(),
                content: text("content").unwrap_or_default(),
                metadata: metadata(),
            }),
            Role::Pages => pages.push(PageRow { key, title: text("title").unwrap_or_default(), metadata: metadata() }),
            Role::Chunks => chunks.push(ChunkRow {
                key,
                page: text("page"),
                ordinal: r.get_by_name::<i64, _>("ordinal").or_raise(ctx),
                content: text("content").unwrap_or_default(),
            }),
        }
    }
    match role {
        Role::Documents => Rows::Documents(docs),
        Role::Pages => Rows::Pages(pages),
        Role::Chunks => Rows::Chunks(chunks),
    }
}

/// The rows of `keys` in `role`'s table.
pub fn rows_by_keys(client: &SpiClient<'_>, source: &Source, role: Role, keys: &[String]) -> Rows {
    let t = table_sql(source, role);
    let sql = render(
        queries::ATTACH_ROWS_BY_KEYS,
        &[("columns", &t.columns), ("table", &t.table), ("key", &t.key), ("key_type", &t.key_type)],
    );
    let args: [DatumWithOid; 1] = [keys.to_vec().into()];
    read(client.select(&sql, None, &args).or_raise("read source rows"), role)
}

/// The next `limit` rows of `role`'s table after key `cursor` (None: from
/// the first), in key order.
pub fn rows_after(client: &SpiClient<'_>, source: &Source, role: Role, cursor: Option<&str>, limit: i64) -> Rows {
    let t = table_sql(source, role);
    let sql = render(
        queries::ATTACH_ROWS_AFTER,
        &[("columns", &t.columns), ("table", &t.table), ("key", &t.key), ("key_type", &t.key_type)],
    );
    let args: [DatumWithOid; 2] = [cursor.into(), limit.into()];
    read(client.select(&sql, None, &args).or_raise("read source rows"), role)
}

/// Brings the projection of `keys` (of `role`'s table) in line with the
/// source, reading their rows; in slices, so a statement that changed a
/// million rows is projected in bounded memory.
pub fn sync_keys(client: &mut SpiClient<'_>, source: &Source, role: Role, keys: &[String]) {
    for slice in keys.chunks(PROJECT_SLICE) {
        let rows = rows_by_keys(client, source, role, slice);
        apply(client, source, slice, rows, true);
    }
}

/// Makes the projection of `keys` match `rows` (the rows of those keys
/// that exist). `follow`: a page that is new brings in the chunks the chunk
/// table already holds for it (a step walks the chunks anyway).
pub fn apply(client: &mut SpiClient<'_>, source: &Source, keys: &[String], rows: Rows, follow: bool) {
    match rows {
        Rows::Documents(rows) => apply_documents(client, source, keys, rows),
        Rows::Pages(rows) => apply_pages(client, source, keys, rows, follow),
        Rows::Chunks(rows) => apply_chunks(client, source, keys, rows),
    }
}

/// Deletes the documents of `keys` that have no row (any more).
fn delete_missing(client: &mut SpiClient<'_>, source: &Source, keys: &[String], present: &HashSet<&str>) {
    let gone: Vec<String> =
        keys.iter().filter(|k| !present.contains(k.as_str())).map(|k| doc_id(&source.prefix, k)).collect();
    if gone.is_empty() {
        return;
    }
    let args: [DatumWithOid; 2] = [source.id.into(), gone.into()];
    client.update(queries::ATTACH_DOCUMENTS_DELETE, None, &args).or_raise("delete projected documents");
}

fn apply_documents(client: &mut SpiClient<'_>, source: &Source, keys: &[String], rows: Vec<DocumentRow>) {
    let present: HashSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    delete_missing(client, source, keys, &present);
    let docs: Vec<DocumentInput> = rows
        .iter()
        .map(|r| {
            DocumentInput::attached(
                source.id,
                doc_id(&source.prefix, &r.key),
                r.title.clone(),
                r.content.clone(),
                r.metadata.clone(),
                false,
                false,
            )
        })
        .collect();
    if !docs.is_empty() {
        upsert_attached(client, &docs);
    }
}

fn apply_pages(client: &mut SpiClient<'_>, source: &Source, keys: &[String], rows: Vec<PageRow>, follow: bool) {
    let present: HashSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    delete_missing(client, source, keys, &present);
    let new_pages = upsert_pages(client, source, &rows);
    if follow && !new_pages.is_empty() {
        let chunk_keys = chunk_keys_of_pages(client, source, &new_pages);
        sync_keys(client, source, Role::Chunks, &chunk_keys);
    }
}

/// Upserts the documents of pages `rows`; returns the keys of the pages
/// that were not projected before.
fn upsert_pages(client: &mut SpiClient<'_>, source: &Source, rows: &[PageRow]) -> Vec<String> {
    if rows.is_empty() {
        return Vec::new();
    }
    let vectors_given = source.embedding.is_some();
    let docs: Vec<DocumentInput> = rows
        .iter()
        .map(|r| {
            DocumentInput::attached(
                source.id,
                doc_id(&source.prefix, &r.key),
                r.title.clone(),
                String::new(),
                r.metadata.clone(),
                true,
                vectors_given,
            )
        })
        .collect();
    let inserted = upsert_attached(client, &docs);
    rows.iter().zip(inserted).filter(|(_, new)| *new).map(|(r, _)| r.key.clone()).collect()
}

fn chunk_keys_of_pages(client: &SpiClient<'_>, source: &Source, pages: &[String]) -> Vec<String> {
    let t = table_sql(source, Role::Chunks);
    let Some((page_ref, page_ref_type)) = &source.mapping.page_ref else { return Vec::new() };
    let sql = render(
        queries::ATTACH_CHUNK_KEYS_OF_PAGES,
        &[("table", &t.table), ("key", &t.key), ("page_ref", page_ref), ("page_ref_type", page_ref_type)],
    );
    let args: [DatumWithOid; 1] = [pages.to_vec().into()];
    client
        .select(&sql, None, &args)
        .or_raise("find chunks of pages")
        .first()
        .get_one::<Vec<String>>()
        .or_raise("find chunks of pages")
        .unwrap_or_default()
}

/// Locks the projected documents of `pages` (page keys) and returns their
/// ids by page key.
fn lock_page_documents(client: &mut SpiClient<'_>, source: &Source, pages: &[String]) -> HashMap<String, i64> {
    let by_doc_id: HashMap<String, &String> = pages.iter().map(|p| (doc_id(&source.prefix, p), p)).collect();
    let args: [DatumWithOid; 1] = [by_doc_id.keys().cloned().collect::<Vec<String>>().into()];
    let ctx = "lock projected pages";
    let mut out = HashMap::new();
    for r in client.update(queries::DOCUMENTS_LOCK, None, &args).or_raise(ctx) {
        let id = r.get_by_name::<i64, _>("id").or_raise(ctx);
        let doc = r.get_by_name::<String, _>("doc_id").or_raise(ctx);
        if let (Some(id), Some(page)) = (id, doc.and_then(|d| by_doc_id.get(&d).map(|p| (*p).clone()))) {
            out.insert(page, id);
        }
    }
    out
}

fn apply_chunks(client: &mut SpiClient<'_>, source: &Source, keys: &[String], rows: Vec<ChunkRow>) {
    // The documents of the chunks' pages, locked: concurrent writers of one
    // page's chunks take turns. A page not projected yet (a chunk written
    // during the first projection, before its page was walked) is
    // projected now if the page exists; chunks of a missing page are not
    // searchable.
    let mut pages: Vec<String> = rows.iter().filter_map(|r| r.page.clone()).collect();
    pages.sort_unstable();
    pages.dedup();
    let mut documents = lock_page_documents(client, source, &pages);
    let unprojected: Vec<String> = pages.iter().filter(|p| !documents.contains_key(*p)).cloned().collect();
    if !unprojected.is_empty() {
        let page_rows = rows_by_keys(client, source, Role::Pages, &unprojected);
        apply(client, source, &unprojected, page_rows, false);
        documents = lock_page_documents(client, source, &pages);
    }
    let mut wanted: Vec<SourceChunk> = Vec::with_capacity(rows.len());
    let mut texts: Vec<&str> = Vec::with_capacity(rows.len());
    for r in &rows {
        let Some(&document_id) = r.page.as_ref().and_then(|p| documents.get(p)) else { continue };
        wanted.push(SourceChunk {
            key: r.key.clone(),
            document_id,
            ordinal: ordinal(r.ordinal),
            hash: chunk_hash(&r.content).to_vec(),
        });
        texts.push(&r.content);
    }
    let projected = projected_chunks(client, source, keys);
    let plan = plan_chunk_sync(&wanted, &projected);
    if !plan.deletes.is_empty() {
        let args: [DatumWithOid; 1] = [plan.deletes.clone().into()];
        client.update(queries::CHUNKS_DELETE, None, &args).or_raise("delete projected chunks");
    }
    if !plan.renumbers.is_empty() {
        let ids: Vec<i64> = plan.renumbers.iter().map(|r| r.0).collect();
        let ordinals: Vec<i32> = plan.renumbers.iter().map(|r| r.1).collect();
        let args: [DatumWithOid; 2] = [ids.into(), ordinals.into()];
        client.update(queries::CHUNKS_RENUMBER, None, &args).or_raise("renumber projected chunks");
    }
    let target = current_target();
    let reused = source.reused(&target).cloned();
    let t = table_sql(source, Role::Chunks);
    // The source's vector, or none when its embeddings are not reused.
    let embedding_value = match &reused {
        Some(e) => format!("s.{}", e.column),
        None => format!("NULL::{}.vector", queries::render("@extschema:vector@", None)),
    };
    let fields: [(&str, &str); 4] =
        [("table", &t.table), ("key", &t.key), ("key_type", &t.key_type), ("embedding_value", &embedding_value)];
    if !plan.inserts.is_empty() {
        let documents: Vec<i64> = plan.inserts.iter().map(|&i| wanted[i].document_id).collect();
        let ordinals: Vec<i32> = plan.inserts.iter().map(|&i| wanted[i].ordinal).collect();
        let contents: Vec<String> = plan.inserts.iter().map(|&i| texts[i].to_string()).collect();
        let hashes: Vec<Vec<u8>> = plan.inserts.iter().map(|&i| wanted[i].hash.clone()).collect();
        let chunk_keys: Vec<String> = plan.inserts.iter().map(|&i| wanted[i].key.clone()).collect();
        let args: [DatumWithOid; 8] = [
            documents.into(),
            ordinals.into(),
            contents.into(),
            hashes.into(),
            chunk_keys.into(),
            reused.is_some().into(),
            target.model.as_str().into(),
            target.dimension.into(),
        ];
        let sql = render(queries::ATTACH_CHUNKS_INSERT, &fields);
        client.update(&sql, None, &args).or_raise("insert projected chunks");
    }
    if reused.is_some() && !plan.kept.is_empty() {
        sync_embeddings(client, &plan.kept, &target, &fields);
    }
}

/// Kept chunks take their source row's embedding where it differs.
fn sync_embeddings(client: &mut SpiClient<'_>, ids: &[i64], target: &Target, fields: &[(&str, &str)]) {
    let sql = render(queries::ATTACH_EMBEDDINGS_SYNC, fields);
    let args: [DatumWithOid; 3] = [ids.to_vec().into(), target.model.as_str().into(), target.dimension.into()];
    let delta = client
        .update(&sql, None, &args)
        .or_raise("copy source embeddings")
        .first()
        .get_one::<i64>()
        .or_raise("copy source embeddings")
        .unwrap_or(0);
    if delta != 0 {
        let args: [DatumWithOid; 2] = [0i64.into(), delta.into()];
        client.update(queries::BACKFILL_COUNTS_ADD, None, &args).or_raise("count copied embeddings");
    }
}

fn projected_chunks(client: &SpiClient<'_>, source: &Source, keys: &[String]) -> Vec<ProjectedChunk> {
    let ctx = "read projected chunks";
    let args: [DatumWithOid; 2] = [source.id.into(), keys.to_vec().into()];
    client
        .select(queries::ATTACH_CHUNKS_PROJECTED, None, &args)
        .or_raise(ctx)
        .filter_map(|r| {
            Some(ProjectedChunk {
                id: r.get_by_name::<i64, _>("id").ok().flatten()?,
                key: r.get_by_name::<String, _>("source_key").ok().flatten()?,
                document_id: r.get_by_name::<i64, _>("document_id").ok().flatten()?,
                ordinal: r.get_by_name::<i32, _>("ordinal").ok().flatten()?,
                hash: r.get_by_name::<Vec<u8>, _>("content_hash").ok().flatten()?,
            })
        })
        .collect()
}

/// Empties the projection of `role`'s table (a TRUNCATE of it).
pub fn truncate(client: &mut SpiClient<'_>, source: &Source, role: Role) {
    let args: [DatumWithOid; 1] = [source.id.into()];
    let sql = match role {
        Role::Chunks => queries::ATTACH_CHUNKS_DELETE_ALL,
        Role::Documents | Role::Pages => queries::ATTACH_DOCUMENTS_DELETE_ALL,
    };
    client.update(sql, None, &args).or_raise("empty the projection");
}

/// After the backfill embedded chunks `ids`: the sources whose embedding
/// column holds the current model get the new vectors where their rows
/// have none (as the extension's owner, like every backfill write).
pub fn write_back(client: &mut SpiClient<'_>, target: &Target, ids: &[i64]) {
    if ids.is_empty() {
        return;
    }
    let args: [DatumWithOid; 2] = [target.model.as_str().into(), target.dimension.into()];
    let sources: Vec<i32> = client
        .select(queries::ATTACH_REUSE_SOURCES, None, &args)
        .or_raise("find sources to fill")
        .filter_map(|r| r.get_by_name::<i32, _>("id").ok().flatten())
        .collect();
    for id in sources {
        let Some(source) = super::load(client, id) else { continue };
        let (Some(embedding), Some(t)) = (source.reused(target), source.mapping.sql(Role::Chunks)) else { continue };
        let sql = render(
            queries::ATTACH_WRITE_BACK,
            &[("table", &t.table), ("key", &t.key), ("key_type", &t.key_type), ("embedding", &embedding.column)],
        );
        let args: [DatumWithOid; 2] = [ids.to_vec().into(), source.id.into()];
        client.update(&sql, None, &args).or_raise("fill the source's embeddings");
    }
}
