//! Who the extension's own bookkeeping runs as, whether the installed SQL
//! objects belong to this library, and whether this transaction may write.
//!
//! Search and ingestion run as the caller, so table privileges and row-level
//! security apply to what they read and write. The extension's bookkeeping —
//! BM25 statistics, the query-embedding cache, the postings — belongs to the
//! extension's owner and is read and written only through
//! [`as_extension_owner`], by fixed statements with `$n` parameters: no role
//! needs (or gets) any privilege on those tables, so none can change what
//! another session sees.

use std::cell::Cell;
use std::ffi::CStr;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::error::raise;
use crate::queries;

/// The schema holding the extension's tables; created by the extension
/// script, so its owner is the role that created the extension.
const DATA_SCHEMA: &CStr = c"rag_search";

/// The role owning the extension's tables.
pub fn extension_owner() -> pg_sys::Oid {
    // SAFETY: a syscache lookup by oid inside a transaction; the tuple is
    // released before returning and only a plain field is copied out.
    unsafe {
        let namespace = pg_sys::get_namespace_oid(DATA_SCHEMA.as_ptr(), false);
        let tuple = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::NAMESPACEOID as i32,
            pg_sys::Datum::from(namespace),
        );
        if tuple.is_null() {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_SCHEMA_NAME,
                "schema rag_search does not exist",
                "The extension's data schema was dropped: restore it from a backup, or DROP EXTENSION rag_search and \
                 CREATE EXTENSION rag_search CASCADE.",
            );
        }
        let owner = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_namespace>(tuple)).nspowner;
        pg_sys::ReleaseSysCache(tuple);
        owner
    }
}

/// Restores the previous user when dropped (normal return or unwinding);
/// an ERROR's transaction or subtransaction abort restores it as well.
struct UserGuard {
    user: pg_sys::Oid,
    context: i32,
}

impl Drop for UserGuard {
    fn drop(&mut self) {
        // SAFETY: restores exactly what GetUserIdAndSecContext returned.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
    }
}

/// Runs `f` as the extension's owner, in a security-restricted operation
/// (no SET ROLE, no temporary objects), as PostgreSQL itself does for
/// maintenance commands. For the extension's own fixed statements only.
pub fn as_extension_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner = extension_owner();
    let (mut user, mut context) = (pg_sys::InvalidOid, 0i32);
    // SAFETY: reads and sets the backend's current user; the guard puts the
    // previous values back.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut user, &mut context) };
    let _guard = UserGuard { user, context };
    let restricted = (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32;
    // SAFETY: see above.
    unsafe { pg_sys::SetUserIdAndSecContext(owner, context | restricted) };
    f()
}

thread_local! {
    /// The installed objects were found to match this library once; an
    /// extension is not downgraded under a running backend.
    static SCHEMA_CHECKED: Cell<bool> = const { Cell::new(false) };
}

/// Raises 55000 when the SQL objects installed in this database are of
/// another version than this library (the library was upgraded and
/// `ALTER EXTENSION rag_search UPDATE` has not run yet): the statements of
/// this library would meet tables they do not know.
pub fn require_current_schema() {
    if SCHEMA_CHECKED.with(Cell::get) {
        return;
    }
    let library = env!("CARGO_PKG_VERSION");
    let installed = queries::select_one::<String>(queries::EXTENSION_VERSION, &[], "read the installed version");
    match installed {
        Some(v) if v == library => SCHEMA_CHECKED.with(|c| c.set(true)),
        Some(v) => raise(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("rag_search {v} is installed in this database, but the server runs the rag_search {library} library"),
            format!("Run ALTER EXTENSION rag_search UPDATE TO '{library}' (see docs/runbook.md, Upgrading)."),
        ),
        None => {}
    }
}

/// Whether row-level security policies filter what the current role reads
/// of the documents or the chunks: a search then reads its lists as it
/// does under a metadata filter (an index scan can return rows the policy
/// removes).
pub fn row_security_filters() -> bool {
    // SAFETY: catalog lookups by name inside a transaction; check_enable_rls
    // only reads the relation's flags and the role's attributes.
    unsafe {
        let namespace = pg_sys::get_namespace_oid(DATA_SCHEMA.as_ptr(), true);
        [c"documents", c"chunks"].iter().any(|table| {
            let relation = pg_sys::get_relname_relid(table.as_ptr(), namespace);
            relation != pg_sys::InvalidOid
                && pg_sys::check_enable_rls(relation, pg_sys::InvalidOid, true)
                    == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
        })
    }
}

/// Why the current transaction cannot write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOnly {
    /// The server is a hot standby (or still recovering).
    Standby,
    /// A read-only transaction on a primary.
    Transaction,
}

/// None when the current transaction may write.
pub fn read_only() -> Option<ReadOnly> {
    // SAFETY: plain reads of backend-global state.
    unsafe {
        if pg_sys::RecoveryInProgress() {
            Some(ReadOnly::Standby)
        } else if pg_sys::XactReadOnly {
            Some(ReadOnly::Transaction)
        } else {
            None
        }
    }
}

/// Whether the current transaction may write: searches skip their
/// bookkeeping writes (the query-embedding cache) when it may not.
pub fn writable() -> bool {
    read_only().is_none()
}

/// Raises 25006 (read_only_sql_transaction) with a hint when the current
/// transaction cannot write: every function of the extension that writes
/// calls it first, so that on a hot standby or in a read-only transaction it
/// fails at once with a clear message rather than halfway through.
pub fn require_writable(action: &str) {
    match read_only() {
        None => {}
        Some(ReadOnly::Standby) => raise(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            format!("{action} cannot run on a hot standby"),
            "This server is a read-only replica: connect to the primary to ingest, change the model or run the \
             backfill. Searches, rag_stats() and rag_backfill_status() work here.",
        ),
        Some(ReadOnly::Transaction) => raise(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            format!("{action} cannot run in a read-only transaction"),
            "Run it in a read-write transaction on the primary (BEGIN READ WRITE, or SET \
             default_transaction_read_only = off).",
        ),
    }
}

#[pg_schema]
mod rag_search {
    use pgrx::prelude::*;

    /// Raises 25006 with a hint when the current transaction cannot write
    /// (hot standby, read-only transaction). The extension's SQL functions
    /// that write call it first, as its Rust functions do.
    #[pg_extern]
    #[search_path(pg_catalog, pg_temp)]
    fn require_writable(action: &str) {
        super::require_writable(action);
    }
}
