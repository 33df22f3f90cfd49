//! BM25 straight from PostgreSQL's binary `tsvector`.
//!
//! `ts_rank` has no inverse document frequency, so full-text ranking uses
//! BM25 instead. Reading term frequencies with `unnest(tsv)` in SQL costs
//! tens of microseconds per row; reading the stored bytes here costs about
//! one. The extension passes the detoasted tsvector payload (after the
//! varlena header) and a compact query blob built once per search.
//!
//! Layout (PostgreSQL `TSVectorData`, little-endian): `int32 size`, then
//! `size` `WordEntry` words (`haspos:1, len:11, pos:20`, low bit first),
//! then the lexeme strings; a lexeme with positions is followed, at the next
//! even offset, by `uint16 npos` and its positions.

use crate::fusion::{doc_score, Bm25, ScoreParams};

/// Document length used by BM25: the number of distinct lexemes. It is
/// stored in the tsvector header, so reading it costs nothing, and corpus
/// averages are kept in the same unit.
pub fn lexeme_count(tsv: &[u8]) -> Option<u32> {
    let size = read_i32(tsv, 0)?;
    u32::try_from(size).ok()
}

/// A parsed query: lexemes (sorted the way tsvector sorts them) with their
/// IDF, plus BM25 parameters and the corpus average length.
#[derive(Debug, Clone, PartialEq)]
pub struct Bm25Query {
    pub terms: Vec<(Vec<u8>, f64)>,
    pub params: Bm25,
    pub avg_len: f64,
}

impl Bm25Query {
    pub fn new(terms: Vec<(String, f64)>, params: Bm25, avg_len: f64) -> Self {
        let mut terms: Vec<(Vec<u8>, f64)> =
            terms.into_iter().map(|(t, idf)| (t.into_bytes(), idf)).collect();
        terms.sort_by(|a, b| compare_lexemes(&a.0, &b.0));
        terms.dedup_by(|a, b| a.0 == b.0);
        Bm25Query { terms, params, avg_len: if avg_len > 0.0 { avg_len } else { 1.0 } }
    }

    /// The parameters the blob carries, for scoring postings exactly as
    /// [`bm25_from_blob`] scores tsvectors.
    pub fn score_params(&self) -> ScoreParams {
        ScoreParams::new(self.params, self.avg_len)
    }

    /// Serialises to the blob passed to `rag_search.bm25(tsvector, bytea)`:
    /// `f64 k1, f64 b, f64 avg_len, u16 n, n × (f64 idf, u16 len, bytes)`.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(26 + self.terms.iter().map(|t| 10 + t.0.len()).sum::<usize>());
        out.extend_from_slice(&self.params.k1.to_le_bytes());
        out.extend_from_slice(&self.params.b.to_le_bytes());
        out.extend_from_slice(&self.avg_len.to_le_bytes());
        out.extend_from_slice(&(self.terms.len().min(u16::MAX as usize) as u16).to_le_bytes());
        for (lexeme, idf) in self.terms.iter().take(u16::MAX as usize) {
            out.extend_from_slice(&idf.to_le_bytes());
            let len = lexeme.len().min(u16::MAX as usize);
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&lexeme[..len]);
        }
        out
    }
}

/// BM25 of one stored tsvector against a query blob. Malformed input scores
/// 0 rather than failing: a ranking function must never abort a search.
pub fn bm25_from_blob(tsv: &[u8], blob: &[u8]) -> f64 {
    let Some(q) = BlobView::parse(blob) else { return 0.0 };
    let Some(doc) = TsvView::parse(tsv) else { return 0.0 };
    let p = ScoreParams { k1: q.k1, b: q.b, avg_len: q.avg_len };
    doc_score(doc.size as f64, q.terms().map(|(lexeme, idf)| (idf, doc.term_frequency(lexeme) as f64)), &p)
}

/// A query blob decoded once, for scoring many tsvectors with it:
/// `rag_search.bm25` keeps one per statement instead of decoding the blob
/// for every row. [`ParsedBlob::score`] is bitwise [`bm25_from_blob`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedBlob {
    blob: Vec<u8>,
    /// None for a malformed blob (every score is 0 then).
    params: Option<ScoreParams>,
    terms: Vec<(Vec<u8>, f64)>,
}

