//! Reading an operator's judged queries and judgments, as the caller (the
//! caller's privileges and row-level security apply). Tables come as
//! regclass; their columns are checked against rag_core::evaluate's
//! layouts, and statements name them by the schema-qualified name
//! PostgreSQL quotes, never by text a caller typed.

use std::collections::{HashMap, HashSet};

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use rag_core::evaluate::{
    check_columns, layout, ColumnKind, ColumnProblem, ExpectedColumn, Judgments, QRELS_COLUMNS, QUERY_COLUMNS,
};

use crate::error::{invalid_parameter, null_value, raise, OrRaise};
use crate::queries;
use crate::sql_types::RegClassArg;

/// One judged query.
pub struct JudgedQuery {
    pub id: String,
    pub text: String,
    /// Precomputed query vector (then no embedding call is made).
    pub vector: Option<Vec<f32>>,
}

/// The quoted, schema-qualified name of `table` (argument `argument`),
/// which must hold rows (a table, view, materialized view or foreign
/// table).
fn quoted_name(table: &RegClassArg, argument: &str) -> String {
    let args: [DatumWithOid; 1] = [table.0.into()];
    let ctx = "name the table";
    let (name, kind) = Spi::connect(|client| {
        let rows = client.select(queries::RELATION_NAME, None, &args).or_raise(ctx);
        let row = rows.into_iter().next()?;
        let name = row.get_by_name::<String, _>("name").or_raise(ctx)?;
        Some((name, row.get_by_name::<String, _>("kind").or_raise(ctx).unwrap_or_default()))
    })
    .unwrap_or_else(|| {
        raise(PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, format!("relation with OID {} does not exist", table.0), "")
    });
    if !matches!(kind.as_str(), "r" | "p" | "v" | "m" | "f") {
        raise(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("{argument} {name} is not a table or view"),
            format!("Pass the table (or a view) holding the {argument}."),
        );
    }
    name
}

/// Checks the columns of `table` (argument `argument`) against `expected`;
/// returns its quoted name and the optional columns it has.
/// The caller must be allowed to read every column used (the rows are read
/// as the caller, so row-level security applies too).
fn checked(table: &RegClassArg, argument: &str, expected: &[ExpectedColumn]) -> (String, Vec<&'static str>) {
    let name = quoted_name(table, argument);
    let args: [DatumWithOid; 1] = [table.0.into()];
    let ctx = "read the table's columns";
    let mut unreadable: Vec<String> = Vec::new();
    let found: Vec<(String, ColumnKind, String)> = Spi::connect(|client| {
        let rows = client.select(queries::RELATION_COLUMNS, None, &args).or_raise(ctx);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let text = |column: &str| row.get_by_name::<String, _>(column).or_raise(ctx);
            let column = text("name").unwrap_or_default();
            let kind = ColumnKind::of(
                &text("type_name").unwrap_or_default(),
                &text("category").unwrap_or_default(),
                text("element").as_deref(),
                row.get_by_name::<bool, _>("is_vector").or_raise(ctx).unwrap_or(false),
            );
            if !row.get_by_name::<bool, _>("readable").or_raise(ctx).unwrap_or(false) {
                unreadable.push(column.clone());
            }
            out.push((column, kind, text("shown").unwrap_or_default()));
        }
        out
    });
    let hint = format!(
        "{argument} must have the columns {}; rename or cast them in a view and pass the view.",
        layout(expected)
    );
    match check_columns(expected, &found) {
        Ok(present) => {
            let used = expected.iter().filter(|c| c.required || present.contains(&c.name));
            if let Some(column) = used.map(|c| c.name).find(|c| unreadable.iter().any(|u| u == c)) {
                raise(
                    PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                    format!("permission denied for {argument} table {name} (column \"{column}\")"),
                    format!("Judged queries and judgments are read with the privileges of the calling role: GRANT SELECT ON {name} to it."),
                );
            }
            (name, present)
        }
        Err(ColumnProblem::Missing { column }) => raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("column \"{column}\" of {argument} table {name} does not exist"),
            hint,
        ),
        Err(ColumnProblem::WrongType { column, found, expected }) => raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("column \"{column}\" of {argument} table {name} is of type {found}, expected {expected}"),
            hint,
        ),
    }
}

