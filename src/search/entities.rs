//! The entity signal of a search: which entities the query names, the
//! chunks of the documents naming them (a candidate list), and each
//! candidate's share of them (rag_core::entities). Every lookup goes
//! through the entity index (documents_entity_keys, sql/entities.sql);
//! documents are read as the caller.

use std::collections::HashMap;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use super::options::Scope;
use rag_core::entities::{entity_signal, query_keys};

use crate::error::OrRaise;
use crate::queries;

/// The keys of the entities `q` names that some document names.
pub fn query_entities(q: &str) -> Vec<String> {
    let keys = query_keys(q);
    if keys.is_empty() {
        return Vec::new();
    }
    let args: [DatumWithOid; 1] = [keys.into()];
    let ctx = "entities of the query";
    Spi::connect(|client| {
        client
            .select(queries::SEARCH_ENTITY_KEYS, None, &args)
            .or_raise(ctx)
            .first()
            .get_by_name::<Vec<String>, _>("keys")
            .or_raise(ctx)
            .unwrap_or_default()
    })
}

/// Chunks of the documents naming any of `keys` that match `filter`.
pub fn entity_list(keys: &[String], limit: i64, filter: &Scope) -> Vec<i64> {
    let args: [DatumWithOid; 4] = [keys.to_vec().into(), limit.into(), filter.metadata.clone().into(), filter.source.into()];
    Spi::connect(|client| {
        let rows = client.select(queries::SEARCH_ENTITY_CHUNKS, None, &args).or_raise("entity candidates");
        rows.into_iter().filter_map(|r| r.get_by_name::<i64, _>("id").ok().flatten()).collect()
    })
}

/// The entity signal of chunks `ids` (those of documents naming none of
/// `keys` are absent: 0).
pub fn entity_signals(ids: &[i64], keys: &[String]) -> HashMap<i64, f64> {
    if keys.is_empty() || ids.is_empty() {
        return HashMap::new();
    }
    let args: [DatumWithOid; 2] = [ids.to_vec().into(), keys.to_vec().into()];
    let ctx = "entity signals";
    Spi::connect(|client| {
        let rows = client.select(queries::SEARCH_ENTITY_SIGNALS, None, &args).or_raise(ctx);
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let Some(id) = row.get_by_name::<i64, _>("id").or_raise(ctx) else { continue };
            let named = row.get_by_name::<i64, _>("named").or_raise(ctx).unwrap_or(0);
            out.insert(id, entity_signal(named.max(0) as usize, keys.len()));
        }
        out
    })
}