impl ParsedBlob {
    pub fn parse(blob: &[u8]) -> ParsedBlob {
        match BlobView::parse(blob) {
            Some(q) => ParsedBlob {
                blob: blob.to_vec(),
                params: Some(ScoreParams { k1: q.k1, b: q.b, avg_len: q.avg_len }),
                terms: q.terms().map(|(l, idf)| (l.to_vec(), idf)).collect(),
            },
            None => ParsedBlob { blob: blob.to_vec(), params: None, terms: Vec::new() },
        }
    }

    /// Whether this was parsed from `blob`.
    pub fn is_for(&self, blob: &[u8]) -> bool {
        self.blob == blob
    }

    pub fn score(&self, tsv: &[u8]) -> f64 {
        let Some(p) = &self.params else { return 0.0 };
        let Some(doc) = TsvView::parse(tsv) else { return 0.0 };
        doc_score(doc.size as f64, self.terms.iter().map(|(l, idf)| (*idf, doc.term_frequency(l) as f64)), p)
    }
}

/// The frequency of each of `lexemes` in `tsv` (0 when absent).
pub fn term_frequencies(tsv: &[u8], lexemes: &[&str]) -> Vec<u32> {
    match TsvView::parse(tsv) {
        Some(doc) => lexemes.iter().map(|l| doc.term_frequency(l.as_bytes())).collect(),
        None => vec![0; lexemes.len()],
    }
}

/// Document frequencies of the lexemes of many tsvectors (each tsvector
/// counts once per lexeme), sorted by lexeme. Malformed input counts
/// nothing. This is what the statistics triggers append per statement.
pub fn document_frequencies<'a>(tsvs: impl IntoIterator<Item = &'a [u8]>) -> Vec<(&'a [u8], i64)> {
    let mut counts: std::collections::HashMap<&'a [u8], i64> = std::collections::HashMap::new();
    for tsv in tsvs {
        let Some(doc) = TsvView::parse(tsv) else { continue };
        for i in 0..doc.size {
            let Some((_, len, pos)) = doc.entry(i) else { break };
            let Some(lexeme) = doc.lexeme(len, pos) else { break };
            *counts.entry(lexeme).or_insert(0) += 1;
        }
    }
    let mut out: Vec<(&[u8], i64)> = counts.into_iter().collect();
    out.sort_unstable_by(|a, b| compare_lexemes(a.0, b.0));
    out
}

/// Every lexeme of a tsvector with its frequency (what
/// [`term_frequencies`] reads for it), in tsvector order. Empty when the
/// tsvector is malformed, including lexemes out of PostgreSQL's order or
/// repeated, which PostgreSQL never writes and which a lookup by binary
/// search would not find: every lexeme returned is found by
/// [`bm25_from_blob`] with this frequency.
pub fn lexeme_frequencies(tsv: &[u8]) -> Vec<(&[u8], u32)> {
    let Some(doc) = TsvView::parse(tsv) else { return Vec::new() };
    let mut out: Vec<(&[u8], u32)> = Vec::with_capacity(doc.size.min(tsv.len() / 4));
    for i in 0..doc.size {
        let Some((haspos, len, pos)) = doc.entry(i) else { return Vec::new() };
        let Some(lexeme) = doc.lexeme(len, pos) else { return Vec::new() };
        if out.last().is_some_and(|(prev, _)| compare_lexemes(prev, lexeme) != std::cmp::Ordering::Less) {
            return Vec::new();
        }
        out.push((lexeme, doc.frequency_at(haspos, len, pos)));
    }
    out
}

/// Words of this many bytes or more are dropped by PostgreSQL's parser
/// (`MAXSTRLEN`).
const MAX_LEXEME_BYTES: usize = (1 << 11) - 1;
/// Positions are clamped to `MAXENTRYPOS - 1` (`LIMITPOS`).
const MAX_POSITION: u16 = (1 << 14) - 1;
/// A lexeme keeps at most `MAXNUMPOS - 1` positions (`uniqueWORD`).
const MAX_POSITIONS_PER_LEXEME: usize = 256 - 1;
/// Lexeme and position bytes of one tsvector (`MAXSTRPOS`).
const MAX_STRING_BYTES: usize = (1 << 20) - 1;

