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
pub static WEIGHT_VECTOR: GucSetting<f64> = GucSetting::<f64>::new(0.55);
pub static WEIGHT_FTS: GucSetting<f64> = GucSetting::<f64>::new(0.30);
pub static WEIGHT_TITLE: GucSetting<f64> = GucSetting::<f64>::new(0.05);
pub static WEIGHT_LEXICAL: GucSetting<f64> = GucSetting::<f64>::new(0.10);
pub static FUSION: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"weighted"));
pub static RRF_K: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static HYBRID_OVERSAMPLE: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static CANDIDATE_OVERSAMPLE: GucSetting<i32> = GucSetting::<i32>::new(100);
pub static AUTO_MIN_COVERAGE: GucSetting<f64> = GucSetting::<f64>::new(0.9);
pub static AUTO_EMBEDDING_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(2000);
pub static MAX_QUERY_CHARS: GucSetting<i32> = GucSetting::<i32>::new(2000);
pub static BM25_K1: GucSetting<f64> = GucSetting::<f64>::new(0.9);
pub static BM25_B: GucSetting<f64> = GucSetting::<f64>::new(0.4);
pub static QUERY_CACHE_MAX_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(100_000);
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
        crate::index_config::MAX_INDEXED_DIMENSION,
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
    define_weight(c"rag_search.weight_vector", c"Weight of the vector signal in weighted hybrid fusion.", &WEIGHT_VECTOR);
    define_weight(c"rag_search.weight_fts", c"Weight of the full-text (BM25) signal in weighted hybrid fusion.", &WEIGHT_FTS);
    define_weight(c"rag_search.weight_title", c"Weight of the title trigram signal in weighted hybrid fusion.", &WEIGHT_TITLE);
    define_weight(c"rag_search.weight_lexical", c"Weight of the content trigram signal in weighted hybrid fusion.", &WEIGHT_LEXICAL);
    GucRegistry::define_string_guc(
        c"rag_search.fusion",
        c"Hybrid fusion: weighted or rrf.",
        c"weighted: w_vec*vec + w_fts*fts + w_title*title + w_lex*lex over the candidate set; rrf: \
          reciprocal-rank fusion of the vector and full-text rankings with constant rag_search.rrf_k.",
        &FUSION,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.rrf_k",
        c"Constant k of reciprocal-rank fusion: score = sum of 1/(k + rank).",
        c"",
        &RRF_K,
        1,
        10_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.hybrid_oversample",
        c"Candidates per retriever in hybrid search, as a multiple of top_k.",
        c"The vector and full-text branches each return top_k times this many candidates before fusion.",
        &HYBRID_OVERSAMPLE,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.candidate_oversample",
        c"Chunk hits kept per requested page in rag_candidate_pages.",
        c"rag_candidate_pages keeps the best limit times this many chunks before grouping them by page.",
        &CANDIDATE_OVERSAMPLE,
        1,
        10_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"rag_search.auto_min_coverage",
        c"Embedding coverage below which auto mode skips vector search.",
        c"A fraction between 0 and 1 of chunks that must have an embedding for auto mode to run hybrid search.",
        &AUTO_MIN_COVERAGE,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.auto_embedding_timeout",
        c"Deadline of the query embedding in auto mode.",
        c"When the embedding server does not answer in time, auto mode falls back to full-text and lexical search.",
        &AUTO_EMBEDDING_TIMEOUT_MS,
        10,
        600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"rag_search.max_query_chars",
        c"Longer search queries are cut to this many characters.",
        c"Bounds the work of one search; the cut falls on a character boundary.",
        &MAX_QUERY_CHARS,
        16,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"rag_search.bm25_k1",
        c"BM25 term-frequency saturation k1.",
        c"",
        &BM25_K1,
        0.0,
        10.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"rag_search.bm25_b",
        c"BM25 length normalisation b.",
        c"",
        &BM25_B,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.query_cache_max_entries",
        c"Maximum rows kept in the query-embedding cache; 0 disables the cache.",
        c"",
        &QUERY_CACHE_MAX_ENTRIES,
        0,
        100_000_000,
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

fn define_weight(name: &'static CStr, short: &'static CStr, setting: &'static GucSetting<f64>) {
    GucRegistry::define_float_guc(
        name,
        short,
        c"Weights are overridable per call with options => '{\"weights\": {...}}'.",
        setting,
        0.0,
        100.0,
        GucContext::Userset,
        GucFlags::default(),
    );
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

pub fn weights() -> rag_core::fusion::Weights {
    rag_core::fusion::Weights {
        vec: WEIGHT_VECTOR.get(),
        fts: WEIGHT_FTS.get(),
        title: WEIGHT_TITLE.get(),
        lex: WEIGHT_LEXICAL.get(),
    }
}

pub fn fusion() -> String {
    string_setting(&FUSION).unwrap_or_else(|| "weighted".to_string())
}

pub fn rrf_k() -> i32 {
    RRF_K.get()
}

pub fn hybrid_oversample() -> i32 {
    HYBRID_OVERSAMPLE.get()
}

pub fn candidate_oversample() -> i32 {
    CANDIDATE_OVERSAMPLE.get()
}

pub fn auto_min_coverage() -> f64 {
    AUTO_MIN_COVERAGE.get()
}

pub fn auto_embedding_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(AUTO_EMBEDDING_TIMEOUT_MS.get().max(1) as u64)
}

pub fn max_query_chars() -> usize {
    MAX_QUERY_CHARS.get().max(1) as usize
}

pub fn bm25() -> rag_core::fusion::Bm25 {
    rag_core::fusion::Bm25 { k1: BM25_K1.get(), b: BM25_B.get() }
}

pub fn query_cache_max_entries() -> i64 {
    QUERY_CACHE_MAX_ENTRIES.get() as i64
}
