//! The SQL the backfill surfaces share: claiming chunks, writing vectors,
//! recording failures and server trouble, counting.

use std::collections::HashMap;
use std::time::Duration;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use rag_core::backfill::{backoff_delay, Isolation, NextAttempt};
use rag_core::embed::EmbedError;

use super::{settings, Claimed, CLAIM_LOCK_CLASS, WORKER_LOCK_CLASS, WORKER_LOCK_ID};
use crate::embedding::Target;
use crate::error::OrRaise;
use crate::queries;

/// Reads the model and dimension to embed for and holds a KEY SHARE lock
/// on rag_search.index_state until the transaction ends, so that a model
/// switch waits for this transaction's writes (and clears them).
pub fn lock_target(client: &mut SpiClient<'_>) -> Target {
    let t = client.update(queries::BACKFILL_TARGET_SHARE, None, &[]).or_raise("lock index state").first();
    let (model, dimension) = t.get_two::<String, i32>().or_raise("read index state");
    Target { model: model.unwrap_or_default(), dimension: dimension.unwrap_or(0) }
}

fn read_claims(table: pgrx::spi::SpiTupleTable<'_>) -> Vec<Claimed> {
    let mut out = Vec::with_capacity(table.len());
    for row in table {
        let id = row.get::<i64>(1).or_raise("read claimed chunk").unwrap_or_default();
        let content = row.get::<String>(2).or_raise("read claimed chunk").unwrap_or_default();
        let hash = row.get::<Vec<u8>>(3).or_raise("read claimed chunk").unwrap_or_default();
        let title = row.get::<String>(4).or_raise("read claimed chunk").unwrap_or_default();
        out.push(Claimed::new(id, hash, &content, &title));
    }
    out
}

/// Claims up to `batch` chunks for rag_backfill_step: advisory locks on
/// their id ranges keep concurrent callers apart until the transaction
/// ends; no row lock is held while the server is asked.
pub fn claim_for_step(client: &mut SpiClient<'_>, batch: i32, target: &Target) -> Vec<Claimed> {
    let args: [DatumWithOid; 4] = [
        i64::from(batch).into(),
        target.model.as_str().into(),
        target.dimension.into(),
        CLAIM_LOCK_CLASS.into(),
    ];
    let claimed = read_claims(client.update(queries::BACKFILL_CLAIM_STEP, None, &args).or_raise("claim chunks"));
    if claimed.is_empty() {
        return claimed;
    }
    let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
    let hashes: Vec<Vec<u8>> = claimed.iter().map(|c| c.content_hash.clone()).collect();
    let args: [DatumWithOid; 2] = [ids.into(), hashes.into()];
    let still: std::collections::HashSet<i64> = client
        .select(queries::BACKFILL_CLAIM_RECHECK, None, &args)
        .or_raise("claim chunks")
        .filter_map(|r| r.get_by_name::<i64, _>("id").ok().flatten())
        .collect();
    claimed.into_iter().filter(|c| still.contains(&c.id)).collect()
}

/// Claims up to `batch` chunks under a lease of `lease` instead of row
/// locks (the worker commits before it calls the embedding server). `held`:
/// the worker's batches still in flight, excluded and kept in the lease.
pub fn claim_leased(
    client: &mut SpiClient<'_>,
    batch: i32,
    target: &Target,
    lease: Duration,
    held: &[i64],
) -> Vec<Claimed> {
    let lease_ms = lease.as_millis().min(i64::MAX as u128) as i64;
    let args: [DatumWithOid; 6] = [
        i64::from(batch).into(),
        target.model.as_str().into(),
        target.dimension.into(),
        lease_ms.into(),
        held.to_vec().into(),
        CLAIM_LOCK_CLASS.into(),
    ];
    read_claims(client.update(queries::BACKFILL_CLAIM_LEASED, None, &args).or_raise("claim chunks"))
}

/// Consecutive whole-batch server failures, and what is left of the
/// current backoff pause (if one is in force).
pub fn server_backoff(client: &mut SpiClient<'_>) -> (i32, Option<Duration>) {
    let t = client.select(queries::BACKFILL_SERVER_BACKOFF, None, &[]).or_raise("read backoff").first();
    let (failures, left_ms) = t.get_two::<i32, i64>().or_raise("read backoff");
    (failures.unwrap_or(0), left_ms.map(|ms| Duration::from_millis(ms.max(0) as u64)))
}

