//! The seeded input generator: one SQL call of the extension's surface per
//! input, with generated arguments.

use rag_core::fusion::Bm25;
use rag_core::tsvector::Bm25Query;

use super::text::{Draw, JSON_NUMBERS, METADATA_KEYS};
use super::{Arg, Check, Input, Kind};

/// Searches: the result rows are checked (ranks, scores, filter).
const SEARCH: &str = "SELECT r.rank, r.score, r.vector_score, r.fts_score, r.title_score, r.lexical_score, r.mode,
       CASE WHEN jsonb_typeof($4::text::jsonb) = 'object' THEN d.metadata @> $4::text::jsonb ELSE true END AS filter_ok
FROM rag_hybrid_search($1::text, $2::int, $3::text, $4::text::jsonb, $5::text::jsonb) AS r
LEFT JOIN rag_search.documents AS d ON d.doc_id = r.doc_id";

const SEARCH_WITH_VECTOR: &str = "SELECT r.rank, r.score, r.vector_score, r.fts_score, r.title_score, r.lexical_score, r.mode,
       CASE WHEN jsonb_typeof($5::text::jsonb) = 'object' THEN d.metadata @> $5::text::jsonb ELSE true END AS filter_ok
FROM rag_hybrid_search($1::text, $6::text::vector, $2::int, $3::text, $5::text::jsonb, $4::text::jsonb) AS r
LEFT JOIN rag_search.documents AS d ON d.doc_id = r.doc_id";

const SEARCH_DEFAULTS: &str = "SELECT r.rank, r.score, r.vector_score, r.fts_score, r.title_score, r.lexical_score, r.mode,
       true AS filter_ok
FROM rag_hybrid_search($1::text, $2::int) AS r";

const PAGES: &str =
    "SELECT doc_id, rank, hit_chunks, best_chunk_id, title_score FROM rag_candidate_pages($1::text, $2::int)";

const UPSERT: &str = "SELECT action, chunks, chunks_kept, chunks_added, chunks_removed
FROM rag_upsert_document($1::text, $2::text, $3::text, $4::text::jsonb, $5::text)";

const UPSERT_DEFAULTS: &str = "SELECT action, chunks, chunks_kept, chunks_added, chunks_removed
FROM rag_upsert_document($1::text, $2::text, $3::text)";

const UPSERT_MANY: &str = "SELECT doc_id, action, chunks, chunks_kept, chunks_added, chunks_removed
FROM rag_upsert_documents($1::text::jsonb)";

const DELETE: &str = "SELECT rag_delete_document($1::text)";

/// Settings a session may change, with the kind of value each takes.
const SETTINGS: &[(&str, SettingKind)] = &[
    ("rag_search.chunk_max_chars", SettingKind::Int),
    ("rag_search.chunk_overlap_chars", SettingKind::Int),
    ("rag_search.embedding_model", SettingKind::Text),
    ("rag_search.embedding_dimension", SettingKind::Int),
    ("rag_search.embedding_timeout", SettingKind::Duration),
    ("rag_search.embedding_max_chars", SettingKind::Int),
    ("rag_search.embedding_url", SettingKind::Url),
    ("rag_search.embedding_provider", SettingKind::Text),
    ("rag_search.query_template", SettingKind::Template),
    ("rag_search.document_template", SettingKind::Template),
    ("rag_search.weight_vector", SettingKind::Float),
    ("rag_search.weight_fts", SettingKind::Float),
    ("rag_search.weight_title", SettingKind::Float),
    ("rag_search.weight_lexical", SettingKind::Float),
    ("rag_search.fusion", SettingKind::Text),
    ("rag_search.rrf_k", SettingKind::Int),
    ("rag_search.hybrid_oversample", SettingKind::Int),
    ("rag_search.trigram_shortlist", SettingKind::Int),
    ("rag_search.candidate_oversample", SettingKind::Int),
    ("rag_search.auto_min_coverage", SettingKind::Float),
    ("rag_search.auto_embedding_timeout", SettingKind::Duration),
    ("rag_search.max_query_chars", SettingKind::Int),
    ("rag_search.max_candidates", SettingKind::Int),
    ("rag_search.max_context_chunks", SettingKind::Int),
    ("rag_search.bm25_k1", SettingKind::Float),
    ("rag_search.bm25_b", SettingKind::Float),
    ("rag_search.query_cache_max_entries", SettingKind::Int),
];

