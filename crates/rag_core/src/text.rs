//! Text normalisation for full-text search over Korean and English content.
//!
//! The extension stores `to_tsvector('simple', rag_search.index_text(text))`,
//! where `text` is the document title [`TITLE_REPEATS`] times and the chunk
//! ([`titled_text`]), and queries with `to_tsquery('simple', build_tsquery(q))`. Two facts about
//! PostgreSQL drive the design (checked against PostgreSQL 15):
//!
//! * Hangul syllables are word characters, so `탄핵을` is one lexeme and the
//!   query `탄핵` misses it. `index_text` therefore appends particle-stripped
//!   stems after each Korean word (see [`korean`]), and queries use stems.
//! * The default parser does much more than "split on non-word characters":
//!   `COVID-19` → `covid`, `-19`; `IL-6/IL-10` → `il`, `-6`, `/il-10`;
//!   `p53/p21`, `3.5`, `example.com`, `e.g` stay single lexemes; in a C-locale
//!   database `‘탄핵’을` is one lexeme and `École` is not lowercased. A query
//!   term is always a plain alphanumeric word, so those lexemes could never
//!   match. `index_text` therefore emits exactly the lowercase alphanumeric
//!   words (separated by single spaces), which every parser/locale tokenises
//!   identically, and `query_terms` produces words by the same rule.
//!
//! Checked on PostgreSQL 15 for all 5,903 documents of the two evaluation
//! corpora: the lexemes of `to_tsvector('simple', index_text(doc))` are
//! exactly the words of `index_text(doc)`, in a C.UTF-8 and in a C-locale
//! database, and `to_tsquery('simple', …)` of every evaluation query's
//! `build_tsquery` output yields exactly its terms.
//!
//! English words are reduced to their Porter stems on both sides
//! ([`english`]: `studies`, `studied` → `studi`), as the published BM25
//! baselines do; on SciFact's training queries this gains about 0.03
//! nDCG@10 (`examples/eval_bm25.rs`).
//!
//! Both sides also compose conjoining Hangul jamo (NFD text from PDFs/macOS)
//! into syllables, so `탄핵` typed by a user matches `탄핵` extracted in NFD.
//!
//! Changing anything here changes stored tsvectors: `index_text` is declared
//! IMMUTABLE, so existing rows must be re-indexed after such a change.

pub mod english;
pub mod korean;

/// Default cap on query terms used by [`build_tsquery`].
pub const MAX_QUERY_TERMS: usize = 32;

/// PostgreSQL drops lexemes longer than this many bytes (`MAXSTRLEN`), on
/// both the document and the query side, so such a term can never match.
const MAX_LEXEME_BYTES: usize = 2047;

/// How query terms are combined in the tsquery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueryMatch {
    /// `'a' | 'b'`: rank everything that matches any term (recall first).
    #[default]
    Any,
    /// `'a' & 'b'`: only rows containing every term.
    All,
}

/// Knobs of the analyser, exposed for the evaluation example. The extension
/// always uses [`TextOptions::default`] through the plain functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextOptions {
    /// Strip Korean particles/endings (index: add stems; query: use stems).
    pub korean_stems: bool,
    /// Reduce English words to their Porter stems on both sides
    /// ([`english::stem`]: `studies` → `studi`).
    pub english_stems: bool,
    /// Index Hangul character bigrams of stems with 3+ syllables.
    pub index_bigrams: bool,
    /// Add the same bigrams to the query terms.
    pub query_bigrams: bool,
}

impl Default for TextOptions {
    /// Stemming on, bigrams off: the best of these on the training half of
    /// the Korean dev set (`examples/eval_bm25.rs`, which reports each
    /// option's training and test figures); bigrams also grow the index
    /// text from 1.25× to 1.83× the input.
    fn default() -> Self {
        TextOptions {
            korean_stems: true,
            english_stems: true,
            index_bigrams: false,
            query_bigrams: false,
        }
    }
}

/// How many times a document's title is indexed before each of its chunks:
/// the chunk's full text is one field holding the title this many times and
/// then the chunk, so a title word counts as much as this many mentions in
/// the text (BEIR's flat setting weighted). Chosen on the training queries
/// of SciFact and the Korean dev set (`examples/eval_bm25.rs`,
/// BENCHMARKS.md): the mean training nDCG@10 rises from no title through
/// one and two repeats to three and stays level after (four: +0.0001),
/// and a separate title field scores lower; the fewest repeats on that
/// plateau keep chunks shortest.
pub const TITLE_REPEATS: usize = 3;

