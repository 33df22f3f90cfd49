//! Graph-RAG metadata: the entities and relations an LLM extracted from a
//! document, kept at the top level of its metadata.
//!
//! Accepted shapes (anything else is ignored, never an error):
//!
//! - `entity_names`: an array of strings (a single string counts as one
//!   name);
//! - `entity_nodes`: an array of strings or of objects whose `name` (else
//!   `id`) is a string;
//! - `entity_relations`: an array of objects with string `source` and
//!   `target` and an optional string `relation` (else `type`, else
//!   `label`).
//!
//! A document *names* every entity of these three fields (relation ends
//! included). Names are compared by their [`entity_key`]: the words of the
//! name as queries see them (lowercase, Korean particles removed), so
//! `Seoul`, `SEOUL` and `서울에서` meet `seoul` and `서울`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::text::stemmed_words;

/// The metadata keys read, in this order.
pub const ENTITY_NAMES: &str = "entity_names";
pub const ENTITY_NODES: &str = "entity_nodes";
pub const ENTITY_RELATIONS: &str = "entity_relations";

/// Longest entity name matched, in words: a query is compared with its
/// word sequences up to this long.
pub const MAX_ENTITY_WORDS: usize = 6;
/// Longer keys are ignored (far beyond a name; keeps index entries small).
pub const MAX_KEY_BYTES: usize = 256;
/// Most entities read from one document's metadata (keys) and most
/// relations read from it.
pub const MAX_DOCUMENT_ENTITIES: usize = 1000;
/// Query words whose sequences are looked up as entity names.
pub const MAX_QUERY_WORDS: usize = 64;

/// The comparison key of an entity name: its words as queries see them,
/// joined by single spaces; None for a name without words, of more than
/// [`MAX_ENTITY_WORDS`] words or longer than [`MAX_KEY_BYTES`].
pub fn entity_key(name: &str) -> Option<String> {
    let words = stemmed_words(name);
    if words.is_empty() || words.len() > MAX_ENTITY_WORDS {
        return None;
    }
    Some(words.join(" ")).filter(|k| k.len() <= MAX_KEY_BYTES)
}

fn string_of(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.trim().is_empty())
}

/// The entity names of a document as written: `entity_names`, then
/// `entity_nodes`, then the ends of `entity_relations`, in order, at most
/// [`MAX_DOCUMENT_ENTITIES`] (repeats included).
pub fn entity_names(metadata: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    let Some(obj) = metadata.as_object() else { return names };
    match obj.get(ENTITY_NAMES) {
        Some(Value::Array(items)) => names.extend(items.iter().filter_map(string_of)),
        Some(v) => names.extend(string_of(v)),
        None => {}
    }
    if let Some(Value::Array(items)) = obj.get(ENTITY_NODES) {
        for item in items {
            let name = match item {
                Value::Object(node) => node.get("name").and_then(string_of).or_else(|| node.get("id").and_then(string_of)),
                other => string_of(other),
            };
            names.extend(name);
        }
    }
    for r in relations(metadata) {
        names.push(r.source);
        names.push(r.target);
    }
    names.truncate(MAX_DOCUMENT_ENTITIES);
    names
}

/// `(key, name)` of every entity a document names, the first name written
/// for each key, in key order.
pub fn named_entities(metadata: &Value) -> Vec<(String, String)> {
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for name in entity_names(metadata) {
        if let Some(key) = entity_key(name) {
            by_key.entry(key).or_insert_with(|| name.to_string());
        }
    }
    by_key.into_iter().collect()
}

/// The keys of every entity a document names, sorted and distinct: what
/// `rag_search.entity_keys(metadata)` returns and the GIN index holds.
pub fn document_keys(metadata: &Value) -> Vec<String> {
    named_entities(metadata).into_iter().map(|(k, _)| k).collect()
}

/// The keys a query could name: every sequence of 1 to
/// [`MAX_ENTITY_WORDS`] consecutive words among its first
/// [`MAX_QUERY_WORDS`] words, distinct, in order of appearance.
pub fn query_keys(q: &str) -> Vec<String> {
    let words = stemmed_words(q);
    let words = &words[..words.len().min(MAX_QUERY_WORDS)];
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for start in 0..words.len() {
        for end in start + 1..=(start + MAX_ENTITY_WORDS).min(words.len()) {
            let key = words[start..end].join(" ");
            if key.len() <= MAX_KEY_BYTES && seen.insert(key.clone()) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The entity signal of a document: the share of the entities the query
/// names (those of its keys some document names, `query_entities`) that
/// this document names (`named`), in [0, 1].
pub fn entity_signal(named: usize, query_entities: usize) -> f64 {
    if query_entities == 0 {
        return 0.0;
    }
    (named.min(query_entities) as f64) / (query_entities as f64)
}

/// One relation of a document's `entity_relations`, names as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation<'a> {
    pub source: &'a str,
    pub relation: Option<&'a str>,
    pub target: &'a str,
}

/// The well-formed relations of a document, in order, at most
/// [`MAX_DOCUMENT_ENTITIES`].
pub fn relations(metadata: &Value) -> Vec<Relation<'_>> {
    let Some(Value::Array(items)) = metadata.get(ENTITY_RELATIONS) else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| {
            let r = item.as_object()?;
            let relation = ["relation", "type", "label"].iter().find_map(|k| r.get(*k).and_then(string_of));
            Some(Relation { source: r.get("source").and_then(string_of)?, relation, target: r.get("target").and_then(string_of)? })
        })
        .take(MAX_DOCUMENT_ENTITIES)
        .collect()
}