#[derive(Clone, Copy)]
enum SettingKind {
    Int,
    Float,
    Text,
    Duration,
    Url,
    Template,
}

const INTS: &[&str] = &[
    "-1", "0", "1", "10", "16", "20", "100", "150", "600", "1000", "1200", "2000", "10000", "50000", "100000",
    "100001", "1000000", "2147483647", "2147483648", "1e3", "abc", "", "NaN", " 7 ",
];
const FLOATS: &[&str] = &["0", "0.5", "1", "0.9", "10", "100", "101", "-0.1", "NaN", "Infinity", "1e-300", "abc", ""];
const DURATIONS: &[&str] = &["10ms", "100ms", "1s", "5", "0", "-1", "1h", "2000", "10min", "abc"];
const MODES: &[&str] = &["auto", "hybrid", "fts", "vector", "lexical"];
const ODD_MODES: &[&str] = &["FTS", " fts ", "fts+lexical", "", "hybrid;", "vectors", "Auto", "rrf", "lexical\n"];
const TOP_KS: &[i32] = &[-1, 0, 1, 2, 3, 5, 10, 50, 100, 999, 1000, 1001, i32::MAX, i32::MIN];
const TEXT_SEARCH_CONFIGS: &[&str] =
    &["simple", "english", "german", "pg_catalog.simple", "nonexistent", "a.b.c.d", "", " ", "simple'; --", "SIMPLE", "\"simple\""];
const OPTION_KEYS: &[&str] =
    &["weights", "fusion", "rrf_k", "oversample", "window", "require_all_keywords", "shortlist"];
const WEIGHT_KEYS: &[&str] = &["vector", "fts", "title", "lexical"];

/// Generates the inputs of one seed.
pub struct Generator {
    draw: Draw,
    /// Largest generated text, in characters.
    max_text: usize,
    /// URL of the fixture embedder the database points at.
    fixture_url: String,
    /// Dimension of the embeddings the database holds.
    dimension: usize,
}

/// Documents ids are mostly drawn from a small pool, so that upserts
/// update and deletes find documents.
const POOL: usize = 150;

impl Generator {
    pub fn new(seed: u64, max_text: usize, fixture_url: &str, dimension: usize) -> Generator {
        Generator { draw: Draw::new(seed), max_text, fixture_url: fixture_url.to_string(), dimension }
    }

    pub fn next_input(&mut self) -> Input {
        const WEIGHTS: &[u32] = &[300, 90, 60, 90, 110, 70, 40, 50, 15, 40, 30, 4, 4, 60, 20, 10, 8];
        match self.draw.weighted(WEIGHTS) {
            0 => self.search(),
            1 => self.search_with_vector(),
            2 => self.search_defaults(),
            3 => self.pages(),
            4 => self.upsert(),
            5 => self.upsert_many(),
            6 => self.delete(),
            7 => self.setting(),
            8 => Input::new(Kind::Reset, "RESET ALL", vec![], Check::None),
            9 => self.backfill_step(),
            10 => self.backfill_other(),
            11 => self.model(),
            12 => self.text_search_config(),
            13 => self.internal_function(),
            14 => self.nul(),
            15 => self.maintenance(),
            _ => self.worker(),
        }
    }

    fn text(&mut self) -> Arg {
        if self.draw.chance(0.05) {
            return Arg::Text(None);
        }
        Arg::Text(Some(self.draw.text(self.max_text)))
    }

    fn query(&mut self) -> Option<String> {
        if self.draw.chance(0.04) {
            None
        } else {
            Some(self.draw.query(self.max_text))
        }
    }

    fn top_k(&mut self) -> Option<i32> {
        match self.draw.weighted(&[4, 30, 66]) {
            0 => None,
            1 => Some(*self.draw.pick(TOP_KS)),
            _ => Some(self.draw.between(1, 20) as i32),
        }
    }

    fn mode(&mut self) -> Option<String> {
        match self.draw.weighted(&[4, 12, 84]) {
            0 => None,
            1 => Some(if self.draw.chance(0.7) { self.draw.pick(ODD_MODES).to_string() } else { self.draw.text(40) }),
            _ => Some(self.draw.pick(MODES).to_string()),
        }
    }

