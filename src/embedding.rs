//! Calling the embedding server from a backend or background worker.
//!
//! Builds the pgrx-free `rag_core::embed::EmbedClient` from the
//! `rag_search.*` settings and the model/dimension recorded in
//! `rag_search.index_state`, and makes every HTTP wait interruptible: query
//! cancel, statement_timeout and termination are noticed within ~100 ms.

use std::cell::RefCell;

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use rag_core::embed::{EmbedClient, EmbedConfig, EmbedError, Provider};

use crate::error::{raise, OrRaise};
use crate::{guc, queries};

/// What the stored embeddings must match: recorded in rag_search.index_state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub model: String,
    pub dimension: i32,
}

/// Reads the model and dimension the chunk table currently holds.
pub fn current_target() -> Target {
    Spi::connect(|client| {
        let t = client.select(queries::INDEX_STATE_READ, None, &[]).or_raise("read index state").first();
        let (model, dimension) = t.get_two::<String, i32>().or_raise("read index state");
        Target { model: model.unwrap_or_default(), dimension: dimension.unwrap_or(0) }
    })
}

/// Client configuration from the settings for `target`.
pub fn config_for(target: &Target) -> Result<EmbedConfig, String> {
    let provider = Provider::parse(&guc::embedding_provider())
        .map_err(|e| format!("rag_search.embedding_provider: {e}"))?;
    Ok(EmbedConfig {
        url: guc::embedding_url(),
        provider,
        model: target.model.clone(),
        dimension: target.dimension.max(1) as usize,
        timeout: guc::embedding_timeout(),
        max_chars: guc::embedding_max_chars(),
        api_key: guc::embedding_api_key(),
    })
}

thread_local! {
    // One client per backend keeps what it learned about the server (e.g.
    // that it only speaks the legacy /api/embeddings endpoint).
    static CLIENT: RefCell<Option<EmbedClient>> = const { RefCell::new(None) };
}

/// Embeds `inputs` with a client for `cfg`, reusing this backend's client
/// when the configuration is unchanged. `cancel` is polled while waiting.
pub fn embed_with(
    cfg: EmbedConfig,
    inputs: &[String],
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    CLIENT.with(|cell| {
        let mut slot = cell.borrow_mut();
        let reuse = slot.as_ref().is_some_and(|c| c.config() == &cfg);
        if !reuse {
            *slot = Some(EmbedClient::new(cfg));
        }
        match slot.as_mut() {
            Some(client) => client.embed(inputs, cancel),
            None => Err(EmbedError::Cancelled),
        }
    })
}

/// True when PostgreSQL has an interrupt waiting (query cancel,
/// statement_timeout, terminate).
pub fn interrupt_pending() -> bool {
    // SAFETY: a sig_atomic_t flag written by signal handlers; read volatile.
    unsafe { std::ptr::read_volatile(&raw const pg_sys::InterruptPending) != 0 }
}

/// Embeds in a regular backend. An interrupt during the HTTP wait is
/// serviced at once (raising the cancel or timeout error) instead of waiting
/// for the server.
pub fn embed_in_backend(cfg: EmbedConfig, inputs: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
    let result = embed_with(cfg, inputs, &interrupt_pending);
    if matches!(result, Err(EmbedError::Cancelled)) {
        pg_sys::check_for_interrupts!();
    }
    result
}

/// Raises an embedding failure as an SQL error (SQLSTATE 58000 for server
/// trouble, 22023 for a configuration problem). The message names the model
/// and URL, never the API key.
pub fn raise_embed_error(err: &EmbedError) -> ! {
    let code = match err {
        EmbedError::Config { .. } => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        EmbedError::Cancelled => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
        _ => PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
    };
    raise(
        code,
        format!("embedding request failed: {err}"),
        "Check rag_search.embedding_url and rag_search.embedding_provider, and that the model is \
         available on the server.",
    )
}
