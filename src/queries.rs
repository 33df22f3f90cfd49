//! Every SQL statement the extension runs, by name.
//!
//! The texts live in `sql/queries/*.sql`; this module is the one place that
//! names the tables and columns search, ingestion and backfill read and
//! write, so pointing them at another table pair touches only these files.
//! Values always travel as `$n` parameters.
//!
//! Every function of the extension runs with `search_path = pg_catalog,
//! pg_temp`, so the texts name every object with its schema. Objects of
//! pgvector and pg_trgm are written `@extschema:vector@.name` /
//! `@extschema:pg_trgm@.name` (the notation of extension scripts) and
//! [`render`] replaces the markers with the schemas those extensions are
//! installed in at the time of the call, so search works wherever they live
//! and no schema on anybody's search_path can stand in for them.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::{OwnedPreparedStatement, Spi, SpiClient, SpiTupleTable};
use pgrx::{FromDatum, IntoDatum, PgSqlErrorCode};

use crate::error::{raise, OrRaise};

thread_local! {
    /// Plans of the statements a search runs many times (by ids), kept for
    /// the life of the backend: planning them costs as much as running
    /// them. PostgreSQL's plan cache revalidates them after DDL.
    static PLANS: RefCell<HashMap<String, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
}

/// The first column of the first row a read-only statement returns (None
/// for no row or NULL). pgrx's `Spi::get_one*`, `Spi::run*` and
/// `SpiClient::update` mark the transaction as writing (they assign it a
/// transaction id, which a hot standby refuses and which makes a primary
/// write a commit record): read paths run their statements through
/// `select` only.
pub fn select_one<A: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid], context: &str) -> Option<A> {
    Spi::connect(|client| {
        let rows = client.select(sql, Some(1), args).or_raise(context);
        if rows.is_empty() {
            None
        } else {
            rows.first().get_one::<A>().or_raise(context)
        }
    })
}

/// Runs a read-only statement through a plan kept per backend. For
/// statements whose best plan does not depend on the values of their
/// parameters (lookups by ids), as a generic plan may be chosen.
pub fn select_planned<'c>(
    client: &SpiClient<'c>,
    sql: &str,
    args: &[DatumWithOid],
    context: &str,
) -> SpiTupleTable<'c> {
    PLANS.with(|cell| {
        let mut plans = cell.borrow_mut();
        if !plans.contains_key(sql) {
            let types: Vec<pg_sys::PgOid> = args.iter().map(|a| pg_sys::PgOid::from(a.oid())).collect();
            let plan = client.prepare(sql, &types).or_raise(context).keep();
            plans.insert(sql.to_string(), plan);
        }
        match plans.get(sql) {
            Some(plan) => client.select(plan, None, args).or_raise(context),
            None => client.select(sql, None, args).or_raise(context),
        }
    })
}

const VECTOR_MARKER: &str = "@extschema:vector@";
const TRGM_MARKER: &str = "@extschema:pg_trgm@";
const DIMENSION_MARKER: &str = "@dimension@";

/// `text` with the extension-schema markers replaced (and, when given, the
/// embedding dimension the HNSW index expression is declared at).
pub fn render(text: &'static str, dimension: Option<i32>) -> Cow<'static, str> {
    if !text.contains("@extschema:") && !text.contains(DIMENSION_MARKER) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    if out.contains(VECTOR_MARKER) {
        out = out.replace(VECTOR_MARKER, &extension_schema(c"vector"));
    }
    if out.contains(TRGM_MARKER) {
        out = out.replace(TRGM_MARKER, &extension_schema(c"pg_trgm"));
    }
    if out.contains(DIMENSION_MARKER) {
        match dimension {
            Some(d) => out = out.replace(DIMENSION_MARKER, &d.to_string()),
            None => crate::error::internal("rag_search: a statement needs the embedding dimension"),
        }
    }
    Cow::Owned(out)
}

const RELATION_MARKER: &str = "@relation@";

/// `text` reading from an operator's table: `relation` must be the
/// schema-qualified name PostgreSQL quoted (sql/queries/relation_name.sql),
/// never text a caller typed.
pub fn render_relation(text: &'static str, relation: &str) -> String {
    text.replace(RELATION_MARKER, relation)
}

/// The quoted name of the schema extension `name` is installed in.
fn extension_schema(name: &CStr) -> String {
    // SAFETY: catalog lookups by name and oid inside a transaction; the
    // returned strings are palloc'd copies (or static for quote_identifier
    // when no quoting is needed) read before anything else runs.
    unsafe {
        let ext = pg_sys::get_extension_oid(name.as_ptr(), true);
        if ext == pg_sys::InvalidOid {
            raise(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                format!("extension \"{}\" is not installed", name.to_string_lossy()),
                "rag_search needs the extensions vector and pg_trgm: CREATE EXTENSION rag_search CASCADE.",
            );
        }
        let schema = pg_sys::get_namespace_name(pg_sys::get_extension_schema(ext));
        if schema.is_null() {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_SCHEMA_NAME,
                format!("the schema of extension \"{}\" does not exist", name.to_string_lossy()),
                "Recreate the schema or reinstall that extension; rag_search names its objects through it.",
            );
        }
        CStr::from_ptr(pg_sys::quote_identifier(schema)).to_string_lossy().into_owned()
    }
}

