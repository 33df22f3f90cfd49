//! Attached sources: existing tables served in place through a projection
//! into the extension's documents and chunks (docs/attach.md).
//!
//! What needs no database lives here: checking a column mapping against the
//! catalog (with the SQLSTATE a refusal carries), the SQL fragments that read
//! a source (every identifier quoted here, every value a parameter), doc ids,
//! the plan that brings the projected chunks of a page/chunk pair in line with
//! the source, and the progress arithmetic of an attach.

use std::collections::{HashMap, HashSet};

/// Source rows one step of an attach reads (rag_attach, rag_attach_step).
pub const DEFAULT_STEP_ROWS: i32 = 1000;
/// The largest step accepted.
pub const MAX_STEP_ROWS: i32 = 100_000;
/// Keys projected together when one statement changed many source rows:
/// bounds the memory of a trigger after a large COPY or UPDATE.
pub const PROJECT_SLICE: usize = 5000;
/// Separates the prefix from the source key in a projected doc_id.
pub const DOC_ID_SEPARATOR: char = ':';
/// Longest doc_id prefix accepted.
pub const MAX_PREFIX_CHARS: usize = 100;

/// Why an attach is refused; each maps to one SQLSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 42703: a mapped column does not exist.
    UndefinedColumn,
    /// 42804: a mapped column has a type that cannot serve.
    DatatypeMismatch,
    /// 22023: a value is out of what is accepted (dimension, model, prefix).
    InvalidParameter,
    /// 42P10: no single-column primary key.
    NoUsableKey,
    /// 42710: already attached, or the doc_id prefix is taken.
    DuplicateObject,
    /// 42809: not a table.
    WrongObjectType,
}

impl Refusal {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Refusal::UndefinedColumn => "42703",
            Refusal::DatatypeMismatch => "42804",
            Refusal::InvalidParameter => "22023",
            Refusal::NoUsableKey => "42P10",
            Refusal::DuplicateObject => "42710",
            Refusal::WrongObjectType => "42809",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachError {
    pub refusal: Refusal,
    pub message: String,
    pub hint: String,
}

fn refuse<T>(refusal: Refusal, message: impl Into<String>, hint: impl Into<String>) -> Result<T, AttachError> {
    Err(AttachError { refusal, message: message.into(), hint: hint.into() })
}

/// A column as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `format_type()` of its type: valid SQL for a cast.
    pub type_name: String,
    /// `pg_type.typcategory` ('S' for string types).
    pub category: char,
    /// smallint, integer or bigint.
    pub integer: bool,
    pub jsonb: bool,
    /// pgvector's `vector`.
    pub vector: bool,
    /// The declared dimension of a `vector(n)` column.
    pub declared_dim: Option<i32>,
    /// Has a default btree operator class (`IS DISTINCT FROM` works on it).
    pub comparable: bool,
}

/// A table as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// For messages: the name as `regclass` prints it.
    pub name: String,
    /// Schema-qualified and quoted, for SQL.
    pub sql: String,
    /// The bare table name (the default doc_id prefix).
    pub relname: String,
    /// `pg_class.relkind`.
    pub kind: char,
    pub columns: Vec<Column>,
    /// Columns of the primary key, in key order.
    pub primary_key: Vec<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn require(&self, name: &str, role: &str) -> Result<&Column, AttachError> {
        match self.column(name) {
            Some(c) => Ok(c),
            None => {
                let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
                refuse(
                    Refusal::UndefinedColumn,
                    format!("column \"{name}\" ({role}) does not exist in {}", self.name),
                    format!(
                        "Name the column that holds the {role}, e.g. {role} => '...'. Columns of {}: {}.",
                        self.name,
                        names.join(", ")
                    ),
                )
            }
        }
    }

    /// The single-column primary key that keys the projection.
    pub fn key(&self) -> Result<&Column, AttachError> {
        match self.primary_key.as_slice() {
            [one] => self.require(one, "primary key"),
            [] => refuse(
                Refusal::NoUsableKey,
                format!("{} has no primary key", self.name),
                format!(
                    "rag_search keys every projected row by the source's primary key: ALTER TABLE {} ADD PRIMARY KEY (...), then attach again.",
                    self.name
                ),
            ),
            _ => refuse(
                Refusal::NoUsableKey,
                format!("{} has a primary key of {} columns", self.name, self.primary_key.len()),
                "rag_search keys every projected row by one column: give the table a single-column primary key \
                 (e.g. an identity column) and attach again.",
            ),
        }
    }

    /// Refuses what is not an ordinary or partitioned table.
    pub fn require_table(&self) -> Result<(), AttachError> {
        if matches!(self.kind, 'r' | 'p') {
            return Ok(());
        }
        refuse(
            Refusal::WrongObjectType,
            format!("{} is not a table", self.name),
            "Attach an ordinary or partitioned table; a view or foreign table cannot carry the triggers that keep \
             the projection current.",
        )
    }
}

