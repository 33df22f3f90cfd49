//! The statement trigger on the tables of an attached source
//! (sql/attach.sql installs it): after each INSERT, UPDATE, DELETE or
//! TRUNCATE it brings the projection of the rows the statement touched in
//! line, in the same transaction, so search sees the change as soon as the
//! statement does. An update that changed no mapped value finds no key and
//! writes nothing.

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use rag_core::attach::Role;

use super::{load, project, render, Source};
use crate::error::{raise, OrRaise};
use crate::queries;
use crate::security::as_extension_owner;

#[pg_schema]
pub mod rag_search {
    use std::convert::Infallible;

    use pgrx::prelude::*;
    use pgrx::WhoAllocated;

    /// `rag_search.attached_source_changed(source id)`: made SECURITY
    /// DEFINER with a pinned search_path by sql/attach.sql; not executable
    /// by PUBLIC.
    #[pg_trigger]
    fn attached_source_changed<'a>(
        trigger: &'a PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, impl WhoAllocated>>, Infallible> {
        super::source_changed(trigger);
        Ok(None::<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>)
    }
}

fn source_changed(trigger: &PgTrigger<'_>) {
    crate::security::require_current_schema();
    let source_id = trigger.extra_args().ok().and_then(|a| a.first().and_then(|s| s.parse::<i32>().ok()));
    let (Some(source_id), Ok(relid), Ok(op)) = (source_id, trigger.relid(), trigger.op()) else {
        raise(
            PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
            "rag_search.attached_source_changed() must be installed by rag_attach",
            "",
        );
    };
    let new_table = trigger.new_transition_table_name().ok().flatten().map(str::to_string);
    let old_table = trigger.old_transition_table_name().ok().flatten().map(str::to_string);
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            // SAFETY: the TriggerData PostgreSQL passed to this call, valid
            // for the whole call; registering it makes the transition
            // tables visible to this SPI connection's queries.
            unsafe {
                pg_sys::SPI_register_trigger_data(std::ptr::from_ref(trigger.trigger_data()).cast_mut());
            }
            // Detached by this transaction before the trigger fired: nothing
            // to keep current.
            let Some(source) = load(client, source_id) else { return };
            let role = source.role_of(relid);
            let keys = match op {
                PgTriggerOperation::Truncate => {
                    project::truncate(client, &source, role);
                    return;
                }
                PgTriggerOperation::Insert => keys(client, &source, role, queries::ATTACH_KEYS_INSERTED, &new_table, &old_table),
                PgTriggerOperation::Delete => keys(client, &source, role, queries::ATTACH_KEYS_DELETED, &new_table, &old_table),
                PgTriggerOperation::Update => keys(client, &source, role, queries::ATTACH_KEYS_UPDATED, &new_table, &old_table),
            };
            if !keys.is_empty() {
                project::sync_keys(client, &source, role, &keys);
            }
        })
    });
}

/// The keys a statement touched, from its transition tables.
fn keys(
    client: &SpiClient<'_>,
    source: &Source,
    role: Role,
    template: &str,
    new_table: &Option<String>,
    old_table: &Option<String>,
) -> Vec<String> {
    let Some(t) = source.mapping.sql(role) else { return Vec::new() };
    let quote = |name: &Option<String>| name.as_deref().map(rag_core::attach::quote_ident).unwrap_or_default();
    let (new, old) = (quote(new_table), quote(old_table));
    let sql = render(template, &[("key", &t.key), ("changed", &t.changed), ("new", &new), ("old", &old)]);
    client
        .select(&sql, None, &[])
        .or_raise("read changed keys")
        .first()
        .get_one::<Vec<String>>()
        .or_raise("read changed keys")
        .unwrap_or_default()
}