/// What a batch came to once written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub embedded: i64,
    pub failed: i64,
    /// Claimed but neither written nor failed: picked up again later.
    pub deferred: i64,
    /// The server failed the batch as a whole; pause for this long.
    pub backoff: Option<Duration>,
}

/// Writes the vectors of `iso`, records the chunks that failed on their
/// own, and the server's health (`server_failures`: consecutive whole-batch
/// failures before this batch).
pub fn apply_outcome(
    client: &mut SpiClient<'_>,
    target: &Target,
    chunks: &[Claimed],
    iso: &Isolation<EmbedError>,
    server_failures: i32,
) -> Applied {
    let dim = target.dimension.max(1) as usize;
    let mut ids = Vec::new();
    let mut hashes = Vec::new();
    let mut titles: Vec<String> = Vec::new();
    let mut flat: Vec<f32> = Vec::new();
    for (chunk, v) in chunks.iter().zip(&iso.vectors) {
        if let Some(v) = v.as_ref().filter(|v| v.len() == dim) {
            ids.push(chunk.id);
            hashes.push(chunk.content_hash.clone());
            titles.extend(chunk.title.clone());
            flat.extend_from_slice(v);
        }
    }
    let mut applied = Applied::default();
    if !ids.is_empty() {
        // Titles only when every input was built with one (see Claimed).
        let titles = (titles.len() == ids.len()).then_some(titles);
        let args: [DatumWithOid; 6] = [
            ids.into(),
            hashes.into(),
            float4_array(&flat),
            target.dimension.into(),
            target.model.as_str().into(),
            titles.into(),
        ];
        let t = client.update(&*queries::render(queries::BACKFILL_WRITE, None), None, &args).or_raise("write embeddings").first();
        applied.embedded = t.get_one::<i64>().or_raise("write embeddings").unwrap_or(0);
        if applied.embedded > 0 {
            // Attached sources with an embedding column keep the vectors too.
            let written: Vec<i64> = chunks.iter().map(|c| c.id).collect();
            crate::attach::write_back(client, target, &written);
        }
    }
    if !iso.failures.is_empty() {
        applied.failed = record_failures(client, target, chunks, iso);
    }
    match &iso.deferred {
        Some(err) if !iso.cancelled => {
            let failures = server_failures.saturating_add(1);
            let (min, max) = settings::server_backoff();
            let pause = backoff_delay(failures as u32, min, max);
            let args: [DatumWithOid; 3] = [
                failures.into(),
                (pause.as_millis().min(i64::MAX as u128) as i64).into(),
                err.to_string().into(),
            ];
            client.update(queries::BACKFILL_SERVER_TROUBLE, None, &args).or_raise("record server trouble");
            applied.backoff = Some(pause);
        }
        _ if applied.embedded > 0 || applied.failed > 0 => {
            client.update(queries::BACKFILL_SERVER_OK, None, &[]).or_raise("record server health");
        }
        _ => {}
    }
    applied.deferred = (chunks.len() as i64 - applied.embedded - applied.failed).max(0);
    maybe_compact(client);
    applied
}

/// A float4[] of `values` built in one go: pgrx's generic conversion grows
/// the array element by element, which shows for 256 × 1024 components.
fn float4_array(values: &[f32]) -> DatumWithOid<'static> {
    let mut elems: Vec<pg_sys::Datum> = values.iter().map(|v| pg_sys::Datum::from(v.to_bits() as usize)).collect();
    // SAFETY: float4 is a 4-byte pass-by-value type with int alignment, and
    // each Datum holds the bits of one f32 (Float4GetDatum). The array is
    // palloc'd in the current memory context, which outlives the statement.
    unsafe {
        let array = pg_sys::construct_array(
            elems.as_mut_ptr(),
            elems.len() as i32,
            pg_sys::FLOAT4OID,
            4,
            true,
            pg_sys::TYPALIGN_INT as std::ffi::c_char,
        );
        DatumWithOid::new(pg_sys::Datum::from(array), pg_sys::FLOAT4ARRAYOID)
    }
}

