//! Generated strings and JSON texts for the SQL fuzzer: every Unicode class
//! a client may send, control characters, tsquery and websearch syntax,
//! SQL-looking text, mixed Korean and English, from empty to huge; JSON with
//! deep nesting, wrong types, numbers beyond a double and NaN-like strings.

use rag_search_bench::rng::Rng;

/// Seeded choices on top of the benchmark library's generator.
pub struct Draw(pub Rng);

impl Draw {
    pub fn new(seed: u64) -> Draw {
        Draw(Rng(seed))
    }

    /// Uniform in lo..=hi.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        self.0.between(lo, hi)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.0.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.between(0, items.len() - 1)]
    }

    /// An index into `weights`, drawn in proportion to the weights.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = (self.0.next_u64() % u64::from(total)) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// A character from the code point range lo..=hi (surrogates, which no
    /// Rust or PostgreSQL string can hold, become U+FFFD).
    fn code_point(&mut self, lo: u32, hi: u32) -> char {
        let cp = lo + (self.0.next_u64() % u64::from(hi - lo + 1)) as u32;
        char::from_u32(cp).unwrap_or('\u{FFFD}')
    }

    /// A length: mostly short, sometimes long, rarely up to `max`.
    pub fn length(&mut self, max: usize) -> usize {
        let hi = match self.weighted(&[40, 35, 15, 8, 2]) {
            0 => 20,
            1 => 200,
            2 => 2_000,
            3 => 20_000,
            _ => max,
        };
        self.between(0, hi.min(max))
    }

    /// A text of about `chars` characters made of pieces of every class.
    pub fn text_of(&mut self, chars: usize) -> String {
        let mut s = String::new();
        let mut n = 0;
        // Huge texts repeat a generated block, so that building them stays
        // cheap next to what the server does with them.
        let block_limit = 4_000;
        while n < chars.min(block_limit) {
            let piece = self.piece();
            n += piece.chars().count();
            s.push_str(&piece);
        }
        if chars > block_limit && !s.is_empty() {
            let block = s.clone();
            while n < chars {
                s.push_str(if self.chance(0.5) { " " } else { "\n\n" });
                s.push_str(&block);
                n += block.chars().count() + 1;
            }
        }
        s
    }

    /// A text of a drawn length up to `max` characters.
    pub fn text(&mut self, max: usize) -> String {
        let n = self.length(max);
        self.text_of(n)
    }

    /// A query: words the corpus holds, mixed with pieces of any class.
    pub fn query(&mut self, max: usize) -> String {
        match self.weighted(&[30, 50, 5, 5, 10]) {
            0 => {
                let n = self.between(1, 6);
                (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
            }
            1 => self.text(max),
            2 => String::new(),
            3 => self.pick(WHITESPACE).repeat(self.between(1, 50)),
            _ => {
                let mut s = self.word();
                for _ in 0..self.between(1, 5) {
                    s.push_str(&self.piece());
                    s.push_str(&self.word());
                }
                s
            }
        }
    }

    /// A word of the corpora the fuzzer ingests (English, Korean with and
    /// without particles).
    pub fn word(&mut self) -> String {
        let words = if self.chance(0.5) { ENGLISH } else { KOREAN };
        self.pick(words).to_string()
    }

    fn piece(&mut self) -> String {
        let class = self.between(0, 24);
        let n = self.between(1, 12);
        let mut s = String::new();
        match class {
            0 => (0..n).for_each(|_| s.push(self.code_point(0xAC00, 0xD7A3))), // Hangul syllables
            1 => (0..n).for_each(|_| s.push(self.code_point(0x1100, 0x11FF))), // Hangul jamo
            2 => (0..n).for_each(|_| s.push(self.code_point(0x3130, 0x318F))), // compatibility jamo
            3 => (0..n).for_each(|_| s.push(self.code_point(0x4E00, 0x9FFF))), // CJK
            4 => (0..n).for_each(|_| s.push(self.code_point(0x20000, 0x2A6DF))), // CJK extension B (4 bytes)
            5 => (0..n).for_each(|_| s.push(self.code_point(0x3040, 0x30FF))), // kana
            6 => (0..n).for_each(|_| s.push(self.code_point(0x1F300, 0x1FAFF))), // emoji
            7 => s.push_str(self.pick::<&str>(EMOJI_SEQUENCES)),
            8 => {
                // A base letter with stacked combining marks.
                s.push(self.code_point(0x61, 0x7A));
                (0..n).for_each(|_| s.push(self.code_point(0x0300, 0x036F)));
            }
            9 => (0..n).for_each(|_| s.push(self.code_point(0x0620, 0x064A))), // Arabic
            10 => (0..n).for_each(|_| s.push(self.code_point(0x05D0, 0x05EA))), // Hebrew
            11 => s.push(*self.pick(BIDI_CONTROLS)),
            12 => s.push(*self.pick(ZERO_WIDTH)),
            13 => s.push(*self.pick(EDGE_CODE_POINTS)),
            14 => match self.between(0, 2) {
                0 => (0..n).for_each(|_| s.push(self.code_point(0xE000, 0xF8FF))),
                1 => (0..n).for_each(|_| s.push(self.code_point(0xF0000, 0xFFFFD))),
                _ => (0..n).for_each(|_| s.push(self.code_point(0x100000, 0x10FFFD))),
            },
            15 => (0..n).for_each(|_| s.push(self.code_point(0x01, 0x1F))), // C0 controls (no NUL)
            16 => (0..n).for_each(|_| s.push(self.code_point(0x7F, 0x9F))), // DEL and C1 controls
            17 => s.push_str(self.pick::<&str>(WHITESPACE)),
            18 => s.push_str(self.pick::<&str>(TSQUERY_SYNTAX)),
            19 => s.push_str(self.pick::<&str>(WEBSEARCH_SYNTAX)),
            20 => s.push_str(self.pick::<&str>(SQL_LOOKING)),
            21 => s.push_str(self.pick::<&str>(NUMBER_LIKE)),
            22 => (0..n).for_each(|_| s.push(self.code_point(0x21, 0x7E))), // ASCII punctuation and letters
            23 => (0..n).for_each(|_| s.push(self.code_point(0xA0, 0x24F))), // Latin-1 and extended Latin
            _ => {
                s.push_str(&self.word());
                s.push(' ');
            }
        }
        if self.chance(0.4) {
            s.push(' ');
        }
        s
    }

    /// A JSON string literal of a drawn text.
    pub fn json_string(&mut self, max: usize) -> String {
        let text = if self.chance(0.2) { self.pick(NAN_LIKE).to_string() } else { self.text(max) };
        serde_json::Value::String(text).to_string()
    }

    pub fn json_number(&mut self) -> String {
        if self.chance(0.5) {
            self.pick(JSON_NUMBERS).to_string()
        } else {
            let x = (self.0.unit() - 0.5) * 10f64.powi(self.between(0, 12) as i32);
            format!("{x}")
        }
    }

    /// Any JSON value, nested at most `depth` levels.
    pub fn json_value(&mut self, depth: usize) -> String {
        let kinds: &[u32] = if depth == 0 { &[10, 20, 30, 0, 0] } else { &[10, 20, 30, 15, 15] };
        match self.weighted(kinds) {
            0 => self.pick(&["null", "true", "false"]).to_string(),
            1 => self.json_number(),
            2 => self.json_string(60),
            3 => {
                let n = self.between(0, 4);
                let items: Vec<String> = (0..n).map(|_| self.json_value(depth - 1)).collect();
                format!("[{}]", items.join(","))
            }
            _ => {
                let n = self.between(0, 4);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        let key = if self.chance(0.5) { self.pick(METADATA_KEYS).to_string() } else { self.text(12) };
                        format!("{}:{}", serde_json::Value::String(key), self.json_value(depth - 1))
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }

    /// A value nested `depth` levels deep in arrays or objects.
    pub fn json_deep(&mut self, depth: usize) -> String {
        let leaf = self.json_value(0);
        let object = self.chance(0.5);
        let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
        format!("{}{leaf}{}", open.repeat(depth), close.repeat(depth))
    }

    /// A deep nesting level: past serde_json's default limit of 128 and
    /// further.
    pub fn deep_level(&mut self) -> usize {
        *self.pick(&[127, 128, 129, 200, 1_000, 3_000])
    }
}

pub const ENGLISH: &[&str] = &[
    "search", "hybrid", "vector", "postgres", "PostgreSQL", "embedding", "index", "the", "a", "of", "query",
    "database", "backfill", "chunk", "full-text", "BM25", "trigram", "onions", "impeachment", "procedure",
    "table", "SELECT", "and", "or", "not", "cats", "running", "ran", "e-mail", "co-operate", "3.14", "v2",
];

pub const KOREAN: &[&str] = &[
    "탄핵", "탄핵을", "절차는", "대통령", "국회는", "헌법재판소의", "검색", "한국어", "데이터베이스를", "임베딩",
    "벡터", "검색은", "전문", "이", "가", "은", "는", "을", "를", "다.", "윤석열", "심판", "180일", "포스트그레스",
];

const EMOJI_SEQUENCES: &[&str] = &[
    "👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🇰🇷", "🇺🇸", "❤️", "1️⃣", "🧑🏿‍💻", "😀\u{FE0E}", "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
];

const BIDI_CONTROLS: &[char] =
    &['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}'];

const ZERO_WIDTH: &[char] = &['\u{200B}', '\u{200C}', '\u{200D}', '\u{FEFF}', '\u{2060}', '\u{180E}', '\u{034F}'];

/// Code points next to the surrogate range and at the edges of the planes:
/// the last before the surrogates, the first after, the replacement
/// character, noncharacters and the last code point.
const EDGE_CODE_POINTS: &[char] = &[
    '\u{D7FF}', '\u{E000}', '\u{FFFD}', '\u{FFFE}', '\u{FFFF}', '\u{FDD0}', '\u{FDEF}', '\u{1FFFE}', '\u{1FFFF}',
    '\u{10FFFE}', '\u{10FFFF}', '\u{10000}', '\u{7FF}', '\u{800}', '\u{80}',
];

pub const WHITESPACE: &[&str] =
    &[" ", "\t", "\n", "\r\n", "\u{A0}", "\u{3000}", "\u{2028}", "\u{2029}", "\u{1680}", "\u{2003}", "\u{85}", "\u{B}", "\u{C}"];

const TSQUERY_SYNTAX: &[&str] = &[
    "&", "|", "!", "<->", "<2>", "<0>", "<99999>", "(", ")", ":", ":*", ":A", ":ABCD*", "'", "''", "\\", "\\'",
    "a & b", "a | !b", "!!a", "(a <-> b) & c", "'quoted'", "a:*", "&&&", "|||", "(((", ")))", "! ( ) : * '",
    "fat & (rat | cat)", "'super':*", "a <-> <-> b",
];

const WEBSEARCH_SYNTAX: &[&str] = &[
    "\"quoted phrase\"", "-excluded", "or", "OR", "AND", "\"unterminated", "\"\"", "- -", "a OR -b", "\"a\" -\"b\"",
];

const SQL_LOOKING: &[&str] = &[
    "'; DROP TABLE rag_search.chunks; --", "$1", "$$", "$tag$", "%s", "%%", "\\x00", "E'\\\\'", "/* comment */",
    "::regclass", "' OR '1'='1", "\\set", "COPY", "\"; SELECT 1; --", "pg_sleep(10)", "@extschema:vector@",
    "{text}", "{title}", "{{text}}", "%", "_", "\\\\",
];

const NUMBER_LIKE: &[&str] = &["1e5x", "-0", "NaN", "Infinity", "0x1F", "1e400", "3e", "٣", "①", "½", "99999999999999999999"];

/// Strings that look like special numbers.
pub const NAN_LIKE: &[&str] = &["NaN", "nan", "Infinity", "-Infinity", "inf", "1e400", "-0", "", " 1", "true", "null", "0x10"];

/// JSON numbers around the edges: beyond a double, beyond int32 and int64,
/// tiny, negative zero, and the bounds of the options.
pub const JSON_NUMBERS: &[&str] = &[
    "0", "-0", "1", "-1", "0.5", "3.5", "20", "21", "60", "1000", "1001", "10000", "10001", "1e308", "-1e308",
    "1e400", "-1e400", "1e-400", "123456789012345678901234567890", "0.000000000000000000000000001", "2147483648",
    "-2147483649", "9223372036854775808", "1.0", "100", "101", "4.9e-324",
];

/// Metadata keys the documents carry (so that filters match some).
pub const METADATA_KEYS: &[&str] = &["lang", "tenant", "board", "tags", "n", "nested", "a", ""];
