//! Paragraph-aware chunking.
//!
//! Sizes are counted in characters (Unicode scalar values), never bytes, so a
//! cut can never land inside a UTF-8 sequence and Korean text gets the same
//! budget per chunk as English text of the same visible length.

/// Chunker version; part of the source hash so a change of algorithm
/// recomputes chunks on the next upsert.
pub const CHUNKER_VERSION: u32 = 1;

pub const DEFAULT_MAX_CHARS: usize = 1200;
pub const DEFAULT_OVERLAP_CHARS: usize = 150;
pub const MIN_MAX_CHARS: usize = 100;
pub const MAX_MAX_CHARS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSettings {
    pub max_chars: usize,
    pub overlap_chars: usize,
}

impl Default for ChunkSettings {
    fn default() -> Self {
        ChunkSettings { max_chars: DEFAULT_MAX_CHARS, overlap_chars: DEFAULT_OVERLAP_CHARS }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkSettingsError {
    MaxCharsOutOfRange(usize),
    OverlapOutOfRange { overlap: usize, max_chars: usize },
}

impl std::fmt::Display for ChunkSettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkSettingsError::MaxCharsOutOfRange(v) => write!(
                f,
                "chunk max_chars {v} is out of range [{MIN_MAX_CHARS}, {MAX_MAX_CHARS}]"
            ),
            ChunkSettingsError::OverlapOutOfRange { overlap, max_chars } => write!(
                f,
                "chunk overlap {overlap} is out of range [0, {}] for max_chars {max_chars}",
                max_chars / 2
            ),
        }
    }
}

impl ChunkSettings {
    pub fn new(max_chars: usize, overlap_chars: usize) -> Result<Self, ChunkSettingsError> {
        if !(MIN_MAX_CHARS..=MAX_MAX_CHARS).contains(&max_chars) {
            return Err(ChunkSettingsError::MaxCharsOutOfRange(max_chars));
        }
        // Overlap above half the chunk would make consecutive chunks mostly
        // duplicates and, at the extreme, stop the chunker from advancing.
        if overlap_chars > max_chars / 2 {
            return Err(ChunkSettingsError::OverlapOutOfRange { overlap: overlap_chars, max_chars });
        }
        Ok(ChunkSettings { max_chars, overlap_chars })
    }
}

/// Splits `text` into chunks of at most `settings.max_chars` characters.
///
/// Paragraphs (separated by blank lines) are packed greedily; a paragraph
/// that does not fit alone is split at sentence ends, then at whitespace, and
/// only as a last resort (e.g. long runs of text without spaces) at an
/// arbitrary character boundary. Each chunk after the first begins with up to
/// `overlap_chars` characters of the previous chunk's tail, starting at a word
/// boundary where one exists, so context carries across cuts.
pub fn chunk_text(text: &str, settings: &ChunkSettings) -> Vec<String> {
    let max = settings.max_chars.max(1);
    let overlap = settings.overlap_chars.min(max / 2);
    // Budget for new material in a chunk that starts with an overlap prefix.
    let pieces = split_pieces(text, max - overlap);
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    let mut current_has_new = false;

    for piece in pieces {
        let sep = if current.is_empty() { 0 } else { piece.sep.len_chars() };
        if current_has_new && current_len + sep + piece.len > max {
            let tail = overlap_tail(&current, overlap).to_string();
            chunks.push(std::mem::take(&mut current));
            current_len = tail.chars().count();
            current = tail;
        }
        if !current.is_empty() {
            current.push_str(piece.sep.as_str());
            current_len += piece.sep.len_chars();
        }
        current.push_str(piece.text);
        current_len += piece.len;
        current_has_new = true;
    }
    if current_has_new {
        chunks.push(current);
    }
    chunks
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Paragraph,
    Space,
    None,
}

impl Sep {
    fn as_str(self) -> &'static str {
        match self {
            Sep::Paragraph => "\n\n",
            Sep::Space => " ",
            Sep::None => "",
        }
    }
    fn len_chars(self) -> usize {
        self.as_str().len()
    }
}

struct Piece<'a> {
    text: &'a str,
    len: usize,
    /// Separator to put before this piece when it follows another one.
    sep: Sep,
}