macro_rules! query {
    ($name:ident, $file:literal) => {
        pub const $name: &str = include_str!(concat!("../sql/queries/", $file));
    };
}

query!(EXTENSION_VERSION, "extension_version.sql");
query!(DOCUMENTS_LOCK, "documents_lock.sql");
query!(DOCUMENTS_INSERT, "documents_insert.sql");
query!(DOCUMENTS_UPDATE_FIELDS, "documents_update_fields.sql");
query!(DOCUMENTS_UPDATE_SOURCE, "documents_update_source.sql");
query!(DOCUMENT_DELETE, "document_delete.sql");
query!(CHUNKS_OF_DOCUMENTS, "chunks_of_documents.sql");
query!(CHUNK_COUNTS_OF_DOCUMENTS, "chunk_counts_of_documents.sql");
query!(CHUNKS_INSERT, "chunks_insert.sql");
query!(CHUNKS_RETITLE, "chunks_retitle.sql");
query!(CHUNKS_DELETE, "chunks_delete.sql");
query!(CHUNKS_RENUMBER, "chunks_renumber.sql");
query!(INDEX_STATE_LOCK, "index_state_lock.sql");
query!(INDEX_STATE_READ, "index_state_read.sql");
query!(INDEX_STATE_SET_MODEL, "index_state_set_model.sql");
query!(INDEX_STATE_SET_TS_CONFIG, "index_state_set_ts_config.sql");
query!(EMBEDDINGS_CLEAR, "embeddings_clear.sql");
query!(EMBEDDINGS_CLEAR_OF_DOCUMENTS, "embeddings_clear_of_documents.sql");
query!(STATS_COUNTS, "stats_counts.sql");
query!(SEARCH_TERM_STATS, "search_term_stats.sql");
query!(SEARCH_FTS, "search_fts.sql");
query!(SEARCH_FTS_KNOWN, "search_fts_known.sql");
query!(SEARCH_FTS_RESCORE, "search_fts_rescore.sql");
query!(SEARCH_FTS_CONFIRM, "search_fts_confirm.sql");
query!(SEARCH_POSTINGS_CELLS, "search_postings_cells.sql");
query!(SEARCH_TITLES, "search_titles.sql");
query!(CANDIDATE_PAGES_EXACT_TITLES, "candidate_pages_exact_titles.sql");
query!(SEARCH_CHEAP_SIGNALS, "search_cheap_signals.sql");
query!(SEARCH_TRIGRAM_SIGNALS, "search_trigram_signals.sql");
query!(SEARCH_ROWS, "search_rows.sql");
query!(SETTING_READ, "setting_read.sql");
query!(SETTING_APPLY, "setting_apply.sql");
query!(SEARCH_VECTOR, "search_vector.sql");
query!(SEARCH_VECTOR_FILTERED_EXACT, "search_vector_filtered_exact.sql");
query!(SEARCH_WINDOW, "search_window.sql");
query!(SEARCH_MISSING_EMBEDDINGS, "search_missing_embeddings.sql");
query!(QUERY_CACHE_GET, "query_cache_get.sql");
query!(QUERY_CACHE_PUT, "query_cache_put.sql");
query!(QUERY_CACHE_TRIM, "query_cache_trim.sql");
query!(CANDIDATE_PAGES, "candidate_pages.sql");
query!(EMBEDDING_INDEX_REBUILD, "embedding_index_rebuild.sql");
query!(TSVECTOR_REBUILD, "tsvector_rebuild.sql");
query!(CHUNKS_OWNED, "chunks_owned.sql");
query!(TERM_STATS_COMPACT, "term_stats_compact.sql");
query!(TERM_STATS_LOCK, "term_stats_lock.sql");

