//! A tiny, table-driven Korean "stemmer": strips josa (particles) and the most
//! frequent 하다/되다/이다 endings from the end of a word.
//!
//! Why not a morphological analyser: `index_text` runs for every chunk insert
//! inside an IMMUTABLE SQL function, so it must be fast, dependency-free and
//! deterministic forever (changing it changes stored tsvectors). A suffix list
//! gets most of the recall (`탄핵을` ↔ `탄핵`) at a fraction of the cost.
//!
//! Both sides use the same function: documents index the word plus every
//! layer of stripping (`기업들에게는` → `기업들` → `기업`), queries use the
//! deepest layer. Because the document chain of `X + particle` continues
//! exactly like the chain of `X` (whenever the particle is the longest
//! matching suffix, the usual case), the query's deepest stem is among the
//! document's tokens whichever particle either side used.

/// Most layers of stripping applied to one word (`기업들에게는` needs two).
/// Bounded so the indexed text cannot blow up.
pub(crate) const MAX_LAYERS: usize = 3;

/// Longest suffix in the table, in characters.
const MAX_SUFFIX_CHARS: usize = 5;

/// How safe it is to strip a suffix.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Strip {
    /// Multi-syllable case particle (에서, 으로, 까지 …): unambiguous enough
    /// to leave a 1-syllable stem even from a longer word (`법에서는` → `법`).
    Particle,
    /// Rarely the end of a noun, but words of 3+ syllables keep at least 2
    /// (`대해서` stays: 대 would be a meaningless high-frequency stem).
    Free,
    /// Also a frequent last syllable of nouns (국가, 회의, 제도, 결과, 도로,
    /// 권한, 경제적): only stripped when at least 2 characters remain and
    /// the stem does not end in a digit (`100만` stays a number).
    Guarded,
}

/// Which stems a particle can follow. Korean particles come in pairs chosen
/// by whether the previous syllable ends in a consonant (을/를, 은/는, 이/가,
/// 과/와, 으로/로). Checking it rejects many false strips for free: `마을`,
/// `가을` (을 after a vowel), `국가`, `평가` (가 after a consonant), `차이`,
/// `나이` (이 after a vowel), `경로` (로 after ㅇ).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum After {
    Any,
    Consonant,
    Vowel,
    /// 로 and its compounds: after a vowel or after ㄹ (서울로).
    VowelOrRieul,
}

fn suffix_kind(s: &str) -> Option<(Strip, After)> {
    use After::{Any, Consonant, Vowel, VowelOrRieul};
    use Strip::{Free, Guarded, Particle};
    let kind = match s {
        // 1-syllable particles that almost never end a noun.
        "을" | "은" => (Free, Consonant),
        "를" | "는" => (Free, Vowel),
        "에" => (Free, Any),
        // 1-syllable particles/endings that often end nouns too.
        "이" | "과" => (Guarded, Consonant),
        "가" | "와" => (Guarded, Vowel),
        "로" => (Guarded, VowelOrRieul),
        "의" | "도" | "만" | "들" | "한" | "할" | "함" | "된" | "될" | "됨" | "며" | "적" => {
            (Guarded, Any)
        }
        // Multi-syllable case particles, plain and stacked.
        "으로" | "으로는" | "으로도" | "으로서" | "으로써" | "으로의" | "으로부터" | "과는"
        | "과의" | "과도" => (Particle, Consonant),
        "와는" | "와의" | "와도" => (Particle, Vowel),
        "로는" | "로도" | "로서" | "로써" | "로의" | "로부터" => {
            (Particle, VowelOrRieul)
        }
        "에서" | "에게" | "에는" | "에도" | "에의" | "께서" | "한테" | "까지" | "부터" | "처럼"
        | "보다" | "마다" | "조차" | "마저" | "밖에" | "만큼" | "에서는" | "에서도" | "에서의"
        | "에게는" | "에게도" | "에게서" | "까지는" | "까지도" | "까지의" | "부터는" | "부터의"
        | "보다는" | "에서부터" => (Particle, Any),
        // Copula forms (이다 …) and 적인 (경제적인 → 경제).
        "였다" | "였던" => (Free, Vowel),
        "라는" | "라고" | "이란" | "이며" | "이고" | "이다" | "인데" | "인지" | "적인"
        | "이라는" | "이라고" | "이라도" | "이라면" | "이지만" | "이므로" | "이었다" | "이었던"
        | "입니다" | "입니까" | "인가요" => (Free, Any),
        // Frequent endings of 하다 / 되다 verbs built on nouns (검토했다 → 검토).
        "하다" | "한다" | "했다" | "하는" | "하고" | "하여" | "해서" | "하며" | "하면" | "하기"
        | "하게" | "하지" | "해야" | "했던" | "하던" | "했고" | "할지" | "되다" | "된다"
        | "됐다" | "되는" | "되고" | "되어" | "되며" | "되면" | "되기" | "되지" | "하였다"
        | "합니다" | "합니까" | "했으며" | "하였고" | "하시오" | "하세요" | "했는지" | "하는지"
        | "하려면" | "하도록" | "하기로" | "하므로" | "했는데" | "하는데" | "한다는" | "했어야"
        | "했나요" | "되었다" | "됩니다" | "됩니까" | "됐으며" | "되었고" | "되는지" | "되도록"
        | "된다는" | "했습니다" | "하였으며" | "하십시오" | "하였는데" | "하였나요"
        | "해주세요" | "되었으며" | "되었는지" | "하였습니다" | "되었습니다" => {
            (Free, Any)
        }
        _ => return None,
    };
    Some(kind)
}