/// The text a chunk's full text is built from: the document title
/// `repeats` times, then the chunk (just the chunk when the title is
/// blank).
pub fn titled_text(title: &str, content: &str, repeats: usize) -> String {
    let title = title.trim();
    if title.is_empty() || repeats == 0 {
        return content.to_owned();
    }
    let mut out = String::with_capacity((title.len() + 1) * repeats + content.len());
    for _ in 0..repeats {
        out.push_str(title);
        out.push(' ');
    }
    out.push_str(content);
    out
}

/// Text to feed to `to_tsvector('simple', …)`: the lowercase alphanumeric
/// words of `content` separated by spaces; English words as their Porter
/// stems (`studies` → `studi`); after each Korean word, its stems
/// (`탄핵을` → `탄핵을 탄핵`). ASCII words come out exactly as PostgreSQL
/// would index them in isolation; punctuation only separates words.
pub fn index_text(content: &str) -> String {
    index_text_with(content, &TextOptions::default())
}

/// [`index_text`] with explicit options.
pub fn index_text_with(content: &str, opts: &TextOptions) -> String {
    let mut out = String::with_capacity(content.len() + content.len() / 4);
    for_each_word(content, |word, has_hangul| {
        if !has_hangul {
            push_word(&mut out, &english_term(word, opts));
            return;
        }
        push_word(&mut out, word);
        if !opts.korean_stems {
            if has_hangul && opts.index_bigrams {
                push_bigrams(&mut out, word);
            }
            return;
        }
        let mut chain = [""; korean::MAX_LAYERS];
        let mut layers = 0;
        for stem in korean::stem_chain(word) {
            if let Some(slot) = chain.get_mut(layers) {
                *slot = stem;
                layers += 1;
            }
        }
        let Some((&deepest, middle)) = chain[..layers].split_last() else {
            if opts.index_bigrams {
                push_bigrams(&mut out, word);
            }
            return;
        };
        // The deepest stem is what queries use, so it is always emitted;
        // intermediate layers only while the extra output stays within twice
        // the word, keeping the whole text within ~3x the input.
        let budget = 2 * word.len();
        let mut extra = deepest.len() + 1;
        for &stem in middle {
            let cost = stem.len() + 1;
            if extra + cost <= budget {
                extra += cost;
                push_word(&mut out, stem);
            }
        }
        push_word(&mut out, deepest);
        if opts.index_bigrams {
            push_bigrams(&mut out, deepest);
        }
    });
    out
}

/// Query words as the tsvector side sees them: lowercase alphanumeric words,
/// Korean words reduced to their deepest stem, deduplicated in first-seen
/// order, at most `max_terms`. A term never contains whitespace or any
/// tsquery metacharacter (`& | ! ( ) : * ' \ < - >`), only alphanumerics.
pub fn query_terms(q: &str, max_terms: usize) -> Vec<String> {
    query_terms_with(q, max_terms, &TextOptions::default())
}

/// [`query_terms`] with explicit options.
pub fn query_terms_with(q: &str, max_terms: usize, opts: &TextOptions) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |t: &str, terms: &mut Vec<String>| {
        if terms.len() < max_terms && t.len() <= MAX_LEXEME_BYTES && seen.insert(t.to_owned()) {
            terms.push(t.to_owned());
        }
    };
    for_each_word(q, |word, has_hangul| {
        if !has_hangul {
            add(&english_term(word, opts), &mut terms);
            return;
        }
        let term = if opts.korean_stems { korean::deepest_stem(word) } else { word };
        add(term, &mut terms);
        if opts.query_bigrams {
            for_each_bigram(term, |b| add(b, &mut terms));
        }
    });
    terms
}

/// The words of `text` in order as queries see them (lowercase alphanumeric
/// words, Korean words reduced to their deepest stem), repeats kept: entity
/// names are compared with the word sequences of a query.
pub fn stemmed_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for_each_word(text, |word, has_hangul| {
        words.push(if has_hangul { korean::deepest_stem(word) } else { word }.to_string());
    });
    words
}

/// The first `max_chars` characters of `q` (never splits a character).
pub fn clamp_query(q: &str, max_chars: usize) -> &str {
    match q.char_indices().nth(max_chars) {
        Some((cut, _)) => &q[..cut],
        None => q,
    }
}

