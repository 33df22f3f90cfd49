//! The BEIR-format datasets in ../shared (`corpus.jsonl`, `queries.jsonl`,
//! `qrels/*.tsv`) with their precomputed multilingual-e5-small vectors
//! (`NAME.f32` + `NAME.jsonl`); the ranking metrics BEIR reports are
//! rag_core's.

use std::collections::HashMap;
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

// The metrics are rag_evaluate's (rag_core::evaluate), so the figures of
// the benchmarks and of rag_evaluate are computed by the same code.
pub use rag_core::evaluate::{first_per_document, ndcg_at, recall_at};
