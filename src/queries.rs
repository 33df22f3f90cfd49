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
query!(CANDIDATE_PAGES, "candidate_pages.sql");
query!(TERM_STATS_COMPACT, "term_stats_compact.sql");
