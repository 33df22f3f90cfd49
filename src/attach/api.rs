//! rag_attach, rag_attach_step and rag_detach.
//!
//! Who may: attaching needs the ownership of the source's tables (as ALTER
//! TABLE does; triggers go on them) and the privileges of an ingestion role
//! on rag_search.documents and chunks (the rows become searchable documents).
//! A step is for the tables' owners and the backfill's operators
//! (rag_search_admin); detaching for the tables' owners. The work itself
//! runs as the extension's owner.

use std::time::Instant;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use rag_core::attach::{
    check_prefix, embedding_reuse, resolve, Kind, Mapping, Role, Spec, DEFAULT_STEP_ROWS, MAX_STEP_ROWS,
};

use super::catalog::{self, TableInfo};
use super::{load, project, refuse, render, source_of_table, Source};
use crate::embedding::current_target;
use crate::error::{invalid_parameter, null_value, raise, OrRaise};
use crate::queries;
use crate::security::as_extension_owner;
use crate::sql_types::RegClassArg;

type StepRow = (String, String, String, Option<String>, i32, i64, i64);

/// Attaches a document table, or (with `pages`) a page table and the chunk
/// table `source` that is already chunked, and projects the first
/// `max_rows` rows (default rag_core::attach::DEFAULT_STEP_ROWS). Larger
/// tables continue with rag_attach_step. Columns
/// are named by the arguments; see docs/attach.md.
#[allow(clippy::too_many_arguments, clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rag_attach(
    source: Option<RegClassArg>,
    title: default!(Option<&str>, "'title'"),
    content: default!(Option<&str>, "'content'"),
    metadata: default!(Option<Vec<Option<String>>>, "'{}'"),
    pages: default!(Option<RegClassArg>, "NULL"),
    page_ref: default!(Option<&str>, "'page_id'"),
    ordinal: default!(Option<&str>, "'chunk_index'"),
    embedding: default!(Option<&str>, "NULL"),
    embedding_model: default!(Option<&str>, "NULL"),
    embedding_dim: default!(Option<i32>, "NULL"),
    doc_id_prefix: default!(Option<&str>, "NULL"),
    max_rows: default!(Option<i32>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(kind, String),
        name!(state, String),
        name!(phase, Option<String>),
        name!(rows_projected, i32),
        name!(rows_done, i64),
        name!(rows_total, i64),
    ),
> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_attach()");
    let Some(RegClassArg(source_oid)) = source else {
        null_value("rag_attach: source must not be NULL", "Name the document table, or the chunk table of a pair.");
    };
    let Some(content) = content else {
        null_value("rag_attach: content must not be NULL", "Name the column that holds the text, e.g. content => 'body'.");
    };
    let max_rows = step_rows(max_rows);
    let spec = Spec {
        key: None,
        page_key: None,
        title: title.map(str::to_string),
        content: content.to_string(),
        metadata: metadata.unwrap_or_default().into_iter().flatten().collect(),
        page_ref: page_ref.unwrap_or_default().to_string(),
        ordinal: ordinal.unwrap_or_default().to_string(),
        embedding: embedding.map(str::to_string),
    };
    let caller = current_user();
    let may_ingest = queries::select_one::<bool>(queries::ATTACH_CALLER_MAY_INGEST, &[], "check privileges").unwrap_or(false);
    let page_oid = pages.map(|p| p.0);
    let row = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let tables = owned_tables(client, source_oid, page_oid, caller);
            if !may_ingest {
                raise(
                    PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                    "rag_attach: attaching writes documents and chunks",
                    "An attach makes the rows searchable documents: it needs the privileges of an ingestion role, \
                     GRANT USAGE ON SCHEMA rag_search and SELECT, INSERT, UPDATE, DELETE ON rag_search.documents, \
                     rag_search.chunks.",
                );
            }
            for t in &tables {
                if let Some(id) = source_of_table(client, t.oid) {
                    let name = registered_name(client, id);
                    raise(
                        PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
                        format!("{} is already attached (source {name})", t.table.name),
                        format!("Detach it first: SELECT * FROM rag_detach('{name}');"),
                    );
                }
            }
            let source_table = &tables[0].table;
            let page_table = tables.get(1).map(|t| &t.table);
            let mapping = resolve(&spec, source_table, page_table).unwrap_or_else(|e| refuse(e));
            let target = current_target();
            let reuse = match (&spec.embedding, page_table) {
                (Some(column), Some(_)) => {
                    let c = source_table.column(column).cloned().unwrap_or_else(|| {
                        invalid_parameter(format!("column \"{column}\" does not exist"), "")
                    });
                    Some(
                        embedding_reuse(
                            &c,
                            &source_table.name,
                            embedding_model,
                            embedding_dim,
                            (&target.model, target.dimension),
                        )
                        .unwrap_or_else(|e| refuse(e)),
                    )
                }
                (Some(_), None) => invalid_parameter(
                    "rag_attach: embedding is for a page/chunk pair",
                    "The documents of a document table are chunked by rag_search and embedded by the backfill: \
                     attach without embedding, or attach the chunk table with pages => '...'.",
                ),
                (None, _) if embedding_model.is_some() || embedding_dim.is_some() => invalid_parameter(
                    "rag_attach: embedding_model and embedding_dim describe an embedding column",
                    "Name the column too: embedding => '...'.",
                ),
                (None, _) => None,
            };
            let prefix = doc_id_prefix.map(str::to_string).unwrap_or_else(|| page_table.unwrap_or(source_table).relname.clone());
            check_prefix(&prefix).unwrap_or_else(|e| refuse(e));
            refuse_taken_prefix(client, &prefix);
            let total: i64 = Role::phases(mapping.kind).iter().map(|&r| count_rows(client, &mapping, r)).sum();
            let id = register(client, source_oid, page_oid, &prefix, &spec, &mapping, reuse, total);
            let args: [DatumWithOid; 1] = [id.into()];
            client.update(queries::ATTACH_TRIGGERS_INSTALL, None, &args).or_raise("install triggers");
            let source = load_registered(client, id);
            let projected = step(client, &source, max_rows);
            progress_row(client, &source, projected)
        })
    });
    TableIterator::once(row)
}

/// Projects the next `max_rows` rows (default
/// rag_core::attach::DEFAULT_STEP_ROWS) of the attach of `source` (NULL:
/// of the first source still attaching that the caller may step), in the
/// caller's transaction: each step commits on its own, so an interrupted
/// attach continues where the last committed step ended. Returns one row,
/// or none when nothing is attaching.
#[allow(clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rag_attach_step(
    source: default!(Option<RegClassArg>, "NULL"),
    max_rows: default!(Option<i32>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(kind, String),
        name!(state, String),
        name!(phase, Option<String>),
        name!(rows_projected, i32),
        name!(rows_done, i64),
        name!(rows_total, i64),
    ),
> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_attach_step()");
    let max_rows = step_rows(max_rows);
    let caller = current_user();
    let rows = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let args: [DatumWithOid; 1] = [caller.into()];
            let operates = client
                .select(queries::ATTACH_CALLER_OPERATES, None, &args)
                .or_raise("check privileges")
                .first()
                .get_one::<bool>()
                .or_raise("check privileges")
                .unwrap_or(false);
            let wanted = source.map(|RegClassArg(oid)| {
                let id = attached_id(client, oid);
                if !operates {
                    let (_, source_oid, page_oid) = registered_tables(client, id);
                    owned_tables(client, source_oid, page_oid, caller);
                }
                id
            });
            let args: [DatumWithOid; 3] = [wanted.into(), caller.into(), (operates || wanted.is_some()).into()];
            let locked = client.update(queries::ATTACH_STEP_LOCK, None, &args).or_raise("lock attach");
            let locked = if locked.is_empty() { None } else { locked.first().get_one::<i32>().or_raise("lock attach") };
            match (locked, wanted) {
                (Some(id), _) => {
                    let source = load_registered(client, id);
                    let projected = step(client, &source, max_rows);
                    vec![progress_row(client, &source, projected)]
                }
                (None, Some(id)) => vec![progress_row(client, &load_registered(client, id), 0)],
                (None, None) => Vec::new(),
            }
        })
    });
    TableIterator::new(rows)
}

