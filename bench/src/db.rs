//! Loading a corpus into rag_search the way the benchmarks do, and looking
//! at what it made: bulk ingestion, embeddings written with plain UPDATEs,
//! the chunk indexes dropped for a bulk load and rebuilt, relation sizes and
//! plans.

use pgvector::Vector;
use postgres::Client;
use serde_json::Value;

use crate::Result;

/// Ingests documents (`{"doc_id", "title", "content", …}` objects) with one
/// `rag_upsert_documents` call; returns the number of chunks they now have.
pub fn upsert_documents(client: &mut Client, docs: Vec<Value>) -> Result<i64> {
    let row = client.query_one(
        "SELECT coalesce(sum(chunks), 0)::bigint FROM rag_upsert_documents($1::text::jsonb)",
        &[&Value::Array(docs).to_string()],
    )?;
    Ok(row.get(0))
}

/// Stores `vectors[i]` as the embedding of chunk `ids[i]` under `model`, as
/// the backfill would; returns the rows updated.
pub fn update_embeddings(client: &mut Client, ids: &[i64], vectors: &[Vector], model: &str, dim: i32) -> Result<u64> {
    Ok(client.execute(
        "UPDATE rag_search.chunks c
         SET embedding = u.e, embedding_model = $3, embedding_dim = $4, embedded_at = now()
         FROM unnest($1::bigint[], $2::vector[]) AS u(id, e)
         WHERE c.id = u.id",
        &[&ids, &vectors, &model, &dim],
    )?)
}

