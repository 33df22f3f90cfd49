//! `rag_search.*` settings with typed accessors.
//!
//! Superuser-only (`PGC_SUSET`): settings that point the server at a network
//! address or hold a secret, settings that decide what is stored for every
//! session (the embedding input of chunks), and the limits that bound the
//! cost of one search. The API key is also hidden from SHOW ALL and from
//! roles without pg_read_all_settings, and refused where a catalog would keep
//! it readable (ALTER DATABASE/ROLE … SET, CREATE FUNCTION … SET).

use std::ffi::{c_char, c_void, CStr, CString};

use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use rag_core::fusion::{DEFAULT_BM25, DEFAULT_WEIGHTS};

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
pub static EMBEDDING_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(120_000);
pub static EMBEDDING_MAX_CHARS: GucSetting<i32> = GucSetting::<i32>::new(2000);
pub static QUERY_TEMPLATE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(
    c"Instruct: Given a search query, retrieve relevant passages that answer the query\nQuery: {text}",
));
pub static WEIGHT_VECTOR: GucSetting<f64> = GucSetting::<f64>::new(DEFAULT_WEIGHTS.vec);
pub static WEIGHT_FTS: GucSetting<f64> = GucSetting::<f64>::new(DEFAULT_WEIGHTS.fts);
pub static WEIGHT_TITLE: GucSetting<f64> = GucSetting::<f64>::new(DEFAULT_WEIGHTS.title);
pub static WEIGHT_LEXICAL: GucSetting<f64> = GucSetting::<f64>::new(DEFAULT_WEIGHTS.lex);
/// Off until measured on an operator's data (rag_tune_weights).
pub static WEIGHT_ENTITY: GucSetting<f64> = GucSetting::<f64>::new(DEFAULT_WEIGHTS.entity);
pub static FUSION: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"weighted"));
pub static RRF_K: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static HYBRID_OVERSAMPLE: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static CANDIDATE_OVERSAMPLE: GucSetting<i32> = GucSetting::<i32>::new(4);
pub static TRIGRAM_SHORTLIST: GucSetting<i32> = GucSetting::<i32>::new(4);
pub static AUTO_MIN_COVERAGE: GucSetting<f64> = GucSetting::<f64>::new(0.9);
pub static AUTO_EMBEDDING_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(2000);
pub static MAX_QUERY_CHARS: GucSetting<i32> = GucSetting::<i32>::new(2000);
pub static BM25_K1: GucSetting<f64> = GucSetting::<f64>::new(DEFAULT_BM25.k1);
pub static BM25_B: GucSetting<f64> = GucSetting::<f64>::new(DEFAULT_BM25.b);
pub static QUERY_CACHE_MAX_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(100_000);
pub static MAX_CANDIDATES: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_MAX_CANDIDATES);
pub static MAX_CONTEXT_CHUNKS: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_MAX_CONTEXT_CHUNKS);

/// Default bound of the candidates one search ranks (top_k × oversample).
pub const DEFAULT_MAX_CANDIDATES: i32 = 10_000;
/// Default bound of the chunks whose text one search returns
/// (top_k × (2 × window + 1)).
pub const DEFAULT_MAX_CONTEXT_CHUNKS: i32 = 2_000;
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
        rag_core::embed::MAX_INDEXED_DIMENSION,
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
    define_api_key();
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
        GucContext::Suset,
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
          'passage: {title} {text}' for e5. Superuser only: it decides the stored embeddings every \
          session searches.",
        &DOCUMENT_TEMPLATE,
        GucContext::Suset,
        GucFlags::default(),
    );
    define_weight(c"rag_search.weight_vector", c"Weight of the vector signal in weighted hybrid fusion.", &WEIGHT_VECTOR);
    define_weight(c"rag_search.weight_fts", c"Weight of the full-text (BM25) signal in weighted hybrid fusion.", &WEIGHT_FTS);
    define_weight(c"rag_search.weight_title", c"Weight of the title trigram signal in weighted hybrid fusion.", &WEIGHT_TITLE);
    define_weight(c"rag_search.weight_lexical", c"Weight of the content trigram signal in weighted hybrid fusion.", &WEIGHT_LEXICAL);
    define_weight(
        c"rag_search.weight_entity",
        c"Weight of the entity signal (the query names entities a document's metadata lists) in weighted hybrid fusion.",
        &WEIGHT_ENTITY,
    );
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
        c"rag_search.trigram_shortlist",
        c"Candidates whose trigram signals weighted fusion computes, as a multiple of top_k.",
        c"Trigram similarity is computed only for candidates whose cheap (vector and BM25) score can \
          still reach the top_k with the best trigram contribution, and for at most top_k times this \
          many of them. Overridable per call with options => '{\"shortlist\": n}'.",
        &TRIGRAM_SHORTLIST,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.candidate_oversample",
        c"Chunk hits kept per requested page in rag_candidate_pages.",
        c"rag_candidate_pages keeps the best limit times this many chunks before grouping them by page, and more when they cover fewer than limit pages.",
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
        c"Bounds the work of one search; the cut falls on a character boundary. Superuser only.",
        &MAX_QUERY_CHARS,
        16,
        1_000_000,
        GucContext::Suset,
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
        c"Superuser only: the cache is shared by every session of the database.",
        &QUERY_CACHE_MAX_ENTRIES,
        0,
        100_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.max_candidates",
        c"Most candidates one search may rank: top_k times the oversampling.",
        c"rag_hybrid_search refuses top_k x oversample above it, rag_candidate_pages limit x \
          rag_search.candidate_oversample, with SQLSTATE 22023. Superuser only.",
        &MAX_CANDIDATES,
        100,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"rag_search.max_context_chunks",
        c"Most chunks whose text one search returns: top_k times (2 x window + 1).",
        c"Bounds the memory of one search to this many chunks' text; larger requests fail with \
          SQLSTATE 22023. Superuser only.",
        &MAX_CONTEXT_CHUNKS,
        10,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// Storage of rag_search.embedding_api_key, owned by PostgreSQL's GUC code.