/// Double-quotes an identifier (always: no keyword or case can change it).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal, safe whatever standard_conforming_strings says.
pub fn quote_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    if quoted.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// What the caller maps (rag_attach's arguments, or a registered source).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// The key column of the source (document or chunk) table; None: its
    /// primary key.
    pub key: Option<String>,
    /// The key column of the page table; None: its primary key.
    pub page_key: Option<String>,
    /// None: the documents have no title.
    pub title: Option<String>,
    pub content: String,
    pub metadata: Vec<String>,
    /// Pairs: the chunk column naming its page.
    pub page_ref: String,
    /// Pairs: the chunk column holding its position in the page.
    pub ordinal: String,
    /// Pairs: the chunk column holding existing embeddings.
    pub embedding: Option<String>,
}

/// The kind of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One table of documents, chunked by rag_search.
    Documents,
    /// A page table and a chunk table that is already chunked.
    Pages,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Documents => "documents",
            Kind::Pages => "pages",
        }
    }
}

/// The table a trigger fired on, or a step walks, in a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The table of a Documents source.
    Documents,
    /// The page table of a pair.
    Pages,
    /// The chunk table of a pair.
    Chunks,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Documents => "documents",
            Role::Pages => "pages",
            Role::Chunks => "chunks",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "documents" => Some(Role::Documents),
            "pages" => Some(Role::Pages),
            "chunks" => Some(Role::Chunks),
            _ => None,
        }
    }

    /// The tables an attach walks, in order (pages before their chunks).
    pub fn phases(kind: Kind) -> &'static [Role] {
        match kind {
            Kind::Documents => &[Role::Documents],
            Kind::Pages => &[Role::Pages, Role::Chunks],
        }
    }

    /// The phase after `self`, if any.
    pub fn next_phase(&self, kind: Kind) -> Option<Role> {
        let phases = Role::phases(kind);
        phases.iter().position(|r| r == self).and_then(|i| phases.get(i + 1)).copied()
    }
}

/// SQL fragments for one table of a source (alias `s` in reads; `o` and
/// `n` for the old and new rows of an update).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSql {
    /// Schema-qualified, quoted.
    pub table: String,
    /// The key column, quoted.
    pub key: String,
    /// The key's type, for casting text keys back (`$1::text[]::type[]`).
    pub key_type: String,
    /// Select list of a read: `key` and the mapped values.
    pub columns: String,
    /// True when an update changed a mapped value (over `o` and `n`).
    pub changed: String,
}

/// A checked mapping, with the SQL that reads each of its tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub kind: Kind,
    pub key: String,
    pub page_key: Option<String>,
    /// The chunk table's page column, quoted, and its type (pairs).
    pub page_ref: Option<(String, String)>,
    tables: HashMap<Role, TableSql>,
}

impl Mapping {
    pub fn sql(&self, role: Role) -> Option<&TableSql> {
        self.tables.get(&role)
    }
}

fn text_column(table: &Table, name: &str, role: &str) -> Result<String, AttachError> {
    let c = table.require(name, role)?;
    if c.category != 'S' {
        return refuse(
            Refusal::DatatypeMismatch,
            format!("column \"{name}\" ({role}) of {} is of type {}, not text", table.name, c.type_name),
            format!("Map the {role} to a text, varchar or char column."),
        );
    }
    Ok(format!("coalesce(s.{}::text, '')", quote_ident(name)))
}

