//! rag_source_status() and the rag_source_progress view: per source, where
//! its attach stands and how far the backfill has embedded its chunks.

use pgrx::datum::{Interval, Numeric, TimestampWithTimeZone};
use pgrx::prelude::*;
use rag_core::attach::{rows_per_second, rows_remaining};
use rag_core::backfill::{coverage_text, eta_seconds};

use crate::error::{raise, OrRaise};
use crate::queries;
use crate::security::as_extension_owner;

type StatusRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<Numeric<5, 2>>,
    Option<f64>,
    Option<Interval>,
    i64,
    i64,
    i64,
    i64,
    i64,
    Numeric<5, 2>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
);

fn percent(text: String) -> Numeric<5, 2> {
    match text.as_str().try_into() {
        Ok(n) => n,
        Err(e) => raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("percentage: {e}"), ""),
    }
}

/// One row per source: first the documents written by the ingestion
/// functions (`rag_search.documents`), then every attached source with its
/// attach (state attaching or attached, phase, rows walked of those counted
/// when it began, progress, rows per second of stepping and ETA) and its
/// documents, chunks and embedding coverage. Counts the chunks (a scan);
/// rag_backfill_status() reads counters. Readable by every role that can
/// read rag_search.chunks.
#[allow(clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn rag_source_status() -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(kind, String),
        name!(pages, Option<String>),
        name!(doc_id_prefix, Option<String>),
        name!(state, Option<String>),
        name!(phase, Option<String>),
        name!(rows_done, Option<i64>),
        name!(rows_total, Option<i64>),
        name!(progress_pct, Option<Numeric<5, 2>>),
        name!(rows_per_sec, Option<f64>),
        name!(eta, Option<Interval>),
        name!(documents, i64),
        name!(chunks, i64),
        name!(embedded, i64),
        name!(missing, i64),
        name!(failed, i64),
        name!(coverage_pct, Numeric<5, 2>),
        name!(attached_at, Option<TimestampWithTimeZone>),
        name!(completed_at, Option<TimestampWithTimeZone>),
    ),
> {
    crate::security::require_current_schema();
    if !queries::select_one::<bool>(queries::CHUNKS_READABLE, &[], "check privileges").unwrap_or(false) {
        raise(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "permission denied for rag_source_status()",
            "The source status is readable by roles that can read rag_search.chunks: \
             GRANT USAGE ON SCHEMA rag_search and SELECT ON rag_search.chunks.",
        );
    }
    let rows: Vec<StatusRow> = as_extension_owner(|| {
        Spi::connect(|client| {
            let ctx = "read source status";
            let table = client.select(queries::ATTACH_STATUS, None, &[]).or_raise(ctx);
            let mut out = Vec::with_capacity(table.len());
            for row in table {
                let text = |name: &str| row.get_by_name::<String, _>(name).or_raise(ctx);
                let int = |name: &str| row.get_by_name::<i64, _>(name).or_raise(ctx);
                let ts = |name: &str| row.get_by_name::<TimestampWithTimeZone, _>(name).or_raise(ctx);
                let state = text("state");
                let (done, total, busy) = (int("rows_done"), int("rows_total"), int("busy_ms"));
                let attaching = state.as_deref() == Some("attaching");
                let (progress, rate, eta) = match (done, total, busy) {
                    (Some(done), Some(total), Some(busy)) => {
                        let rate = rows_per_second(done, busy);
                        let remaining = if attaching { rows_remaining(total, done) } else { 0 };
                        let progress = if attaching { coverage_text(done, total.max(done + 1)) } else { "100.00".into() };
                        (
                            Some(percent(progress)),
                            Some((rate * 10.0).round() / 10.0),
                            eta_seconds(remaining, rate).map(Interval::from_seconds),
                        )
                    }
                    _ => (None, None, None),
                };
                let chunks = int("chunks").unwrap_or(0);
                let embedded = int("embedded").unwrap_or(0);
                let failed = int("failed").unwrap_or(0);
                out.push((
                    text("source").unwrap_or_default(),
                    text("kind").unwrap_or_default(),
                    text("pages"),
                    text("doc_id_prefix"),
                    state,
                    text("phase"),
                    done,
                    total,
                    progress,
                    rate,
                    eta,
                    int("documents").unwrap_or(0),
                    chunks,
                    embedded,
                    (chunks - embedded - failed).max(0),
                    failed,
                    percent(coverage_text(embedded, chunks)),
                    ts("attached_at"),
                    ts("completed_at"),
                ));
            }
            out
        })
    });
    TableIterator::new(rows)
}
