//! Snapshots of a database's rag_search contents for comparing two
//! databases: every row of the dumped tables, the identity sequences, the
//! results of every search mode, and a fingerprint of the extension's
//! catalog objects.

use std::collections::BTreeMap;

use pgvector::Vector;
use postgres::Client;

/// The tables pg_dump saves with their data, and the column they are
/// ordered by.
pub const DUMPED_TABLES: [(&str, &str); 4] = [
    ("rag_search.documents", "id"),
    ("rag_search.chunks", "id"),
    ("rag_search.backfill_failures", "chunk_id"),
    ("rag_search.index_state", "singleton"),
];

/// Every row of the dumped tables as JSON text (keys sorted, so the
/// physical column order does not matter; embeddings and tsvectors in
/// their text form), per table.
pub fn dumped_rows(c: &mut Client) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (table, order) in DUMPED_TABLES {
        let rows = c
            .query(&format!("SELECT pg_catalog.to_jsonb(t)::text FROM {table} AS t ORDER BY t.{order}"), &[])
            .unwrap_or_else(|e| panic!("read {table}: {e}"));
        out.insert(table.to_string(), rows.iter().map(|r| r.get(0)).collect());
    }
    out
}

/// Asserts that the rows of `after` are those of `before` (snapshots of
/// [`dumped_rows`] across an update), but for the columns the update added,
/// which must be NULL in every row that existed, and the columns in
/// `rebuilt`, which the update recomputes (the caller checks them).
pub fn assert_same_rows_but_added_columns(
    before: &BTreeMap<String, Vec<String>>,
    after: &BTreeMap<String, Vec<String>>,
    rebuilt: &[&str],
) {
    let strip = |table: &str, i: usize, old: &str, new: &str| -> String {
        let old: serde_json::Map<String, serde_json::Value> = serde_json::from_str(old).expect("row JSON");
        let mut new: serde_json::Map<String, serde_json::Value> = serde_json::from_str(new).expect("row JSON");
        for k in rebuilt {
            new.remove(*k);
        }
        let added: Vec<String> = new.keys().filter(|k| !old.contains_key(*k)).cloned().collect();
        for k in added {
            assert_eq!(new.remove(&k), Some(serde_json::Value::Null), "after the update: column {k} of row {i} of {table}");
        }
        serde_json::Value::Object(new).to_string()
    };
    let mut stripped = BTreeMap::new();
    for (table, rows) in after {
        let old = before.get(table).map(Vec::as_slice).unwrap_or_default();
        let rows: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| match old.get(i) {
                Some(o) => strip(table, i, o, r),
                None => r.clone(),
            })
            .collect();
        stripped.insert(table.clone(), rows);
    }
    let normalised: BTreeMap<String, Vec<String>> = before
        .iter()
        .map(|(t, rows)| {
            let rows = rows
                .iter()
                .map(|r| {
                    let mut row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(r).expect("row JSON");
                    for k in rebuilt {
                        row.remove(*k);
                    }
                    serde_json::Value::Object(row).to_string()
                })
                .collect();
            (t.clone(), rows)
        })
        .collect();
    assert_same_rows("after the update", &normalised, &stripped);
}

/// Asserts that two snapshots of [`dumped_rows`] are equal, naming the
/// first differing row.
pub fn assert_same_rows(what: &str, expected: &BTreeMap<String, Vec<String>>, got: &BTreeMap<String, Vec<String>>) {
    for (table, rows) in expected {
        let other = got.get(table).unwrap_or_else(|| panic!("{what}: {table} missing"));
        for (i, (a, b)) in rows.iter().zip(other).enumerate() {
            assert_eq!(a, b, "{what}: row {i} of {table} differs");
        }
        assert_eq!(rows.len(), other.len(), "{what}: number of rows of {table}");
    }
}

/// (last_value, is_called) of the identity sequences.
pub fn sequence_positions(c: &mut Client) -> Vec<(String, i64, bool)> {
    ["rag_search.documents_id_seq", "rag_search.chunks_id_seq"]
        .iter()
        .map(|s| {
            let r = c.query_one(&format!("SELECT last_value, is_called FROM {s}"), &[]).expect("read sequence");
            (s.to_string(), r.get(0), r.get(1))
        })
        .collect()
}

/// Queries of the search comparisons: English and Korean, words that occur
/// in the samples/ documents and in titles.
pub const QUERIES: [&str; 4] = ["hybrid search vector index", "backfill embedding model", "탄핵 절차", "헌법재판소 심판"];