/// `to_tsvector('simple', text)` built here instead of by PostgreSQL's text
/// search parser, which costs ~70 µs per chunk of ~700 characters, the
/// largest part of ingesting one. Returns the bytes after the varlena
/// header, or `None` when `text` may tokenise differently in PostgreSQL, in
/// which case the caller asks PostgreSQL.
///
/// Only text made of space-separated words of lowercase ASCII letters,
/// digits and Hangul syllables qualifies (what [`crate::text::index_text`]
/// emits for English and Korean). The default parser takes such a word
/// whole, and the `simple` dictionary keeps it as it is, with one exception
/// handled by refusing it: a word that starts with a digit and contains `e`
/// may be read as a number in scientific notation and split (`1e5x` →
/// `1e5`, `x`). Positions, their limits and the byte layout follow
/// PostgreSQL's `make_tsvector`.
pub fn simple_tsvector(text: &str) -> Option<Vec<u8>> {
    let mut words: Vec<(&[u8], u16)> = Vec::new();
    let mut position: u32 = 0;
    for word in text.split(' ') {
        if word.is_empty() {
            continue;
        }
        if word.len() >= MAX_LEXEME_BYTES || !takes_whole(word) {
            return None;
        }
        position += 1;
        words.push((word.as_bytes(), position.min(u32::from(MAX_POSITION)) as u16));
    }
    // Sorted by lexeme, then position: what uniqueWORD folds.
    words.sort_by(|a, b| compare_lexemes(a.0, b.0).then(a.1.cmp(&b.1)));
    let mut lexemes: Vec<(&[u8], Vec<u16>)> = Vec::new();
    for (word, pos) in words {
        match lexemes.last_mut() {
            Some((last, positions)) if *last == word => {
                let tail = positions.last().copied().unwrap_or(0);
                if positions.len() < MAX_POSITIONS_PER_LEXEME && tail != MAX_POSITION && tail != pos {
                    positions.push(pos);
                }
            }
            _ => lexemes.push((word, vec![pos])),
        }
    }
    let mut strings: Vec<u8> = Vec::new();
    let mut entries: Vec<u32> = Vec::with_capacity(lexemes.len());
    for (lexeme, positions) in &lexemes {
        let offset = strings.len();
        strings.extend_from_slice(lexeme);
        if strings.len() % 2 == 1 {
            strings.push(0);
        }
        strings.extend_from_slice(&(positions.len() as u16).to_le_bytes());
        for p in positions {
            // Weight D (0) in the top two bits.
            strings.extend_from_slice(&p.to_le_bytes());
        }
        // WordEntry: haspos:1, len:11, pos:20 (low bit first).
        entries.push(1 | ((lexeme.len() as u32) << 1) | ((offset as u32) << 12));
    }
    if strings.len() > MAX_STRING_BYTES {
        return None;
    }
    let mut out = Vec::with_capacity(4 + 4 * entries.len() + strings.len());
    out.extend_from_slice(&(entries.len() as i32).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.to_le_bytes());
    }
    out.extend_from_slice(&strings);
    Some(out)
}

/// Whether PostgreSQL's default parser reads `word` as one token that the
/// `simple` dictionary keeps unchanged.
fn takes_whole(word: &str) -> bool {
    let plain = word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ('\u{AC00}'..='\u{D7A3}').contains(&c));
    let maybe_number = word.as_bytes().first().is_some_and(u8::is_ascii_digit) && word.contains('e');
    plain && !maybe_number
}

/// PostgreSQL's lexeme order (`tsCompareString`): bytes of the common
/// prefix, then the shorter first.
pub fn compare_lexemes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then(a.len().cmp(&b.len()))
}

fn read_i32(b: &[u8], at: usize) -> Option<i32> {
    b.get(at..at + 4).map(|s| i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}
fn read_f64(b: &[u8], at: usize) -> Option<f64> {
    b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(f64::from_le_bytes)
}

struct TsvView<'a> {
    bytes: &'a [u8],
    size: usize,
    strings: usize,
}

