//! The query's embedding: from the cache, or from the embedding server.

use std::cell::Cell;
use std::time::Duration;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use rag_core::embed::{apply_template, EmbedError};
use sha2::{Digest, Sha256};

use crate::embedding::{config_for, embed_in_backend, Target};
use crate::error::OrRaise;
use crate::{guc, queries};

thread_local! {
    static PUTS_SINCE_TRIM: Cell<u32> = const { Cell::new(0) };
}

/// Embeds `q` with the query template for `target`. `deadline` shortens the
/// request timeout (auto mode). Repeated queries are served from
/// rag_search.query_embedding_cache without an HTTP call.
pub fn query_vector(q: &str, target: &Target, deadline: Option<Duration>) -> Result<Vec<f32>, EmbedError> {
    let input = apply_template(&guc::query_template(), q, "");
    let hash: Vec<u8> = Sha256::digest(input.as_bytes()).to_vec();
    let cache_on = guc::query_cache_max_entries() > 0;
    if cache_on {
        if let Some(v) = cache_get(target, &hash) {
            return Ok(v);
        }
    }
    let mut cfg = match config_for(target) {
        Ok(c) => c,
        Err(detail) => {
            return Err(EmbedError::Config { model: target.model.clone(), url: guc::embedding_url(), detail })
        }
    };
    if let Some(d) = deadline {
        cfg.timeout = cfg.timeout.min(d);
    }
    let mut vectors = embed_in_backend(cfg, std::slice::from_ref(&input))?;
    let v = vectors.pop().unwrap_or_default();
    if cache_on && writable() && may_write_cache() {
        cache_put(target, hash, &v);
    }
    Ok(v)
}

/// False in a read-only transaction or on a hot standby: search still works,
/// the cache is just not written.
fn writable() -> bool {
    // SAFETY: reads of backend-global state.
    unsafe { !pg_sys::XactReadOnly && !pg_sys::RecoveryInProgress() }
}

/// Roles granted only SELECT (search-only applications) still search; the
/// embedding is just not cached for them.
fn may_write_cache() -> bool {
    Spi::get_one::<bool>(queries::QUERY_CACHE_WRITABLE).or_raise("check query cache privilege").unwrap_or(false)
}

fn cache_get(target: &Target, hash: &[u8]) -> Option<Vec<f32>> {
    let args: [DatumWithOid; 3] = [target.model.as_str().into(), target.dimension.into(), hash.to_vec().into()];
    let v = Spi::connect(|client| {
        let rows = client.select(queries::QUERY_CACHE_GET, Some(1), &args).or_raise("read query cache");
        if rows.is_empty() {
            None
        } else {
            rows.first().get_one::<Vec<f32>>().or_raise("read query cache")
        }
    })?;
    (v.len() == target.dimension as usize).then_some(v)
}

fn cache_put(target: &Target, hash: Vec<u8>, v: &[f32]) {
    let args: [DatumWithOid; 4] =
        [target.model.as_str().into(), target.dimension.into(), hash.into(), v.to_vec().into()];
    Spi::run_with_args(queries::QUERY_CACHE_PUT, &args).or_raise("write query cache");
    // Trim now and then rather than on every insert.
    let due = PUTS_SINCE_TRIM.with(|c| {
        let n = c.get() + 1;
        c.set(if n >= 100 { 0 } else { n });
        n >= 100
    });
    if due {
        let args: [DatumWithOid; 1] = [guc::query_cache_max_entries().into()];
        Spi::run_with_args(queries::QUERY_CACHE_TRIM, &args).or_raise("trim query cache");
    }
}
