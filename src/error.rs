//! Errors raised to SQL, each with a SQLSTATE and, where it helps, a hint.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Raises an ERROR with SQLSTATE, message and hint; never returns.
pub fn raise(code: PgSqlErrorCode, message: impl Into<String>, hint: impl Into<String>) -> ! {
    let message: String = message.into();
    let hint: String = hint.into();
    let mut report = ErrorReport::new(code, message, "rag_search");
    if !hint.is_empty() {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

pub fn invalid_parameter(message: impl Into<String>, hint: impl Into<String>) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message, hint)
}

pub fn null_value(message: impl Into<String>, hint: impl Into<String>) -> ! {
    raise(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, message, hint)
}

/// An internal error (XX000): a state the extension never produces on
/// purpose. No input may lead here; the hint asks for a report.
pub fn internal(message: impl Into<String>) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        message,
        "This is a bug in rag_search: please report it with the statement that raised it and the server log around it.",
    )
}

/// Maps an SPI failure (which PostgreSQL already reported in detail for SQL
/// errors) to an internal error naming what we were doing.
pub fn spi_failed(context: &str, err: pgrx::spi::SpiError) -> ! {
    internal(format!("rag_search: {context}: {err}"))
}

/// `result.or_spi_error("context")` instead of unwrap in SQL functions.
pub trait OrRaise<T> {
    fn or_raise(self, context: &str) -> T;
}

impl<T> OrRaise<T> for Result<T, pgrx::spi::SpiError> {
    fn or_raise(self, context: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => spi_failed(context, e),
        }
    }
}
