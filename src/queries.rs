//! Every SQL statement the extension runs, by name.
//!
//! The texts live in `sql/queries/*.sql`; this module is the one place that
//! names the tables and columns search, ingestion and backfill read and
//! write, so pointing them at another table pair touches only these files.
//! Values always travel as `$n` parameters.

macro_rules! query {
    ($name:ident, $file:literal) => {
        pub const $name: &str = include_str!(concat!("../sql/queries/", $file));
    };
}

query!(DOCUMENTS_LOCK, "documents_lock.sql");
query!(DOCUMENTS_INSERT, "documents_insert.sql");
query!(DOCUMENTS_UPDATE_FIELDS, "documents_update_fields.sql");
query!(DOCUMENTS_UPDATE_SOURCE, "documents_update_source.sql");
query!(DOCUMENT_DELETE, "document_delete.sql");
query!(CHUNKS_OF_DOCUMENTS, "chunks_of_documents.sql");
query!(CHUNK_COUNTS_OF_DOCUMENTS, "chunk_counts_of_documents.sql");
query!(CHUNKS_INSERT, "chunks_insert.sql");
query!(CHUNKS_DELETE, "chunks_delete.sql");
query!(CHUNKS_RENUMBER, "chunks_renumber.sql");
query!(INDEX_STATE_LOCK, "index_state_lock.sql");
query!(INDEX_STATE_READ, "index_state_read.sql");
query!(INDEX_STATE_SET_MODEL, "index_state_set_model.sql");
query!(INDEX_STATE_SET_TS_CONFIG, "index_state_set_ts_config.sql");
query!(EMBEDDINGS_CLEAR, "embeddings_clear.sql");
query!(EMBEDDINGS_RETYPE, "embeddings_retype.sql");
query!(TSV_REBUILD, "tsv_rebuild.sql");
query!(STATS_COUNTS, "stats_counts.sql");
query!(SEARCH_TERM_STATS, "search_term_stats.sql");
query!(SEARCH_FTS, "search_fts.sql");
query!(SEARCH_VECTOR, "search_vector.sql");
query!(SEARCH_VECTOR_FILTERED_EXACT, "search_vector_filtered_exact.sql");
query!(SEARCH_LEXICAL, "search_lexical.sql");
query!(SEARCH_SIGNALS, "search_signals.sql");
query!(SEARCH_WINDOW, "search_window.sql");
query!(SEARCH_MISSING_EMBEDDINGS, "search_missing_embeddings.sql");
query!(QUERY_CACHE_GET, "query_cache_get.sql");
query!(QUERY_CACHE_PUT, "query_cache_put.sql");
query!(QUERY_CACHE_TRIM, "query_cache_trim.sql");
query!(QUERY_CACHE_WRITABLE, "query_cache_writable.sql");
query!(CANDIDATE_PAGES, "candidate_pages.sql");
query!(TERM_STATS_COMPACT, "term_stats_compact.sql");
query!(TERM_STATS_LOCK, "term_stats_lock.sql");

// Embedding backfill.
query!(BACKFILL_TARGET_SHARE, "backfill_target_share.sql");
query!(BACKFILL_CLAIM_LOCKED, "backfill_claim_locked.sql");
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