    /// `filter`: mostly metadata-like objects, sometimes anything.
    fn filter(&mut self) -> Option<String> {
        Some(match self.draw.weighted(&[35, 8, 30, 10, 5, 5, 4, 3]) {
            0 => return None,
            1 => "{}".to_string(),
            2 => self.metadata_like(),
            3 => self.json_object(2),
            4 => format!("[{}]", self.draw.json_value(1)),
            5 => self.draw.json_value(0),
            6 => {
                let depth = self.draw.deep_level();
                self.draw.json_deep(depth)
            }
            _ => format!("{{\"n\": {}}}", self.draw.pick(JSON_NUMBERS)),
        })
    }

    /// `options`: objects of the known keys with right, boundary and wrong
    /// values; unknown keys; non-objects; deep nesting.
    fn options(&mut self) -> Option<String> {
        Some(match self.draw.weighted(&[25, 55, 6, 5, 5, 4]) {
            0 => return None,
            1 => {
                let n = self.draw.between(1, 4);
                let fields: Vec<String> = (0..n)
                    .map(|_| {
                        let key = if self.draw.chance(0.08) {
                            self.draw.text(12)
                        } else {
                            self.draw.pick(OPTION_KEYS).to_string()
                        };
                        let value = self.option_value(&key);
                        format!("{}:{value}", serde_json::Value::String(key))
                    })
                    .collect();
                format!("{{{}}}", fields.join(","))
            }
            2 => self.json_object(2),
            3 => self.draw.json_value(1),
            4 => {
                let depth = self.draw.deep_level();
                format!("{{\"weights\": {}}}", self.draw.json_deep(depth))
            }
            _ => format!("{{\"rrf_k\": {}}}", self.draw.pick(JSON_NUMBERS)),
        })
    }

    fn option_value(&mut self, key: &str) -> String {
        if self.draw.chance(0.2) {
            return self.draw.json_value(2);
        }
        match key {
            "weights" => {
                let n = self.draw.between(0, 5);
                let fields: Vec<String> = (0..n)
                    .map(|_| {
                        let k = if self.draw.chance(0.1) { "bogus".to_string() } else { self.draw.pick(WEIGHT_KEYS).to_string() };
                        let v = if self.draw.chance(0.7) {
                            format!("{}", self.draw.between(0, 100) as f64 / 10.0)
                        } else {
                            self.draw.pick(JSON_NUMBERS).to_string()
                        };
                        format!("\"{k}\":{v}")
                    })
                    .collect();
                format!("{{{}}}", fields.join(","))
            }
            "fusion" => {
                let values = ["\"weighted\"", "\"rrf\"", "\"RRF\"", "\"bogus\"", "1", "null", "[\"rrf\"]"];
                self.draw.pick(&values).to_string()
            }
            "require_all_keywords" => self.draw.pick(&["true", "false", "\"true\"", "1", "null"]).to_string(),
            "window" => self.draw.pick(&["0", "1", "2", "5", "20", "21", "-1", "1.5", "\"1\""]).to_string(),
            _ => {
                if self.draw.chance(0.6) {
                    format!("{}", self.draw.between(0, 120))
                } else {
                    self.draw.pick(JSON_NUMBERS).to_string()
                }
            }
        }
    }