/// Breaks text into pieces of at most `budget` characters each, keeping
/// paragraphs whole where they fit.
fn split_pieces(text: &str, budget: usize) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    for para in paragraphs(text) {
        let len = para.chars().count();
        if len <= budget {
            out.push(Piece { text: para, len, sep: Sep::Paragraph });
            continue;
        }
        let mut first = true;
        for sentence in sentences(para) {
            let sep = if first { Sep::Paragraph } else { Sep::Space };
            first = false;
            let slen = sentence.chars().count();
            if slen <= budget {
                out.push(Piece { text: sentence, len: slen, sep });
            } else {
                let mut first_part = true;
                for (part, plen, joined_by_space) in hard_split(sentence, budget) {
                    let psep = if first_part {
                        sep
                    } else if joined_by_space {
                        Sep::Space
                    } else {
                        Sep::None
                    };
                    first_part = false;
                    out.push(Piece { text: part, len: plen, sep: psep });
                }
            }
        }
    }
    out
}

/// Paragraphs: runs of text separated by one or more blank lines, trimmed.
fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let (para, next) = match find_blank_line(rest) {
            Some((start, end)) => (&rest[..start], &rest[end..]),
            None => (rest, ""),
        };
        rest = next;
        let para = para.trim();
        if !para.is_empty() {
            return Some(para);
        }
    })
}

/// Finds the first blank line (`\n` followed by optional whitespace and
/// another `\n`); returns the byte range of the separator.
fn find_blank_line(s: &str) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let mut j = i + 1;
            while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\r') {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'\n' {
                let mut end = j + 1;
                while end < bytes.len() && matches!(bytes[end], b' ' | b'\t' | b'\r' | b'\n') {
                    end += 1;
                }
                return Some((i, end));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

/// Sentences: cut after `.`, `!`, `?`, `。`, `？`, `！` followed by
/// whitespace, and at single newlines. Korean sentences end in `다.` etc., so
/// the same punctuation rule covers them.
fn sentences(para: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_terminal = false;
    for (i, c) in para.char_indices() {
        let boundary = c == '\n' || (c.is_whitespace() && prev_terminal);
        if boundary {
            let s = para[start..i].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + c.len_utf8();
        }
        prev_terminal = matches!(c, '.' | '!' | '?' | '。' | '？' | '！');
    }
    let s = para[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// Splits an over-long sentence into parts of at most `budget` characters,
/// preferring the last whitespace in the window. Returns (part, chars,
/// whether the cut was at whitespace).
fn hard_split(s: &str, budget: usize) -> Vec<(&str, usize, bool)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut end_byte = rest.len();
        let mut count = 0;
        let mut last_ws: Option<(usize, usize)> = None; // (byte index, chars before it)
        for (i, c) in rest.char_indices() {
            if count == budget {
                end_byte = i;
                break;
            }
            if c.is_whitespace() && count > 0 {
                last_ws = Some((i, count));
            }
            count += 1;
        }
        if end_byte == rest.len() {
            out.push((rest, count, false));
            break;
        }
        // Cut at whitespace only if that keeps at least half the budget;
        // otherwise a single long token would produce tiny chunks.
        match last_ws {
            Some((ws, chars)) if chars >= budget / 2 => {
                out.push((rest[..ws].trim_end(), chars, true));
                rest = rest[ws..].trim_start();
                if let Some(last) = out.last_mut() {
                    last.1 = last.0.chars().count();
                }
            }
            _ => {
                out.push((&rest[..end_byte], budget, false));
                rest = &rest[end_byte..];
            }
        }
        // A part that follows a whitespace cut is joined by a space; one that
        // follows a hard cut is joined directly.
    }
    // Fix up the joining flag: it describes how a part joins its predecessor.
    let mut fixed = Vec::with_capacity(out.len());
    let mut prev_ws = false;
    for (i, (p, n, ws)) in out.into_iter().enumerate() {
        fixed.push((p, n, i > 0 && prev_ws));
        prev_ws = ws;
    }
    fixed
}

