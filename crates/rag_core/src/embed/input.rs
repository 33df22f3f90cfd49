//! Preparing texts before they are sent.

/// The first `max_chars` characters of `s` (cut at a char boundary).
pub fn truncate_chars(s: &str, max_chars: usize) -> &str {
    // A char is at least one byte: short strings need no scan.
    if s.len() <= max_chars {
        return s;
    }
    match s.char_indices().nth(max_chars) {
        Some((byte, _)) => &s[..byte],
        None => s,
    }
}

/// Replaces `{text}` and `{title}` in `template` (one pass, so placeholders
/// inside the substituted values are left alone) and trims the result.
/// An empty template means `{text}`.
pub fn apply_template(template: &str, text: &str, title: &str) -> String {
    if template.is_empty() {
        return text.trim().to_string();
    }
    let mut out = String::with_capacity(template.len() + text.len() + title.len());
    let mut rest = template;
    while let Some(pos) = rest.find('{') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(r) = tail.strip_prefix("{text}") {
            out.push_str(text);
            rest = r;
        } else if let Some(r) = tail.strip_prefix("{title}") {
            out.push_str(title);
            rest = r;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_truncate_chars_korean_boundary() {
        let s = "한국어 텍스트입니다";
        assert_eq!(truncate_chars(s, 3), "한국어");
        assert_eq!(truncate_chars(s, 5), "한국어 텍");
        assert_eq!(truncate_chars(s, 100), s);
        assert_eq!(truncate_chars(s, 0), "");
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("a😀b", 2), "a😀");
    }

    #[test]
    fn embed_apply_template() {
        assert_eq!(
            apply_template("passage: {title} {text}", "body", "T"),
            "passage: T body"
        );
        assert_eq!(apply_template("{title}\n{text}", "body", ""), "body");
        // Only the result is trimmed.
        assert_eq!(apply_template("query: {text}", "  q  ", "x"), "query:   q");
        assert_eq!(apply_template("", " raw ", "x"), "raw");
        // Values are not re-expanded; unknown braces are kept.
        assert_eq!(
            apply_template("{title}: {text}", "{title}", "{text}"),
            "{text}: {title}"
        );
        assert_eq!(apply_template("{x} {text} {", "a", ""), "{x} a {");
        assert_eq!(
            apply_template("제목 {title} — {text}", "본문", "안녕"),
            "제목 안녕 — 본문"
        );
    }
}