/// One relation walked: as its document states it, and which document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub source: String,
    pub relation: Option<String>,
    pub target: String,
    pub doc_id: String,
}

/// An entity reached by a walk: its name as first written, how many
/// relations from the start, and the relations that lead there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub name: String,
    pub hops: usize,
    pub path: Vec<Step>,
}

/// A breadth-first walk over the relations documents state, from a set of
/// start entities (hop 0): each [`Walk::step`] follows, in either
/// direction, every relation touching an entity reached at the previous
/// hop. An entity keeps the first (shortest, then first-seen) path that
/// reached it.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    reached: HashMap<String, Reached>,
    frontier: Vec<String>,
    hops: usize,
}

impl Walk {
    /// Starts at `(key, name)` entities.
    pub fn new(start: impl IntoIterator<Item = (String, String)>) -> Walk {
        let mut walk = Walk::default();
        for (key, name) in start {
            if !walk.reached.contains_key(&key) {
                walk.reached.insert(key.clone(), Reached { name, hops: 0, path: Vec::new() });
                walk.frontier.push(key);
            }
        }
        walk
    }

    /// The keys reached at the last hop (those the next step starts from).
    pub fn frontier(&self) -> &[String] {
        &self.frontier
    }

    /// One more hop over the relations of `documents`, `(doc_id, metadata)`
    /// in a fixed order (those naming a frontier entity; others add
    /// nothing).
    pub fn step(&mut self, documents: &[(String, Value)]) {
        self.hops += 1;
        let from: HashSet<String> = self.frontier.drain(..).collect();
        let mut next = Vec::new();
        for (doc_id, metadata) in documents {
            for r in relations(metadata) {
                let (Some(source), Some(target)) = (entity_key(r.source), entity_key(r.target)) else { continue };
                for (near, far, far_name) in [(&source, &target, r.target), (&target, &source, r.source)] {
                    if !from.contains(near) || self.reached.contains_key(far) {
                        continue;
                    }
                    let mut path = self.reached.get(near).map(|n| n.path.clone()).unwrap_or_default();
                    path.push(Step {
                        source: r.source.to_string(),
                        relation: r.relation.map(str::to_string),
                        target: r.target.to_string(),
                        doc_id: doc_id.clone(),
                    });
                    self.reached.insert(far.clone(), Reached { name: far_name.to_string(), hops: self.hops, path });
                    next.push(far.clone());
                }
            }
        }
        self.frontier = next;
    }

    /// The keys reached at exactly `hops`, sorted.
    pub fn reached_at(&self, hops: usize) -> Vec<String> {
        let mut keys: Vec<String> = self.reached.iter().filter(|(_, r)| r.hops == hops).map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys
    }