/// `jsonb` built from the metadata columns: a jsonb object column spreads
/// its keys at the top level, any other column becomes a key of its own.
fn metadata_expr(table: &Table, names: &[String]) -> Result<String, AttachError> {
    let mut parts = vec!["'{}'::jsonb".to_string()];
    for name in names {
        let c = table.require(name, "metadata")?;
        let col = format!("s.{}", quote_ident(name));
        let key = quote_literal(name);
        parts.push(if c.jsonb {
            format!(
                "(CASE WHEN pg_catalog.jsonb_typeof({col}) = 'object' THEN {col} \
                 ELSE pg_catalog.jsonb_build_object({key}, {col}) END)"
            )
        } else {
            format!("pg_catalog.jsonb_build_object({key}, {col})")
        });
    }
    Ok(parts.join(" || "))
}

/// `o.c IS DISTINCT FROM n.c OR ...` for the mapped columns (compared as
/// text when the type has no equality, e.g. `json`).
fn changed_expr(table: &Table, names: &[&str]) -> String {
    let parts: Vec<String> = names
        .iter()
        .filter_map(|name| table.column(name))
        .map(|c| {
            let q = quote_ident(&c.name);
            if c.comparable {
                format!("o.{q} IS DISTINCT FROM n.{q}")
            } else {
                format!("o.{q}::text IS DISTINCT FROM n.{q}::text")
            }
        })
        .collect();
    if parts.is_empty() {
        "false".to_string()
    } else {
        parts.join(" OR ")
    }
}

fn key_of<'t>(table: &'t Table, given: &Option<String>) -> Result<&'t Column, AttachError> {
    let key = match given {
        Some(name) => table.require(name, "key")?,
        None => table.key()?,
    };
    if !key.comparable {
        return refuse(
            Refusal::DatatypeMismatch,
            format!("the primary key \"{}\" of {} is of type {}", key.name, table.name, key.type_name),
            "rag_search finds projected rows by keys of a built-in type (integer, bigint, text, uuid, ...).",
        );
    }
    Ok(key)
}

