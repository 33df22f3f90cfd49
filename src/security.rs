//! Who the extension's own bookkeeping runs as, and whether the installed
//! SQL objects belong to this library.
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
use pgrx::spi::Spi;
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
    let installed = Spi::get_one::<String>(queries::EXTENSION_VERSION).ok().flatten();
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