/// Detaches `source` (either table of a pair): drops its triggers, deletes
/// its projected documents and chunks and its registration. The source
/// tables are left exactly as they were before rag_attach (except the
/// embeddings the backfill filled into a pair's embedding column).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rag_detach(
    source: Option<RegClassArg>,
) -> TableIterator<'static, (name!(source, String), name!(documents, i64), name!(chunks, i64))> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_detach()");
    let Some(RegClassArg(oid)) = source else {
        null_value("rag_detach: source must not be NULL", "Name an attached table.");
    };
    let caller = current_user();
    let row = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let id = attached_id(client, oid);
            let (name, source_oid, page_oid) = registered_tables(client, id);
            owned_tables(client, source_oid, page_oid, caller);
            let args: [DatumWithOid; 1] = [id.into()];
            let t = client.update(queries::ATTACH_SOURCE_REMOVE, None, &args).or_raise("detach").first();
            let documents = t.get_by_name::<i64, _>("documents").or_raise("detach").unwrap_or(0);
            let chunks = t.get_by_name::<i64, _>("chunks").or_raise("detach").unwrap_or(0);
            (name, documents, chunks)
        })
    });
    TableIterator::once(row)
}

fn current_user() -> pg_sys::Oid {
    // SAFETY: reads the backend's current user id.
    unsafe { pg_sys::GetUserId() }
}

fn step_rows(max_rows: Option<i32>) -> i32 {
    let n = max_rows.unwrap_or(DEFAULT_STEP_ROWS);
    if !(0..=MAX_STEP_ROWS).contains(&n) {
        invalid_parameter(
            format!("max_rows {n} is out of range [0, {MAX_STEP_ROWS}]"),
            format!("A step projects {DEFAULT_STEP_ROWS} rows by default; 0 only registers."),
        );
    }
    n
}

/// The tables of a source (`source`, then `pages`), which `caller` must own.
fn owned_tables(
    client: &SpiClient<'_>,
    source: pg_sys::Oid,
    pages: Option<pg_sys::Oid>,
    caller: pg_sys::Oid,
) -> Vec<TableInfo> {
    let mut out = Vec::new();
    for oid in std::iter::once(source).chain(pages) {
        let Some(info) = catalog::table(client, oid, Some(caller)) else {
            raise(PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, format!("table with oid {} does not exist", oid.to_u32()), "");
        };
        if !info.owned {
            raise(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("must be owner of table {}", info.table.name),
                "Attaching puts triggers on the source's tables: the role that owns them (or a superuser) attaches \
                 and detaches.",
            );
        }
        out.push(info);
    }
    out
}

/// The source table `oid` belongs to; 42704 when none.
fn attached_id(client: &SpiClient<'_>, oid: pg_sys::Oid) -> i32 {
    source_of_table(client, oid).unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("table with oid {} is not attached", oid.to_u32()),
            "SELECT source FROM rag_source_status() lists the attached sources.",
        )
    })
}

/// Name and tables of registered source `id`, without checking its mapping
/// (a source whose table changed can still be detached).
fn registered_tables(client: &SpiClient<'_>, id: i32) -> (String, pg_sys::Oid, Option<pg_sys::Oid>) {
    let ctx = "read attached source";
    let args: [DatumWithOid; 1] = [id.into()];
    let row = client.select(queries::ATTACH_SOURCE_READ, None, &args).or_raise(ctx).first();
    (
        row.get_by_name::<String, _>("name").or_raise(ctx).unwrap_or_default(),
        row.get_by_name::<pg_sys::Oid, _>("source_oid").or_raise(ctx).unwrap_or(pg_sys::InvalidOid),
        row.get_by_name::<pg_sys::Oid, _>("page_oid").or_raise(ctx),
    )
}

fn registered_name(client: &SpiClient<'_>, id: i32) -> String {
    registered_tables(client, id).0
}

fn load_registered(client: &SpiClient<'_>, id: i32) -> Source {
    load(client, id).unwrap_or_else(|| {
        raise(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("attached source {id} does not exist"), "")
    })
}