/// A `to_tsquery('simple', …)` string for `q`, or `None` when `q` has no
/// searchable word (empty, whitespace or punctuation only).
///
/// Each term becomes a quoted lexeme `'term'`. No `:*` prefix matching, also
/// not for Hangul: the index already contains the stems, so exact lexemes
/// match `탄핵을` from `탄핵`; a prefix on a 1–2 syllable stem would also hit
/// unrelated words (`한` → 한국, 한도, 한계), and prefix GIN lookups have
/// to scan lexeme ranges.
pub fn build_tsquery(q: &str, mode: QueryMatch) -> Option<String> {
    build_tsquery_with(q, mode, &TextOptions::default())
}

/// [`build_tsquery`] with explicit options.
pub fn build_tsquery_with(q: &str, mode: QueryMatch, opts: &TextOptions) -> Option<String> {
    let sep = match mode {
        QueryMatch::Any => " | ",
        QueryMatch::All => " & ",
    };
    let mut out = String::new();
    for term in query_terms_with(q, MAX_QUERY_TERMS, opts) {
        // Terms are alphanumeric by construction; re-check because this
        // string is the only thing standing between user input and the
        // tsquery syntax.
        if term.is_empty() || !term.chars().all(char::is_alphanumeric) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(sep);
        }
        out.push('\'');
        out.push_str(&term);
        out.push('\'');
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// True when every query term occurs somewhere in the window `texts` (a
/// chunk and its neighbours), case-insensitively. Terms are matched as
/// substrings of the normalised words (English words as their stems), which
/// also covers Korean stems (a prefix of the word they came from: `탄핵` in
/// `탄핵을`). No terms → true.
pub fn keyword_window_match(query_terms: &[String], texts: &[&str]) -> bool {
    if query_terms.is_empty() {
        return true;
    }
    // Normalise the window exactly like the index side (lowercase, jamo
    // composition, punctuation → single space) so terms cannot straddle
    // two texts or a punctuation mark.
    let mut hay = String::with_capacity(texts.iter().map(|t| t.len() + 1).sum());
    let opts = TextOptions::default();
    for t in texts {
        // English words as their stems, which are what query terms hold
        // (a stem need not be a prefix of its word: happy → happi); other
        // words pass through english::stem unchanged.
        for_each_word(t, |word, _| push_word(&mut hay, &english_term(word, &opts)));
        hay.push(' ');
    }
    query_terms.iter().all(|term| {
        let mut norm = String::with_capacity(term.len());
        for_each_word(term, |w, _| push_word(&mut norm, w));
        // A term with inner punctuation (not produced by query_terms) must
        // match as a sequence of words.
        norm.is_empty() || hay.contains(norm.as_str())
    })
}

/// A word without Hangul as both sides index it: its English stem, or the
/// word itself.
fn english_term<'a>(word: &'a str, opts: &TextOptions) -> std::borrow::Cow<'a, str> {
    if opts.english_stems {
        english::stem(word)
    } else {
        std::borrow::Cow::Borrowed(word)
    }
}

fn push_word(out: &mut String, word: &str) {
    if !out.is_empty() && !out.ends_with(' ') {
        out.push(' ');
    }
    out.push_str(word);
}

/// Calls `f` with each Hangul character bigram of `word` if it is all Hangul
/// syllables and at least 3 long (shorter words are already their own bigram).
fn for_each_bigram(word: &str, mut f: impl FnMut(&str)) {
    if word.chars().count() < 3 || !word.chars().all(is_hangul_syllable) {
        return;
    }
    // Hangul syllables are 3 bytes each in UTF-8.
    let mut i = 0;
    while i + 6 <= word.len() {
        f(&word[i..i + 6]);
        i += 3;
    }
}

fn push_bigrams(out: &mut String, word: &str) {
    for_each_bigram(word, |b| push_word(out, b));
}

#[inline]
fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// Super/subscript digits, vulgar fractions and circled/parenthesised
/// numbers (`km²`, `H₂O`, `①`): numeric to Rust but not alphanumeric to glibc,
/// so PostgreSQL splits there in most locales (and keeps them in C). Treating
/// them as separators gives the same lexemes in every locale.
fn is_other_number(c: char) -> bool {
    matches!(c,
        '\u{B2}' | '\u{B3}' | '\u{B9}' | '\u{BC}'..='\u{BE}' | '\u{2070}'..='\u{209F}'
        | '\u{2150}'..='\u{215F}' | '\u{2189}' | '\u{2460}'..='\u{24FF}' | '\u{2776}'..='\u{2793}'
        | '\u{3220}'..='\u{3229}' | '\u{3248}'..='\u{325F}' | '\u{3280}'..='\u{3289}'
        | '\u{32B1}'..='\u{32BF}')
        && !c.is_alphabetic()
}