static mut API_KEY: *mut c_char = std::ptr::null_mut();

/// The API key is superuser-only and hidden, and must not be stored where
/// other roles can read it: pg_db_role_setting (ALTER DATABASE/ROLE … SET)
/// and pg_proc.proconfig (CREATE FUNCTION … SET) are readable by everyone.
/// postgresql.conf, ALTER SYSTEM and SET in a superuser's session remain.
fn define_api_key() {
    // SAFETY: called once from _PG_init; PostgreSQL keeps the pointers
    // (static strings and a static variable) for the life of the process.
    unsafe {
        pg_sys::DefineCustomStringVariable(
            c"rag_search.embedding_api_key".as_ptr(),
            c"Bearer token sent to the embedding server.".as_ptr(),
            c"Superuser only and hidden from roles without pg_read_all_settings; never in error \
              messages. Set it in postgresql.conf or with ALTER SYSTEM: ALTER DATABASE/ROLE ... SET \
              would store it in a catalog every role can read, and is refused."
                .as_ptr(),
            &raw mut API_KEY,
            std::ptr::null(),
            pg_sys::GucContext::PGC_SUSET,
            (pg_sys::GUC_SUPERUSER_ONLY | pg_sys::GUC_NO_SHOW_ALL) as i32,
            Some(check_api_key),
            None,
            None,
        );
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_api_key(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    use pg_sys::GucSource::*;
    let stored_in_catalog = matches!(source, PGC_S_DATABASE | PGC_S_USER | PGC_S_DATABASE_USER | PGC_S_TEST);
    // SAFETY: PostgreSQL passes a valid pointer to the candidate value.
    let empty = unsafe { newval.is_null() || (*newval).is_null() || **newval == 0 };
    if !stored_in_catalog || empty {
        return true;
    }
    // SAFETY: the GUC_check_* strings are palloc'd, as guc.c expects.
    unsafe {
        pg_sys::GUC_check_errcode(pgrx::PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE as i32);
        pg_sys::GUC_check_errmsg_string = pg_sys::pstrdup(
            c"rag_search.embedding_api_key must not be stored in a catalog other roles can read".as_ptr(),
        );
        pg_sys::GUC_check_errhint_string = pg_sys::pstrdup(
            c"Set it in postgresql.conf or with ALTER SYSTEM SET rag_search.embedding_api_key (then \
              SELECT pg_reload_conf()); ALTER DATABASE/ROLE ... SET and CREATE FUNCTION ... SET keep \
              settings readable by every role."
                .as_ptr(),
        );
    }
    false
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
    // SAFETY: PostgreSQL's GUC code owns the string; read it as is.
    let key = unsafe { API_KEY };
    if key.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string kept by the GUC code.
    let key = unsafe { CStr::from_ptr(key) }.to_string_lossy().into_owned();
    Some(key).filter(|k| !k.is_empty())
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
        entity: WEIGHT_ENTITY.get(),
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

pub fn trigram_shortlist() -> i32 {
    TRIGRAM_SHORTLIST.get()
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

pub fn max_candidates() -> i64 {
    i64::from(MAX_CANDIDATES.get())
}

pub fn max_context_chunks() -> i64 {
    i64::from(MAX_CONTEXT_CHUNKS.get())
}