/// One line per result row: the ranking and every score (to nine decimals).
fn search_lines(c: &mut Client, label: &str, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Vec<String> {
    c.query(sql, params)
        .unwrap_or_else(|e| panic!("{label}: {e}"))
        .iter()
        .map(|r| {
            let score = |i: usize| r.get::<_, Option<f64>>(i).map(|x| format!("{x:.9}")).unwrap_or_default();
            format!(
                "{label} #{} chunk {} {} score {} vec {} fts {} title {} lex {} {}",
                r.get::<_, i32>(0),
                r.get::<_, i64>(1),
                r.get::<_, String>(2),
                score(3),
                score(4),
                score(5),
                score(6),
                score(7),
                r.get::<_, String>(8)
            )
        })
        .collect()
}

const SEARCH_COLUMNS: &str = "rank, chunk_id, doc_id, score, vector_score, fts_score, title_score, lexical_score, mode";

/// Results of every search mode for each query: fts and lexical, vector and
/// hybrid with `query_vector` given, and — with `embedded` — vector, hybrid
/// and auto with the query embedded by the configured server; then
/// rag_candidate_pages.
pub fn search_results(c: &mut Client, queries: &[&str], query_vector: &Vector, embedded: bool) -> Vec<String> {
    let mut out = Vec::new();
    for q in queries {
        for mode in ["fts", "lexical"] {
            let sql = format!("SELECT {SEARCH_COLUMNS} FROM rag_hybrid_search($1, 5, $2)");
            out.extend(search_lines(c, &format!("{q} / {mode}"), &sql, &[q, &mode]));
        }
        for mode in ["vector", "hybrid"] {
            let sql = format!("SELECT {SEARCH_COLUMNS} FROM rag_hybrid_search($1, $2, 5, $3)");
            out.extend(search_lines(c, &format!("{q} / {mode} with vector"), &sql, &[q, query_vector, &mode]));
        }
        if embedded {
            for mode in ["vector", "hybrid", "auto"] {
                let sql = format!("SELECT {SEARCH_COLUMNS} FROM rag_hybrid_search($1, 5, $2)");
                out.extend(search_lines(c, &format!("{q} / {mode} embedded"), &sql, &[q, &mode]));
            }
        }
        let pages = c
            .query(
                "SELECT doc_id, rank, hit_chunks, best_chunk_id, title_score FROM rag_candidate_pages($1, 5)",
                &[q],
            )
            .unwrap_or_else(|e| panic!("{q} / candidate pages: {e}"));
        for r in pages {
            out.push(format!(
                "{q} / pages {} rank {:.9} hits {} best {:?} title {:.9}",
                r.get::<_, String>(0),
                r.get::<_, f64>(1),
                r.get::<_, i32>(2),
                r.get::<_, Option<i64>>(3),
                r.get::<_, f64>(4)
            ));
        }
    }
    out
}

/// Asserts two lists of lines are equal, showing the lines only one has.
pub fn assert_same_lines(what: &str, expected: &[String], got: &[String]) {
    if expected == got {
        return;
    }
    let only_expected: Vec<&String> = expected.iter().filter(|l| !got.contains(l)).collect();
    let only_got: Vec<&String> = got.iter().filter(|l| !expected.contains(l)).collect();
    panic!(
        "{what} differ ({} vs {} lines)\n-- only in the reference:\n{}\n-- only in the other:\n{}",
        expected.len(),
        got.len(),
        only_expected.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        only_got.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}

/// Describes every object of the extension — functions, tables and their
/// columns, constraints, indexes, triggers, sequences, views, privileges,
/// comments, the tables pg_dump saves — by name, one line each, sorted.
/// Two databases with equal fingerprints hold the same extension objects.
pub fn catalog_fingerprint(c: &mut Client) -> Vec<String> {
    c.batch_execute(
        "CREATE OR REPLACE FUNCTION pg_temp.fp_acl(acl aclitem[], kind text, owner oid) RETURNS text
         LANGUAGE sql STABLE AS $$
             SELECT pg_catalog.array_to_string(ARRAY(
                 SELECT x::text FROM pg_catalog.unnest(coalesce(acl, pg_catalog.acldefault(kind::\"char\", owner))) AS x
                 ORDER BY 1), ',')
         $$",
    )
    .expect("create fingerprint helper");
    c.query(FINGERPRINT, &[]).expect("catalog fingerprint").iter().map(|r| r.get(0)).collect()
}

const FINGERPRINT: &str = r#"
WITH ext AS (
    SELECT e.oid, e.extversion, e.extconfig, e.extcondition
    FROM pg_catalog.pg_extension AS e WHERE e.extname = 'rag_search'
), member AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend AS d, ext
    WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rel AS (
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.reloptions, c.relrowsecurity, c.relowner, c.relacl,
           c.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass) AS is_member
    FROM pg_catalog.pg_class AS c
    WHERE c.relnamespace = 'rag_search'::pg_catalog.regnamespace
       OR c.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
), fn AS (
    SELECT p.*, n.nspname,
           p.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass) AS is_member
    FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
    WHERE p.pronamespace = 'rag_search'::pg_catalog.regnamespace
       OR p.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass)
)
SELECT line FROM (
    SELECT pg_catalog.format('extension version %s', extversion) AS line FROM ext
    UNION ALL
    SELECT pg_catalog.format('extension dumps %s where %L', u.c::pg_catalog.regclass, u.cond)
    FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(c, cond)
    UNION ALL
    SELECT 'member ' || pg_catalog.pg_describe_object(classid, objid, 0) FROM member
    UNION ALL
    SELECT pg_catalog.format('schema %s owner %s acl %s', n.nspname, pg_catalog.pg_get_userbyid(n.nspowner),
                             pg_temp.fp_acl(n.nspacl, 'n', n.nspowner))
    FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'rag_search'
    UNION ALL
    SELECT pg_catalog.format(
        'function %s.%s(%s) returns %s | kind %s | language %s | security definer %s | config %s | volatility %s '
        '| parallel %s | strict %s | leakproof %s | cost %s | rows %s | owner %s | acl %s | member %s | bin %s | src %s',
        f.nspname, f.proname, pg_catalog.pg_get_function_arguments(f.oid), pg_catalog.pg_get_function_result(f.oid),
        f.prokind, l.lanname, f.prosecdef, f.proconfig, f.provolatile, f.proparallel, f.proisstrict, f.proleakproof,
        f.procost, f.prorows, pg_catalog.pg_get_userbyid(f.proowner), pg_temp.fp_acl(f.proacl, 'f', f.proowner),
        f.is_member, f.probin, f.prosrc)
    FROM fn AS f JOIN pg_catalog.pg_language AS l ON l.oid = f.prolang
    UNION ALL
    SELECT pg_catalog.format('relation %s kind %s | persistence %s | options %s | row security %s | owner %s | acl %s | member %s',
        r.relname, r.relkind, r.relpersistence, r.reloptions, r.relrowsecurity, pg_catalog.pg_get_userbyid(r.relowner),
        pg_temp.fp_acl(r.relacl, CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END, r.relowner), r.is_member)
    FROM rel AS r
    UNION ALL
    SELECT pg_catalog.format('column %s.%s %s | not null %s | default %s | generated %s %s | identity %s | storage %s '
                             '| collation %s | acl %s',
        r.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
        pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attgenerated,
        CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END, a.attidentity,
        a.attstorage, a.attcollation, pg_temp.fp_acl(a.attacl, 'c', r.relowner))
    FROM rel AS r JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE r.relkind IN ('r', 'v', 'p')
    UNION ALL
    SELECT pg_catalog.format('constraint %s.%s %s | deferrable %s', r.relname, co.conname,
                             pg_catalog.pg_get_constraintdef(co.oid), co.condeferrable)
    FROM rel AS r JOIN pg_catalog.pg_constraint AS co ON co.conrelid = r.oid
    UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(r.oid) FROM rel AS r WHERE r.relkind = 'i'
    UNION ALL
    SELECT pg_catalog.format('trigger %s | enabled %s', pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled)
    FROM rel AS r JOIN pg_catalog.pg_trigger AS t ON t.tgrelid = r.oid WHERE NOT t.tgisinternal
    UNION ALL
    SELECT pg_catalog.format('sequence %s type %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
        r.relname, s.seqtypid::pg_catalog.regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
        s.seqcycle,
        (SELECT d.refobjid::pg_catalog.regclass::text || '.' || a.attname
         FROM pg_catalog.pg_depend AS d
         JOIN pg_catalog.pg_attribute AS a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = r.oid
           AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjsubid > 0
           AND d.deptype IN ('a', 'i')))
    FROM rel AS r JOIN pg_catalog.pg_sequence AS s ON s.seqrelid = r.oid
    UNION ALL
    SELECT pg_catalog.format('view %s %s', r.relname, pg_catalog.pg_get_viewdef(r.oid)) FROM rel AS r WHERE r.relkind = 'v'
    UNION ALL
    SELECT pg_catalog.format('type %s.%s kind %s', n.nspname, t.typname, t.typtype)
    FROM pg_catalog.pg_type AS t JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
    WHERE n.nspname = 'rag_search' AND t.typrelid = 0 AND t.typelem = 0
    UNION ALL
    SELECT pg_catalog.format('comment on %s: %s', pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid),
                             d.description)
    FROM pg_catalog.pg_description AS d
    WHERE (d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objoid IN (SELECT oid FROM rel))
       OR (d.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objoid IN (SELECT oid FROM fn))
) AS lines
ORDER BY line
"#;

/// Asserts that the BM25 statistics (folded totals plus pending deltas)
/// equal a count of the stored tsvectors, and that the backfill counters
/// behind rag_backfill_status() equal a count of the chunks and what
/// rag_backfill_recount() rebuilds.
pub fn assert_bookkeeping_matches_recount(c: &mut Client) {
    let wrong: i64 = c
        .query_one(
            "WITH actual AS (
                 SELECT u.lexeme, count(*) AS df FROM rag_search.chunks AS c, unnest(c.tsv) AS u GROUP BY u.lexeme
             ), recorded AS (
                 SELECT s.lexeme, sum(s.df) AS df
                 FROM (SELECT t.lexeme, t.df FROM rag_search.term_stats AS t
                       UNION ALL
                       SELECT u.lexeme, u.df FROM rag_search.term_stats_delta AS d, unnest(d.lexemes, d.dfs) AS u(lexeme, df)) AS s
                 GROUP BY s.lexeme HAVING sum(s.df) <> 0
             )
             SELECT count(*) FROM actual FULL JOIN recorded USING (lexeme)
             WHERE actual.df IS DISTINCT FROM recorded.df",
            &[],
        )
        .expect("compare term statistics")
        .get(0);
    assert_eq!(wrong, 0, "document frequencies differ from a recount");
    let totals_agree: bool = c
        .query_one(
            "SELECT s.chunks + coalesce((SELECT sum(chunks) FROM rag_search.corpus_stats_delta), 0)
                        = (SELECT count(*) FROM rag_search.chunks)
                    AND s.lexemes + coalesce((SELECT sum(lexemes) FROM rag_search.corpus_stats_delta), 0)
                        = (SELECT coalesce(sum(length(tsv)), 0) FROM rag_search.chunks)
             FROM rag_search.corpus_stats AS s",
            &[],
        )
        .expect("compare corpus statistics")
        .get(0);
    assert!(totals_agree, "corpus totals differ from a recount");
    let counted = c
        .query_one("SELECT count(*), count(embedding) FROM rag_search.chunks", &[])
        .expect("count chunks");
    let counted: (i64, i64) = (counted.get(0), counted.get(1));
    let status = c.query_one("SELECT total, embedded FROM rag_backfill_status()", &[]).expect("status");
    assert_eq!((status.get::<_, i64>(0), status.get::<_, i64>(1)), counted, "status counters before a recount");
    let recount = c.query_one("SELECT total, embedded FROM rag_backfill_recount()", &[]).expect("recount");
    assert_eq!((recount.get::<_, i64>(0), recount.get::<_, i64>(1)), counted, "rag_backfill_recount()");
}