/// Splits `text` into lowercase alphanumeric words (Unicode `Alphabetic` or
/// `Numeric`, same as `char::is_alphanumeric`) and calls `f(word, has_hangul)`.
/// Conjoining jamo are composed into syllables first. Non-alphanumeric
/// characters produced by lowercasing are dropped, so words never contain
/// anything but alphanumerics.
fn for_each_word(text: &str, mut f: impl FnMut(&str, bool)) {
    let mut buf = String::with_capacity(64);
    let mut hangul = false;
    let mut chars = text.chars().peekable();
    macro_rules! flush {
        () => {
            if !buf.is_empty() {
                f(&buf, hangul);
                buf.clear();
                hangul = false;
            }
        };
    }
    while let Some(c) = chars.next() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                buf.push(c.to_ascii_lowercase());
            } else {
                flush!();
            }
            continue;
        }
        let c = compose_jamo(c, &mut chars);
        if is_hangul_syllable(c) {
            buf.push(c);
            hangul = true;
        } else if c.is_alphanumeric() && !is_other_number(c) {
            // Keep only the alphanumeric part of the lowercase form: `İ`
            // lowercases to `i` + U+0307 and should index as `i`, like
            // PostgreSQL's towlower does.
            for lc in c.to_lowercase() {
                if lc.is_alphanumeric() {
                    buf.push(lc);
                }
            }
        } else {
            flush!();
        }
    }
    if !buf.is_empty() {
        f(&buf, hangul);
    }
}

