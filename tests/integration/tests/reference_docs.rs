//! The SQL reference cannot drift: every rag_* function and rag_search.*
//! setting of the installed extension must be documented in README.md or
//! docs/*.md.

use std::path::Path;

use rag_search_integration::shared_cluster;

fn documentation() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut text = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    if let Ok(entries) = std::fs::read_dir(root.join("docs")) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "md") {
                text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    text
}

#[test]
fn every_function_and_setting_is_documented() {
    let mut c = shared_cluster().new_database("it_reference");
    let docs = documentation();
    let functions: Vec<String> = c
        .query(
            "SELECT DISTINCT p.proname::text FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
             JOIN pg_extension e ON e.oid = d.refobjid
             WHERE e.extname = 'rag_search' AND d.deptype = 'e' AND p.proname LIKE 'rag\\_%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(functions.len() >= 8, "{functions:?}");
    let missing: Vec<&String> = functions.iter().filter(|f| !docs.contains(&format!("{f}("))).collect();
    assert!(missing.is_empty(), "functions missing from README.md/docs: {missing:?}");

    // Loading the library defines every setting.
    c.batch_execute("SELECT rag_stats()").unwrap();
    let settings: Vec<String> = c
        .query("SELECT name FROM pg_settings WHERE name LIKE 'rag\\_search.%' ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(settings.len() >= 20, "{settings:?}");
    let missing: Vec<&String> = settings
        .iter()
        .filter(|s| {
            let short = s.trim_start_matches("rag_search.");
            !docs.contains(s.as_str()) && !docs.contains(&format!("`{short}`"))
        })
        .collect();
    assert!(missing.is_empty(), "settings missing from README.md/docs: {missing:?}");
}