impl<'a> TsvView<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let size = usize::try_from(read_i32(bytes, 0)?).ok()?;
        let strings = 4usize.checked_add(size.checked_mul(4)?)?;
        if strings > bytes.len() {
            return None;
        }
        Some(TsvView { bytes, size, strings })
    }

    /// (haspos, len, pos) of entry `i`.
    fn entry(&self, i: usize) -> Option<(bool, usize, usize)> {
        let w = read_u32(self.bytes, 4 + 4 * i)?;
        Some((w & 1 == 1, ((w >> 1) & 0x7ff) as usize, (w >> 12) as usize))
    }

    fn lexeme(&self, len: usize, pos: usize) -> Option<&'a [u8]> {
        let start = self.strings.checked_add(pos)?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    fn term_frequency(&self, lexeme: &[u8]) -> u32 {
        // Binary search in PostgreSQL's lexeme order.
        let (mut lo, mut hi) = (0usize, self.size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some((haspos, len, pos)) = self.entry(mid) else { return 0 };
            let Some(candidate) = self.lexeme(len, pos) else { return 0 };
            match compare_lexemes(candidate, lexeme) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.frequency_at(haspos, len, pos),
            }
        }
        0
    }

    /// The frequency of the lexeme of an entry: its number of positions, or
    /// 1 for a stripped entry (presence only).
    fn frequency_at(&self, haspos: bool, len: usize, pos: usize) -> u32 {
        if !haspos {
            return 1;
        }
        let end = pos + len;
        let aligned = end + (end & 1);
        read_u16(self.bytes, self.strings + aligned).map(u32::from).unwrap_or(1).max(1)
    }
}

struct BlobView<'a> {
    bytes: &'a [u8],
    k1: f64,
    b: f64,
    avg_len: f64,
    n: usize,
}