/// Every (lexeme, chunk id, term frequency, chunk length) the postings
/// hold, decoded and sorted.
fn stored_postings(c: &mut Client) -> Vec<(String, i64, u16, u32)> {
    let mut out = Vec::new();
    for row in c.query("SELECT lexeme, data FROM rag_search.postings", &[]).expect("read postings") {
        let lexeme: String = row.get(0);
        let data: Vec<u8> = row.get(1);
        let block = rag_core::blocks::decode_block(&data).unwrap_or_else(|e| panic!("postings of {lexeme:?}: {e}"));
        out.extend(block.into_iter().map(|p| (lexeme.clone(), p.chunk_id, p.tf, p.dl)));
    }
    out.sort();
    out
}

/// Asserts that the postings, once everything pending is merged and every
/// deleted chunk removed, are exactly what rag_search.postings_rebuild()
/// makes from the chunks (the rebuild is rolled back).
pub fn assert_postings_match_rebuild(c: &mut Client) {
    let drained = (0..50).any(|_| {
        c.batch_execute("SELECT rag_search.postings_merge()").expect("merge postings");
        let left: i64 = c
            .query_one(
                "SELECT (SELECT count(*) FROM rag_search.postings_pending) + (SELECT count(*) FROM rag_search.postings_dead)",
                &[],
            )
            .expect("count pending postings")
            .get(0);
        left == 0
    });
    assert!(drained, "postings merges never finished");
    let stored = stored_postings(c);
    assert!(!stored.is_empty(), "no postings");
    c.batch_execute("BEGIN; SELECT rag_search.postings_rebuild()").expect("rebuild postings");
    let rebuilt = stored_postings(c);
    c.batch_execute("ROLLBACK").expect("roll the rebuild back");
    assert!(stored == rebuilt, "postings ({} entries) differ from a rebuild ({} entries)", stored.len(), rebuilt.len());
}