/// Final-consonant (batchim) index of a Hangul syllable: 0 = none, 8 = ㄹ.
/// `None` for anything else (digits, Latin: no agreement check possible).
fn batchim(c: char) -> Option<u32> {
    let cp = c as u32;
    (0xAC00..=0xD7A3).contains(&cp).then(|| (cp - 0xAC00) % 28)
}

fn agrees(stem_last: char, after: After) -> bool {
    match (after, batchim(stem_last)) {
        (After::Any, _) | (_, None) => true,
        (After::Consonant, Some(t)) => t != 0,
        (After::Vowel, Some(t)) => t == 0,
        (After::VowelOrRieul, Some(t)) => t == 0 || t == 8,
    }
}

/// Strips one particle/ending (longest match first) from a lowercase word.
/// Returns `None` when nothing applies. Never returns an empty stem; words of
/// 3+ syllables keep at least 2 unless a multi-syllable case particle goes.
pub(crate) fn strip_once(word: &str) -> Option<&str> {
    // Byte offsets where the last 1..=MAX_SUFFIX_CHARS characters start.
    let mut starts = [0usize; MAX_SUFFIX_CHARS];
    let mut found = 0;
    for (i, _) in word.char_indices().rev().take(MAX_SUFFIX_CHARS) {
        if let Some(slot) = starts.get_mut(found) {
            *slot = i;
            found += 1;
        }
    }
    if found < 2 {
        return None;
    }
    // Only need to know whether the word has >= 3 chars; avoid a full count
    // for long words.
    let n = if found < MAX_SUFFIX_CHARS {
        found
    } else {
        word.chars().count()
    };
    // Longest suffix first, but always leave at least one character.
    for len in (1..=found.min(n - 1)).rev() {
        let start = starts[len - 1];
        let Some((kind, after)) = suffix_kind(&word[start..]) else {
            continue;
        };
        let stem = &word[..start];
        let Some(last) = stem.chars().next_back() else {
            continue;
        };
        let min_stem = match kind {
            Strip::Particle => 1,
            Strip::Free if n >= 3 => 2,
            Strip::Free => 1,
            Strip::Guarded => 2,
        };
        if n - len < min_stem
            || (kind == Strip::Guarded && last.is_ascii_digit())
            || !agrees(last, after)
            // `것으로` must not become `것으` via 로.
            || last == '\u{C73C}'
        {
            continue;
        }
        return Some(stem);
    }
    None
}

/// Successive stems of `word` (not including `word`), at most `MAX_LAYERS`.
pub(crate) fn stem_chain(word: &str) -> impl Iterator<Item = &str> {
    let mut cur = word;
    let mut left = MAX_LAYERS;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        left -= 1;
        let next = strip_once(cur)?;
        cur = next;
        Some(next)
    })
}

/// The deepest stem (the word itself when nothing strips): what a query uses.
pub(crate) fn deepest_stem(word: &str) -> &str {
    stem_chain(word).last().unwrap_or(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_particles_longest_first() {
        assert_eq!(strip_once("탄핵을"), Some("탄핵"));
        assert_eq!(strip_once("절차는"), Some("절차"));
        assert_eq!(strip_once("서울에서는"), Some("서울"));
        assert_eq!(strip_once("금융위원회가"), Some("금융위원회"));
        assert_eq!(strip_once("검토했어야"), Some("검토"));
        assert_eq!(strip_once("법을"), Some("법"));
    }

    #[test]
    fn guards_short_and_ambiguous_words() {
        for w in [
            "국가", "회의", "제도", "결과", "도로", "차이", "권한", "확인", "을", "", "e",
        ] {
            assert_eq!(strip_once(w), None, "{w}");
        }
        // 3+ characters keep at least 2.
        assert_eq!(strip_once("합니다"), None);
        assert_eq!(strip_once("하는"), Some("하"));
        assert_eq!(strip_once("100만"), None);
        assert_eq!(strip_once("b2b를"), Some("b2b"));
        assert_eq!(strip_once("대해서"), None);
    }

    #[test]
    fn particle_agrees_with_final_consonant() {
        // Not particles: wrong consonant/vowel pairing.
        for w in ["마을", "가을", "평가", "증가", "나이", "경로"] {
            assert_ne!(strip_once(w), Some(&w[..w.len() - 3]), "{w}");
        }
        assert_eq!(strip_once("가게를"), Some("가게"));
        assert_eq!(strip_once("값이"), None); // guarded: 1 syllable left
        assert_eq!(strip_once("금리가"), Some("금리"));
        assert_eq!(strip_once("금액이"), Some("금액"));
        assert_eq!(strip_once("서울로"), Some("서울"));
        assert_eq!(strip_once("정책으로"), Some("정책"));
        assert_eq!(strip_once("법에서는"), Some("법"));
        // 으 is never left dangling from 으로.
        assert_eq!(strip_once("것으로"), Some("것"));
        assert_eq!(strip_once("경제적인"), Some("경제"));
        assert_eq!(strip_once("경제적"), Some("경제"));
    }

    #[test]
    fn chain_and_deepest() {
        let chain: Vec<&str> = stem_chain("기업들에게는").collect();
        assert_eq!(chain, vec!["기업들", "기업"]);
        assert_eq!(deepest_stem("기업들에게는"), "기업");
        assert_eq!(deepest_stem("탄핵"), "탄핵");
    }
}
