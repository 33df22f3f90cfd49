//! Helpers shared by the `#[pg_test]` modules.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// The single value `sql` returns; panics on error or NULL.
pub fn one<T: IntoDatum + FromDatum>(sql: &str) -> T {
    Spi::get_one::<T>(sql).expect("query failed").expect("NULL result")
}

pub fn run(sql: &str) {
    Spi::run(sql).expect("statement failed")
}

/// Runs `sql` and returns "SQLSTATE|hint|message" of the error it raises,
/// or "00000||" when it succeeds.
pub fn error_of(sql: &str) -> String {
    run("CREATE OR REPLACE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
         DECLARE h text; m text;
         BEGIN
           EXECUTE q;
           RETURN '00000||';
         EXCEPTION WHEN OTHERS THEN
           GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT, m = MESSAGE_TEXT;
           RETURN SQLSTATE || '|' || coalesce(h, '') || '|' || m;
         END $f$");
    let args: [DatumWithOid; 1] = [sql.into()];
    Spi::get_one_with_args::<String>("SELECT pg_temp.error_of($1)", &args).expect("error_of failed").expect("NULL")
}

/// Asserts that `sql` fails with SQLSTATE `state` and a non-empty hint.
pub fn assert_error_with_hint(sql: &str, state: &str) {
    let got = error_of(sql);
    let mut parts = got.splitn(3, '|');
    let (code, hint) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    assert_eq!(code, state, "{sql}: {got}");
    assert!(!hint.is_empty(), "{sql} should carry a hint: {got}");
}