/// Checks `spec` against the catalog: the tables exist as tables, every
/// mapped column exists with a usable type. `pages`: the page table of a
/// pair (None: `source` is a document table).
pub fn resolve(spec: &Spec, source: &Table, pages: Option<&Table>) -> Result<Mapping, AttachError> {
    source.require_table()?;
    let key = key_of(source, &spec.key)?;
    let mut tables = HashMap::new();
    let title = |table: &Table| -> Result<String, AttachError> {
        match &spec.title {
            Some(t) => text_column(table, t, "title"),
            None => Ok("''".to_string()),
        }
    };
    let mapped = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = spec.title.iter().cloned().collect();
        v.extend(spec.metadata.iter().cloned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let Some(pages) = pages else {
        let columns = format!(
            "s.{}::text AS key, {} AS title, {} AS content, {} AS metadata",
            quote_ident(&key.name),
            title(source)?,
            text_column(source, &spec.content, "content")?,
            metadata_expr(source, &spec.metadata)?
        );
        let names = mapped(&[spec.content.as_str()]);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        tables.insert(
            Role::Documents,
            TableSql {
                table: source.sql.clone(),
                key: quote_ident(&key.name),
                key_type: key.type_name.clone(),
                columns,
                changed: changed_expr(source, &names),
            },
        );
        return Ok(Mapping { kind: Kind::Documents, key: key.name.clone(), page_key: None, page_ref: None, tables });
    };
    pages.require_table()?;
    if pages.sql == source.sql {
        return refuse(
            Refusal::InvalidParameter,
            format!("{} cannot be its own page table", source.name),
            "Pass the chunk table as source and the page table as pages, or attach one document table without pages.",
        );
    }
    let page_key = key_of(pages, &spec.page_key)?;
    let page_columns = format!(
        "s.{}::text AS key, {} AS title, {} AS metadata",
        quote_ident(&page_key.name),
        title(pages)?,
        metadata_expr(pages, &spec.metadata)?
    );
    let page_names = mapped(&[]);
    let page_names: Vec<&str> = page_names.iter().map(String::as_str).collect();
    tables.insert(
        Role::Pages,
        TableSql {
            table: pages.sql.clone(),
            key: quote_ident(&page_key.name),
            key_type: page_key.type_name.clone(),
            columns: page_columns,
            changed: changed_expr(pages, &page_names),
        },
    );
    let page_ref = source.require(&spec.page_ref, "page_ref")?;
    let same_kind = page_ref.type_name == page_key.type_name || (page_ref.integer && page_key.integer);
    if !same_kind {
        return refuse(
            Refusal::DatatypeMismatch,
            format!(
                "column \"{}\" (page_ref) of {} is of type {}, but the key of {} is {}",
                page_ref.name, source.name, page_ref.type_name, pages.name, page_key.type_name
            ),
            "Map page_ref to the chunk column that holds the page's primary key (of the same type).",
        );
    }
    let ordinal = source.require(&spec.ordinal, "ordinal")?;
    if !ordinal.integer {
        return refuse(
            Refusal::DatatypeMismatch,
            format!("column \"{}\" (ordinal) of {} is of type {}, not an integer", ordinal.name, source.name, ordinal.type_name),
            "Map ordinal to the integer column that numbers the chunks of a page (0, 1, 2, ...).",
        );
    }
    let content = text_column(source, &spec.content, "content")?;
    let mut chunk_names = vec![spec.page_ref.as_str(), spec.ordinal.as_str(), spec.content.as_str()];
    if let Some(e) = &spec.embedding {
        let c = source.require(e, "embedding")?;
        if !c.vector {
            return refuse(
                Refusal::DatatypeMismatch,
                format!("column \"{e}\" (embedding) of {} is of type {}, not vector", source.name, c.type_name),
                "Map embedding to a pgvector vector column, or attach without embedding (the backfill then embeds \
                 every chunk).",
            );
        }
        chunk_names.push(e.as_str());
    }
    let chunk_columns = format!(
        "s.{}::text AS key, s.{}::text AS page, s.{}::bigint AS ordinal, {content} AS content",
        quote_ident(&key.name),
        quote_ident(&page_ref.name),
        quote_ident(&ordinal.name)
    );
    tables.insert(
        Role::Chunks,
        TableSql {
            table: source.sql.clone(),
            key: quote_ident(&key.name),
            key_type: key.type_name.clone(),
            columns: chunk_columns,
            changed: changed_expr(source, &chunk_names),
        },
    );
    Ok(Mapping {
        kind: Kind::Pages,
        key: key.name.clone(),
        page_key: Some(page_key.name.clone()),
        page_ref: Some((quote_ident(&page_ref.name), page_ref.type_name.clone())),
        tables,
    })
}

/// The model and dimension of a pair's existing embeddings, checked against
/// what the chunks hold (`configured`): vectors of another dimension or
/// model could never be searched next to the others.
pub fn embedding_reuse(
    column: &Column,
    table: &str,
    model: Option<&str>,
    dim: Option<i32>,
    configured: (&str, i32),
) -> Result<(String, i32), AttachError> {
    let (configured_model, configured_dim) = configured;
    let dim = match (column.declared_dim, dim) {
        (Some(d), Some(g)) if d != g => {
            return refuse(
                Refusal::InvalidParameter,
                format!("column \"{}\" of {table} is vector({d}), not vector({g})", column.name),
                "Leave embedding_dim out: the column's type declares it.",
            )
        }
        (Some(d), _) => d,
        (None, Some(g)) => g,
        (None, None) => configured_dim,
    };
    let model = model.unwrap_or(configured_model).to_string();
    if dim != configured_dim {
        return refuse(
            Refusal::InvalidParameter,
            format!(
                "column \"{}\" of {table} holds embeddings of {dim} dimensions, but the chunks hold {configured_dim} \
                 ({configured_model})",
                column.name
            ),
            format!(
                "Switch the chunks to those embeddings first (SELECT * FROM rag_set_embedding_model('<their model>', \
                 {dim})), or attach without embedding and let the backfill embed the chunks."
            ),
        );
    }
    if model != configured_model {
        return refuse(
            Refusal::InvalidParameter,
            format!(
                "the embeddings of {table} are of model {model}, but the chunks hold {configured_model}"
            ),
            format!(
                "Switch the chunks to that model first (SELECT * FROM rag_set_embedding_model('{model}', {dim})), or \
                 attach without embedding and let the backfill embed the chunks."
            ),
        );
    }
    Ok((model, dim))
}

/// Checks a doc_id prefix (defaults to the table name).
pub fn check_prefix(prefix: &str) -> Result<(), AttachError> {
    if prefix.trim().is_empty() || prefix.contains(DOC_ID_SEPARATOR) || prefix.chars().count() > MAX_PREFIX_CHARS {
        return refuse(
            Refusal::InvalidParameter,
            format!("doc_id prefix \"{prefix}\" is not usable"),
            format!(
                "A prefix is 1 to {MAX_PREFIX_CHARS} characters without '{DOC_ID_SEPARATOR}'; doc ids are \
                 prefix{DOC_ID_SEPARATOR}key, e.g. wiki_pages{DOC_ID_SEPARATOR}42."
            ),
        );
    }
    Ok(())
}

/// The source hash of a page of a pair (rag_search.documents.source_hash):
/// its chunks come from the chunk table, so no content of its own decides
/// them.
pub fn page_source_hash() -> [u8; 32] {
    crate::hash::chunk_hash("")
}

/// The doc_id of a projected row: `prefix:key`.
pub fn doc_id(prefix: &str, key: &str) -> String {
    format!("{prefix}{DOC_ID_SEPARATOR}{key}")
}

/// The prefix among `prefixes` that owns `doc_id`, if any.
pub fn owning_prefix<'p>(doc_id: &str, prefixes: &'p [String]) -> Option<&'p str> {
    prefixes.iter().map(String::as_str).find(|p| {
        doc_id.len() > p.len() && doc_id.starts_with(p) && doc_id[p.len()..].starts_with(DOC_ID_SEPARATOR)
    })
}

