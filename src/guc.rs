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
    // Reserve the prefix so typos such as rag_search.chunk_max_char are errors.
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

fn string_setting(s: &GucSetting<Option<CString>>) -> Option<String> {
    s.get().map(|c: CString| CStr::to_string_lossy(&c).into_owned())
}
