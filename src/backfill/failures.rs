//! rag_backfill_retry_failed and rag_backfill_recount: operator repairs.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

use crate::error::OrRaise;
use crate::queries;

/// Makes failed chunks claimable again at once by forgetting their
/// failures: the parked ones (default), or with `include_waiting` also
/// those still waiting for an automatic retry; all chunks or only
/// `chunk_ids`. Returns how many chunks were reset.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn rag_backfill_retry_failed(
    chunk_ids: default!(Option<Vec<Option<i64>>>, "NULL"),
    include_waiting: default!(Option<bool>, "false"),
) -> i64 {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_backfill_retry_failed()");
    // NULL is the default, not an error.
    let include_waiting = include_waiting.unwrap_or(false);
    // NULL elements name no chunk.
    let chunk_ids: Option<Vec<i64>> = chunk_ids.map(|ids| ids.into_iter().flatten().collect());
    Spi::connect_mut(|client| {
        let args: [DatumWithOid; 2] = [chunk_ids.into(), include_waiting.into()];
        client.update(queries::BACKFILL_FAILURES_RESET, None, &args).or_raise("reset failures").len() as i64
    })
}

/// Rebuilds the chunk counters behind rag_backfill_status() by counting
/// the table (briefly blocking writers). Needed only after embeddings were
/// written or cleared by hand, or with triggers disabled
/// (session_replication_role = replica).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn rag_backfill_recount() -> TableIterator<'static, (name!(total, i64), name!(embedded, i64))> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_backfill_recount()");
    let row = Spi::connect_mut(|client| {
        client.update(queries::BACKFILL_RECOUNT, None, &[]).or_raise("recount chunks");
        let t = client.select(queries::STATS_COUNTS, None, &[]).or_raise("count chunks").first();
        let chunks = t.get::<i64>(2).or_raise("count chunks").unwrap_or(0);
        let embedded = t.get::<i64>(3).or_raise("count chunks").unwrap_or(0);
        (chunks, embedded)
    });
    TableIterator::once(row)
}