/// A chunk ordinal from a source value: negative values count as 0 and
/// values beyond the column's range as its maximum (the projection never
/// refuses a row the application could write).
pub fn ordinal(value: Option<i64>) -> i32 {
    value.unwrap_or(0).clamp(0, i64::from(i32::MAX)) as i32
}

/// A chunk of a pair as the source holds it, with the projected document of
/// its page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceChunk {
    pub key: String,
    pub document_id: i64,
    pub ordinal: i32,
    pub hash: Vec<u8>,
}

/// A projected chunk of a pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectedChunk {
    pub id: i64,
    pub key: String,
    pub document_id: i64,
    pub ordinal: i32,
    pub hash: Vec<u8>,
}

/// What brings the projection of some chunk keys in line with the source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkSync {
    /// Projected chunks to delete (their source row is gone, lost its page,
    /// or changed its text or page: a chunk's text never changes in place).
    pub deletes: Vec<i64>,
    /// Projected chunks that only moved: (id, new ordinal).
    pub renumbers: Vec<(i64, i32)>,
    /// Indices into the source chunks that need a new projected row.
    pub inserts: Vec<usize>,
    /// Projected chunks kept as they are (their embedding may still follow
    /// the source's).
    pub kept: Vec<i64>,
}

/// Plans the writes for `source` (the chunks of the keys looked at that
/// exist and whose page is projected) against `projected` (the current
/// projection of those keys). Keys with a projection but no source chunk
/// lose their projection.
pub fn plan_chunk_sync(source: &[SourceChunk], projected: &[ProjectedChunk]) -> ChunkSync {
    let mut by_key: HashMap<&str, Vec<&ProjectedChunk>> = HashMap::new();
    for p in projected {
        by_key.entry(p.key.as_str()).or_default().push(p);
    }
    let mut plan = ChunkSync::default();
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, s) in source.iter().enumerate() {
        if !seen.insert(s.key.as_str()) {
            continue;
        }
        let mut current = by_key.remove(s.key.as_str()).unwrap_or_default();
        current.sort_by_key(|p| p.id);
        let keep = current.iter().position(|p| p.document_id == s.document_id && p.hash == s.hash);
        match keep {
            Some(k) => {
                let p = current.remove(k);
                if p.ordinal != s.ordinal {
                    plan.renumbers.push((p.id, s.ordinal));
                }
                plan.kept.push(p.id);
            }
            None => plan.inserts.push(i),
        }
        plan.deletes.extend(current.iter().map(|p| p.id));
    }
    for rest in by_key.into_values() {
        plan.deletes.extend(rest.iter().map(|p| p.id));
    }
    plan.deletes.sort_unstable();
    plan
}

