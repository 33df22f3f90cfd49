//! English stems: M. F. Porter's suffix-stripping algorithm (1980), the
//! stemmer behind the published BM25 baselines of BEIR-style evaluations.
//! `studies` → `studi`, `running` → `run`, `relational` → `relat`.
//!
//! Only words made of ASCII letters `a`–`z` are stemmed (what
//! `for_each_word` emits for English); words with digits, other scripts or
//! two letters or fewer come back unchanged. The result is always a
//! non-empty word of the same letters, so the stored tsvector keeps its
//! fast path (`tsvector::simple_tsvector`).

use std::borrow::Cow;

/// The Porter stem of `word`, or `word` itself when it is not a plain
/// lowercase ASCII word longer than two letters.
pub fn stem(word: &str) -> Cow<'_, str> {
    if word.len() <= 2 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return Cow::Borrowed(word);
    }
    let mut w = Word { b: word.as_bytes().to_vec() };
    w.step1a();
    w.step1b();
    w.step1c();
    w.step2();
    w.step3();
    w.step4();
    w.step5();
    if w.b == word.as_bytes() {
        return Cow::Borrowed(word);
    }
    // Only ASCII letters were removed or replaced by ASCII letters.
    Cow::Owned(String::from_utf8(w.b).unwrap_or_else(|_| word.to_owned()))
}

struct Word {
    b: Vec<u8>,
}

impl Word {
    /// Whether the letter at `i` is a consonant: not a vowel, and `y` only
    /// when it starts the word or follows a vowel.
    fn consonant(&self, i: usize) -> bool {
        match self.b[i] {
            b'a' | b'e' | b'i' | b'o' | b'u' => false,
            b'y' => i == 0 || !self.consonant(i - 1),
            _ => true,
        }
    }

    /// The measure m of the first `len` letters: the number of
    /// vowel-consonant sequences in `[C](VC)^m[V]`.
    fn measure(&self, len: usize) -> usize {
        let mut m = 0;
        let mut i = 0;
        while i < len && self.consonant(i) {
            i += 1;
        }
        loop {
            while i < len && !self.consonant(i) {
                i += 1;
            }
            if i >= len {
                return m;
            }
            while i < len && self.consonant(i) {
                i += 1;
            }
            m += 1;
        }
    }

    /// Whether the first `len` letters contain a vowel.
    fn has_vowel(&self, len: usize) -> bool {
        (0..len).any(|i| !self.consonant(i))
    }

    /// Whether the first `len` letters end in a double consonant.
    fn double_consonant(&self, len: usize) -> bool {
        len >= 2 && self.b[len - 1] == self.b[len - 2] && self.consonant(len - 1)
    }

    /// Whether the first `len` letters end consonant-vowel-consonant, the
    /// last not `w`, `x` or `y` (`hop`, not `snow`).
    fn cvc(&self, len: usize) -> bool {
        len >= 3
            && self.consonant(len - 1)
            && !self.consonant(len - 2)
            && self.consonant(len - 3)
            && !matches!(self.b[len - 1], b'w' | b'x' | b'y')
    }

    fn ends(&self, suffix: &str) -> bool {
        self.b.ends_with(suffix.as_bytes())
    }

    /// The length of the stem before `suffix` (which the word ends with).
    fn stem_len(&self, suffix: &str) -> usize {
        self.b.len() - suffix.len()
    }

    fn replace(&mut self, suffix: &str, with: &str) {
        let keep = self.stem_len(suffix);
        self.b.truncate(keep);
        self.b.extend_from_slice(with.as_bytes());
    }

    /// Replaces the longest of `rules` the word ends with when the stem
    /// before it has a measure above `min_measure`; a longest match whose
    /// stem is too short stops the step (no shorter suffix is tried).
    fn longest_rule(&mut self, rules: &[(&str, &str)], min_measure: usize) {
        let Some(&(suffix, with)) =
            rules.iter().filter(|(s, _)| self.ends(s)).max_by_key(|(s, _)| s.len())
        else {
            return;
        };
        if self.measure(self.stem_len(suffix)) > min_measure {
            self.replace(suffix, with);
        }
    }

    fn step1a(&mut self) {
        if self.ends("sses") {
            self.replace("sses", "ss");
        } else if self.ends("ies") {
            self.replace("ies", "i");
        } else if self.ends("ss") {
        } else if self.ends("s") {
            self.replace("s", "");
        }
    }

    fn step1b(&mut self) {
        if self.ends("eed") {
            if self.measure(self.stem_len("eed")) > 0 {
                self.replace("eed", "ee");
            }
            return;
        }
        let removed = ["ed", "ing"].into_iter().find(|s| self.ends(s) && self.has_vowel(self.stem_len(s)));
        let Some(suffix) = removed else { return };
        self.replace(suffix, "");
        if self.ends("at") || self.ends("bl") || self.ends("iz") {
            self.b.push(b'e');
        } else if self.double_consonant(self.b.len()) && !matches!(self.b[self.b.len() - 1], b'l' | b's' | b'z') {
            self.b.pop();
        } else if self.measure(self.b.len()) == 1 && self.cvc(self.b.len()) {
            self.b.push(b'e');
        }
    }

    fn step1c(&mut self) {
        if self.ends("y") && self.has_vowel(self.stem_len("y")) {
            self.replace("y", "i");
        }
    }

