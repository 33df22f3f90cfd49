//! Validated arguments of rag_hybrid_search.

use crate::sql_types::JsonbText;
use rag_core::fusion::Weights;
use rag_core::json_text::JsonType;
use serde_json::Value;

use crate::error::{invalid_parameter, null_value};
use crate::guc;

/// The largest top_k (and rag_candidate_pages limit) accepted.
pub const MAX_TOP_K: i32 = 1000;

pub use rag_core::search::{Fusion, Mode};
use rag_core::search::MODES;

pub fn parse_mode(mode: Option<&str>) -> Mode {
    Mode::parse(mode).unwrap_or_else(|e| invalid_parameter(e, format!("Valid modes are: {MODES}.")))
}

fn parse_fusion(s: &str) -> Fusion {
    Fusion::parse(s).unwrap_or_else(|e| {
        invalid_parameter(e, "Valid values are: weighted, rrf (rag_search.fusion or options => '{\"fusion\": ...}').")
    })
}

/// Per-call options (`options` jsonb), defaulting to the settings.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub weights: Weights,
    pub fusion: Fusion,
    pub rrf_k: f64,
    pub oversample: i32,
    /// Neighbours on each side returned as context (0 = no context column).
    pub window: i32,
    /// Keep only hits whose window contains every query keyword.
    pub require_all_keywords: bool,
    /// Most candidates whose trigram signals weighted fusion computes, as a
    /// multiple of top_k.
    pub shortlist: i32,
    /// At most this many chunks of one document in the result (None: no cap).
    pub max_per_document: Option<i32>,
    /// Only the documents of one source (`"source"`): 0 for those of the
    /// ingestion functions, else an attached source's id (None: all).
    pub source: Option<i32>,
}

/// Which documents a search reads: those whose metadata contains
/// `metadata`, of source `source` (see SearchOptions::source).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub metadata: Option<JsonbText>,
    pub source: Option<i32>,
}

impl Scope {
    /// Whether some documents are left out (the filtered search paths).
    pub fn restricts(&self) -> bool {
        self.metadata.is_some() || self.source.is_some()
    }
}

/// Bounds of `max_per_document`.
pub const MAX_PER_DOCUMENT: i32 = 1000;

const OPTION_KEYS: &str =
    "weights, fusion, rrf_k, oversample, window, require_all_keywords, shortlist, max_per_document, source";

impl SearchOptions {
    pub fn from_json(options: Option<JsonbText>) -> SearchOptions {
        let mut o = SearchOptions {
            weights: guc::weights(),
            fusion: parse_fusion(&guc::fusion()),
            rrf_k: guc::rrf_k() as f64,
            oversample: guc::hybrid_oversample(),
            window: 0,
            require_all_keywords: false,
            shortlist: guc::trigram_shortlist(),
            max_per_document: None,
            source: None,
        };
        let Some(JsonbText(text)) = options else { return o };
        let obj = match JsonType::of(&text) {
            JsonType::Null => return o,
            JsonType::Object => match serde_json::from_str::<serde_json::Map<String, Value>>(&text) {
                Ok(obj) => obj,
                // Nesting past 128 levels, or a number beyond a double:
                // jsonb holds them, no option takes them.
                Err(e) => invalid_parameter(
                    format!("options cannot be read: {e}"),
                    format!("Pass an object of the keys {OPTION_KEYS}, with numbers, strings and booleans as values."),
                ),
            },
            found => invalid_parameter(
                format!("options must be a JSON object, not {}", found.described()),
                format!("Valid keys: {OPTION_KEYS}."),
            ),
        };
        for (key, value) in obj {
            match key.as_str() {
                "weights" => o.weights = parse_weights(&value, o.weights),
                "fusion" => match value.as_str() {
                    Some(s) => o.fusion = parse_fusion(s),
                    None => invalid_parameter("options.fusion must be a string", "Use \"weighted\" or \"rrf\"."),
                },
                "rrf_k" => o.rrf_k = number_in(&value, "rrf_k", 1.0, 10_000.0),
                "oversample" => o.oversample = number_in(&value, "oversample", 1.0, 1000.0) as i32,
                "window" => o.window = number_in(&value, "window", 0.0, 20.0) as i32,
                "shortlist" => o.shortlist = number_in(&value, "shortlist", 1.0, 1000.0) as i32,
                "max_per_document" => {
                    o.max_per_document = match value {
                        Value::Null => None,
                        v => match v.as_f64() {
                            Some(n) if (1.0..=f64::from(MAX_PER_DOCUMENT)).contains(&n) => Some(n as i32),
                            _ => invalid_parameter(
                                format!("options.max_per_document must be a number between 1 and {MAX_PER_DOCUMENT}"),
                                "It caps the chunks of one document in the result; null (or leaving it out) is no cap.",
                            ),
                        },
                    }
                }
                "source" => match value.as_str() {
                    Some(name) => o.source = Some(crate::attach::search_source(name)),
                    None => invalid_parameter(
                        "options.source must be a string",
                        "Name an attached table, e.g. {\"source\": \"public.wiki_chunks\"}, or \"rag_search.documents\".",
                    ),
                },
                "require_all_keywords" => match value.as_bool() {
                    Some(b) => o.require_all_keywords = b,
                    None => invalid_parameter(
                        "options.require_all_keywords must be a boolean",
                        "Pass {\"require_all_keywords\": true} or false (JSON booleans, not strings).",
                    ),
                },
                other => invalid_parameter(
                    format!("unknown option \"{other}\""),
                    format!("Valid keys: {OPTION_KEYS}."),
                ),
            }
        }
        o
    }
}

