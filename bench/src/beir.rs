//! The BEIR-format datasets in ../shared (`corpus.jsonl`, `queries.jsonl`,
//! `qrels/*.tsv`) with their precomputed multilingual-e5-small vectors
//! (`NAME.f32` + `NAME.jsonl`), and the ranking metrics BEIR reports.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use pgvector::Vector;
use serde_json::Value;

use crate::Result;

/// Dimension of the precomputed multilingual-e5-small vectors.
pub const E5_DIM: usize = 384;

/// query id → (doc id → graded relevance).
pub type Qrels = HashMap<String, HashMap<String, i64>>;

/// A judged query with its precomputed vector.
pub struct Query {
    pub id: String,
    pub text: String,
    pub vector: Vector,
}

pub fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| Ok(serde_json::from_str(l)?)).collect()
}

/// A string field of a JSON object ("" when absent).
pub fn str_field(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// `NAME.f32` (row-major little-endian float32, 384 columns) with line `row`
/// of `NAME.jsonl` naming each row; returns (field `key` of that line,
/// vector), e.g. `key = "id"` for the dataset id or `"input"` for the
/// embedded text.
pub fn read_vectors_by(dir: &Path, name: &str, key: &str) -> Result<Vec<(String, Vector)>> {
    let bytes = std::fs::read(dir.join(format!("{name}.f32")))?;
    let rows = read_jsonl(&dir.join(format!("{name}.jsonl")))?;
    let width = E5_DIM * 4;
    if bytes.len() != rows.len() * width {
        return Err(format!("{name}.f32 holds {} bytes, expected {} rows × {E5_DIM} × 4", bytes.len(), rows.len()).into());
    }
    rows.iter()
        .map(|r| {
            let row = r.get("row").and_then(Value::as_u64).ok_or("row missing")? as usize;
            let floats = bytes
                .get(row * width..(row + 1) * width)
                .ok_or_else(|| format!("{name}.jsonl names row {row}, beyond the matrix"))?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect::<Vec<f32>>();
            Ok((str_field(r, key), Vector::from(floats)))
        })
        .collect()
}

/// The vectors of `NAME` by dataset id.
pub fn read_vectors(dir: &Path, name: &str) -> Result<Vec<(String, Vector)>> {
    read_vectors_by(dir, name, "id")
}

pub fn read_qrels(path: &Path) -> Result<Qrels> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out: Qrels = HashMap::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [q, d, score] = cols[..] else { return Err(format!("bad qrels line {line:?}").into()) };
        out.entry(q.to_string()).or_default().insert(d.to_string(), score.trim().parse()?);
    }
    Ok(out)
}

/// Every judged query of a dataset in id order, with its text from
/// `queries.jsonl` and its vector from `embeddings/…/QUERY_VECTORS`, and the
/// judgments.
pub fn judged_queries(dataset_dir: &Path, qrels_file: &str, emb_dir: &Path, query_vectors: &str) -> Result<(Vec<Query>, Qrels)> {
    let texts: HashMap<String, String> = read_jsonl(&dataset_dir.join("queries.jsonl"))?
        .iter()
        .map(|q| (str_field(q, "_id"), str_field(q, "text")))
        .collect();
    let qrels = read_qrels(&dataset_dir.join(qrels_file))?;
    let mut vectors: HashMap<String, Vector> = read_vectors(emb_dir, query_vectors)?.into_iter().collect();
    let mut ids: Vec<&String> = qrels.keys().collect();
    ids.sort();
    let mut queries = Vec::with_capacity(ids.len());
    for id in ids {
        let text = texts.get(id).ok_or_else(|| format!("query {id} of the qrels is not in queries.jsonl"))?;
        let vector = vectors.remove(id).ok_or_else(|| format!("query {id} has no precomputed vector"))?;
        queries.push(Query { id: id.clone(), text: text.clone(), vector });
    }
    Ok((queries, qrels))
}

/// The first hit of each document, in order (a document split into several
/// chunks counts once, at its best rank).
pub fn first_per_document(ranked: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ranked.into_iter().filter(|d| seen.insert(d.clone())).collect()
}

/// nDCG@k as BEIR reports it (pytrec_eval `ndcg_cut`): gain = graded
/// relevance, discount log2(rank + 1), ideal ranking from the judgments.
pub fn ndcg_at(ranked: &[String], judged: &HashMap<String, i64>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| judged.get(d).copied().unwrap_or(0).max(0) as f64 / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<i64> = judged.values().copied().filter(|r| *r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, r)| *r as f64 / ((i + 2) as f64).log2()).sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

/// Share of the relevant documents found in the first k results.
pub fn recall_at(ranked: &[String], judged: &HashMap<String, i64>, k: usize) -> f64 {
    let relevant = judged.values().filter(|r| **r > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked.iter().take(k).filter(|d| judged.get(*d).is_some_and(|r| *r > 0)).count();
    found as f64 / relevant as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, i64)]) -> HashMap<String, i64> {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    fn ranked(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ndcg_is_one_for_the_ideal_ranking_and_discounts_later_hits() {
        let j = judged(&[("a", 1), ("b", 1), ("x", 0)]);
        assert!((ndcg_at(&ranked(&["a", "b", "c"]), &j, 10) - 1.0).abs() < 1e-12);
        // One relevant document at rank 2 of one: 1/log2(3).
        let one = judged(&[("a", 1)]);
        assert!((ndcg_at(&ranked(&["c", "a"]), &one, 10) - 1.0 / 3f64.log2()).abs() < 1e-12);
        // Beyond the cut-off it does not count.
        assert_eq!(ndcg_at(&ranked(&["c", "a"]), &one, 1), 0.0);
        assert_eq!(ndcg_at(&ranked(&["a"]), &judged(&[("a", 0)]), 10), 0.0);
    }

    #[test]
    fn recall_counts_relevant_documents_found() {
        let j = judged(&[("a", 1), ("b", 2), ("x", 0)]);
        assert_eq!(recall_at(&ranked(&["a", "x", "c"]), &j, 10), 0.5);
        assert_eq!(recall_at(&ranked(&["a", "b"]), &j, 1), 0.5);
        assert_eq!(recall_at(&ranked(&["a"]), &HashMap::new(), 10), 0.0);
    }

    #[test]
    fn documents_count_once_at_their_best_rank() {
        assert_eq!(first_per_document(ranked(&["a", "b", "a", "c", "b"])), ranked(&["a", "b", "c"]));
    }
}