/// Upserts failure rows with the next attempt scheduled by the retry
/// policy; returns how many were recorded.
fn record_failures(client: &mut SpiClient<'_>, target: &Target, chunks: &[Claimed], iso: &Isolation<EmbedError>) -> i64 {
    let ids: Vec<i64> = iso.failures.iter().map(|(i, _)| chunks[*i].id).collect();
    let hashes: Vec<Vec<u8>> = iso.failures.iter().map(|(i, _)| chunks[*i].content_hash.clone()).collect();
    let prior: HashMap<i64, i32> = {
        let args: [DatumWithOid; 4] = [
            ids.clone().into(),
            hashes.clone().into(),
            target.model.as_str().into(),
            target.dimension.into(),
        ];
        let rows = client.select(queries::BACKFILL_FAILURES_ATTEMPTS, None, &args).or_raise("read failures");
        let mut m = HashMap::new();
        for row in rows {
            let id = row.get::<i64>(1).or_raise("read failures").unwrap_or_default();
            let attempts = row.get::<i32>(2).or_raise("read failures").unwrap_or_default();
            m.insert(id, attempts);
        }
        m
    };
    let policy = settings::retry_policy();
    let mut attempts = Vec::with_capacity(ids.len());
    let mut kinds = Vec::with_capacity(ids.len());
    let mut errors = Vec::with_capacity(ids.len());
    let mut retry_ms: Vec<Option<i64>> = Vec::with_capacity(ids.len());
    for (id, (_, err)) in ids.iter().zip(&iso.failures) {
        let n = prior.get(id).copied().unwrap_or(0).saturating_add(1);
        attempts.push(n);
        kinds.push(err.kind().to_string());
        errors.push(err.to_string());
        retry_ms.push(match policy.after_failure(n as u32) {
            NextAttempt::RetryAfter(d) => Some(d.as_millis().min(i64::MAX as u128) as i64),
            NextAttempt::Park => None,
        });
    }
    let args: [DatumWithOid; 8] = [
        ids.into(),
        hashes.into(),
        attempts.into(),
        kinds.into(),
        errors.into(),
        retry_ms.into(),
        target.model.as_str().into(),
        target.dimension.into(),
    ];
    client.update(queries::BACKFILL_FAILURES_RECORD, None, &args).or_raise("record failures").len() as i64
}

/// Folds old counter deltas now and then; every writer does its share, so
/// the delta table stays small without a maintenance job.
fn maybe_compact(client: &mut SpiClient<'_>) {
    if rag_core::sampling::one_in(50) {
        client.update(queries::BACKFILL_COUNTS_COMPACT, None, &[]).or_raise("compact chunk counters");
    }
}

/// Chunk totals from the counters plus the failures of the target model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: i64,
    pub embedded: i64,
    pub parked: i64,
    pub retrying: i64,
}

impl Counts {
    /// Without an embedding and not parked (waiting retries included).
    pub fn missing(&self) -> i64 {
        (self.total - self.embedded - self.parked).max(0)
    }
}

pub fn counts(client: &SpiClient<'_>, target: &Target) -> Counts {
    let args: [DatumWithOid; 2] = [target.model.as_str().into(), target.dimension.into()];
    let t = client.select(queries::BACKFILL_COUNTS, None, &args).or_raise("count chunks").first();
    let get = |i| t.get::<i64>(i).or_raise("count chunks").unwrap_or(0);
    Counts { total: get(1), embedded: get(2), parked: get(3), retrying: get(4) }
}

/// Time until the earliest failed chunk may be retried, if one is waiting.
pub fn next_retry(client: &SpiClient<'_>, target: &Target) -> Option<Duration> {
    let args: [DatumWithOid; 2] = [target.model.as_str().into(), target.dimension.into()];
    let t = client.select(queries::BACKFILL_NEXT_RETRY, None, &args).or_raise("read retries").first();
    t.get_one::<i64>().or_raise("read retries").map(|ms| Duration::from_millis(ms.max(0) as u64))
}

/// Pid of the live backfill worker of this database, if any.
pub fn worker_holder(client: &SpiClient<'_>) -> Option<i32> {
    let args: [DatumWithOid; 2] = [WORKER_LOCK_CLASS.into(), WORKER_LOCK_ID.into()];
    let t = client.select(queries::BACKFILL_WORKER_HOLDER, None, &args).or_raise("find worker");
    if t.is_empty() {
        return None;
    }
    t.first().get_one::<i32>().or_raise("find worker")
}

/// Records `message` as the latest error shown by rag_backfill_status().
pub fn note_error(client: &mut SpiClient<'_>, message: &str) {
    let args: [DatumWithOid; 1] = [message.into()];
    client.update(queries::BACKFILL_NOTE_ERROR, None, &args).or_raise("record error");
}