    /// Of a document's entity keys, the one reached in the fewest hops
    /// (ties: the smallest key), with how it was reached.
    pub fn closest<'w>(&'w self, keys: &[String]) -> Option<(&'w String, &'w Reached)> {
        keys.iter()
            .filter_map(|k| self.reached.get_key_value(k))
            .min_by(|a, b| a.1.hops.cmp(&b.1.hops).then(a.0.cmp(b.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_words_as_queries_see_them() {
        assert_eq!(entity_key("Seoul").as_deref(), Some("seoul"));
        assert_eq!(entity_key("  New-York  CITY ").as_deref(), Some("new york city"));
        assert_eq!(entity_key("윤석열").as_deref(), Some("윤석열"));
        // A particle in a mention meets the bare name.
        assert_eq!(entity_key("서울에서"), entity_key("서울"));
        assert_eq!(entity_key("!!"), None);
        assert_eq!(entity_key("one two three four five six seven"), None);
        assert_eq!(entity_key(&"x".repeat(MAX_KEY_BYTES + 1)), None);
    }

    #[test]
    fn every_accepted_shape_is_read_and_anything_else_ignored() {
        let m = json!({
            "entity_names": ["PostgreSQL", 7, null, "  ", "pgvector"],
            "entity_nodes": ["HNSW", {"name": "BM25", "type": "algorithm"}, {"id": "GIN"}, {"label": 3}, [1]],
            "entity_relations": [
                {"source": "pgvector", "relation": "implements", "target": "HNSW"},
                {"source": "GIN", "type": "indexes", "target": "tsvector"},
                {"source": "x"},
                "not a relation",
                {"source": 1, "target": "y"}
            ]
        });
        assert_eq!(
            entity_names(&m),
            vec!["PostgreSQL", "pgvector", "HNSW", "BM25", "GIN", "pgvector", "HNSW", "GIN", "tsvector"]
        );
        assert_eq!(document_keys(&m), vec!["bm25", "gin", "hnsw", "pgvector", "postgresql", "tsvector"]);
        let r = relations(&m);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1], Relation { source: "GIN", relation: Some("indexes"), target: "tsvector" });
        // A single name, and metadata of every other shape.
        assert_eq!(document_keys(&json!({"entity_names": "Seoul"})), vec!["seoul"]);
        for bad in [json!(null), json!([1, 2]), json!("x"), json!({"entity_names": {"a": 1}, "entity_relations": "x"})] {
            assert!(document_keys(&bad).is_empty(), "{bad}");
            assert!(relations(&bad).is_empty());
        }
        // Bounded however large the metadata.
        let many: Vec<String> = (0..5000).map(|i| format!("entity {i}")).collect();
        assert_eq!(document_keys(&json!({"entity_names": many})).len(), MAX_DOCUMENT_ENTITIES);
    }

    #[test]
    fn query_keys_are_the_word_sequences_of_the_query() {
        let keys = query_keys("Who founded New York Times?");
        for k in ["who", "new york times", "new york", "york times", "founded new york times"] {
            assert!(keys.contains(&k.to_string()), "{k} in {keys:?}");
        }
        assert_eq!(keys.len(), 5 + 4 + 3 + 2 + 1);
        assert!(query_keys("윤석열의 탄핵").contains(&"윤석열".to_string()));
        assert_eq!(query_keys("a a a"), vec!["a", "a a", "a a a"]);
        assert!(query_keys("").is_empty());
        let long = "w ".repeat(1000);
        assert_eq!(query_keys(&long).len(), MAX_ENTITY_WORDS, "repeats are one key each");
        let distinct: String = (0..1000).map(|i| format!("w{i} ")).collect();
        assert!(query_keys(&distinct).len() <= MAX_QUERY_WORDS * MAX_ENTITY_WORDS);
    }

    #[test]
    fn the_entity_signal_is_the_share_of_query_entities_named() {
        assert_eq!(entity_signal(0, 0), 0.0);
        assert_eq!(entity_signal(1, 2), 0.5);
        assert_eq!(entity_signal(2, 2), 1.0);
        assert_eq!(entity_signal(3, 2), 1.0);
    }

    fn doc(id: &str, relations: Value) -> (String, Value) {
        (id.to_string(), json!({ "entity_relations": relations }))
    }

    #[test]
    fn a_walk_follows_relations_both_ways_and_keeps_the_shortest_path() {
        let mut walk = Walk::new([("a".to_string(), "A".to_string())]);
        let docs = vec![
            doc("d1", json!([{"source": "A", "relation": "owns", "target": "B"}, {"source": "C", "relation": "uses", "target": "A"}])),
            doc("d2", json!([{"source": "B", "relation": "makes", "target": "D"}, {"source": "X", "target": "Y"}])),
        ];
        walk.step(&docs);
        assert_eq!(walk.reached_at(1), vec!["b", "c"]);
        let (key, c) = walk.closest(&["c".to_string(), "zz".to_string()]).unwrap();
        assert_eq!((key.as_str(), c.name.as_str(), c.hops), ("c", "C", 1));
        assert_eq!(c.path, vec![Step { source: "C".into(), relation: Some("uses".into()), target: "A".into(), doc_id: "d1".into() }]);
        walk.step(&docs);
        assert_eq!(walk.reached_at(2), vec!["d"]);
        let (_, d) = walk.closest(&["d".to_string()]).unwrap();
        assert_eq!(d.path.iter().map(|s| s.doc_id.as_str()).collect::<Vec<_>>(), vec!["d1", "d2"]);
        // A is hop 0 and stays so; the closest of several is the nearest.
        let (key, _) = walk.closest(&["d".to_string(), "a".to_string()]).unwrap();
        assert_eq!(key, "a");
        assert!(walk.closest(&["x".to_string()]).is_none(), "X is not connected to A");
        walk.step(&docs);
        assert!(walk.frontier().is_empty());
    }
}