// Entities (sql/entities.sql): the entity signal and rag_related_documents.
query!(SEARCH_ENTITY_KEYS, "search_entity_keys.sql");
query!(SEARCH_ENTITY_CHUNKS, "search_entity_chunks.sql");
query!(SEARCH_ENTITY_SIGNALS, "search_entity_signals.sql");
query!(RELATED_START_DOCUMENT, "related_start_document.sql");
query!(RELATED_RELATIONS, "related_relations.sql");
query!(RELATED_DOCUMENTS, "related_documents.sql");

// Evaluation on an operator's tables (src/evaluate.rs).
query!(RELATION_NAME, "relation_name.sql");
query!(RELATION_COLUMNS, "relation_columns.sql");
query!(EVALUATE_QUERIES, "evaluate_queries.sql");
query!(EVALUATE_QUERIES_WITH_VECTORS, "evaluate_queries_with_vectors.sql");
query!(EVALUATE_QRELS, "evaluate_qrels.sql");
query!(DOCUMENT_IDS, "document_ids.sql");
query!(ENTITY_METADATA_PRESENT, "entity_metadata_present.sql");

// Postings (sql/postings.sql, src/postings.rs).
query!(POSTINGS_MERGE_LOCK, "postings_merge_lock.sql");
query!(POSTINGS_PENDING_BATCH, "postings_pending_batch.sql");
query!(POSTINGS_CHUNK_TSVECTORS, "postings_chunk_tsvectors.sql");
query!(POSTINGS_LEXEME_STATE, "postings_lexeme_state.sql");
query!(POSTINGS_PROMOTION_CHUNKS, "postings_promotion_chunks.sql");
query!(POSTINGS_LAST_BLOCKS, "postings_last_blocks.sql");
query!(POSTINGS_WRITE, "postings_write.sql");
query!(POSTINGS_DELETE_BLOCKS, "postings_delete_blocks.sql");
query!(POSTINGS_PENDING_DONE, "postings_pending_done.sql");
query!(POSTINGS_REMOVAL_START, "postings_removal_start.sql");
query!(POSTINGS_REMOVAL_SLICE, "postings_removal_slice.sql");
query!(POSTINGS_REMOVAL_PROGRESS, "postings_removal_progress.sql");

// Embedding backfill.
query!(BACKFILL_TARGET_SHARE, "backfill_target_share.sql");
query!(BACKFILL_CLAIM_STEP, "backfill_claim_step.sql");
query!(BACKFILL_CLAIM_RECHECK, "backfill_claim_recheck.sql");
query!(BACKFILL_CLAIM_LEASED, "backfill_claim_leased.sql");
query!(BACKFILL_WRITE, "backfill_write.sql");
query!(BACKFILL_FAILURES_ATTEMPTS, "backfill_failures_attempts.sql");
query!(BACKFILL_FAILURES_RECORD, "backfill_failures_record.sql");
query!(BACKFILL_FAILURES_RESET, "backfill_failures_reset.sql");
query!(BACKFILL_FAILURES_CLEAR_STALE, "backfill_failures_clear_stale.sql");
query!(BACKFILL_NEXT_RETRY, "backfill_next_retry.sql");
query!(BACKFILL_COUNTS, "backfill_counts.sql");
query!(BACKFILL_COUNTS_ADD, "backfill_counts_add.sql");
query!(BACKFILL_COUNTS_COMPACT, "backfill_counts_compact.sql");
query!(BACKFILL_RECOUNT, "backfill_recount.sql");
query!(BACKFILL_SERVER_BACKOFF, "backfill_server_backoff.sql");
query!(BACKFILL_SERVER_TROUBLE, "backfill_server_trouble.sql");
query!(BACKFILL_SERVER_OK, "backfill_server_ok.sql");
query!(BACKFILL_NOTE_ERROR, "backfill_note_error.sql");
query!(BACKFILL_WORKER_HOLDER, "backfill_worker_holder.sql");
query!(BACKFILL_WORKER_LOCK, "backfill_worker_lock.sql");
query!(BACKFILL_LAUNCH, "backfill_launch.sql");
query!(BACKFILL_LAUNCH_PID, "backfill_launch_pid.sql");
query!(BACKFILL_SAVED_RUN, "backfill_saved_run.sql");
query!(BACKFILL_STOP, "backfill_stop.sql");
query!(BACKFILL_CANCEL_STOP, "backfill_cancel_stop.sql");
query!(BACKFILL_WORKER_CLAIM_ROW, "backfill_worker_claim_row.sql");
query!(BACKFILL_WORKER_RUNNING, "backfill_worker_running.sql");
query!(BACKFILL_WORKER_ADOPT, "backfill_worker_adopt.sql");
query!(BACKFILL_WORKER_CONTROL, "backfill_worker_control.sql");
query!(BACKFILL_WORKER_BATCH_DONE, "backfill_worker_batch_done.sql");
query!(BACKFILL_WORKER_RELEASE, "backfill_worker_release.sql");
query!(BACKFILL_WORKER_FINISH, "backfill_worker_finish.sql");
query!(BACKFILL_EXTENSION_PRESENT, "backfill_extension_present.sql");
query!(BACKFILL_STATUS, "backfill_status.sql");
query!(BACKFILL_ASYNC_COMMIT, "backfill_async_commit.sql");

