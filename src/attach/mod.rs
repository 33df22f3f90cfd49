//! Attached sources (docs/attach.md, sql/attach.sql): existing tables served
//! in place through a projection into rag_search.documents and chunks.
//!
//! `api` holds rag_attach, rag_attach_step and rag_detach, `status`
//! rag_source_status, `trigger` the statement trigger that keeps a
//! projection current, `project` the projection they share. Decisions
//! (checking a mapping, the SQL fragments that read a source, chunk plans,
//! progress) are rag_core::attach's. Everything here runs as the
//! extension's owner (the registry and the projection are its
//! bookkeeping), after the entry points checked the caller's rights.

mod api;
mod catalog;
mod project;
pub mod status;
pub mod trigger;

use std::collections::HashMap;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use rag_core::attach::{owning_prefix, quote_ident, resolve, AttachError, Kind, Mapping, Refusal, Role, Spec};

use crate::embedding::Target;
use crate::error::{invalid_parameter, raise, OrRaise};
use crate::queries;
use crate::security::as_extension_owner;

pub use project::write_back;

/// A pair's existing embeddings: the column (quoted) and what they are.
#[derive(Clone, Debug)]
pub struct Embedding {
    pub column: String,
    pub model: String,
    pub dim: i32,
}

/// An attached source as registered, with its mapping checked against the
/// tables as they are now.
pub struct Source {
    pub id: i32,
    /// The document or chunk table, as regclass prints it.
    pub name: String,
    pub prefix: String,
    pub page_oid: Option<pg_sys::Oid>,
    pub mapping: Mapping,
    pub embedding: Option<Embedding>,
    /// Where the first projection stands (None once attached).
    pub phase: Option<Role>,
    pub cursor: Option<String>,
}

impl Source {
    pub fn kind(&self) -> Kind {
        self.mapping.kind
    }

    /// The source's embeddings, while the chunks hold their model and
    /// dimension.
    pub fn reused(&self, target: &Target) -> Option<&Embedding> {
        self.embedding.as_ref().filter(|e| e.model == target.model && e.dim == target.dimension)
    }

    /// What the table `relid` is in this source.
    pub fn role_of(&self, relid: pg_sys::Oid) -> Role {
        match self.kind() {
            Kind::Documents => Role::Documents,
            Kind::Pages if Some(relid) == self.page_oid => Role::Pages,
            Kind::Pages => Role::Chunks,
        }
    }
}

/// Raises an attach refusal with its SQLSTATE.
pub fn refuse(e: AttachError) -> ! {
    let code = match e.refusal {
        Refusal::UndefinedColumn => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        Refusal::DatatypeMismatch => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        Refusal::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        Refusal::NoUsableKey => PgSqlErrorCode::ERRCODE_INVALID_COLUMN_REFERENCE,
        Refusal::DuplicateObject => PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
        Refusal::WrongObjectType => PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
    };
    raise(code, e.message, e.hint)
}

/// Reads source `id` (None when it is not registered) and checks its
/// mapping against its tables. A table changed since the attach so that
/// the mapping no longer fits raises the refusal, naming the source.
pub fn load(client: &SpiClient<'_>, id: i32) -> Option<Source> {
    let ctx = "read attached source";
    let args: [DatumWithOid; 1] = [id.into()];
    let rows = client.select(queries::ATTACH_SOURCE_READ, None, &args).or_raise(ctx);
    if rows.is_empty() {
        return None;
    }
    let row = rows.first();
    let text = |name: &str| row.get_by_name::<String, _>(name).or_raise(ctx);
    let source_oid = row.get_by_name::<pg_sys::Oid, _>("source_oid").or_raise(ctx).unwrap_or(pg_sys::InvalidOid);
    let page_oid = row.get_by_name::<pg_sys::Oid, _>("page_oid").or_raise(ctx);
    let name = text("name").unwrap_or_default();
    let spec = Spec {
        key: text("key_column"),
        page_key: text("page_key_column"),
        title: text("title_column"),
        content: text("content_column").unwrap_or_default(),
        metadata: row.get_by_name::<Vec<String>, _>("metadata_columns").or_raise(ctx).unwrap_or_default(),
        page_ref: text("page_ref_column").unwrap_or_default(),
        ordinal: text("ordinal_column").unwrap_or_default(),
        embedding: text("embedding_column"),
    };
    let embedding = match (text("embedding_column"), text("embedding_model"), row.get_by_name::<i32, _>("embedding_dim").or_raise(ctx)) {
        (Some(column), Some(model), Some(dim)) => Some(Embedding { column: quote_ident(&column), model, dim }),
        _ => None,
    };
    let phase = text("phase").and_then(|p| Role::parse(&p));
    let cursor = text("cursor_key");
    let prefix = text("doc_id_prefix").unwrap_or_default();
    let source_table = catalog::table(client, source_oid, None);
    let page_table = page_oid.map(|oid| catalog::table(client, oid, None));
    let mapping = match (&source_table, &page_table) {
        (Some(s), None) => resolve(&spec, &s.table, None),
        (Some(s), Some(Some(p))) => resolve(&spec, &s.table, Some(&p.table)),
        _ => Err(AttachError {
            refusal: Refusal::WrongObjectType,
            message: "a table of the source no longer exists".into(),
            hint: String::new(),
        }),
    };
    let mapping = mapping.unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("attached source {name} no longer matches its tables: {}", e.message),
            format!(
                "Detach it (SELECT * FROM rag_detach('{name}')) and attach it again with the current columns; \
                 rename or drop mapped columns only while a source is detached."
            ),
        )
    });
    Some(Source { id, name, prefix, page_oid, mapping, embedding, phase, cursor })
}

