//! What the stored columns depend on: the embedding model and dimension
//! (rag_set_embedding_model) and the text-search configuration
//! (rag_set_text_search_config), plus the tokenizer behind the stored
//! tsvector (rag_search.index_text).

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

use crate::error::{invalid_parameter, OrRaise};
use crate::{guc, queries};

use rag_core::embed::MAX_INDEXED_DIMENSION;

#[pg_schema]
mod rag_search {
    use pgrx::prelude::*;

    use crate::sql_types::{RegConfigArg, TsVectorValue};

    /// OID of the built-in `pg_catalog.simple` text search configuration.
    const SIMPLE_CONFIG: pg_sys::Oid = pg_sys::Oid::from_u32(3748);

    /// Text fed to `to_tsvector` for a chunk: the content plus particle-free
    /// stems of Korean words, so `탄핵을` is also indexed as `탄핵`.
    #[pg_extern(immutable, strict, parallel_safe)]
    fn index_text(content: &str) -> String {
        rag_core::text::index_text(content)
    }

    /// `to_tsvector(config, index_text(content))`, what a chunk's stored
    /// tsvector is built from (`chunk_tsvector`, below, adds the title).
    /// With the built-in `simple` configuration and English or Korean text
    /// it is built in Rust to the same bytes (PostgreSQL's parser is the
    /// largest cost of ingesting a chunk); anything else goes to PostgreSQL.
    #[pg_extern(immutable, strict, parallel_safe)]
    fn index_tsvector(config: RegConfigArg, content: &str) -> TsVectorValue {
        tsvector_of(config, content)
    }

    /// The stored tsvector of a chunk (the generated column
    /// `rag_search.chunks.tsv`): its document's title
    /// `rag_core::text::TITLE_REPEATS` times, then the chunk, as one field
    /// (`index_tsvector(config, title || ' ' || title || ' ' || title || ' ' || content)`).
    #[pg_extern(immutable, strict, parallel_safe)]
    fn chunk_tsvector(config: RegConfigArg, title: &str, content: &str) -> TsVectorValue {
        let text = rag_core::text::titled_text(title, content, rag_core::text::TITLE_REPEATS);
        tsvector_of(config, &text)
    }

    fn tsvector_of(config: RegConfigArg, content: &str) -> TsVectorValue {
        let text = rag_core::text::index_text(content);
        if config.0 == SIMPLE_CONFIG {
            if let Some(payload) = rag_core::tsvector::simple_tsvector(&text) {
                return TsVectorValue::from_payload(&payload);
            }
        }
        // SAFETY: to_tsvector_byid(regconfig, text) is a plain V1 function;
        // both arguments are non-null datums of the right types.
        let datum = unsafe {
            pgrx::direct_function_call_as_datum(
                pg_sys::to_tsvector_byid,
                &[Some(pg_sys::Datum::from(config.0)), text.into_datum()],
            )
        };
        match datum {
            Some(datum) => TsVectorValue::from_datum(datum),
            None => crate::error::internal("to_tsvector returned NULL"),
        }
    }
}

/// Switches the embedding model and/or dimension (defaults: the settings
/// rag_search.embedding_model and rag_search.embedding_dimension).
///
/// Every stored embedding becomes stale and is cleared, so search serves
/// only vectors of the new model and the backfill re-embeds everything. A
/// dimension change also rebuilds the HNSW index for the new dimension.
/// Calling it with the current model and dimension changes nothing. Needs
/// the ownership of the extension's tables (in practice a superuser).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rag_set_embedding_model(
    model: default!(Option<&str>, "NULL"),
    dimension: default!(Option<i32>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(embedding_model, String),
        name!(embedding_dim, i32),
        name!(previous_model, String),
        name!(previous_dim, i32),
        name!(embeddings_cleared, i64),
        name!(index_rebuilt, bool),
    ),
> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_set_embedding_model()");
    let model = model.map(str::to_string).unwrap_or_else(guc::embedding_model);
    let dimension = dimension.unwrap_or_else(guc::embedding_dimension);
    if model.trim().is_empty() {
        invalid_parameter("embedding model must not be empty", "Pass a model name such as 'qwen3-embedding:8b'.");
    }
    if !(1..=MAX_INDEXED_DIMENSION).contains(&dimension) {
        invalid_parameter(
            format!("embedding dimension {dimension} is out of range [1, {MAX_INDEXED_DIMENSION}]"),
            "HNSW indexes vectors of up to 2000 dimensions; Matryoshka models such as \
             qwen3-embedding can be truncated to 1024 or fewer.",
        );
    }
    require_table_owner("rag_set_embedding_model");
    let row = Spi::connect_mut(|client| {
        let state = client.update(queries::INDEX_STATE_LOCK, None, &[]).or_raise("lock index state");
        let (prev_model, prev_dim) =
            state.first().get_two::<String, i32>().or_raise("read index state");
        let prev_model = prev_model.unwrap_or_default();
        let prev_dim = prev_dim.unwrap_or_default();
        if prev_model == model && prev_dim == dimension {
            return (model.clone(), dimension, prev_model, prev_dim, 0i64, false);
        }
        let cleared = client.update(queries::EMBEDDINGS_CLEAR, None, &[]).or_raise("clear embeddings").len() as i64;
        let rebuilt = prev_dim != dimension;
        if rebuilt {
            let args: [DatumWithOid; 1] = [dimension.into()];
            client.update(queries::EMBEDDING_INDEX_REBUILD, None, &args).or_raise("rebuild the HNSW index");
        }
        let args: [DatumWithOid; 2] = [model.as_str().into(), dimension.into()];
        client.update(queries::INDEX_STATE_SET_MODEL, None, &args).or_raise("record model");
        // Backfill bookkeeping: failures of the old model are void, and the
        // embedding counter loses what was cleared (clearing bypasses the
        // chunk counting triggers).
        client.update(queries::BACKFILL_FAILURES_CLEAR_STALE, None, &args).or_raise("clear stale failures");
        let delta: [DatumWithOid; 2] = [0i64.into(), (-cleared).into()];
        client.update(queries::BACKFILL_COUNTS_ADD, None, &delta).or_raise("count cleared embeddings");
        (model.clone(), dimension, prev_model, prev_dim, cleared, rebuilt)
    });
    TableIterator::once(row)
}

/// Switches the text-search configuration of the stored tsvector (default
/// 'simple') and rebuilds the column and its GIN index. Queries use the same
/// configuration automatically.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rag_set_text_search_config(config: Option<&str>) -> String {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_set_text_search_config()");
    let Some(config) = config.filter(|c| !c.trim().is_empty()) else {
        invalid_parameter(
            "text search configuration must not be NULL or empty",
            "See \\dF in psql for the available configurations; 'simple' suits mixed Korean and English text.",
        );
    };
    require_table_owner("rag_set_text_search_config");
    Spi::connect_mut(|client| {
        client.update(queries::INDEX_STATE_LOCK, None, &[]).or_raise("lock index state");
        client.update(queries::TERM_STATS_LOCK, None, &[]).or_raise("lock term statistics");
        let args: [DatumWithOid; 1] = [config.into()];
        client.update(queries::TSVECTOR_REBUILD, None, &args).or_raise("rebuild tsvector column");
        client.update(queries::INDEX_STATE_SET_TS_CONFIG, None, &args).or_raise("record configuration");
        client
            .select(queries::INDEX_STATE_READ, None, &[])
            .or_raise("read configuration")
            .first()
            .get_by_name::<String, _>("text_search_config")
            .or_raise("read configuration")
            .unwrap_or_default()
    })
}

/// The model and text-search switches alter the chunks table (indexes,
/// columns): refuse early, with a hint, roles that do not own it.
fn require_table_owner(function: &str) {
    let owner = Spi::get_one::<bool>(queries::CHUNKS_OWNED).or_raise("check ownership").unwrap_or(false);
    if !owner {
        crate::error::raise(
            pgrx::PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("{function} must be run by the owner of rag_search.chunks"),
            "It rebuilds indexes and columns of the extension's tables: run it as a superuser (or the role that \
             created the extension).",
        );
    }
}