/// Refuses a doc_id prefix another source or existing documents use.
fn refuse_taken_prefix(client: &SpiClient<'_>, prefix: &str) {
    let ctx = "check doc_id prefix";
    let args: [DatumWithOid; 1] = [prefix.into()];
    let row = client.select(queries::ATTACH_PREFIX_TAKEN, None, &args).or_raise(ctx).first();
    let hint = "Pass another prefix: doc_id_prefix => '...' (doc ids are prefix:key).";
    if let Some(other) = row.get_by_name::<String, _>("source").or_raise(ctx) {
        raise(
            PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
            format!("doc_id prefix \"{prefix}\" is used by the attached source {other}"),
            hint,
        );
    }
    if let Some(doc) = row.get_by_name::<String, _>("document").or_raise(ctx) {
        raise(
            PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
            format!("documents written by rag_upsert_document already use the doc_id prefix \"{prefix}\" (e.g. {doc})"),
            hint,
        );
    }
}

fn count_rows(client: &SpiClient<'_>, mapping: &Mapping, role: Role) -> i64 {
    let Some(t) = mapping.sql(role) else { return 0 };
    let sql = render(queries::ATTACH_ROWS_COUNT, &[("table", &t.table)]);
    client
        .select(&sql, None, &[])
        .or_raise("count source rows")
        .first()
        .get_one::<i64>()
        .or_raise("count source rows")
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn register(
    client: &mut SpiClient<'_>,
    source: pg_sys::Oid,
    pages: Option<pg_sys::Oid>,
    prefix: &str,
    spec: &Spec,
    mapping: &Mapping,
    reuse: Option<(String, i32)>,
    total: i64,
) -> i32 {
    let pair = mapping.kind == Kind::Pages;
    let (model, dim) = match reuse {
        Some((m, d)) => (Some(m), Some(d)),
        None => (None, None),
    };
    let args: [DatumWithOid; 15] = [
        source.into(),
        pages.into(),
        prefix.into(),
        mapping.key.as_str().into(),
        mapping.page_key.clone().into(),
        spec.title.clone().into(),
        spec.content.as_str().into(),
        spec.metadata.clone().into(),
        pair.then(|| spec.page_ref.clone()).into(),
        pair.then(|| spec.ordinal.clone()).into(),
        model.as_ref().and(spec.embedding.clone()).into(),
        model.into(),
        dim.into(),
        Role::phases(mapping.kind)[0].as_str().into(),
        total.into(),
    ];
    client
        .update(queries::ATTACH_REGISTER, None, &args)
        .or_raise("register source")
        .first()
        .get_one::<i32>()
        .or_raise("register source")
        .unwrap_or(0)
}

/// Walks up to `max_rows` rows of the first projection from where it stands
/// (pages before chunks), projects them and records the new position;
/// returns the rows walked.
fn step(client: &mut SpiClient<'_>, source: &Source, max_rows: i32) -> i32 {
    let started = Instant::now();
    let mut phase = source.phase;
    let mut cursor = source.cursor.clone();
    let mut walked: i64 = 0;
    while let Some(role) = phase {
        let budget = i64::from(max_rows) - walked;
        if budget <= 0 {
            break;
        }
        let rows = project::rows_after(client, source, role, cursor.as_deref(), budget);
        let n = rows.len() as i64;
        let keys = rows.keys();
        if let Some(last) = keys.last() {
            cursor = Some(last.clone());
        }
        project::apply(client, source, &keys, rows, false);
        walked += n;
        if n < budget {
            phase = role.next_phase(source.kind());
            cursor = None;
        }
    }
    let ms = started.elapsed().as_millis().min(i64::MAX as u128) as i64;
    let args: [DatumWithOid; 5] =
        [source.id.into(), phase.map(|r| r.as_str()).into(), cursor.into(), walked.into(), ms.into()];
    client.update(queries::ATTACH_STEP_DONE, None, &args).or_raise("record attach step");
    walked as i32
}

fn progress_row(client: &SpiClient<'_>, source: &Source, projected: i32) -> StepRow {
    let ctx = "read attach progress";
    let args: [DatumWithOid; 1] = [source.id.into()];
    let row = client.select(queries::ATTACH_SOURCE_READ, None, &args).or_raise(ctx).first();
    (
        source.name.clone(),
        source.kind().as_str().to_string(),
        row.get_by_name::<String, _>("state").or_raise(ctx).unwrap_or_default(),
        row.get_by_name::<String, _>("phase").or_raise(ctx),
        projected,
        row.get_by_name::<i64, _>("rows_done").or_raise(ctx).unwrap_or(0),
        row.get_by_name::<i64, _>("rows_total").or_raise(ctx).unwrap_or(0),
    )
}