/// The registered source that table `oid` belongs to (as document, chunk or
/// page table).
pub fn source_of_table(client: &SpiClient<'_>, oid: pg_sys::Oid) -> Option<i32> {
    let args: [DatumWithOid; 1] = [oid.into()];
    let rows = client.select(queries::ATTACH_SOURCE_OF_TABLE, None, &args).or_raise("find attached source");
    if rows.is_empty() {
        return None;
    }
    rows.first().get_by_name::<i32, _>("id").or_raise("find attached source")
}

/// A statement of sql/queries with the markers of a source's SQL replaced in
/// one pass (`@name@` from `fields`, `@extschema:...@` by the schemas of
/// pgvector and pg_trgm), so no replaced text is ever read as a marker.
/// Comment lines are dropped first: a quoted identifier may contain a line
/// break, which must never end a comment it was placed in.
pub fn render(template: &str, fields: &[(&str, &str)]) -> String {
    let statement: String = template
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::with_capacity(statement.len() + 128);
    let mut rest = statement.as_str();
    while let Some(start) = rest.find('@') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let value = after.find('@').and_then(|end| {
            let name = &after[..end];
            let found = match name {
                "extschema:vector" => Some(queries::render("@extschema:vector@", None).into_owned()),
                "extschema:pg_trgm" => Some(queries::render("@extschema:pg_trgm@", None).into_owned()),
                _ => fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()),
            };
            found.map(|v| (v, end))
        });
        match value {
            Some((v, end)) => {
                out.push_str(&v);
                rest = &after[end + 1..];
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Refuses doc_ids that belong to an attached source: their documents
/// follow the source's rows and are written only by its triggers.
pub fn refuse_attached_doc_ids<'a>(doc_ids: impl IntoIterator<Item = &'a str>) {
    let prefixes: Vec<(String, String)> = as_extension_owner(|| {
        pgrx::Spi::connect(|client| {
            client
                .select(queries::ATTACH_PREFIXES, None, &[])
                .or_raise("read attached sources")
                .filter_map(|r| {
                    let prefix = r.get_by_name::<String, _>("doc_id_prefix").ok().flatten()?;
                    let name = r.get_by_name::<String, _>("name").ok().flatten()?;
                    Some((prefix, name))
                })
                .collect()
        })
    });
    if prefixes.is_empty() {
        return;
    }
    let names: HashMap<&str, &str> = prefixes.iter().map(|(p, n)| (p.as_str(), n.as_str())).collect();
    let only: Vec<String> = prefixes.iter().map(|(p, _)| p.clone()).collect();
    for doc_id in doc_ids {
        if let Some(prefix) = owning_prefix(doc_id, &only) {
            invalid_parameter(
                format!("doc_id \"{doc_id}\" belongs to the attached source {}", names.get(prefix).unwrap_or(&"")),
                format!(
                    "Documents {prefix}:... follow the rows of that table: insert, update or delete the row there, or use \
                     a doc_id with another prefix."
                ),
            );
        }
    }
}

/// The source a search restricts itself to (`options.source`): 0 for the
/// documents of the ingestion functions (`rag_search.documents`), or the id
/// of the attached source with a table of that name.
pub fn search_source(name: &str) -> i32 {
    if name == NATIVE_SOURCE {
        return 0;
    }
    let args: [DatumWithOid; 1] = [name.into()];
    let found: Vec<(i32, String)> = as_extension_owner(|| {
        pgrx::Spi::connect(|client| {
            client
                .select(queries::ATTACH_SOURCE_LOOKUP, None, &args)
                .or_raise("find attached source")
                .filter_map(|r| {
                    Some((r.get_by_name::<i32, _>("id").ok().flatten()?, r.get_by_name::<String, _>("name").ok().flatten()?))
                })
                .collect()
        })
    });
    match found.as_slice() {
        [(id, _)] => *id,
        [] => invalid_parameter(
            format!("options.source: \"{name}\" is not an attached source"),
            format!("Name an attached table (SELECT source FROM rag_source_status()), or '{NATIVE_SOURCE}' for the documents of rag_upsert_document."),
        ),
        many => invalid_parameter(
            format!("options.source: \"{name}\" names several attached sources"),
            format!(
                "Qualify it with its schema: {}.",
                many.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
    }
}

/// The name that selects the documents written by the ingestion functions.
pub const NATIVE_SOURCE: &str = "rag_search.documents";