// Attached sources (sql/attach.sql, src/attach). The attach_rows_*,
// attach_keys_*, attach_chunk* and attach_embeddings_sync / write_back
// texts carry @markers@ for a source's tables and columns, rendered by
// attach::render with identifiers quoted by rag_core::attach.
query!(ATTACH_TABLE, "attach_table.sql");
query!(ATTACH_COLUMNS, "attach_columns.sql");
query!(ATTACH_CALLER_MAY_INGEST, "attach_caller_may_ingest.sql");
query!(ATTACH_CALLER_OPERATES, "attach_caller_operates.sql");
query!(ATTACH_SOURCE_OF_TABLE, "attach_source_of_table.sql");
query!(ATTACH_SOURCE_READ, "attach_source_read.sql");
query!(ATTACH_SOURCE_LOOKUP, "attach_source_lookup.sql");
query!(ATTACH_PREFIX_TAKEN, "attach_prefix_taken.sql");
query!(ATTACH_PREFIXES, "attach_prefixes.sql");
query!(ATTACH_REGISTER, "attach_register.sql");
query!(ATTACH_TRIGGERS_INSTALL, "attach_triggers_install.sql");
query!(ATTACH_SOURCE_REMOVE, "attach_source_remove.sql");
query!(ATTACH_STEP_LOCK, "attach_step_lock.sql");
query!(ATTACH_STEP_DONE, "attach_step_done.sql");
query!(ATTACH_STATUS, "attach_status.sql");
query!(ATTACH_ROWS_BY_KEYS, "attach_rows_by_keys.sql");
query!(ATTACH_ROWS_AFTER, "attach_rows_after.sql");
query!(ATTACH_ROWS_COUNT, "attach_rows_count.sql");
query!(ATTACH_KEYS_INSERTED, "attach_keys_inserted.sql");
query!(ATTACH_KEYS_DELETED, "attach_keys_deleted.sql");
query!(ATTACH_KEYS_UPDATED, "attach_keys_updated.sql");
query!(ATTACH_CHUNK_KEYS_OF_PAGES, "attach_chunk_keys_of_pages.sql");
query!(ATTACH_DOCUMENTS_DELETE, "attach_documents_delete.sql");
query!(ATTACH_DOCUMENTS_DELETE_ALL, "attach_documents_delete_all.sql");
query!(ATTACH_CHUNKS_PROJECTED, "attach_chunks_projected.sql");
query!(ATTACH_CHUNKS_INSERT, "attach_chunks_insert.sql");
query!(ATTACH_CHUNKS_DELETE_ALL, "attach_chunks_delete_all.sql");
query!(ATTACH_EMBEDDINGS_SYNC, "attach_embeddings_sync.sql");
query!(ATTACH_REUSE_SOURCES, "attach_reuse_sources.sql");
query!(ATTACH_WRITE_BACK, "attach_write_back.sql");
query!(CHUNKS_READABLE, "chunks_readable.sql");