/// Rows per second of an attach: `rows` walked in `busy_ms` of stepping.
pub fn rows_per_second(rows: i64, busy_ms: i64) -> f64 {
    crate::backfill::chunks_per_second(rows, busy_ms as f64 / 1000.0)
}

/// Rows an attach still has to walk (the count taken when it began, less
/// what was walked; never negative).
pub fn rows_remaining(total: i64, done: i64) -> i64 {
    (total - done).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, type_name: &str) -> Column {
        let category = match type_name {
            "text" | "character varying" => 'S',
            "integer" | "bigint" => 'N',
            _ => 'U',
        };
        Column {
            name: name.into(),
            type_name: type_name.into(),
            category,
            integer: matches!(type_name, "integer" | "bigint" | "smallint"),
            jsonb: type_name == "jsonb",
            vector: type_name.starts_with("vector"),
            declared_dim: type_name.strip_prefix("vector(").and_then(|d| d.trim_end_matches(')').parse().ok()),
            comparable: type_name != "json",
        }
    }

    fn table(name: &str, cols: &[(&str, &str)], pk: &[&str]) -> Table {
        Table {
            name: format!("public.{name}"),
            sql: format!("\"public\".\"{name}\""),
            relname: name.into(),
            kind: 'r',
            columns: cols.iter().map(|(n, t)| col(n, t)).collect(),
            primary_key: pk.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn posts() -> Table {
        table(
            "posts",
            &[("id", "integer"), ("subject", "text"), ("body", "text"), ("meta", "jsonb"), ("board", "text"), ("raw", "json")],
            &["id"],
        )
    }

    fn pages() -> Table {
        table("wiki_pages", &[("id", "bigint"), ("title", "text"), ("lang", "text")], &["id"])
    }

    fn chunks() -> Table {
        table(
            "wiki_chunks",
            &[
                ("id", "bigint"),
                ("page_id", "integer"),
                ("chunk_index", "integer"),
                ("content", "text"),
                ("embedding", "vector(8)"),
                ("note", "text"),
            ],
            &["id"],
        )
    }

    fn doc_spec() -> Spec {
        Spec {
            title: Some("subject".into()),
            content: "body".into(),
            metadata: vec!["meta".into(), "board".into()],
            ..Spec::default()
        }
    }

    fn pair_spec() -> Spec {
        Spec {
            title: Some("title".into()),
            content: "content".into(),
            metadata: vec!["lang".into()],
            page_ref: "page_id".into(),
            ordinal: "chunk_index".into(),
            embedding: Some("embedding".into()),
            ..Spec::default()
        }
    }

    #[test]
    fn a_document_table_maps_to_one_read() {
        let m = resolve(&doc_spec(), &posts(), None).unwrap();
        assert_eq!(m.kind, Kind::Documents);
        let sql = m.sql(Role::Documents).unwrap();
        assert_eq!(sql.key, "\"id\"");
        assert_eq!(sql.key_type, "integer");
        assert_eq!(
            sql.columns,
            "s.\"id\"::text AS key, coalesce(s.\"subject\"::text, '') AS title, coalesce(s.\"body\"::text, '') AS content, \
             '{}'::jsonb || (CASE WHEN pg_catalog.jsonb_typeof(s.\"meta\") = 'object' THEN s.\"meta\" \
             ELSE pg_catalog.jsonb_build_object('meta', s.\"meta\") END) || pg_catalog.jsonb_build_object('board', s.\"board\") AS metadata"
        );
        assert_eq!(
            sql.changed,
            "o.\"subject\" IS DISTINCT FROM n.\"subject\" OR o.\"meta\" IS DISTINCT FROM n.\"meta\" OR \
             o.\"board\" IS DISTINCT FROM n.\"board\" OR o.\"body\" IS DISTINCT FROM n.\"body\""
        );
        assert!(m.sql(Role::Pages).is_none());
    }

    #[test]
    fn json_columns_are_compared_as_text() {
        let spec = Spec { metadata: vec!["raw".into()], ..doc_spec() };
        let m = resolve(&spec, &posts(), None).unwrap();
        assert!(m.sql(Role::Documents).unwrap().changed.contains("o.\"raw\"::text IS DISTINCT FROM n.\"raw\"::text"));
    }

    #[test]
    fn a_pair_maps_pages_and_chunks() {
        let m = resolve(&pair_spec(), &chunks(), Some(&pages())).unwrap();
        assert_eq!(m.kind, Kind::Pages);
        assert_eq!(m.page_key.as_deref(), Some("id"));
        assert_eq!(m.page_ref, Some(("\"page_id\"".to_string(), "integer".to_string())));
        let p = m.sql(Role::Pages).unwrap();
        assert_eq!(p.table, "\"public\".\"wiki_pages\"");
        assert_eq!(p.key_type, "bigint");
        assert!(p.columns.starts_with("s.\"id\"::text AS key, coalesce(s.\"title\"::text, '') AS title, "));
        let c = m.sql(Role::Chunks).unwrap();
        assert_eq!(
            c.columns,
            "s.\"id\"::text AS key, s.\"page_id\"::text AS page, s.\"chunk_index\"::bigint AS ordinal, \
             coalesce(s.\"content\"::text, '') AS content"
        );
        assert!(c.changed.contains("o.\"embedding\" IS DISTINCT FROM n.\"embedding\""));
        assert!(!c.changed.contains("note"));
    }

    #[test]
    fn bad_mappings_are_refused_with_their_sqlstate() {
        let code = |spec: &Spec, source: &Table, pages: Option<&Table>| {
            resolve(spec, source, pages).unwrap_err().refusal.sqlstate()
        };
        let missing = Spec { content: "text".into(), ..doc_spec() };
        let e = resolve(&missing, &posts(), None).unwrap_err();
        assert_eq!(e.refusal.sqlstate(), "42703");
        assert!(e.hint.contains("id, subject, body"), "{}", e.hint);
        assert_eq!(code(&Spec { content: "id".into(), ..doc_spec() }, &posts(), None), "42804");
        assert_eq!(code(&Spec { metadata: vec!["nope".into()], ..doc_spec() }, &posts(), None), "42703");
        let mut odd_key = posts();
        odd_key.columns[0].comparable = false;
        assert_eq!(code(&doc_spec(), &odd_key, None), "42804");
        let no_pk = table("t", &[("a", "text")], &[]);
        assert_eq!(code(&Spec { content: "a".into(), ..Spec::default() }, &no_pk, None), "42P10");
        let two = table("t", &[("a", "text"), ("b", "text")], &["a", "b"]);
        assert_eq!(code(&Spec { content: "a".into(), ..Spec::default() }, &two, None), "42P10");
        let mut view = posts();
        view.kind = 'v';
        assert_eq!(code(&doc_spec(), &view, None), "42809");
        assert_eq!(code(&Spec { ordinal: "content".into(), ..pair_spec() }, &chunks(), Some(&pages())), "42804");
        assert_eq!(code(&Spec { embedding: Some("note".into()), ..pair_spec() }, &chunks(), Some(&pages())), "42804");
        assert_eq!(code(&Spec { page_ref: "content".into(), ..pair_spec() }, &chunks(), Some(&pages())), "42804");
        assert_eq!(code(&Spec { page_ref: "nope".into(), ..pair_spec() }, &chunks(), Some(&pages())), "42703");
        assert_eq!(code(&pair_spec(), &chunks(), Some(&chunks())), "22023");
    }

    #[test]
    fn embeddings_are_reused_only_at_the_configured_model_and_dimension() {
        let c = col("embedding", "vector(8)");
        assert_eq!(embedding_reuse(&c, "t", None, None, ("m", 8)).unwrap(), ("m".to_string(), 8));
        let e = embedding_reuse(&c, "t", None, None, ("m", 16)).unwrap_err();
        assert_eq!(e.refusal.sqlstate(), "22023");
        assert!(e.hint.contains("rag_set_embedding_model"), "{}", e.hint);
        assert_eq!(embedding_reuse(&c, "t", Some("other"), None, ("m", 8)).unwrap_err().refusal.sqlstate(), "22023");
        assert_eq!(embedding_reuse(&c, "t", None, Some(4), ("m", 8)).unwrap_err().refusal.sqlstate(), "22023");
        let untyped = col("embedding", "vector");
        assert_eq!(embedding_reuse(&untyped, "t", None, Some(8), ("m", 8)).unwrap().1, 8);
        assert_eq!(embedding_reuse(&untyped, "t", None, Some(4), ("m", 8)).unwrap_err().refusal.sqlstate(), "22023");
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("we\"ird name"), "\"we\"\"ird name\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }

    #[test]
    fn doc_ids_and_prefixes() {
        assert_eq!(doc_id("wiki_pages", "42"), "wiki_pages:42");
        assert!(check_prefix("wiki_pages").is_ok());
        for bad in ["", "  ", "a:b"] {
            assert_eq!(check_prefix(bad).unwrap_err().refusal.sqlstate(), "22023");
        }
        let prefixes = vec!["wiki".to_string(), "wiki_pages".to_string()];
        assert_eq!(owning_prefix("wiki_pages:42", &prefixes), Some("wiki_pages"));
        assert_eq!(owning_prefix("wiki:1", &prefixes), Some("wiki"));
        assert_eq!(owning_prefix("wiki", &prefixes), None);
        assert_eq!(owning_prefix("wikipedia:1", &prefixes), None);
        assert_eq!(owning_prefix("board_post:12", &prefixes), None);
    }

    #[test]
    fn ordinals_are_clamped() {
        assert_eq!(ordinal(Some(3)), 3);
        assert_eq!(ordinal(Some(-1)), 0);
        assert_eq!(ordinal(None), 0);
        assert_eq!(ordinal(Some(i64::MAX)), i32::MAX);
    }

    #[test]
    fn phases_walk_pages_before_chunks() {
        assert_eq!(Role::phases(Kind::Pages), &[Role::Pages, Role::Chunks]);
        assert_eq!(Role::Pages.next_phase(Kind::Pages), Some(Role::Chunks));
        assert_eq!(Role::Chunks.next_phase(Kind::Pages), None);
        assert_eq!(Role::Documents.next_phase(Kind::Documents), None);
        for r in [Role::Documents, Role::Pages, Role::Chunks] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    fn src(key: &str, doc: i64, ordinal: i32, hash: u8) -> SourceChunk {
        SourceChunk { key: key.into(), document_id: doc, ordinal, hash: vec![hash] }
    }

    fn proj(id: i64, key: &str, doc: i64, ordinal: i32, hash: u8) -> ProjectedChunk {
        ProjectedChunk { id, key: key.into(), document_id: doc, ordinal, hash: vec![hash] }
    }

    #[test]
    fn chunk_sync_keeps_renumbers_replaces_and_deletes() {
        let source = [src("1", 10, 0, 1), src("2", 10, 5, 2), src("3", 10, 2, 9), src("4", 11, 0, 4), src("5", 10, 3, 5)];
        let projected = [
            proj(100, "1", 10, 0, 1),  // unchanged
            proj(101, "2", 10, 1, 2),  // moved
            proj(102, "3", 10, 2, 3),  // new text
            proj(103, "4", 10, 0, 4),  // other page
            proj(104, "6", 10, 4, 6),  // gone from the source
            proj(105, "1", 10, 0, 1),  // a duplicate
        ];
        let plan = plan_chunk_sync(&source, &projected);
        assert_eq!(plan.kept, vec![100, 101]);
        assert_eq!(plan.renumbers, vec![(101, 5)]);
        assert_eq!(plan.inserts, vec![2, 3, 4]);
        assert_eq!(plan.deletes, vec![102, 103, 104, 105]);
    }

    #[test]
    fn unchanged_chunks_plan_nothing() {
        let plan = plan_chunk_sync(&[src("1", 10, 0, 1)], &[proj(100, "1", 10, 0, 1)]);
        assert_eq!(plan, ChunkSync { kept: vec![100], ..ChunkSync::default() });
    }

    #[test]
    fn progress_arithmetic() {
        assert_eq!(rows_remaining(100, 30), 70);
        assert_eq!(rows_remaining(100, 130), 0);
        assert_eq!(rows_per_second(1000, 2000), 500.0);
        assert_eq!(rows_per_second(0, 0), 0.0);
    }
}