fn require(table: Option<RegClassArg>, argument: &str) -> RegClassArg {
    table.unwrap_or_else(|| {
        null_value(format!("{argument} must not be NULL"), format!("Pass a table name, e.g. '{argument}'::regclass."))
    })
}

/// The queries of table `table` (argument `argument`).
pub fn read_queries(table: Option<RegClassArg>, argument: &str) -> Vec<JudgedQuery> {
    let table = require(table, argument);
    let (name, present) = checked(&table, argument, &QUERY_COLUMNS);
    let sql = if present.contains(&"query_vector") {
        queries::render_relation(queries::EVALUATE_QUERIES_WITH_VECTORS, &name)
    } else {
        queries::render_relation(queries::EVALUATE_QUERIES, &name)
    };
    let ctx = "read the judged queries";
    let queries = Spi::connect(|client| {
        let rows = client.select(&sql, None, &[]).or_raise(ctx);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(id) = row.get_by_name::<String, _>("query_id").or_raise(ctx) else {
                null_value(format!("{argument} table {name} has a NULL query_id"), "Every query needs an id.");
            };
            let Some(text) = row.get_by_name::<String, _>("query").or_raise(ctx) else {
                null_value(format!("query {id} of {name} has no text (NULL query)"), "Every query needs its text.");
            };
            let vector = row.get_by_name::<Vec<Option<f32>>, _>("query_vector").or_raise(ctx).map(|v| {
                v.into_iter().collect::<Option<Vec<f32>>>().unwrap_or_else(|| {
                    null_value(format!("the query_vector of query {id} has a NULL element"), "Store complete vectors or NULL.")
                })
            });
            out.push(JudgedQuery { id, text, vector });
        }
        out
    });
    let mut seen = HashSet::new();
    for q in &queries {
        if !seen.insert(q.id.as_str()) {
            invalid_parameter(
                format!("query_id {} appears more than once in {name}", q.id),
                "Query ids must be unique (judgments refer to them).",
            );
        }
    }
    queries
}

/// The judgments of table `table`, by query id (a pair judged twice keeps
/// its highest relevance).
pub fn read_qrels(table: Option<RegClassArg>) -> HashMap<String, Judgments> {
    let table = require(table, "qrels");
    let (name, _) = checked(&table, "qrels", &QRELS_COLUMNS);
    let sql = queries::render_relation(queries::EVALUATE_QRELS, &name);
    let ctx = "read the judgments";
    Spi::connect(|client| {
        let rows = client.select(&sql, None, &[]).or_raise(ctx);
        let mut out: HashMap<String, Judgments> = HashMap::new();
        for row in rows {
            let field = |column: &str| row.get_by_name::<String, _>(column).or_raise(ctx);
            let (Some(query_id), Some(doc_id)) = (field("query_id"), field("doc_id")) else {
                null_value(format!("qrels table {name} has a NULL query_id or doc_id"), "Every judgment names a query and a document.");
            };
            let Some(relevance) = row.get_by_name::<i64, _>("relevance").or_raise(ctx) else {
                null_value(format!("qrels table {name} has a NULL relevance"), "Judge with an integer: 0 not relevant, 1 or more relevant.");
            };
            let judged = out.entry(query_id).or_default().entry(doc_id).or_insert(relevance);
            *judged = (*judged).max(relevance);
        }
        out
    })
}

/// The queries that have judgments, each with its judgments; a NOTICE
/// counts those without. No judged query at all is an error.
pub fn judged(queries: Vec<JudgedQuery>, qrels: &HashMap<String, Judgments>, argument: &str) -> Vec<(JudgedQuery, Judgments)> {
    let total = queries.len();
    let judged: Vec<(JudgedQuery, Judgments)> =
        queries.into_iter().filter_map(|q| qrels.get(&q.id).map(|j| (q, j.clone()))).collect();
    if judged.is_empty() {
        invalid_parameter(
            format!("no query of {argument} has judgments ({total} queries)"),
            "qrels.query_id must match queries.query_id (compared as text).",
        );
    }
    if judged.len() < total {
        pgrx::notice!("{} of {total} queries of {argument} have no judgments and are left out", total - judged.len());
    }
    judged
}
