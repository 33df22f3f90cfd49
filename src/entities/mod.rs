//! Graph-RAG metadata (rag_core::entities): the keys of the entities a
//! document names (rag_search.entity_keys, behind the entity index) and the
//! walk over the relations documents state (rag_related_documents).

use std::collections::HashSet;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use rag_core::entities::{entity_key, named_entities, Walk};
use serde_json::Value;

use crate::error::{invalid_parameter, null_value, OrRaise};
use crate::queries;
use crate::sql_types::JsonbText;

/// Most relations a walk follows per hop: the relations of at most this
/// many documents naming the entities reached.
const MAX_WALK_DOCUMENTS: i64 = 1000;
/// Most hops of rag_related_documents.
const MAX_HOPS: i32 = 2;
/// Largest `limit` of rag_related_documents.
const MAX_RELATED: i32 = 1000;

#[pg_schema]
mod rag_search {
    use pgrx::prelude::*;

    use crate::sql_types::JsonbText;

    /// The keys of the entities a document's metadata names
    /// (`entity_names`, `entity_nodes`, the ends of `entity_relations`),
    /// sorted; malformed metadata gives none. The expression of the entity
    /// index.
    #[pg_extern(immutable, strict, parallel_safe)]
    fn entity_keys(metadata: JsonbText) -> Vec<String> {
        rag_core::entities::document_keys(&super::metadata_value(Some(metadata)))
    }
}

/// Documents related to a document or an entity through the relations
/// documents state in `entity_relations`: those naming the entity (hop 0;
/// for a document, those sharing one of its entities), then those naming
/// an entity one relation away, then two. Each row carries the entity that
/// links it and the path of relations from the start.
#[allow(clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn rag_related_documents(
    doc_id: default!(Option<&str>, "NULL"),
    entity: default!(Option<&str>, "NULL"),
    hops: default!(Option<i32>, "1"),
    limit: default!(Option<i32>, "100"),
) -> TableIterator<
    'static,
    (
        name!(doc_id, String),
        name!(title, String),
        name!(hops, i32),
        name!(entity, String),
        name!(relation, Option<String>),
        name!(path, JsonB),
    ),
> {
    crate::security::require_current_schema();
    let hops = match hops {
        None => null_value("hops must not be NULL", format!("Pass 1 or {MAX_HOPS}.")),
        Some(h) if !(1..=MAX_HOPS).contains(&h) => {
            invalid_parameter(format!("hops {h} is out of range"), format!("Pass 1 or {MAX_HOPS}."))
        }
        Some(h) => h as usize,
    };
    let limit = match limit {
        None => null_value("limit must not be NULL", format!("Pass a limit between 1 and {MAX_RELATED}.")),
        Some(l) if !(1..=MAX_RELATED).contains(&l) => invalid_parameter(
            format!("limit {l} is out of range"),
            format!("Pass a limit between 1 and {MAX_RELATED}."),
        ),
        Some(l) => i64::from(l),
    };
    let (start, exclude) = match (doc_id, entity) {
        (Some(d), None) => match start_document(d) {
            Some((id, metadata)) => (named_entities(&metadata), vec![id]),
            None => return TableIterator::new(Vec::new()),
        },
        (None, Some(e)) => match entity_key(e) {
            Some(key) => (vec![(key, e.trim().to_string())], Vec::new()),
            None => invalid_parameter(
                format!("entity {e:?} has no words"),
                "Pass an entity name as documents list it in entity_names.",
            ),
        },
        _ => invalid_parameter(
            "pass exactly one of doc_id and entity",
            "rag_related_documents(doc_id => 'doc:1') or rag_related_documents(entity => 'PostgreSQL').",
        ),
    };
    let mut walk = Walk::new(start);
    let mut levels = vec![walk.frontier().to_vec()];
    for _ in 0..hops {
        if walk.frontier().is_empty() {
            break;
        }
        let documents = relations_naming(walk.frontier());
        walk.step(&documents);
        levels.push(walk.frontier().to_vec());
    }
    let mut rows = Vec::new();
    let mut seen: HashSet<i64> = exclude.into_iter().collect();
    for keys in levels {
        let remaining = limit - rows.len() as i64;
        if remaining <= 0 {
            break;
        }
        if keys.is_empty() {
            continue;
        }
        for (id, doc_id, title, doc_keys) in documents_naming(&keys, remaining, &seen) {
            seen.insert(id);
            let Some((_, reached)) = walk.closest(&doc_keys) else { continue };
            let relation = reached.path.last().and_then(|s| s.relation.clone());
            let path = serde_json::to_value(&reached.path).unwrap_or(Value::Array(Vec::new()));
            rows.push((doc_id, title, reached.hops as i32, reached.name.clone(), relation, JsonB(path)));
        }
    }
    TableIterator::new(rows)
}

/// Stored metadata as a JSON value. jsonb holds what serde_json cannot read
/// (nesting past its limit, numbers beyond a double): such metadata names no
/// entity rather than failing the statement that reads it (an index
/// expression among them).
fn metadata_value(metadata: Option<JsonbText>) -> Value {
    metadata.and_then(|m| serde_json::from_str(&m.0).ok()).unwrap_or(Value::Null)
}

/// The internal id and metadata of document `doc_id`.
fn start_document(doc_id: &str) -> Option<(i64, Value)> {
    let args: [DatumWithOid; 1] = [doc_id.into()];
    let ctx = "read the start document";
    Spi::connect(|client| {
        let rows = client.select(queries::RELATED_START_DOCUMENT, None, &args).or_raise(ctx);
        let row = rows.into_iter().next()?;
        let id = row.get_by_name::<i64, _>("id").or_raise(ctx)?;
        let metadata = metadata_value(row.get_by_name::<JsonbText, _>("metadata").or_raise(ctx));
        Some((id, metadata))
    })
}

/// `(doc_id, {"entity_relations": …})` of the documents naming any of
/// `keys`, in document order.
fn relations_naming(keys: &[String]) -> Vec<(String, Value)> {
    let args: [DatumWithOid; 2] = [keys.to_vec().into(), MAX_WALK_DOCUMENTS.into()];
    let ctx = "read relations";
    Spi::connect(|client| {
        let rows = client.select(queries::RELATED_RELATIONS, None, &args).or_raise(ctx);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let doc_id = row.get_by_name::<String, _>("doc_id").or_raise(ctx).unwrap_or_default();
            let relations = metadata_value(row.get_by_name::<JsonbText, _>("relations").or_raise(ctx));
            out.push((doc_id, relations));
        }
        out
    })
}

/// `(id, doc_id, title, entity keys)` of the documents naming any of `keys`
/// but those in `seen`, by doc_id, at most `limit`.
fn documents_naming(keys: &[String], limit: i64, seen: &HashSet<i64>) -> Vec<(i64, String, String, Vec<String>)> {
    let seen: Vec<i64> = seen.iter().copied().collect();
    let args: [DatumWithOid; 3] = [keys.to_vec().into(), limit.into(), seen.into()];
    let ctx = "read related documents";
    Spi::connect(|client| {
        let rows = client.select(queries::RELATED_DOCUMENTS, None, &args).or_raise(ctx);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(id) = row.get_by_name::<i64, _>("id").or_raise(ctx) else { continue };
            out.push((
                id,
                row.get_by_name::<String, _>("doc_id").or_raise(ctx).unwrap_or_default(),
                row.get_by_name::<String, _>("title").or_raise(ctx).unwrap_or_default(),
                row.get_by_name::<Vec<String>, _>("keys").or_raise(ctx).unwrap_or_default(),
            ));
        }
        out
    })
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;
