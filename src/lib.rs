//! rag_search: RAG retrieval and embedding backfill inside PostgreSQL.
//!
//! A thin pgrx shell over the pgrx-free `rag_core` crate. One module per SQL
//! surface: `ingest` (rag_upsert_document, ...), `index_config`
//! (rag_set_embedding_model, ...), `stats` (rag_stats), `backfill`
//! (rag_backfill_step, the background worker and its controls), `search`
//! (rag_hybrid_search, rag_candidate_pages), `evaluate` (rag_evaluate,
//! rag_tune_weights), `entities` (rag_related_documents).

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod attach;
mod bm25;
mod backfill;
mod embedding;
mod entities;
mod error;
mod evaluate;
mod guc;
mod index_config;
mod ingest;
mod postings;
pub(crate) mod queries;
mod search;
mod security;
mod sql_types;
mod stats;

extension_sql_file!(
    "../sql/schema.sql",
    name = "schema",
    requires = [
        index_config::rag_search::index_text,
        index_config::rag_search::index_tsvector,
        index_config::rag_search::chunk_tsvector,
        security::rag_search::require_writable
    ]
);
extension_sql_file!("../sql/search.sql", name = "search_schema", requires = ["schema"]);
extension_sql_file!("../sql/postings.sql", name = "postings", requires = ["search_schema", postings::rag_search::postings_merge]);
extension_sql_file!("../sql/backfill.sql", name = "backfill", requires = ["schema"]);
extension_sql_file!("../sql/entities.sql", name = "entities", requires = ["schema", entities::rag_search::entity_keys]);
extension_sql_file!("../sql/attach.sql", name = "attach", requires = ["postings", attach::status::rag_source_status, attach::trigger::rag_search::attached_source_changed]);
// Privileges on the backfill functions and the progress view: after every
// function exists.
extension_sql_file!("../sql/backfill_api.sql", name = "backfill_api", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::init();
    backfill::settings::init();
    guc::reserve_prefix();
    // SAFETY: a plain read of a postmaster global.
    let preloading = unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress };
    if preloading && backfill::settings::enabled() {
        backfill::worker::register_static_worker();
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod sql_tests;
#[cfg(any(test, feature = "pg_test"))]
mod test_support;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