fn number_in(v: &Value, name: &str, min: f64, max: f64) -> f64 {
    match v.as_f64() {
        Some(x) if x.is_finite() && (min..=max).contains(&x) => x,
        _ => invalid_parameter(
            format!("options.{name} must be a number between {min} and {max}"),
            "Pass a JSON number in that range (not a string); README.md, Search, lists the options and their defaults.",
        ),
    }
}

fn parse_weights(v: &Value, mut w: Weights) -> Weights {
    let Some(obj) = v.as_object() else {
        invalid_parameter(
            "options.weights must be an object",
            "Example: {\"weights\": {\"vector\": 0.6, \"fts\": 0.3, \"title\": 0.05, \"lexical\": 0.05, \"entity\": 0.1}}.",
        );
    };
    for (key, value) in obj {
        let x = number_in(value, &format!("weights.{key}"), 0.0, 100.0);
        match key.as_str() {
            "vector" => w.vec = x,
            "fts" => w.fts = x,
            "title" => w.title = x,
            "lexical" => w.lex = x,
            "entity" => w.entity = x,
            other => invalid_parameter(
                format!("unknown weight \"{other}\""),
                "Valid weights: vector, fts, title, lexical, entity.",
            ),
        }
    }
    w
}

pub fn validate_top_k(top_k: Option<i32>, name: &str) -> i32 {
    match top_k {
        None => null_value(format!("{name} must not be NULL"), format!("Pass a {name} between 1 and {MAX_TOP_K}.")),
        Some(k) if !(1..=MAX_TOP_K).contains(&k) => invalid_parameter(
            format!("{name} {k} is out of range"),
            format!("Pass a {name} between 1 and {MAX_TOP_K}."),
        ),
        Some(k) => k,
    }
}

/// Refuses a search bigger than the operator allows (22023): more than
/// rag_search.max_candidates candidates (top_k × oversample), or the text
/// of more than rag_search.max_context_chunks chunks (top_k × (2·window + 1)).
pub fn enforce_limits(top_k: i32, oversample: i32, window: i32) {
    if let Err(e) = rag_core::search::check_limits(
        i64::from(top_k),
        i64::from(oversample),
        i64::from(window),
        guc::max_candidates(),
        guc::max_context_chunks(),
    ) {
        invalid_parameter(
            format!("search too large: {e}"),
            "Ask for fewer results, a smaller oversample or window, or have a superuser raise the limit.",
        );
    }
}

/// The value `options` gives `key`, when it is an object that gives one
/// (for callers that treat an option specially before `from_json` reads
/// and validates them all).
pub fn option_value(options: &Option<JsonbText>, key: &str) -> Option<Value> {
    let text = &options.as_ref()?.0;
    serde_json::from_str::<serde_json::Map<String, Value>>(text).ok()?.remove(key)
}

/// The scope of rag_candidate_pages' `options`: only `source`.
pub fn source_scope(options: Option<JsonbText>) -> Scope {
    let Some(JsonbText(text)) = options else { return Scope::default() };
    let hint = "rag_candidate_pages takes one option: {\"source\": \"public.wiki_chunks\"} (an attached table, or \"rag_search.documents\").";
    let obj = match JsonType::of(&text) {
        JsonType::Null => return Scope::default(),
        JsonType::Object => serde_json::from_str::<serde_json::Map<String, Value>>(&text)
            .unwrap_or_else(|e| invalid_parameter(format!("options cannot be read: {e}"), hint)),
        found => invalid_parameter(format!("options must be a JSON object, not {}", found.described()), hint),
    };
    let mut scope = Scope::default();
    for (key, value) in obj {
        match (key.as_str(), value.as_str()) {
            ("source", Some(name)) => scope.source = Some(crate::attach::search_source(name)),
            ("source", None) => invalid_parameter("options.source must be a string", hint),
            (other, _) => invalid_parameter(format!("unknown option \"{other}\""), hint),
        }
    }
    scope
}

pub fn validate_filter(filter: Option<JsonbText>) -> Option<JsonbText> {
    let found = filter.as_ref().map(|f| JsonType::of(&f.0));
    match found {
        None | Some(JsonType::Null) => None,
        Some(JsonType::Object) => filter,
        Some(found) => invalid_parameter(
            format!("filter must be a JSON object, not {}", found.described()),
            "The filter is matched as metadata @> filter, e.g. '{\"lang\": \"ko\"}'.",
        ),
    }
}
