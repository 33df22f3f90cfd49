//! rag_stats: document, chunk and embedding counts.

use pgrx::prelude::*;

use crate::error::OrRaise;
use crate::queries;

/// Counts of documents, chunks and chunks with an embedding.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn rag_stats() -> TableIterator<'static, (name!(documents, i64), name!(chunks, i64), name!(embedded, i64))> {
    crate::security::require_current_schema();
    let row = Spi::connect(|client| {
        let t = client.select(queries::STATS_COUNTS, None, &[]).or_raise("count").first();
        let documents = t.get::<i64>(1).or_raise("count").unwrap_or(0);
        let chunks = t.get::<i64>(2).or_raise("count").unwrap_or(0);
        let embedded = t.get::<i64>(3).or_raise("count").unwrap_or(0);
        (documents, chunks, embedded)
    });
    TableIterator::once(row)
}
