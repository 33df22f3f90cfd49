//! Tables and columns as the catalog describes them, for rag_core::attach.

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use rag_core::attach::{quote_ident, Column, Table};

use crate::error::OrRaise;
use crate::queries;

/// A table, and whether the role asked about owns it.
pub struct TableInfo {
    pub oid: pg_sys::Oid,
    pub table: Table,
    pub owned: bool,
}

/// Table `oid` (None when it does not exist); `role`: whose ownership to
/// check (None: nobody's).
pub fn table(client: &SpiClient<'_>, oid: pg_sys::Oid, role: Option<pg_sys::Oid>) -> Option<TableInfo> {
    let ctx = "read table";
    let args: [DatumWithOid; 2] = [oid.into(), role.unwrap_or(pg_sys::InvalidOid).into()];
    let rows = client.select(queries::ATTACH_TABLE, None, &args).or_raise(ctx);
    if rows.is_empty() {
        return None;
    }
    let row = rows.first();
    let text = |name: &str| row.get_by_name::<String, _>(name).or_raise(ctx).unwrap_or_default();
    let schema = text("schema");
    let relname = text("relname");
    let table = Table {
        name: text("name"),
        sql: format!("{}.{}", quote_ident(&schema), quote_ident(&relname)),
        relname,
        kind: text("kind").chars().next().unwrap_or('?'),
        columns: columns(client, oid),
        primary_key: row.get_by_name::<Vec<String>, _>("primary_key").or_raise(ctx).unwrap_or_default(),
    };
    let owned = role.is_some() && row.get_by_name::<bool, _>("owned").or_raise(ctx).unwrap_or(false);
    Some(TableInfo { oid, table, owned })
}

fn columns(client: &SpiClient<'_>, oid: pg_sys::Oid) -> Vec<Column> {
    let ctx = "read columns";
    let args: [DatumWithOid; 1] = [oid.into()];
    client
        .select(queries::ATTACH_COLUMNS, None, &args)
        .or_raise(ctx)
        .map(|r| {
            let text = |name: &str| r.get_by_name::<String, _>(name).or_raise(ctx).unwrap_or_default();
            let flag = |name: &str| r.get_by_name::<bool, _>(name).or_raise(ctx).unwrap_or(false);
            let vector = flag("vector");
            Column {
                name: text("name"),
                type_name: text("type_name"),
                category: text("category").chars().next().unwrap_or('X'),
                integer: flag("integer"),
                jsonb: flag("jsonb"),
                vector,
                declared_dim: if vector { r.get_by_name::<i32, _>("typmod").or_raise(ctx) } else { None },
                comparable: flag("comparable"),
            }
        })
        .collect()
}