/// The last `overlap` characters of `chunk`, moved forward to the next word
/// start when the cut would land inside a word.
fn overlap_tail(chunk: &str, overlap: usize) -> &str {
    if overlap == 0 {
        return "";
    }
    let total = chunk.chars().count();
    if total <= overlap {
        return "";
    }
    let start_char = total - overlap;
    let start = chunk.char_indices().nth(start_char).map(|(i, _)| i).unwrap_or(chunk.len());
    let tail = &chunk[start..];
    let at_word_start =
        chunk[..start].chars().next_back().map(|c| c.is_whitespace()).unwrap_or(true);
    if at_word_start {
        return tail.trim_start();
    }
    match tail.find(char::is_whitespace) {
        // Only skip forward if a word boundary is near; otherwise (text
        // without spaces) keep the character-aligned tail.
        Some(ws) if tail[..ws].chars().count() <= overlap / 2 => tail[ws..].trim_start(),
        _ => tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(max: usize, ov: usize) -> ChunkSettings {
        ChunkSettings::new(max, ov).unwrap()
    }

    #[test]
    fn empty_and_whitespace_text_give_no_chunks() {
        assert!(chunk_text("", &ChunkSettings::default()).is_empty());
        assert!(chunk_text(" \n\n \t\n", &ChunkSettings::default()).is_empty());
    }

    #[test]
    fn short_text_is_one_chunk() {
        let c = chunk_text("Hello world.", &ChunkSettings::default());
        assert_eq!(c, vec!["Hello world.".to_string()]);
    }

    #[test]
    fn paragraphs_are_packed_and_kept_whole() {
        let p1 = "a".repeat(60);
        let p2 = "b".repeat(60);
        let p3 = "c".repeat(60);
        let text = format!("{p1}\n\n{p2}\n \n{p3}");
        let c = chunk_text(&text, &s(130, 0));
        assert_eq!(c, vec![format!("{p1}\n\n{p2}"), p3]);
    }

    #[test]
    fn every_chunk_respects_max_chars() {
        let text = "word ".repeat(5000) + &"가나다라마바사".repeat(500);
        for (max, ov) in [(100, 0), (100, 50), (777, 100), (1200, 150)] {
            for c in chunk_text(&text, &s(max, ov)) {
                assert!(c.chars().count() <= max, "chunk of {} > {max}", c.chars().count());
                assert!(!c.is_empty());
            }
        }
    }

    #[test]
    fn korean_without_spaces_splits_at_char_boundaries() {
        let text = "탄핵소추안가결절차".repeat(100); // 900 Hangul chars, no spaces
        let chunks = chunk_text(&text, &s(100, 0));
        assert_eq!(chunks.concat(), text);
        assert!(chunks.iter().all(|c| c.chars().count() <= 100));
    }

    #[test]
    fn korean_sentences_are_preferred_cut_points() {
        let sent = "국회는 대통령 탄핵을 의결했다. ";
        let text = sent.repeat(30);
        let chunks = chunk_text(&text, &s(100, 0));
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(c.ends_with("의결했다."), "chunk should end at a sentence: {c:?}");
        }
    }

    #[test]
    fn overlap_repeats_the_tail_of_the_previous_chunk() {
        let text: String = (0..200).map(|i| format!("w{i} ")).collect();
        let chunks = chunk_text(&text, &s(100, 30));
        assert!(chunks.len() > 2);
        for pair in chunks.windows(2) {
            let first_word = pair[1].split_whitespace().next().unwrap();
            assert!(pair[0].contains(first_word), "overlap missing between {pair:?}");
        }
    }

    #[test]
    fn no_paragraph_breaks_still_chunks_sensibly() {
        let text = "This is a sentence without paragraph breaks. ".repeat(200);
        let chunks = chunk_text(&text, &s(500, 50));
        assert!(chunks.len() >= 18);
        assert!(chunks.iter().all(|c| c.chars().count() <= 500));
    }

    #[test]
    fn settings_are_validated() {
        assert_eq!(ChunkSettings::new(99, 0), Err(ChunkSettingsError::MaxCharsOutOfRange(99)));
        assert!(ChunkSettings::new(100_001, 0).is_err());
        assert!(ChunkSettings::new(1000, 501).is_err());
        assert!(ChunkSettings::new(1000, 500).is_ok());
    }

    #[test]
    fn ten_megabytes_chunk_in_linear_time() {
        let text = "lorem ipsum dolor sit amet. ".repeat(10 * 1024 * 1024 / 28);
        let chunks = chunk_text(&text, &ChunkSettings::default());
        assert!(chunks.len() > 8000);
    }
}