/// The GIN and HNSW indexes of the chunks (name, definition): building them
/// once after a bulk load is much faster than maintaining them through every
/// insert and embedding update, so loaders drop them first and recreate them
/// from these definitions.
pub fn bulk_load_indexes(client: &mut Client) -> Result<Vec<(String, String)>> {
    Ok(client
        .query(
            "SELECT indexname, indexdef FROM pg_indexes
             WHERE schemaname = 'rag_search' AND tablename = 'chunks' AND indexdef ~ ' USING (gin|hnsw) '
             ORDER BY indexname",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

pub fn drop_indexes(client: &mut Client, indexes: &[(String, String)]) -> Result<()> {
    for (name, _) in indexes {
        client.batch_execute(&format!("DROP INDEX IF EXISTS rag_search.{name}"))?;
    }
    Ok(())
}

/// The chunks table's size and each of its indexes', in bytes.
pub struct RelationSizes {
    pub table: i64,
    pub indexes: Vec<(String, i64)>,
}

impl RelationSizes {
    pub fn of_chunks(client: &mut Client) -> Result<RelationSizes> {
        let table = client.query_one("SELECT pg_table_size('rag_search.chunks')", &[])?.get(0);
        let indexes = client
            .query(
                "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid)
                 FROM pg_index WHERE indrelid = 'rag_search.chunks'::regclass ORDER BY 1",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(RelationSizes { table, indexes })
    }

    /// "chunks table 816 MB, indexes: rag_search.chunks_pkey 4408 kB, …"
    pub fn summary(&self) -> String {
        let indexes: Vec<String> = self.indexes.iter().map(|(name, bytes)| format!("{name} {}", pretty_bytes(*bytes))).collect();
        format!("chunks table {}, indexes: {}", pretty_bytes(self.table), indexes.join(", "))
    }
}

/// Bytes as `pg_size_pretty` prints them (bytes, kB, MB, GB, TB; a unit is
/// used from 10240 of the one below).
pub fn pretty_bytes(bytes: i64) -> String {
    let mut value = bytes as f64;
    for unit in ["bytes", "kB", "MB", "GB"] {
        if value.abs() < 10_240.0 {
            return format!("{} {unit}", value.round());
        }
        value /= 1024.0;
    }
    format!("{} TB", value.round())
}

/// The column expression, operator and predicate through which a query uses
/// the chunks' HNSW index: `ORDER BY {expression} {operator} $1` (plus
/// `WHERE {predicate}` for a partial index) is what the planner can serve
/// from it. Read from the catalog at run time, since the column may be
/// declared without a dimension and indexed through a cast.
pub struct VectorIndex {
    pub name: String,
    pub definition: String,
    pub expression: String,
    pub operator: String,
    pub predicate: Option<String>,
}

impl VectorIndex {
    pub fn of_chunks(client: &mut Client) -> Result<VectorIndex> {
        let rows = client.query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
                    pg_get_indexdef(i.indexrelid, 1, true), opc.opcname,
                    pg_get_expr(i.indpred, i.indrelid)
             FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_am am ON am.oid = ic.relam
             JOIN pg_opclass opc ON opc.oid = i.indclass[0]
             WHERE i.indrelid = 'rag_search.chunks'::regclass AND am.amname = 'hnsw'
             ORDER BY 1",
            &[],
        )?;
        let row = rows.first().ok_or("rag_search.chunks has no HNSW index")?;
        let opclass: String = row.get(3);
        let operator = match opclass.as_str() {
            "vector_cosine_ops" | "halfvec_cosine_ops" => "<=>",
            "vector_l2_ops" | "halfvec_l2_ops" => "<->",
            "vector_ip_ops" | "halfvec_ip_ops" => "<#>",
            other => return Err(format!("HNSW operator class {other} is not one the benchmark knows").into()),
        };
        let expression: String = row.get(2);
        // pg_get_indexdef(…, 1, …) prints an expression without its
        // surrounding parentheses; keep it one operand.
        let expression = if expression.chars().all(|c| c.is_alphanumeric() || c == '_') { expression } else { format!("({expression})") };
        Ok(VectorIndex { name: row.get(0), definition: row.get(1), expression, operator: operator.to_string(), predicate: row.get(4) })
    }

    /// `{expression} {operator} {vector}`, the ordering the index serves.
    pub fn distance(&self, vector: &str) -> String {
        format!("{} {} {vector}", self.expression, self.operator)
    }

    /// `AND ({predicate})` for a partial index, else nothing.
    pub fn and_predicate(&self) -> String {
        self.predicate.as_ref().map_or(String::new(), |p| format!(" AND ({p})"))
    }
}

/// Sets auto_explain to report every statement of this session (nested ones
/// inside functions included) as a NOTICE; `analyze` adds actual times and
/// buffers.
pub fn auto_explain_on(client: &mut Client, analyze: bool) -> Result<()> {
    client.batch_execute(&format!(
        "SET auto_explain.log_min_duration = 0;
         SET auto_explain.log_analyze = {analyze};
         SET auto_explain.log_buffers = {analyze};
         SET auto_explain.log_timing = {analyze};
         SET auto_explain.log_nested_statements = on;
         SET auto_explain.log_parameter_max_length = 100;
         SET auto_explain.log_level = notice;"
    ))?;
    Ok(())
}

pub fn auto_explain_off(client: &mut Client) -> Result<()> {
    client.batch_execute("SET auto_explain.log_min_duration = -1")?;
    Ok(())
}

/// An auto_explain notice with its query text on one line without the SQL
/// files' comments, cut to 200 characters, and long parameters and vector
/// literals shortened.
pub fn compact_plan(notice: &str) -> String {
    let lines: Vec<&str> = notice.lines().collect();
    let plan_start = lines.iter().position(|l| l.contains("(cost=")).unwrap_or(lines.len());
    let mut header = Vec::new();
    let mut statement: Vec<&str> = Vec::new();
    for line in &lines[..plan_start] {
        if line.starts_with("duration:") || line.starts_with("Query Parameters:") {
            header.push(truncate(line, 200));
        } else {
            let text = line.strip_prefix("Query Text: ").unwrap_or(line).trim();
            if !text.is_empty() && !text.starts_with("--") {
                statement.push(text);
            }
        }
    }
    header.insert(1.min(header.len()), format!("Query: {}", truncate(&statement.join(" "), 200)));
    header.extend(lines[plan_start..].iter().map(|l| shorten_vector_literals(l)));
    header.join("\n")
}

/// `'[0.1,0.2,…]'` literals of more than 60 characters cut to their first
/// 40 (plans of SQL functions show the query vector as a constant).
pub fn shorten_vector_literals(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(400));
    let mut rest = line;
    while let Some(start) = rest.find("'[") {
        let Some(len) = rest[start..].find("]'") else { break };
        let literal = &rest[start..start + len + 2];
        out.push_str(&rest[..start]);
        if literal.len() > 60 {
            out.push_str(&literal[..40]);
            out.push_str("…]'");
        } else {
            out.push_str(literal);
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The first `n` characters of `s`, with "…" when cut.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n).collect::<String>() + "…" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_printed_like_pg_size_pretty() {
        assert_eq!(pretty_bytes(8192), "8192 bytes");
        assert_eq!(pretty_bytes(10_240), "10 kB");
        assert_eq!(pretty_bytes(855_638_016), "816 MB");
        assert_eq!(pretty_bytes(3 * 1024 * 1024 * 1024), "3072 MB");
        assert_eq!(pretty_bytes(20 * 1024 * 1024 * 1024), "20 GB");
    }

    #[test]
    fn plans_are_compacted() {
        let notice = "duration: 1.2 ms  plan:\nQuery Text: SELECT 1\n  -- a comment\n  FROM t\nQuery Parameters: $1 = 'x'\nSeq Scan on t  (cost=0.00..1.00 rows=1 width=4)";
        assert_eq!(
            compact_plan(notice),
            "duration: 1.2 ms  plan:\nQuery: SELECT 1 FROM t\nQuery Parameters: $1 = 'x'\nSeq Scan on t  (cost=0.00..1.00 rows=1 width=4)"
        );
        assert_eq!(truncate("abcdef", 3), "abc…");
        let long = format!("Order By: (embedding <=> '[{}]'::vector) AND x = '[1,2]'", vec!["0.125"; 40].join(","));
        assert_eq!(
            shorten_vector_literals(&long),
            "Order By: (embedding <=> '[0.125,0.125,0.125,0.125,0.125,0.125,0.…]'::vector) AND x = '[1,2]'"
        );
        assert_eq!(shorten_vector_literals("no '[ end"), "no '[ end");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