impl<'a> BlobView<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let avg_len = read_f64(bytes, 16)?;
        Some(BlobView {
            bytes,
            k1: read_f64(bytes, 0)?,
            b: read_f64(bytes, 8)?,
            avg_len: if avg_len > 0.0 { avg_len } else { 1.0 },
            n: read_u16(bytes, 24)? as usize,
        })
    }

    fn terms(&self) -> impl Iterator<Item = (&'a [u8], f64)> + '_ {
        let mut at = 26usize;
        let bytes = self.bytes;
        (0..self.n).map_while(move |_| {
            let idf = read_f64(bytes, at)?;
            let len = read_u16(bytes, at + 8)? as usize;
            let lexeme = bytes.get(at + 10..at + 10 + len)?;
            at += 10 + len;
            Some((lexeme, idf))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{tsvector_bytes as tsv, Rng};

    #[test]
    fn simple_tsvector_has_postgres_layout() {
        // to_tsvector('simple', 'b a b 가') = 'a':2 'b':1,3 '가':4
        let got = simple_tsvector("b a  b 가").unwrap();
        let mut want = 3i32.to_le_bytes().to_vec();
        // strings: "a" pad npos=1 pos=2 | "b" pad npos=2 pos 1,3 | "가"(3) pad npos=1 pos=4
        let entries = [(1u32, 0u32), (1, 6), (3, 14)];
        for (len, off) in entries {
            want.extend_from_slice(&(1 | (len << 1) | (off << 12)).to_le_bytes());
        }
        want.extend_from_slice(b"a\0");
        want.extend_from_slice(&[1, 0, 2, 0]);
        want.extend_from_slice(b"b\0");
        want.extend_from_slice(&[2, 0, 1, 0, 3, 0]);
        want.extend_from_slice("가".as_bytes());
        want.push(0);
        want.extend_from_slice(&[1, 0, 4, 0]);
        assert_eq!(got, want);
        assert_eq!(term_frequencies(&got, &["a", "b", "가", "c"]), vec![1, 2, 1, 0]);
    }

    #[test]
    fn simple_tsvector_applies_postgres_limits() {
        assert_eq!(simple_tsvector("").unwrap(), 0i32.to_le_bytes().to_vec());
        // At most 255 positions per lexeme.
        let many = vec!["x"; 400].join(" ");
        assert_eq!(term_frequencies(&simple_tsvector(&many).unwrap(), &["x"]), vec![255]);
        // Positions beyond 16383 collapse into 16383, kept once.
        let long = format!("{} y y", vec!["w"; 20000].join(" "));
        assert_eq!(term_frequencies(&simple_tsvector(&long).unwrap(), &["y"]), vec![1]);
    }

    #[test]
    fn simple_tsvector_refuses_what_the_parser_may_split() {
        for text in ["Hello", "a-b", "1e5x", "3e", "école", "東京", "x\ty", &"a".repeat(2047)] {
            assert_eq!(simple_tsvector(text), None, "{text}");
        }
        for text in ["e1 x1e5 5ht2a 0x1f 123", "탄핵을 탄핵", "b2b를 b2b"] {
            assert!(simple_tsvector(text).is_some(), "{text}");
        }
    }

    #[test]
    fn counts_document_frequencies() {
        let a = simple_tsvector("x y x").unwrap();
        let b = simple_tsvector("y z").unwrap();
        let got = document_frequencies([a.as_slice(), b.as_slice(), &[9, 9][..]]);
        assert_eq!(got, vec![(&b"x"[..], 1), (&b"y"[..], 2), (&b"z"[..], 1)]);
    }

    #[test]
    fn reads_term_frequencies() {
        let doc = tsv(&[("탄핵", 3), ("a", 1), ("절차", 2), ("court", 0)]);
        assert_eq!(lexeme_count(&doc), Some(4));
        assert_eq!(term_frequencies(&doc, &["탄핵", "절차", "court", "a", "zzz"]), vec![3, 2, 1, 1, 0]);
    }

    #[test]
    fn bm25_matches_the_formula() {
        let doc = tsv(&[("x", 2), ("y", 1), ("z", 1), ("w", 1)]);
        let p = Bm25 { k1: 0.9, b: 0.4 };
        let q = Bm25Query::new(vec![("x".into(), 1.5), ("y".into(), 0.5), ("missing".into(), 9.0)], p, 8.0);
        let got = bm25_from_blob(&doc, &q.to_blob());
        let norm = 0.9 * (1.0 - 0.4 + 0.4 * 4.0 / 8.0);
        let want = 1.5 * 2.0 * 1.9 / (2.0 + norm) + 0.5 * 1.0 * 1.9 / (1.0 + norm);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    /// `bm25_from_blob` before the term weight moved to `fusion`, kept
    /// verbatim to prove today's scores are bitwise unchanged.
    fn bm25_from_blob_before(tsv: &[u8], blob: &[u8]) -> f64 {
        let Some(q) = BlobView::parse(blob) else { return 0.0 };
        let Some(doc) = TsvView::parse(tsv) else { return 0.0 };
        let dl = doc.size as f64;
        let k1 = q.k1;
        let norm = k1 * (1.0 - q.b + q.b * dl / q.avg_len);
        let mut score = 0.0;
        for (lexeme, idf) in q.terms() {
            let tf = doc.term_frequency(lexeme) as f64;
            if tf > 0.0 {
                score += idf * tf * (k1 + 1.0) / (tf + norm);
            }
        }
        score
    }

    /// A random document over a small vocabulary (so queries hit it), with
    /// frequencies up to PostgreSQL's 255 and some stripped entries, and a
    /// random query with random parameters.
    fn random_case(rng: &mut Rng) -> (Vec<u8>, Bm25Query) {
        let vocab: Vec<String> = (0..60).map(|i| if i % 7 == 0 { format!("탄핵{i}") } else { format!("w{i}") }).collect();
        let n = rng.range(1, 40) as usize;
        let mut words: Vec<(&str, u16)> = Vec::new();
        for _ in 0..n {
            let w = vocab[rng.zipf(vocab.len() as u64) as usize].as_str();
            if words.iter().all(|(x, _)| *x != w) {
                let tf = if rng.chance(0.05) { 0 } else if rng.chance(0.8) { rng.range(1, 4) } else { rng.range(1, 255) };
                words.push((w, tf as u16));
            }
        }
        let terms: Vec<(String, f64)> =
            (0..rng.range(1, 8)).map(|_| (vocab[rng.below(60) as usize].clone(), rng.unit() * 12.0)).collect();
        let params = Bm25 { k1: rng.unit() * 3.0, b: rng.unit() };
        let avg_len = if rng.chance(0.05) { 0.0 } else { 0.5 + rng.unit() * 500.0 };
        (tsv(&words), Bm25Query::new(terms, params, avg_len))
    }

    #[test]
    fn bm25_is_bitwise_unchanged() {
        let mut rng = Rng::new(11);
        for _ in 0..5000 {
            let (doc, q) = random_case(&mut rng);
            let blob = q.to_blob();
            assert_eq!(bm25_from_blob(&doc, &blob).to_bits(), bm25_from_blob_before(&doc, &blob).to_bits());
        }
    }

    #[test]
    fn scores_from_frequencies_equal_bm25_from_blob_bitwise() {
        let mut rng = Rng::new(12);
        let mut nonzero = 0;
        for _ in 0..5000 {
            let (doc, q) = random_case(&mut rng);
            // What a postings list knows of the document: dl and each
            // lexeme's frequency.
            let dl = lexeme_count(&doc).unwrap() as f64;
            let freqs = lexeme_frequencies(&doc);
            assert_eq!(freqs.len() as f64, dl);
            let tf = |lexeme: &[u8]| freqs.iter().find(|(l, _)| *l == lexeme).map_or(0.0, |(_, tf)| *tf as f64);
            let from_postings = doc_score(dl, q.terms.iter().map(|(l, idf)| (*idf, tf(l))), &q.score_params());
            let from_blob = bm25_from_blob(&doc, &q.to_blob());
            assert_eq!(from_postings.to_bits(), from_blob.to_bits(), "{from_postings} vs {from_blob}");
            nonzero += (from_blob > 0.0) as usize;
        }
        assert!(nonzero > 2000, "{nonzero}");
    }

    #[test]
    fn lexeme_frequencies_read_every_entry() {
        let doc = tsv(&[("탄핵", 3), ("a", 1), ("절차", 2), ("court", 0)]);
        let got: Vec<(&[u8], u32)> = lexeme_frequencies(&doc);
        let want: Vec<(&[u8], u32)> =
            vec![(b"a", 1), (b"court", 1), ("절차".as_bytes(), 2), ("탄핵".as_bytes(), 3)];
        assert_eq!(got, want);
        assert!(lexeme_frequencies(&tsv(&[])).is_empty());
        assert_eq!(lexeme_frequencies(&simple_tsvector(&vec!["x"; 400].join(" ")).unwrap()), vec![(&b"x"[..], 255)]);
    }

    #[test]
    fn lexeme_frequencies_of_malformed_input_are_empty() {
        assert!(lexeme_frequencies(&[]).is_empty());
        assert!(lexeme_frequencies(&[1, 0, 0, 0]).is_empty());
        // A lexeme pointing past the end.
        let mut bad = tsv(&[("x", 1), ("y", 1)]);
        bad[8] = 0xff;
        bad[11] = 0x7f;
        assert!(lexeme_frequencies(&bad).is_empty());
        // Entries out of order (swapped words): binary search would miss them.
        let good = tsv(&[("x", 1), ("y", 2)]);
        let mut swapped = good.clone();
        swapped[4..8].copy_from_slice(&good[8..12]);
        swapped[8..12].copy_from_slice(&good[4..8]);
        assert!(lexeme_frequencies(&swapped).is_empty());
        // Random bytes and truncations never panic.
        let mut rng = Rng::new(5);
        for _ in 0..2000 {
            let (doc, _) = random_case(&mut rng);
            let cut = rng.below(doc.len() as u64 + 1) as usize;
            let _ = lexeme_frequencies(&doc[..cut]);
            let mut noisy = doc.clone();
            let at = rng.below(noisy.len() as u64) as usize;
            noisy[at] = rng.next_u64() as u8;
            let _ = lexeme_frequencies(&noisy);
        }
    }

    #[test]
    fn a_parsed_blob_scores_bitwise_like_the_blob() {
        let docs = [
            tsv(&[("x", 2), ("y", 1), ("z", 1), ("w", 1)]),
            tsv(&[("x", 7), ("q", 3)]),
            tsv(&[("y", 1)]),
            tsv(&[]),
            vec![1, 2],
        ];
        let q = Bm25Query::new(vec![("x".into(), 1.5), ("y".into(), 0.5), ("q".into(), 3.25)], Bm25::default(), 3.7)
            .to_blob();
        let parsed = ParsedBlob::parse(&q);
        assert!(parsed.is_for(&q) && !parsed.is_for(&q[1..]));
        for d in &docs {
            assert_eq!(parsed.score(d).to_bits(), bm25_from_blob(d, &q).to_bits());
        }
        assert_eq!(ParsedBlob::parse(&[1, 2, 3]).score(&docs[0]), 0.0);
    }

    #[test]
    fn malformed_input_scores_zero() {
        let q = Bm25Query::new(vec![("x".into(), 1.0)], Bm25::default(), 5.0).to_blob();
        assert_eq!(bm25_from_blob(&[1, 0, 0, 0], &q), 0.0);
        assert_eq!(bm25_from_blob(&[], &q), 0.0);
        assert_eq!(bm25_from_blob(&tsv(&[("x", 1)]), &[1, 2, 3]), 0.0);
        let mut bad = tsv(&[("x", 1)]);
        bad[4] = 0xff;
        bad[7] = 0xff;
        let _ = bm25_from_blob(&bad, &q);
    }
}