/// Composes a conjoining-jamo sequence (L V [T], or LV syllable + T) starting
/// at `c` into one precomposed syllable, like NFC does for Hangul.
fn compose_jamo(c: char, rest: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
    const S_BASE: u32 = 0xAC00;
    const L_BASE: u32 = 0x1100;
    const V_BASE: u32 = 0x1161;
    const T_BASE: u32 = 0x11A7;
    const V_COUNT: u32 = 21;
    const T_COUNT: u32 = 28;
    let cp = c as u32;
    let mut syllable = if (L_BASE..L_BASE + 19).contains(&cp) {
        match rest.peek().map(|&v| v as u32) {
            Some(v) if (V_BASE..V_BASE + V_COUNT).contains(&v) => {
                rest.next();
                S_BASE + ((cp - L_BASE) * V_COUNT + (v - V_BASE)) * T_COUNT
            }
            _ => return c,
        }
    } else if is_hangul_syllable(c) && (cp - S_BASE).is_multiple_of(T_COUNT) {
        cp
    } else {
        return c;
    };
    if let Some(t) = rest.peek().map(|&t| t as u32) {
        if (T_BASE + 1..T_BASE + T_COUNT).contains(&t) {
            rest.next();
            syllable += t - T_BASE;
        }
    }
    char::from_u32(syllable).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `to_tsvector('simple', …)` makes of `index_text` output: its
    /// lowercase alphanumeric words.
    fn lexemes(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    fn tsquery_matches(doc: &str, q: &str, mode: QueryMatch) -> bool {
        let lex = lexemes(&index_text(doc));
        let Some(tsq) = build_tsquery(q, mode) else {
            return false;
        };
        let sep = if mode == QueryMatch::Any {
            " | "
        } else {
            " & "
        };
        let mut hits = tsq
            .split(sep)
            .map(|t| lex.iter().any(|l| format!("'{l}'") == t));
        match mode {
            QueryMatch::Any => hits.any(|h| h),
            QueryMatch::All => hits.all(|h| h),
        }
    }

    #[test]
    fn index_text_appends_korean_stems() {
        assert_eq!(
            index_text("윤석열 탄핵을 위한 절차는"),
            "윤석열 탄핵을 탄핵 위한 절차는 절차"
        );
        assert_eq!(index_text("기업들에게는"), "기업들에게는 기업들 기업");
        // Non-Korean words: lowercase alphanumerics, punctuation separates.
        assert_eq!(
            index_text("COVID-19 and IL-6/IL-10, p<0.05"),
            "covid 19 and il 6 il 10 p 0 05"
        );
        assert_eq!(index_text("Hello, World!"), "hello world");
        assert_eq!(index_text(""), "");
        assert_eq!(index_text(" ...!? "), "");
        // Typographic quotes and middle dots separate words in any locale.
        assert_eq!(
            index_text("‘탄핵’을 「절차」 탄핵·파면"),
            "탄핵 을 절차 탄핵 파면"
        );
        assert_eq!(index_text("e커머스의 B2B를"), "e커머스의 e커머스 b2b를 b2b");
    }

    #[test]
    fn deepest_stem_always_indexed() {
        // Three one-syllable layers on a long word: the budget may drop a
        // middle layer but never the stem a query would use.
        for w in [
            "가나다라마바사아들의를",
            "금융위원회들에게는",
            "탄핵했습니다",
        ] {
            let deepest = query_terms(w, 1);
            let out = index_text(w);
            assert!(out.split(' ').any(|t| t == deepest[0]), "{w}: {out}");
            assert!(out.len() <= 3 * w.len() + 8);
        }
    }

    #[test]
    fn korean_matches_both_directions() {
        let doc = "국회는 대통령 탄핵을 의결했고, 헌법재판소의 심판 절차는 180일 이내에 끝난다.";
        for mode in [QueryMatch::Any, QueryMatch::All] {
            assert!(tsquery_matches(doc, "윤석열 탄핵 절차", QueryMatch::Any));
            assert!(tsquery_matches(doc, "탄핵 절차", mode));
            assert!(tsquery_matches(doc, "헌법재판소 심판", mode));
        }
        // Particles in the query, bare word in the document.
        let doc2 = "대통령 탄핵 심판 절차 안내";
        assert!(tsquery_matches(
            doc2,
            "탄핵을 심판하는 절차는?",
            QueryMatch::All
        ));
        assert_eq!(
            build_tsquery("탄핵을 심판하는 절차는?", QueryMatch::All).as_deref(),
            Some("'탄핵' & '심판' & '절차'")
        );
        // Stacked particles on either side.
        assert!(tsquery_matches(
            "기업들에게는 혜택",
            "기업의 혜택",
            QueryMatch::All
        ));
        assert!(tsquery_matches(
            "기업 혜택",
            "기업들의 혜택을",
            QueryMatch::All
        ));
        assert!(!tsquery_matches(doc2, "탄핵 선거", QueryMatch::All));
    }

    #[test]
    fn english_terms_match_punctuated_lexemes() {
        let doc = "Serum IL-6 rose in COVID-19 patients (p<0.05).";
        assert!(tsquery_matches(doc, "covid 19 il 6", QueryMatch::All));
        assert!(tsquery_matches(doc, "COVID-19", QueryMatch::All));
    }

    #[test]
    fn query_terms_basics() {
        assert_eq!(query_terms("The cat, the CAT!", 10), vec!["the", "cat"]);
        assert_eq!(query_terms("a b c d", 2), vec!["a", "b"]);
        assert!(query_terms("a b", 0).is_empty());
        assert_eq!(query_terms("ÉCOLE İstanbul", 10), vec!["école", "istanbul"]);
        assert_eq!(
            query_terms("H₂O₂ 5 km² ①항", 10),
            vec!["h", "o", "5", "km", "항"]
        );
        // NFD jamo compose to the same term as NFC.
        assert_eq!(
            query_terms("\u{1110}\u{1161}\u{11AB}\u{1112}\u{1162}\u{11A8}", 5),
            vec!["탄핵"]
        );
        assert_eq!(
            index_text("\u{1110}\u{1161}\u{11AB}\u{1112}\u{1162}\u{11A8}\u{110B}\u{1173}\u{11AF}"),
            "탄핵을 탄핵"
        );
    }

    #[test]
    fn metacharacters_never_appear_in_terms() {
        let nasty =
            "a&b|c!d(e)f:g*h'i\\j<k-l>m n\to\u{a0}p\u{3000}q \"r\" ;s$t%u --v <->w '':* \\' !(x) \u{301}y";
        let terms = query_terms(nasty, 100);
        assert!(!terms.is_empty());
        for t in &terms {
            assert!(t.chars().all(char::is_alphanumeric), "{t:?}");
        }
        let tsq = build_tsquery(nasty, QueryMatch::All).unwrap_or_default();
        let inner: String = tsq.split(" & ").map(|t| t.trim_matches('\'')).collect();
        for m in [
            '&', '|', '!', '(', ')', ':', '*', '\'', '\\', '<', '-', '>', ' ', '\t',
        ] {
            assert!(!inner.contains(m), "{m:?} in {tsq}");
        }
        assert!(tsq
            .split(" & ")
            .all(|t| t.starts_with('\'') && t.ends_with('\'') && t.len() > 2));
    }

    #[test]
    fn empty_or_punctuation_query_is_none() {
        for q in ["", "   ", "?!", "&|!():*'\\<->", "— … ·", "\u{301}"] {
            assert_eq!(build_tsquery(q, QueryMatch::Any), None, "{q:?}");
            assert_eq!(build_tsquery(q, QueryMatch::All), None, "{q:?}");
        }
        assert_eq!(
            build_tsquery("cats and dogs", QueryMatch::Any).as_deref(),
            Some("'cat' | 'and' | 'dog'")
        );
        assert_eq!(
            build_tsquery("cats and dogs", QueryMatch::All).as_deref(),
            Some("'cat' & 'and' & 'dog'")
        );
    }

    #[test]
    fn clamp_query_cuts_at_char_boundary() {
        assert_eq!(clamp_query("탄핵절차", 2), "탄핵");
        assert_eq!(clamp_query("abc", 10), "abc");
        assert_eq!(clamp_query("abc", 0), "");
        assert_eq!(clamp_query("é😀x", 2), "é😀");
    }

    #[test]
    fn keyword_window() {
        let terms = query_terms("탄핵을 절차", 10);
        assert!(keyword_window_match(
            &terms,
            &["대통령 탄핵안", "심판 절차는 이렇다"]
        ));
        assert!(!keyword_window_match(
            &terms,
            &["대통령 탄핵안", "심판 일정"]
        ));
        let en = query_terms("Covid vaccine", 10);
        assert!(keyword_window_match(
            &en,
            &["COVID-19 cases", "new VACCINES"]
        ));
        // A stem need not be a prefix of its word: happy → happi.
        assert!(keyword_window_match(&query_terms("happy studies", 10), &["They were happy with the study."]));
        // Terms cannot straddle two texts.
        assert!(!keyword_window_match(&["ab".to_owned()], &["a", "b"]));
        assert!(keyword_window_match(&[], &["anything"]));
    }

    #[test]
    fn never_panics_and_stays_bounded() {
        let samples = [
            "\u{1100}",
            "\u{1100}\u{1161}",
            "\u{AC00}\u{11A8}\u{11A8}",
            "\u{11A8}",
            "가\u{11A8}",
            "을을을을을을을을을을",
            "하였습니다하였습니다",
            "\u{0}\u{FFFF}\u{10FFFF}",
            "İİİ",
            "ǅ",
            "ß",
            "ﬃ",
            "١٢٣",
            "𝔘𝔫𝔦",
            "은",
            "1은",
            "a\u{301}b",
        ];
        for s in samples {
            let out = index_text(s);
            assert!(out.len() <= 3 * s.len() + 8, "{s:?} -> {out:?}");
            let _ = query_terms(s, 5);
            let _ = build_tsquery(s, QueryMatch::All);
        }
        // Pseudo-random strings over a mixed alphabet.
        let alphabet: Vec<char> =
            "가나다을를은는에서의이들하였습니다 \u{1100}\u{1161}\u{11A8}aZ9-'.İ"
                .chars()
                .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let out = index_text(&s);
            assert!(out.len() <= 3 * s.len() + 8, "{s:?} -> {out:?}");
            for t in query_terms(&s, 50) {
                assert!(!t.is_empty() && t.chars().all(char::is_alphanumeric));
            }
        }
    }

    #[test]
    fn deterministic() {
        let s = "디지털 커머스 시대, B2B 비즈니스를 e커머스에 통합해야 하는 3가지 이유";
        assert_eq!(index_text(s), index_text(s));
        assert_eq!(
            index_text(s),
            "디지털 커머스 시대 b2b 비즈니스를 비즈니스 e커머스에 e커머스 통합해야 통합 하는 하 3가지 이유"
        );
    }

    #[test]
    fn titled_text_repeats_the_title_before_the_chunk() {
        assert_eq!(titled_text("Row security", "Policies filter rows.", 2), "Row security Row security Policies filter rows.");
        assert_eq!(titled_text("T", "body", TITLE_REPEATS).matches('T').count(), TITLE_REPEATS);
        assert_eq!(titled_text("  ", "body", TITLE_REPEATS), "body");
        assert_eq!(titled_text("T", "body", 0), "body");
        assert_eq!(index_text(&titled_text("인가 요건", "은행", 1)), index_text("인가 요건 은행"));
    }

}
