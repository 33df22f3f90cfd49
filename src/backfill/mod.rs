//! Embedding backfill: fills the missing embeddings of chunks.
//!
//! SQL surfaces, one module each: `step` (rag_backfill_step), `control`
//! (rag_backfill_start / stop / resume), `failures` (rag_backfill_retry_failed,
//! rag_backfill_recount), `status` (rag_backfill_status and the
//! rag_backfill_progress view); `worker` is the background worker process.
//! `store` runs the SQL they share. Every decision (splitting a failing
//! batch, retry and backoff schedules, pacing) is made by the pgrx-free
//! `rag_core::backfill`.
//!
//! A chunk is missing its embedding when `embedding IS NULL`: a model switch
//! clears every embedding and a dimension switch retypes the column, so
//! stale vectors never stay behind. Writes re-check the model under a lock
//! on rag_search.index_state (see `store::lock_target`).

pub mod settings;

mod control;
mod failures;
mod status;
mod step;
mod store;
pub mod worker;

use rag_core::backfill::{embed_isolating, failure_scope, Isolation, PROBE_TEXT};
use rag_core::embed::{apply_template, EmbedConfig, EmbedError};

use crate::guc;

/// Advisory lock keys ("rags", 1) of the backfill worker: at most one
/// process per database holds it, and pg_locks tells who.
pub const WORKER_LOCK_CLASS: i32 = 0x7261_6773;
pub const WORKER_LOCK_ID: i32 = 1;
/// Advisory lock class ("ragc") of the chunk-id ranges a backfill batch is
/// embedding (transaction-level, one key per 16 chunk ids).
pub const CLAIM_LOCK_CLASS: i32 = 0x7261_6763;

/// A chunk taken for embedding.
pub struct Claimed {
    pub id: i64,
    pub content_hash: Vec<u8>,
    /// The document title, when the template puts it into `text` (the
    /// vector is then written only while the title is unchanged).
    pub title: Option<String>,
    /// What is sent to the embedding server (document template applied).
    pub text: String,
}

impl Claimed {
    pub fn new(id: i64, content_hash: Vec<u8>, content: &str, title: &str) -> Claimed {
        let template = guc::document_template();
        let text = apply_template(&template, content, title);
        let title = template.contains("{title}").then(|| title.to_string());
        Claimed { id, content_hash, title, text }
    }
}

/// How to call the embedding server: in a backend (interrupts serviced) or
/// in the worker (stops on SIGTERM).
pub type EmbedFn<'a> = &'a dyn Fn(EmbedConfig, &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;

/// Embeds `chunks`, isolating inputs that fail on their own.
pub fn embed_claimed(cfg: &EmbedConfig, chunks: &[Claimed], embed: EmbedFn<'_>) -> Isolation<EmbedError> {
    let mut send = |idx: &[usize]| {
        let texts: Vec<String> = idx.iter().map(|&i| chunks[i].text.clone()).collect();
        embed(cfg.clone(), &texts)
    };
    let mut probe = || embed(cfg.clone(), &[PROBE_TEXT.to_string()]).map(|_| ());
    embed_isolating(chunks.len(), &mut send, &mut probe, &failure_scope)
}
