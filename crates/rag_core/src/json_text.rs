//! JSON arguments read from their text, as PostgreSQL prints a `jsonb`.
//!
//! jsonb holds values serde_json's `Value` cannot: numbers beyond a double
//! (`1e400`, 30-digit integers) and nesting deeper than serde_json's
//! recursion limit (128). Parsing a whole argument into a `Value` would fail
//! on them, and rewriting a parsed value would round its numbers. So an
//! argument is classified from its text, only the fields the extension
//! interprets are parsed, and the rest (a document's metadata) is kept as
//! the text it came as and stored unchanged.

use std::collections::HashMap;
use std::fmt;

use serde_json::value::RawValue;

/// The type of a JSON text, from its first character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    /// The type of the JSON text `text` (which must be valid JSON, as
    /// jsonb's output is).
    pub fn of(text: &str) -> JsonType {
        match text.trim_start().as_bytes().first() {
            Some(b'{') => JsonType::Object,
            Some(b'[') => JsonType::Array,
            Some(b'"') => JsonType::String,
            Some(b't' | b'f') => JsonType::Boolean,
            Some(b'n') | None => JsonType::Null,
            Some(_) => JsonType::Number,
        }
    }

    /// "an object", "a number", … for messages.
    pub fn described(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "a boolean",
            JsonType::Number => "a number",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        }
    }
}

/// A metadata argument: the object's text, None for SQL or JSON null (no
/// metadata), or the type found instead of an object.
pub fn metadata_object(text: Option<&str>) -> Result<Option<&str>, JsonType> {
    match text.map(|t| (t, JsonType::of(t))) {
        None | Some((_, JsonType::Null)) => Ok(None),
        Some((t, JsonType::Object)) => Ok(Some(t)),
        Some((_, found)) => Err(found),
    }
}

/// One element of a bulk upsert payload: its text fields, and its metadata
/// as JSON text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocumentFields {
    pub doc_id: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
    pub source: Option<String>,
    pub metadata: Option<String>,
}

/// Why a bulk upsert payload cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentsError {
    NotAnArray(JsonType),
    NotAnObject { index: usize, found: JsonType },
    NotAString { index: usize, key: &'static str, found: JsonType },
    /// Not valid JSON (cannot happen for jsonb's output).
    Unreadable(String),
}

impl fmt::Display for DocumentsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentsError::NotAnArray(found) => write!(f, "documents must be a JSON array, not {}", found.described()),
            DocumentsError::NotAnObject { index, found } => {
                write!(f, "element {index} is {}, not an object", found.described())
            }
            DocumentsError::NotAString { index, key, found } => {
                write!(f, "element {index}: \"{key}\" must be a string, not {}", found.described())
            }
            DocumentsError::Unreadable(e) => write!(f, "documents are not valid JSON: {e}"),
        }
    }
}

/// The text fields of a document element.
const TEXT_FIELDS: [&str; 4] = ["doc_id", "title", "content", "source"];

/// The elements of a bulk upsert payload (a JSON array of objects), in
/// order. Keys other than doc_id, title, content, source and metadata are
/// ignored, whatever they hold.
pub fn parse_documents(text: &str) -> Result<Vec<DocumentFields>, DocumentsError> {
    let found = JsonType::of(text);
    if found != JsonType::Array {
        return Err(DocumentsError::NotAnArray(found));
    }
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| DocumentsError::Unreadable(e.to_string()))?;
    items.iter().enumerate().map(|(index, raw)| document_fields(index, raw.get())).collect()
}

fn document_fields(index: usize, text: &str) -> Result<DocumentFields, DocumentsError> {
    let found = JsonType::of(text);
    if found != JsonType::Object {
        return Err(DocumentsError::NotAnObject { index, found });
    }
    let mut fields: HashMap<String, &RawValue> =
        serde_json::from_str(text).map_err(|e| DocumentsError::Unreadable(e.to_string()))?;
    let mut strings = TEXT_FIELDS.map(|key| (key, fields.remove(key)));
    let mut values: [Option<String>; 4] = Default::default();
    for ((key, raw), value) in strings.iter_mut().zip(values.iter_mut()) {
        let Some(raw) = raw else { continue };
        match JsonType::of(raw.get()) {
            JsonType::Null => {}
            JsonType::String => {
                *value = Some(serde_json::from_str(raw.get()).map_err(|e| DocumentsError::Unreadable(e.to_string()))?)
            }
            found => return Err(DocumentsError::NotAString { index, key, found }),
        }
    }
    let [doc_id, title, content, source] = values;
    Ok(DocumentFields { doc_id, title, content, source, metadata: fields.remove("metadata").map(|r| r.get().to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_first_character() {
        for (text, t) in [
            ("{}", JsonType::Object),
            (" [1]", JsonType::Array),
            ("\"s\"", JsonType::String),
            ("true", JsonType::Boolean),
            ("false", JsonType::Boolean),
            ("null", JsonType::Null),
            ("-1e400", JsonType::Number),
            ("12", JsonType::Number),
        ] {
            assert_eq!(JsonType::of(text), t, "{text}");
        }
    }

    #[test]
    fn metadata_is_an_object_or_nothing() {
        assert_eq!(metadata_object(None), Ok(None));
        assert_eq!(metadata_object(Some("null")), Ok(None));
        assert_eq!(metadata_object(Some("{\"n\": 1e400}")), Ok(Some("{\"n\": 1e400}")));
        assert_eq!(metadata_object(Some("[1]")), Err(JsonType::Array));
    }

    #[test]
    fn documents_keep_metadata_as_text_whatever_it_holds() {
        let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
        let text = format!(
            "[{{\"doc_id\": \"a\\u00e9\", \"title\": null, \"content\": \"x\\ny\", \"metadata\": {{\"n\": 123456789012345678901234567890, \"d\": {deep}}}, \"other\": {deep}}}, {{\"doc_id\": \"b\"}}]"
        );
        let docs = parse_documents(&text).expect("parse");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].doc_id.as_deref(), Some("aé"));
        assert_eq!(docs[0].title, None);
        assert_eq!(docs[0].content.as_deref(), Some("x\ny"));
        assert_eq!(
            docs[0].metadata.as_deref(),
            Some(format!("{{\"n\": 123456789012345678901234567890, \"d\": {deep}}}").as_str())
        );
        assert_eq!(docs[1], DocumentFields { doc_id: Some("b".into()), ..DocumentFields::default() });
    }

    #[test]
    fn malformed_payloads_say_what_is_wrong() {
        assert_eq!(parse_documents("{}"), Err(DocumentsError::NotAnArray(JsonType::Object)));
        assert_eq!(parse_documents("[{}, 3]"), Err(DocumentsError::NotAnObject { index: 1, found: JsonType::Number }));
        assert_eq!(
            parse_documents("[{\"content\": [\"x\"]}]"),
            Err(DocumentsError::NotAString { index: 0, key: "content", found: JsonType::Array })
        );
        assert_eq!(
            parse_documents("[{\"doc_id\": 1e400}]").unwrap_err().to_string(),
            "element 0: \"doc_id\" must be a string, not a number"
        );
        assert_eq!(parse_documents("[]"), Ok(Vec::new()));
    }
}
