//! rag_backfill_step: one backfill batch in the caller's transaction.

use pgrx::prelude::*;

use super::settings::{self, MAX_BATCH_SIZE};
use super::{embed_claimed, store};
use crate::embedding;
use crate::error::invalid_parameter;

/// Claims up to `batch` chunks without an embedding (default
/// rag_search.backfill_batch_size), embeds them and writes the vectors.
///
/// Concurrent callers never claim the same chunk (advisory locks on the
/// chunks' id ranges, held until the caller's transaction ends); no row
/// lock is held while the server is asked, so deleting or re-upserting a
/// document never waits for the embedding request (which is cancellable);
/// the write skips chunks changed meanwhile. Runs as the extension's owner
/// (SECURITY DEFINER): members of rag_search_admin need no table
/// privileges. A failing batch is
/// split to isolate the inputs that fail on their own; those are recorded
/// in rag_search.backfill_failures with a retry schedule. When the server
/// fails as a whole (unreachable, timing out, or failing a probe too),
/// nothing is blamed on the chunks: the step reports them as `deferred`,
/// warns, and later steps send nothing until the backoff pause is over.
/// `remaining` counts chunks still without an embedding, parked ones aside.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn rag_backfill_step(
    batch: default!(Option<i32>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(claimed, i32),
        name!(embedded, i32),
        name!(failed, i32),
        name!(deferred, i32),
        name!(remaining, i64),
    ),
> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_backfill_step()");
    let batch = batch.unwrap_or_else(settings::batch_size);
    if !(1..=MAX_BATCH_SIZE).contains(&batch) {
        invalid_parameter(
            format!("batch size {batch} is out of range [1, {MAX_BATCH_SIZE}]"),
            "The reference value is 64 chunks per request.",
        );
    }
    let row = Spi::connect_mut(|client| {
        let target = store::lock_target(client);
        let (server_failures, pause) = store::server_backoff(client);
        if let Some(left) = pause {
            notice!(
                "rag_backfill_step: the embedding server failed recently; no request for another {:.1} s \
                 (see last_error in rag_backfill_status())",
                left.as_secs_f64()
            );
            return (0, 0, 0, 0, store::counts(client, &target).missing());
        }
        let cfg = match embedding::config_for(&target) {
            Ok(cfg) => cfg,
            Err(msg) => invalid_parameter(msg, "Valid values are ollama and openai."),
        };
        let chunks = store::claim_for_step(client, batch, &target);
        if chunks.is_empty() {
            return (0, 0, 0, 0, store::counts(client, &target).missing());
        }
        let iso = embed_claimed(&cfg, &chunks, &|cfg, texts| embedding::embed_in_backend(cfg, texts));
        let applied = store::apply_outcome(client, &target, &chunks, &iso, server_failures);
        if let (Some(err), Some(pause)) = (&iso.deferred, applied.backoff) {
            warning!(
                "rag_backfill_step: {err}; {} chunks deferred, backing off for {:.1} s",
                applied.deferred,
                pause.as_secs_f64()
            );
        }
        let remaining = store::counts(client, &target).missing();
        (chunks.len() as i32, applied.embedded as i32, applied.failed as i32, applied.deferred as i32, remaining)
    });
    TableIterator::once(row)
}
