//! `rag_search.*` settings with typed accessors.
//!
//! Settings that point the server at a network address or hold a secret are
//! superuser-only (`PGC_SUSET`); the API key is also hidden from SHOW ALL and
//! from roles without pg_read_all_settings.

use std::ffi::{CStr, CString};

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static CHUNK_MAX_CHARS: GucSetting<i32> =
    GucSetting::<i32>::new(rag_core::chunk::DEFAULT_MAX_CHARS as i32);
pub static CHUNK_OVERLAP_CHARS: GucSetting<i32> =
    GucSetting::<i32>::new(rag_core::chunk::DEFAULT_OVERLAP_CHARS as i32);
pub static EMBEDDING_MODEL: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"qwen3-embedding:8b"));
pub static EMBEDDING_DIMENSION: GucSetting<i32> = GucSetting::<i32>::new(1024);
pub static EMBEDDING_URL: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"http://localhost:11434"));
pub static EMBEDDING_PROVIDER: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"ollama"));
pub static EMBEDDING_API_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static EMBEDDING_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(120_000);
pub static EMBEDDING_MAX_CHARS: GucSetting<i32> = GucSetting::<i32>::new(2000);
pub static QUERY_TEMPLATE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(
    c"Instruct: Given a search query, retrieve relevant passages that answer the query\nQuery: {text}",
));
pub static DOCUMENT_TEMPLATE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"{text}"));

pub fn init() {
    GucRegistry::define_int_guc(
        c"rag_search.chunk_max_chars",
        c"Maximum characters per chunk.",
        c"Chunks are cut at paragraph, sentence or word boundaries so that none exceeds this many \
          characters (not bytes). Changing it re-chunks a document on its next upsert.",
        &CHUNK_MAX_CHARS,
        rag_core::chunk::MIN_MAX_CHARS as i32,
        rag_core::chunk::MAX_MAX_CHARS as i32,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.chunk_overlap_chars",
        c"Characters of the previous chunk repeated at the start of the next one.",
        c"Must not exceed half of rag_search.chunk_max_chars.",
        &CHUNK_OVERLAP_CHARS,
        0,
        (rag_core::chunk::MAX_MAX_CHARS / 2) as i32,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"rag_search.embedding_model",
        c"Embedding model to switch to with rag_set_embedding_model().",
        c"The model the stored embeddings belong to is recorded in rag_search.index_state; this \
          setting is the default argument of rag_set_embedding_model().",
        &EMBEDDING_MODEL,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.embedding_dimension",
        c"Embedding dimension to switch to with rag_set_embedding_model().",
        c"Longer model outputs are truncated (Matryoshka) and L2-normalised to this dimension.",
        &EMBEDDING_DIMENSION,
        1,
        16000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"rag_search.embedding_url",
        c"Base URL of the embedding server.",
        c"Ollama (http://host:11434) or an OpenAI-compatible server (http://host:port). Superuser only: \
          it points the database server at a network address.",
        &EMBEDDING_URL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"rag_search.embedding_provider",
        c"Wire format of the embedding server: ollama or openai.",
        c"ollama uses POST /api/embed (falling back to /api/embeddings on old servers); openai uses \
          POST /v1/embeddings (llama.cpp server, vLLM, TEI, OpenAI). Superuser only.",
        &EMBEDDING_PROVIDER,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"rag_search.embedding_api_key",
        c"Bearer token sent to the embedding server.",
        c"Superuser only, and hidden from roles without pg_read_all_settings. Never appears in error \
          messages.",
        &EMBEDDING_API_KEY,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
    );
    GucRegistry::define_int_guc(
        c"rag_search.embedding_timeout",
        c"Timeout of one embedding HTTP request.",
        c"A query embedding that misses it makes rag_hybrid_search in auto mode fall back to \
          full-text and lexical search; a backfill batch that misses it is retried later.",
        &EMBEDDING_TIMEOUT_MS,
        100,
        3_600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"rag_search.embedding_max_chars",
        c"Maximum characters of one embedding input.",
        c"Longer inputs are cut at a character boundary before they are sent.",
        &EMBEDDING_MAX_CHARS,
        1,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"rag_search.query_template",
        c"Template of the text embedded for a search query.",
        c"{text} is replaced by the query. Models such as qwen3-embedding expect an instruction, e5 \
          expects 'query: {text}'.",
        &QUERY_TEMPLATE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"rag_search.document_template",
        c"Template of the text embedded for a chunk.",
        c"{text} is replaced by the chunk content and {title} by its document title, e.g. \
          'passage: {title} {text}' for e5.",
        &DOCUMENT_TEMPLATE,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// Reserves the `rag_search.` prefix so that typos such as
/// rag_search.chunk_max_char are errors. Call after every module has defined
/// its settings: placeholders still undefined at this point are removed.
pub fn reserve_prefix() {
    // SAFETY: called once from _PG_init with a static C string.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"rag_search".as_ptr()) };
}

pub fn chunk_max_chars() -> i32 {
    CHUNK_MAX_CHARS.get()
}

pub fn chunk_overlap_chars() -> i32 {
    CHUNK_OVERLAP_CHARS.get()
}

pub fn embedding_model() -> String {
    string_setting(&EMBEDDING_MODEL).unwrap_or_default()
}

pub fn embedding_dimension() -> i32 {
    EMBEDDING_DIMENSION.get()
}

pub fn embedding_url() -> String {
    string_setting(&EMBEDDING_URL).unwrap_or_default()
}

pub fn embedding_provider() -> String {
    string_setting(&EMBEDDING_PROVIDER).unwrap_or_default()
}

pub fn embedding_api_key() -> Option<String> {
    string_setting(&EMBEDDING_API_KEY).filter(|k| !k.is_empty())
}

pub fn embedding_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(EMBEDDING_TIMEOUT_MS.get().max(1) as u64)
}

pub fn embedding_max_chars() -> usize {
    EMBEDDING_MAX_CHARS.get().max(1) as usize
}

pub fn query_template() -> String {
    string_setting(&QUERY_TEMPLATE).unwrap_or_else(|| "{text}".to_string())
}

pub fn document_template() -> String {
    string_setting(&DOCUMENT_TEMPLATE).unwrap_or_else(|| "{text}".to_string())
}

fn string_setting(s: &GucSetting<Option<CString>>) -> Option<String> {
    s.get().map(|c: CString| CStr::to_string_lossy(&c).into_owned())
}
