//! The query's embedding: from the cache, or from the embedding server.

use std::time::Duration;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use rag_core::embed::{apply_template, EmbedError};

use crate::embedding::{config_for, embed_in_backend, Target};
use crate::error::OrRaise;
use crate::security::{as_extension_owner, writable};
use crate::{guc, queries};

/// Every this many inserts (counted across sessions by a sequence) trims the
/// cache: the trim reads the newest rag_search.query_cache_max_entries
/// entries, too much for every insert, and the cache stays within the limit
/// plus this many however short the connections are.
const TRIM_EVERY: i64 = 64;

/// Embeds `q` with the query template for `target`. `deadline` shortens the
/// request timeout (auto mode). Repeated queries are served from
/// rag_search.query_embedding_cache without an HTTP call.
pub fn query_vector(q: &str, target: &Target, deadline: Option<Duration>) -> Result<Vec<f32>, EmbedError> {
    let input = apply_template(&guc::query_template(), q, "");
    let mut cfg = config_for(target)
        .map_err(|detail| EmbedError::Config { model: target.model.clone(), url: guc::embedding_url(), detail })?;
    // SAFETY: reads the backend's current user.
    let role = unsafe { pg_sys::GetUserId() };
    let key = cfg.query_cache_key(role.to_u32(), &input);
    let max_entries = guc::query_cache_max_entries();
    if max_entries > 0 {
        if let Some(v) = as_extension_owner(|| cache_get(&key, target.dimension)) {
            return Ok(v);
        }
    }
    if let Some(d) = deadline {
        cfg.timeout = cfg.timeout.min(d);
    }
    let mut vectors = embed_in_backend(cfg, std::slice::from_ref(&input))?;
    let v = vectors.pop().unwrap_or_default();
    // In a read-only transaction or on a hot standby search still works;
    // the cache is just not written.
    if max_entries > 0 && writable() {
        as_extension_owner(|| cache_put(&key, &v, max_entries));
    }
    Ok(v)
}

fn cache_get(key: &[u8], dimension: i32) -> Option<Vec<f32>> {
    let args: [DatumWithOid; 1] = [key.to_vec().into()];
    let v = Spi::connect(|client| {
        let rows = client.select(queries::QUERY_CACHE_GET, Some(1), &args).or_raise("read query cache");
        if rows.is_empty() {
            None
        } else {
            rows.first().get_one::<Vec<f32>>().or_raise("read query cache")
        }
    })?;
    (v.len() == dimension as usize).then_some(v)
}

fn cache_put(key: &[u8], v: &[f32], max_entries: i64) {
    let args: [DatumWithOid; 3] = [key.to_vec().into(), v.to_vec().into(), TRIM_EVERY.into()];
    let trim_due = Spi::connect_mut(|client| {
        let rows = client.update(queries::QUERY_CACHE_PUT, None, &args).or_raise("write query cache");
        !rows.is_empty() && rows.first().get_one::<bool>().or_raise("write query cache").unwrap_or(false)
    });
    if trim_due {
        let args: [DatumWithOid; 1] = [max_entries.into()];
        Spi::run_with_args(queries::QUERY_CACHE_TRIM, &args).or_raise("trim query cache");
    }
}