    /// A metadata-like object: the keys and values the documents carry.
    fn metadata_like(&mut self) -> String {
        let n = self.draw.between(1, 3);
        let fields: Vec<String> = (0..n)
            .map(|_| match self.draw.between(0, 4) {
                0 => format!("\"lang\":\"{}\"", self.draw.pick(&["ko", "en", "de"])),
                1 => format!("\"tenant\":\"t{}\"", self.draw.between(1, 4)),
                2 => format!("\"tags\":[\"{}\"]", self.draw.pick(&["a", "b", "c"])),
                3 => format!("\"n\":{}", self.draw.between(0, 5)),
                _ => format!("\"nested\":{{\"a\":{}}}", self.draw.between(0, 2)),
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    }

    fn json_object(&mut self, depth: usize) -> String {
        let n = self.draw.between(0, 5);
        let fields: Vec<String> = (0..n)
            .map(|_| {
                let key = if self.draw.chance(0.6) { self.draw.pick(METADATA_KEYS).to_string() } else { self.draw.text(16) };
                format!("{}:{}", serde_json::Value::String(key), self.draw.json_value(depth))
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    }

    fn search(&mut self) -> Input {
        let top_k = self.top_k();
        let args = vec![
            Arg::Text(self.query()),
            Arg::Int(top_k),
            Arg::Text(self.mode()),
            Arg::Text(self.filter()),
            Arg::Text(self.options()),
        ];
        Input::new(Kind::Search, SEARCH, args, Check::Search { top_k })
    }

    fn search_defaults(&mut self) -> Input {
        let top_k = self.top_k();
        Input::new(Kind::Search, SEARCH_DEFAULTS, vec![Arg::Text(self.query()), Arg::Int(top_k)], Check::Search { top_k })
    }

    /// A vector literal: mostly of the stored dimension with ordinary
    /// components, sometimes zero, huge, tiny, of another dimension or not
    /// a vector at all.
    fn vector_literal(&mut self) -> Option<String> {
        let dim = match self.draw.weighted(&[80, 15, 5]) {
            0 => self.dimension,
            1 => self.draw.between(1, 40),
            _ => self.draw.between(0, 17_000),
        };
        let style = self.draw.weighted(&[70, 8, 6, 6, 5, 3, 2]);
        let components: Vec<String> = (0..dim)
            .map(|_| match style {
                0 => format!("{:.4}", self.draw.0.normal()),
                1 => "0".to_string(),
                2 => self.draw.pick(&["3e38", "-3e38", "1e38"]).to_string(),
                3 => self.draw.pick(&["1e-45", "-1e-45", "1e-38"]).to_string(),
                4 => format!("{}", self.draw.between(0, 1)),
                5 => self.draw.pick(&["NaN", "Infinity", "-Infinity", "1e39"]).to_string(),
                _ => self.draw.pick(&["x", "", " ", "1,", "[1]"]).to_string(),
            })
            .collect();
        if self.draw.chance(0.03) {
            return None;
        }
        Some(format!("[{}]", components.join(",")))
    }

    fn search_with_vector(&mut self) -> Input {
        let top_k = self.top_k();
        let args = vec![
            Arg::Text(self.query()),
            Arg::Int(top_k),
            Arg::Text(self.mode()),
            Arg::Text(self.options()),
            Arg::Text(self.filter()),
            Arg::Text(self.vector_literal()),
        ];
        Input::new(Kind::SearchWithVector, SEARCH_WITH_VECTOR, args, Check::Search { top_k })
    }

    fn pages(&mut self) -> Input {
        let limit = self.top_k();
        Input::new(Kind::CandidatePages, PAGES, vec![Arg::Text(self.query()), Arg::Int(limit)], Check::Pages { limit })
    }

    /// A document id: mostly from the pool, sometimes anything (empty,
    /// blank, huge, odd characters).
    fn doc_id(&mut self) -> Option<String> {
        match self.draw.weighted(&[3, 75, 12, 4, 3, 3]) {
            0 => None,
            1 => Some(format!("fz:{}", self.draw.between(1, POOL))),
            2 => Some(self.draw.text(60)),
            3 => Some(self.draw.pick(&["", " ", "\t\n", "\u{3000}", "\u{200B}"]).to_string()),
            4 => {
                let n = self.draw.between(1_000, 10_000);
                Some(self.draw.text_of(n))
            }
            _ => Some(format!("fz:{}{}", self.draw.between(1, POOL), self.draw.text(8))),
        }
    }

    fn metadata(&mut self) -> Option<String> {
        Some(match self.draw.weighted(&[10, 55, 15, 8, 5, 4, 3]) {
            0 => return None,
            1 => self.metadata_like(),
            2 => self.json_object(3),
            3 => self.draw.json_value(1),
            4 => {
                let depth = self.draw.deep_level();
                format!("{{\"deep\": {}}}", self.draw.json_deep(depth))
            }
            5 => format!("{{\"n\": {}, \"s\": {}}}", self.draw.pick(JSON_NUMBERS), self.draw.json_string(20)),
            _ => {
                // Many keys.
                let n = self.draw.between(100, 2_000);
                let fields: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
                format!("{{{}}}", fields.join(","))
            }
        })
    }

    /// Content: mostly text with paragraphs, sometimes empty or blank.
    fn content(&mut self) -> Option<String> {
        match self.draw.weighted(&[3, 10, 5, 82]) {
            0 => None,
            1 => Some(String::new()),
            2 => Some(self.draw.pick(super::text::WHITESPACE).repeat(self.draw.between(1, 100))),
            _ => {
                let n = self.draw.length(self.max_text);
                let mut s = self.draw.text_of(n);
                // Paragraphs and sentences for the chunker.
                if self.draw.chance(0.5) {
                    s = s.replacen(' ', ". ", 3).replacen(". ", ".\n\n", 2);
                }
                Some(s)
            }
        }
    }

    fn upsert(&mut self) -> Input {
        let doc_id = self.doc_id();
        let title = if self.draw.chance(0.03) {
            let n = self.draw.between(10_000, (self.max_text / 4).max(10_000));
            Some(self.draw.text_of(n))
        } else {
            Some(self.draw.query(200))
        };
        if self.draw.chance(0.2) {
            let args = vec![Arg::Text(doc_id), Arg::Text(title), Arg::Text(self.content())];
            return Input::new(Kind::Upsert, UPSERT_DEFAULTS, args, Check::Upsert);
        }
        let source = if self.draw.chance(0.5) { None } else { Some(self.draw.text(100)) };
        let args = vec![
            Arg::Text(doc_id),
            Arg::Text(title),
            Arg::Text(self.content()),
            Arg::Text(self.metadata()),
            Arg::Text(source),
        ];
        Input::new(Kind::Upsert, UPSERT, args, Check::Upsert)
    }

    /// A JSON string or null for a text field, rarely of the wrong type.
    fn json_text_field(&mut self, value: Option<String>) -> String {
        if self.draw.chance(0.03) {
            return self.draw.json_value(1);
        }
        match value {
            None => "null".to_string(),
            Some(s) => serde_json::Value::String(s).to_string(),
        }
    }

    fn upsert_many(&mut self) -> Input {
        // The payload stays within a few times the text limit.
        let n = match self.draw.weighted(&[5, 70, 20, 5]) {
            0 => 0,
            1 => self.draw.between(1, 10),
            2 => self.draw.between(10, 60),
            _ => self.draw.between(100, 400),
        };
        let max_text = self.max_text;
        self.max_text = (max_text / n.max(1)).max(200);
        let mut elements = Vec::with_capacity(n);
        for _ in 0..n {
            let element = match self.draw.weighted(&[88, 4, 4, 4]) {
                0 => {
                    let mut fields = Vec::new();
                    if !self.draw.chance(0.03) {
                        let id = self.doc_id();
                        fields.push(format!("\"doc_id\":{}", self.json_text_field(id)));
                    }
                    let title = Some(self.draw.query(100));
                    fields.push(format!("\"title\":{}", self.json_text_field(title)));
                    let content = self.content();
                    fields.push(format!("\"content\":{}", self.json_text_field(content)));
                    if self.draw.chance(0.7) {
                        let metadata = self.metadata().unwrap_or_else(|| "null".to_string());
                        fields.push(format!("\"metadata\":{metadata}"));
                    }
                    if self.draw.chance(0.3) {
                        let source = Some(self.draw.text(40));
                        fields.push(format!("\"source\":{}", self.json_text_field(source)));
                    }
                    if self.draw.chance(0.05) {
                        fields.push(format!("\"unknown\":{}", self.draw.json_value(2)));
                    }
                    format!("{{{}}}", fields.join(","))
                }
                1 => self.draw.json_value(1),
                2 => "null".to_string(),
                _ => {
                    let depth = self.draw.deep_level();
                    self.draw.json_deep(depth)
                }
            };
            elements.push(element);
        }
        self.max_text = max_text;
        // Any other JSON value succeeds only as an empty array.
        let (payload, elements) = match self.draw.weighted(&[94, 3, 3]) {
            0 => (Some(format!("[{}]", elements.join(","))), n),
            1 => (Some(self.draw.json_value(1)), 0),
            _ => (None, 0),
        };
        Input::new(Kind::UpsertMany, UPSERT_MANY, vec![Arg::Text(payload)], Check::UpsertMany { elements })
    }

    fn delete(&mut self) -> Input {
        Input::new(Kind::Delete, DELETE, vec![Arg::Text(self.doc_id())], Check::None)
    }

    fn setting(&mut self) -> Input {
        let (name, kind) = *self.draw.pick(SETTINGS);
        let value = match kind {
            SettingKind::Int => self.draw.pick(INTS).to_string(),
            SettingKind::Float => self.draw.pick(FLOATS).to_string(),
            SettingKind::Duration => self.draw.pick(DURATIONS).to_string(),
            SettingKind::Text => match self.draw.between(0, 3) {
                0 => self.draw.pick(&["weighted", "rrf", "ollama", "openai", "m"]).to_string(),
                _ => self.draw.text(30),
            },
            SettingKind::Url => match self.draw.between(0, 5) {
                0 | 1 => self.fixture_url.clone(),
                2 => "http://127.0.0.1:1".to_string(),
                3 => "not a url".to_string(),
                4 => "http://[::1".to_string(),
                _ => format!("{}/some/path?x=1", self.fixture_url),
            },
            SettingKind::Template => match self.draw.between(0, 4) {
                0 => "{text}".to_string(),
                1 => "query: {text} {text} {title}".to_string(),
                2 => String::new(),
                3 => "{{text}} {text".to_string(),
                _ => format!("{}{{text}}", self.draw.text(40)),
            },
        };
        Input::new(Kind::Setting, "SELECT set_config($1::text, $2::text, false)", vec![Arg::Text(Some(name.to_string())), Arg::Text(Some(value))], Check::None)
    }

    fn backfill_step(&mut self) -> Input {
        let batch = match self.draw.weighted(&[5, 15, 80]) {
            0 => None,
            1 => Some(*self.draw.pick(&[-1, 0, 4096, 4097, i32::MAX, i32::MIN])),
            _ => Some(self.draw.between(1, 64) as i32),
        };
        Input::new(Kind::BackfillStep, "SELECT * FROM rag_backfill_step($1::int)", vec![Arg::Int(batch)], Check::None)
    }

    fn backfill_other(&mut self) -> Input {
        match self.draw.between(0, 5) {
            0 => Input::new(Kind::Status, "SELECT * FROM rag_backfill_status()", vec![], Check::None),
            1 => Input::new(Kind::Status, "SELECT * FROM rag_backfill_progress", vec![], Check::None),
            2 => Input::new(Kind::Status, "SELECT * FROM rag_stats()", vec![], Check::None),
            3 => Input::new(Kind::Status, "SELECT * FROM rag_backfill_recount()", vec![], Check::None),
            _ => {
                let ids = match self.draw.between(0, 4) {
                    0 => None,
                    1 => Some(vec![]),
                    2 => Some(vec![Some(i64::MIN), Some(-1), Some(0), Some(i64::MAX)]),
                    3 => Some(vec![Some(1), None, Some(2)]),
                    _ => Some((0..self.draw.between(1, 50)).map(|_| Some(self.draw.between(1, 5_000) as i64)).collect()),
                };
                let waiting = if self.draw.chance(0.1) { None } else { Some(self.draw.chance(0.5)) };
                Input::new(
                    Kind::Status,
                    "SELECT * FROM rag_backfill_retry_failed($1::bigint[], $2::bool)",
                    vec![Arg::Ids(ids), Arg::Bool(waiting)],
                    Check::None,
                )
            }
        }
    }

    /// The background worker: starts with odd arguments (a valid one
    /// embeds a few chunks next to the other inputs), stops, resumes.
    fn worker(&mut self) -> Input {
        match self.draw.between(0, 3) {
            0 => Input::new(Kind::Worker, "SELECT * FROM rag_backfill_stop()", vec![], Check::None),
            1 => Input::new(Kind::Worker, "SELECT * FROM rag_backfill_resume()", vec![], Check::None),
            _ => {
                let mode = match self.draw.between(0, 3) {
                    0 => None,
                    1 => Some("bootstrap".to_string()),
                    2 => Some("maintenance".to_string()),
                    _ => Some(self.draw.text(20)),
                };
                let small = |d: &mut Draw| match d.between(0, 3) {
                    0 => None,
                    1 => Some(*d.pick(&[-1, 0, 4097, i32::MAX])),
                    _ => Some(d.between(1, 32) as i32),
                };
                let batch = small(&mut self.draw);
                let sleep = small(&mut self.draw);
                let report = small(&mut self.draw);
                // A bounded run: the worker stops after a few chunks.
                let max_chunks = match self.draw.between(0, 2) {
                    0 => Some(-1i64),
                    _ => Some(self.draw.between(1, 40) as i64),
                };
                Input::new(
                    Kind::Worker,
                    "SELECT * FROM rag_backfill_start($1::text, $2::int, $3::int, $4::bigint, $5::int)",
                    vec![Arg::Text(mode), Arg::Int(batch), Arg::Int(sleep), Arg::Bigint(max_chunks), Arg::Int(report)],
                    Check::None,
                )
            }
        }
    }

    fn model(&mut self) -> Input {
        let model = match self.draw.between(0, 4) {
            0 => None,
            1 => Some(String::new()),
            2 => Some(self.draw.text(30)),
            _ => Some("m".to_string()),
        };
        let dimension = match self.draw.between(0, 4) {
            0 => None,
            1 => Some(*self.draw.pick(&[-1, 0, 2000, 2001, i32::MAX])),
            _ => Some(self.dimension as i32),
        };
        Input::new(
            Kind::Model,
            "SELECT * FROM rag_set_embedding_model($1::text, $2::int)",
            vec![Arg::Text(model), Arg::Int(dimension)],
            Check::None,
        )
    }

    fn text_search_config(&mut self) -> Input {
        let config = match self.draw.between(0, 9) {
            0 => None,
            1 => Some(self.draw.text(20)),
            2..=5 => Some("simple".to_string()),
            _ => Some(self.draw.pick(TEXT_SEARCH_CONFIGS).to_string()),
        };
        Input::new(Kind::TextSearchConfig, "SELECT rag_set_text_search_config($1::text)", vec![Arg::Text(config)], Check::None)
    }

    /// The functions of schema rag_search that every role may call.
    fn internal_function(&mut self) -> Input {
        match self.draw.between(0, 4) {
            0 => Input::new(Kind::Internal, "SELECT rag_search.index_text($1::text)", vec![self.text()], Check::None),
            1 => {
                let config = if self.draw.chance(0.8) {
                    Some(self.draw.pick(&["simple", "english", "german"]).to_string())
                } else {
                    Some(self.draw.pick(TEXT_SEARCH_CONFIGS).to_string())
                };
                if self.draw.chance(0.5) {
                    Input::new(
                        Kind::Internal,
                        "SELECT rag_search.chunk_tsvector($1::text::regconfig, $2::text, $3::text)::text",
                        vec![Arg::Text(config), self.text(), self.text()],
                        Check::None,
                    )
                } else {
                    Input::new(
                        Kind::Internal,
                        "SELECT rag_search.index_tsvector($1::text::regconfig, $2::text)::text",
                        vec![Arg::Text(config), self.text()],
                        Check::None,
                    )
                }
            }
            2 | 3 => Input::new(
                Kind::Internal,
                "SELECT rag_search.bm25(rag_search.index_tsvector('simple', $1::text), $2::bytea)",
                vec![Arg::Text(Some(self.draw.query(2_000))), Arg::Bytes(Some(self.bm25_blob()))],
                Check::None,
            ),
            _ => {
                let sign = if self.draw.chance(0.7) {
                    *self.draw.pick(&[1i64, -1])
                } else {
                    *self.draw.pick(&[0i64, 2, i64::MAX, i64::MIN, -7])
                };
                Input::new(
                    Kind::Internal,
                    "SELECT * FROM rag_search.document_frequencies(
                         ARRAY[rag_search.index_tsvector('simple', $1::text), NULL,
                               to_tsvector('english', $2::text), rag_search.index_tsvector('simple', $1::text)], $3::bigint)",
                    vec![self.text(), self.text(), Arg::Bigint(Some(sign))],
                    Check::None,
                )
            }
        }
    }

    /// A BM25 query blob: a valid one, one with odd numbers, or a valid one
    /// with bytes flipped, cut or appended.
    fn bm25_blob(&mut self) -> Vec<u8> {
        let n = self.draw.between(0, 5);
        let terms: Vec<(String, f64)> = (0..n).map(|_| (self.draw.word(), self.draw.between(0, 80) as f64 / 10.0)).collect();
        let odd = [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e308, f64::MIN_POSITIVE];
        let (k1, b, avg) = if self.draw.chance(0.7) {
            (0.9, 0.4, 50.0)
        } else {
            (*self.draw.pick(&odd), *self.draw.pick(&odd), *self.draw.pick(&odd))
        };
        let mut blob = Bm25Query::new(terms, Bm25 { k1, b }, avg).to_blob();
        match self.draw.between(0, 5) {
            0 | 1 => {}
            2 => {
                for _ in 0..self.draw.between(1, 8) {
                    if !blob.is_empty() {
                        let i = self.draw.between(0, blob.len() - 1);
                        blob[i] ^= 1 << self.draw.between(0, 7);
                    }
                }
            }
            3 => blob.truncate(self.draw.between(0, blob.len())),
            4 => blob.extend((0..self.draw.between(1, 64)).map(|_| self.draw.between(0, 255) as u8)),
            _ => blob = (0..self.draw.between(0, 200)).map(|_| self.draw.between(0, 255) as u8).collect(),
        }
        blob
    }

    /// A NUL character cannot travel in a text value: the server must
    /// refuse it (22021) wherever it is sent, and a JSON \u0000 escape is
    /// refused by jsonb (22P05).
    fn nul(&mut self) -> Input {
        let with_nul = |d: &mut Draw| {
            let mut s = d.query(40);
            let at = s.char_indices().map(|(i, _)| i).nth(d.between(0, s.chars().count())).unwrap_or(s.len());
            s.insert(at, '\0');
            s
        };
        match self.draw.between(0, 4) {
            0 => {
                let q = with_nul(&mut self.draw);
                Input::new(Kind::Nul, SEARCH_DEFAULTS, vec![Arg::Text(Some(q)), Arg::Int(Some(5))], Check::Rejected("22021"))
            }
            1 => {
                let content = with_nul(&mut self.draw);
                let args = vec![Arg::Text(Some("fz:nul".into())), Arg::Text(Some("t".into())), Arg::Text(Some(content))];
                Input::new(Kind::Nul, UPSERT_DEFAULTS, args, Check::Rejected("22021"))
            }
            2 => {
                let id = with_nul(&mut self.draw);
                Input::new(Kind::Nul, DELETE, vec![Arg::Text(Some(id))], Check::Rejected("22021"))
            }
            3 => {
                let payload = format!("[{{\"doc_id\": \"fz:nul\", \"content\": \"a{}b\"}}]", "\\u0000");
                Input::new(Kind::Nul, UPSERT_MANY, vec![Arg::Text(Some(payload))], Check::Rejected("22P05"))
            }
            _ => {
                let q = with_nul(&mut self.draw);
                Input::new(Kind::Nul, PAGES, vec![Arg::Text(Some(q)), Arg::Int(Some(5))], Check::Rejected("22021"))
            }
        }
    }

    /// The bookkeeping the triggers run, called directly by the owner.
    fn maintenance(&mut self) -> Input {
        let due = Arg::Bool(Some(self.draw.chance(0.5)));
        if self.draw.chance(0.5) {
            Input::new(Kind::Maintenance, "SELECT rag_search.term_stats_compact($1::bool)", vec![due], Check::None)
        } else {
            Input::new(Kind::Maintenance, "SELECT rag_search.postings_merge($1::bool)", vec![due], Check::None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(input: &Input) -> String {
        format!("{:?} {:?}", input.kind, input.args)
    }

    #[test]
    fn the_same_seed_generates_the_same_inputs() {
        let a: Vec<String> = {
            let mut g = Generator::new(7, 5_000, "http://x", 8);
            (0..300).map(|_| describe(&g.next_input())).collect()
        };
        let mut g = Generator::new(7, 5_000, "http://x", 8);
        let b: Vec<String> = (0..300).map(|_| describe(&g.next_input())).collect();
        assert_eq!(a, b);
        let mut other = Generator::new(8, 5_000, "http://x", 8);
        assert_ne!(describe(&other.next_input()), a[0]);
    }

    #[test]
    fn every_kind_and_unicode_class_is_generated() {
        let mut g = Generator::new(1, 5_000, "http://x", 8);
        let inputs: Vec<Input> = (0..5_000).map(|_| g.next_input()).collect();
        for kind in Kind::ALL {
            assert!(inputs.iter().any(|i| i.kind == *kind), "{kind:?} never generated");
        }
        let texts: String = inputs
            .iter()
            .flat_map(|i| i.args.iter())
            .filter_map(|a| if let Arg::Text(Some(s)) = a { Some(s.as_str()) } else { None })
            .collect();
        for (name, range) in [
            ("Hangul", 0xAC00..=0xD7A3),
            ("CJK", 0x4E00..=0x9FFF),
            ("emoji", 0x1F300..=0x1FAFF),
            ("combining marks", 0x0300..=0x036F),
            ("Arabic", 0x0620..=0x064A),
            ("zero-width", 0x200B..=0x200D),
            ("private use", 0xE000..=0xF8FF),
            ("supplementary private use", 0xF0000..=0x10FFFD),
            ("C0 controls", 0x01..=0x1F),
        ] {
            assert!(texts.chars().any(|c| range.contains(&(c as u32))), "no {name}");
        }
        assert!(texts.contains('\u{D7FF}') || texts.contains('\u{E000}'), "no code point next to the surrogates");
        assert!(texts.contains("<->") && texts.contains(":*"), "no tsquery syntax");
        assert!(texts.contains("DROP TABLE"), "no SQL-looking text");
        assert!(texts.contains("1e400"), "no number beyond a double");
        assert!(super::super::text::NAN_LIKE.iter().all(|s| !s.contains('\0')));
    }
}