    fn step2(&mut self) {
        const RULES: [(&str, &str); 20] = [
            ("ational", "ate"),
            ("tional", "tion"),
            ("enci", "ence"),
            ("anci", "ance"),
            ("izer", "ize"),
            ("abli", "able"),
            ("alli", "al"),
            ("entli", "ent"),
            ("eli", "e"),
            ("ousli", "ous"),
            ("ization", "ize"),
            ("ation", "ate"),
            ("ator", "ate"),
            ("alism", "al"),
            ("iveness", "ive"),
            ("fulness", "ful"),
            ("ousness", "ous"),
            ("aliti", "al"),
            ("iviti", "ive"),
            ("biliti", "ble"),
        ];
        self.longest_rule(&RULES, 0);
    }

    fn step3(&mut self) {
        const RULES: [(&str, &str); 7] = [
            ("icate", "ic"),
            ("ative", ""),
            ("alize", "al"),
            ("iciti", "ic"),
            ("ical", "ic"),
            ("ful", ""),
            ("ness", ""),
        ];
        self.longest_rule(&RULES, 0);
    }

    fn step4(&mut self) {
        const SUFFIXES: [&str; 19] = [
            "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism",
            "ate", "iti", "ous", "ive", "ize",
        ];
        let Some(&suffix) = SUFFIXES.iter().filter(|s| self.ends(s)).max_by_key(|s| s.len()) else {
            return;
        };
        let len = self.stem_len(suffix);
        if self.measure(len) <= 1 {
            return;
        }
        // -ion goes only after s or t (adoption → adopt, not region → reg).
        if suffix == "ion" && !(len > 0 && matches!(self.b[len - 1], b's' | b't')) {
            return;
        }
        self.b.truncate(len);
    }

    fn step5(&mut self) {
        if self.ends("e") {
            let len = self.stem_len("e");
            let m = self.measure(len);
            if m > 1 || (m == 1 && !self.cvc(len)) {
                self.b.pop();
            }
        }
        let len = self.b.len();
        if self.b.ends_with(b"ll") && self.measure(len) > 1 {
            self.b.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porter_examples() {
        // The examples of Porter's paper, step by step.
        for (word, want) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "ti"),
            ("caress", "caress"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("bled", "bled"),
            ("motoring", "motor"),
            ("sing", "sing"),
            ("conflated", "conflat"),
            ("troubled", "troubl"),
            ("sized", "size"),
            ("hopping", "hop"),
            ("tanned", "tan"),
            ("falling", "fall"),
            ("hissing", "hiss"),
            ("fizzed", "fizz"),
            ("failing", "fail"),
            ("filing", "file"),
            ("happy", "happi"),
            ("sky", "sky"),
            ("relational", "relat"),
            ("conditional", "condit"),
            ("rational", "ration"),
            ("valenci", "valenc"),
            ("digitizer", "digit"),
            ("conformabli", "conform"),
            ("radicalli", "radic"),
            ("differentli", "differ"),
            ("vileli", "vile"),
            ("analogousli", "analog"),
            ("vietnamization", "vietnam"),
            ("predication", "predic"),
            ("operator", "oper"),
            ("feudalism", "feudal"),
            ("decisiveness", "decis"),
            ("hopefulness", "hope"),
            ("callousness", "callous"),
            ("formaliti", "formal"),
            ("sensitiviti", "sensit"),
            ("sensibiliti", "sensibl"),
            ("triplicate", "triplic"),
            ("formative", "form"),
            ("formalize", "formal"),
            ("electriciti", "electr"),
            ("electrical", "electr"),
            ("hopeful", "hope"),
            ("goodness", "good"),
            ("revival", "reviv"),
            ("allowance", "allow"),
            ("inference", "infer"),
            ("airliner", "airlin"),
            ("gyroscopic", "gyroscop"),
            ("adjustable", "adjust"),
            ("defensible", "defens"),
            ("irritant", "irrit"),
            ("replacement", "replac"),
            ("adjustment", "adjust"),
            ("dependent", "depend"),
            ("adoption", "adopt"),
            ("homologou", "homolog"),
            ("communism", "commun"),
            ("activate", "activ"),
            ("angulariti", "angular"),
            ("homologous", "homolog"),
            ("effective", "effect"),
            ("bowdlerize", "bowdler"),
            ("probate", "probat"),
            ("rate", "rate"),
            ("cease", "ceas"),
            ("controll", "control"),
            ("roll", "roll"),
            ("generalizations", "gener"),
            ("oscillators", "oscil"),
        ] {
            assert_eq!(stem(word), want, "{word}");
        }
    }

    #[test]
    fn only_plain_english_words_are_stemmed() {
        for word in ["", "is", "as", "covid19", "p53", "탄핵을", "école", "IL6"] {
            assert_eq!(stem(word), word);
        }
        assert!(matches!(stem("run"), Cow::Borrowed(_)));
    }

    #[test]
    fn stems_are_nonempty_lowercase_letters() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let len = 3 + (x % 12) as usize;
            let mut w = String::new();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                w.push((b'a' + (x % 26) as u8) as char);
            }
            let s = stem(&w);
            assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()), "{w} -> {s}");
            assert!(s.len() <= w.len() + 1, "{w} -> {s}");
        }
    }
}
