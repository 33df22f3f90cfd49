//! rag_backfill_status() and the rag_backfill_progress view.

use std::cell::RefCell;

use pgrx::datum::{DatumWithOid, Interval, Numeric, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::{PgOid, PgSqlErrorCode};
use rag_core::backfill::{chunks_per_second, coverage_text, derive_state, eta_seconds};

use super::{WORKER_LOCK_CLASS, WORKER_LOCK_ID};
use crate::error::{raise, OrRaise};
use crate::queries;
use crate::security::ReadOnly;

type StatusRow = (
    i64,
    i64,
    i64,
    i64,
    i64,
    Numeric<5, 2>,
    String,
    String,
    Option<i32>,
    i64,
    f64,
    Option<Interval>,
    Option<String>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Option<String>,
    String,
    i32,
);

/// Backfill progress of this database: one row.
///
/// Counts come from counters kept next to the chunks (no count(*) over the
/// table), so this answers in milliseconds on millions of chunks. `missing`
/// excludes parked chunks, which are counted as `failed`; `retrying` are
/// failed chunks still due for an automatic retry (part of `missing`).
/// `state` is running, stopping, stopped, idle, or crashed (recorded as
/// running, but no process holds the worker lock). Readable by every role
/// that can read rag_search.chunks.
#[allow(clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn rag_backfill_status() -> TableIterator<
    'static,
    (
        name!(total, i64),
        name!(embedded, i64),
        name!(missing, i64),
        name!(failed, i64),
        name!(retrying, i64),
        name!(coverage_pct, Numeric<5, 2>),
        name!(state, String),
        name!(mode, String),
        name!(pid, Option<i32>),
        name!(batches_done, i64),
        name!(chunks_per_sec, f64),
        name!(eta, Option<Interval>),
        name!(last_error, Option<String>),
        name!(last_error_at, Option<TimestampWithTimeZone>),
        name!(backoff_until, Option<TimestampWithTimeZone>),
        name!(started_at, Option<TimestampWithTimeZone>),
        name!(last_batch_at, Option<TimestampWithTimeZone>),
        name!(stop_reason, Option<String>),
        name!(model, String),
        name!(dimension, i32),
    ),
> {
    crate::security::require_current_schema();
    TableIterator::once(read_status())
}

thread_local! {
    // Status is polled often (psql \watch, dashboards): plan it once per
    // session. The plan cache replans by itself after DDL.
    static STATUS_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
}

fn read_status() -> StatusRow {
    Spi::connect(|client| {
        let args: [DatumWithOid; 2] = [WORKER_LOCK_CLASS.into(), WORKER_LOCK_ID.into()];
        let table = STATUS_PLAN.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                let int4 = PgOid::from(pg_sys::INT4OID);
                let plan = client.prepare(queries::BACKFILL_STATUS, &[int4, int4]).or_raise("plan status");
                *slot = Some(plan.keep());
            }
            match slot.as_ref() {
                Some(plan) => client.select(plan, None, &args).or_raise("read status"),
                None => client.select(queries::BACKFILL_STATUS, None, &args).or_raise("read status"),
            }
        });
        let row = table.first();
        if !row.get::<bool>(22).or_raise("check privileges").unwrap_or(false) {
            raise(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                "permission denied for rag_backfill_status()",
                "The backfill status is readable by roles that can read rag_search.chunks: \
                 GRANT USAGE ON SCHEMA rag_search and SELECT ON rag_search.chunks.",
            );
        }
        let i64_at = |i| row.get::<i64>(i).or_raise("read status").unwrap_or(0);
        let text_at = |i| row.get::<String>(i).or_raise("read status");
        let ts_at = |i| row.get::<TimestampWithTimeZone>(i).or_raise("read status");
        let total = i64_at(1);
        let embedded = i64_at(2);
        let parked = i64_at(3);
        let retrying = i64_at(4);
        let recorded = text_at(5).unwrap_or_default();
        let stop_requested = row.get::<bool>(6).or_raise("read status").unwrap_or(false);
        let stop_reason = text_at(7);
        let mode = text_at(8).unwrap_or_default();
        let pid = row.get::<i32>(9).or_raise("read status");
        let alive = row.get::<bool>(10).or_raise("read status").unwrap_or(false);
        let batches_done = i64_at(11);
        let recent = i64_at(13);
        let window = row.get::<f64>(14).or_raise("read status").unwrap_or(60.0);
        let last_error = text_at(15);
        let last_error_at = ts_at(16);
        let backoff_until = ts_at(17);
        let started_at = ts_at(18);
        let last_batch_at = ts_at(19);
        let model = text_at(20).unwrap_or_default();
        let dimension = row.get::<i32>(21).or_raise("read status").unwrap_or(0);

        let missing = (total - embedded - parked).max(0);
        let rate = chunks_per_second(recent, window);
        let eta = eta_seconds(missing, rate).map(Interval::from_seconds);
        let coverage: Numeric<5, 2> = match coverage_text(embedded, total).as_str().try_into() {
            Ok(n) => n,
            Err(e) => crate::error::internal(format!("coverage: {e}")),
        };
        // A hot standby cannot see the primary's worker lock.
        let alive = (crate::security::read_only() != Some(ReadOnly::Standby)).then_some(alive);
        let state = derive_state(&recorded, stop_requested, alive).as_str().to_string();
        (
            total,
            embedded,
            missing,
            parked,
            retrying,
            coverage,
            state,
            mode,
            pid,
            batches_done,
            (rate * 10.0).round() / 10.0,
            eta,
            last_error,
            last_error_at,
            backoff_until,
            started_at,
            last_batch_at,
            stop_reason,
            model,
            dimension,
        )
    })
}
