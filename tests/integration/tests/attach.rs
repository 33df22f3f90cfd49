//! Attached sources over client connections (docs/attach.md): a document
//! table and a wiki page/chunk pair whose chunks already carry embeddings
//! (the fixture embedder is asked for none of them), kept current by the
//! source's own INSERT, UPDATE and DELETE in the writing transaction (an
//! unchanged row writes nothing), searched by default and by name, detached
//! leaving the source byte for byte as it was, every bad input refused with
//! its SQLSTATE and a hint and nothing half-attached, and a 100,000-row
//! attach resumed after its backend was killed with SIGKILL mid-step.

use std::time::Duration;

use postgres::error::{DbError, SqlState};
use rag_search_integration::backfill::*;
use rag_search_integration::compare::assert_bookkeeping_matches_recount;
use rag_search_integration::compare::{assert_same_rows, dumped_rows};
use rag_search_integration::tools::{pg_dump, restore, run, DumpFormat};
use rag_search_integration::{bindir, connect_dsn, shared_cluster, Client, Cluster, ClusterOptions};

/// A database pointed at a new fixture embedder (TEST_MODEL, TEST_DIM).
fn setup(db: &str) -> (Client, fixture_embedder::FixtureServer) {
    let cluster = shared_cluster();
    let mut c = cluster.new_database(db);
    let fixture = start_fixture();
    let c2 = configure(&mut c, &cluster.dsn(db), db, &fixture.url());
    (c2, fixture)
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

fn doc_ids(c: &mut Client, sql: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        c.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).iter().map(|r| r.get::<_, String>(0)).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A wiki as an application keeps it: 20 pages of 3 chunks, whose chunks
/// already hold embeddings of the configured model and dimension.
fn create_wiki(c: &mut Client) {
    c.batch_execute(&format!(
        "CREATE TABLE public.wiki_pages (id bigint PRIMARY KEY, title text NOT NULL, space text NOT NULL);
         CREATE TABLE public.wiki_chunks (
             id bigint PRIMARY KEY,
             page_id bigint NOT NULL REFERENCES public.wiki_pages (id) ON DELETE CASCADE,
             chunk_index integer NOT NULL,
             content text NOT NULL,
             embedding vector({TEST_DIM}));
         INSERT INTO public.wiki_pages
         SELECT p, 'Wiki page ' || p, CASE WHEN p % 2 = 0 THEN 'eng' ELSE 'ops' END FROM generate_series(1, 20) AS p;
         INSERT INTO public.wiki_chunks
         SELECT p * 10 + k, p, k,
                'Page ' || p || ' explains ' || (ARRAY['hnsw graphs', 'backup rotation', 'vacuum tuning'])[k + 1],
                array_fill(((p * 10 + k) % 7 + 1)::real, ARRAY[{TEST_DIM}])::vector
         FROM generate_series(1, 20) AS p, generate_series(0, 2) AS k;"
    ))
    .expect("create the wiki");
}

fn attach_wiki(c: &mut Client) -> (String, String) {
    let r = c
        .query_one(
            "SELECT kind, state FROM rag_attach('public.wiki_chunks', pages => 'public.wiki_pages',
                 metadata => '{space}', embedding => 'embedding')",
            &[],
        )
        .expect("attach the wiki");
    (r.get(0), r.get(1))
}

#[test]
fn attach_a_page_chunk_pair_is_searched_with_its_own_embeddings_and_fills_the_missing_ones() {
    let (mut c, fixture) = setup("it_attach_pair");
    create_wiki(&mut c);
    assert_eq!(attach_wiki(&mut c), ("pages".to_string(), "attached".to_string()));
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.documents WHERE doc_id LIKE 'wiki_pages:%'"), 20);
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.chunks WHERE source_key IS NOT NULL"), 60);
    assert_eq!(count(&mut c, "SELECT count(embedding) FROM rag_search.chunks WHERE source_key IS NOT NULL"), 60);
    // Every chunk already has its vector: the backfill asks for none.
    step_until_idle(&mut c, 64);
    assert_eq!(fixture.requests(), 0, "no existing embedding is sent to the embedder again");
    assert_eq!(missing_embeddings(&mut c), 0);

    // The pages are searchable documents, doc_id prefix:key, with the
    // mapped metadata.
    let hits = doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('vacuum tuning', 5, 'fts')");
    assert!(!hits.is_empty() && hits.iter().all(|d| d.starts_with("wiki_pages:")), "{hits:?}");
    let eng = doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('vacuum tuning', 40, 'fts', '{\"space\": \"eng\"}')");
    assert_eq!(eng.len(), 10, "{eng:?}");
    let vector_hits = count(
        &mut c,
        "SELECT count(*) FROM rag_hybrid_search('hnsw', 5, 'vector',
             options => '{\"source\": \"public.wiki_chunks\"}')",
    );
    assert_eq!(vector_hits, 5, "the pair's own vectors answer a vector search");

    // A chunk the application writes without a vector is embedded by the
    // backfill, which writes the vector back into the chunk table too.
    c.batch_execute("INSERT INTO public.wiki_chunks VALUES (999, 3, 3, 'Page 3 also covers zeppelin mooring', NULL)")
        .unwrap();
    let before = fixture.inputs_embedded();
    step_until_idle(&mut c, 64);
    assert_eq!(fixture.inputs_embedded() - before, 1, "only the new chunk is embedded");
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.wiki_chunks WHERE embedding IS NULL"), 0);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM public.wiki_chunks AS w JOIN rag_search.chunks AS c ON c.source_key = '999'
             WHERE w.id = 999 AND w.embedding::real[] = c.embedding::real[]"
        ),
        1,
        "the chunk table got the vector the backfill wrote"
    );

    // Status per source.
    let r = c
        .query_one(
            "SELECT kind, state, documents, chunks, embedded, rows_done, rows_total, progress_pct::text
             FROM rag_source_status() WHERE source = 'public.wiki_chunks'",
            &[],
        )
        .expect("rag_source_status");
    assert_eq!(
        (r.get::<_, String>(0), r.get::<_, Option<String>>(1), r.get::<_, i64>(2), r.get::<_, i64>(3), r.get::<_, i64>(4)),
        ("pages".into(), Some("attached".into()), 20, 61, 61)
    );
    assert_eq!((r.get::<_, Option<i64>>(5), r.get::<_, Option<i64>>(6)), (Some(80), Some(80)));
    assert_eq!(r.get::<_, Option<String>>(7).as_deref(), Some("100.00"));
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_source_progress"), 2);

    // Deleting a page (its chunks cascade) removes it from search.
    c.batch_execute("DELETE FROM public.wiki_pages WHERE id = 3").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.documents WHERE doc_id = 'wiki_pages:3'"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_hybrid_search('zeppelin', 5, 'fts')"), 0);
    assert_bookkeeping_matches_recount(&mut c);
}

#[test]
fn attach_source_writes_are_searchable_in_the_writing_transaction_and_unchanged_rows_write_nothing() {
    let (mut c, _fixture) = setup("it_attach_docs");
    c.batch_execute(
        "CREATE TABLE public.posts (id integer PRIMARY KEY, title text, body text, meta jsonb, board text, views integer DEFAULT 0);
         INSERT INTO public.posts (id, title, body, meta, board) VALUES
             (1, 'Welcome', 'The board opens with a note on kayaks.', '{\"summary\": \"intro\", \"entity_names\": [\"Kayak Club\"]}', 'news'),
             (2, 'Rules', 'Be kind and write about harbours.', NULL, 'news'),
             (3, 'Trip', 'A trip report on fjords and glaciers.', '{\"summary\": \"trip\"}', 'travel');
         SELECT * FROM rag_upsert_document('native:1', 'Native', 'A native document about fjords too.');",
    )
    .unwrap();
    let r = c
        .query_one("SELECT kind, state, rows_done FROM rag_attach('public.posts', content => 'body', metadata => '{meta,board}')", &[])
        .unwrap();
    assert_eq!((r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, i64>(2)), ("documents".into(), "attached".into(), 3));
    let meta: String = c.query_one("SELECT metadata::text FROM rag_search.documents WHERE doc_id = 'posts:1'", &[]).unwrap().get(0);
    assert_eq!(meta, r#"{"board": "news", "summary": "intro", "entity_names": ["Kayak Club"]}"#);

    // Search covers every source by default, or one by name.
    assert_eq!(doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('fjords', 10, 'fts')"), ["native:1", "posts:3"]);
    assert_eq!(
        doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('fjords', 10, 'fts', options => '{\"source\": \"public.posts\"}')"),
        ["posts:3"]
    );
    assert_eq!(
        doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('fjords', 10, 'lexical', options => '{\"source\": \"rag_search.documents\"}')"),
        ["native:1"]
    );
    assert_eq!(doc_ids(&mut c, "SELECT doc_id FROM rag_candidate_pages('fjords', 10)"), ["native:1", "posts:3"]);

    // Inside one transaction, each statement's change is searchable at once.
    let mut t = c.transaction().unwrap();
    t.batch_execute("INSERT INTO public.posts (id, title, body, board) VALUES (4, 'New', 'Zeppelins over the harbour.', 'news')").unwrap();
    assert_eq!(doc_ids_tx(&mut t, "zeppelins"), ["posts:4"]);
    t.batch_execute("UPDATE public.posts SET body = 'Quokkas live on an island.' WHERE id = 1").unwrap();
    assert_eq!(doc_ids_tx(&mut t, "quokkas"), ["posts:1"]);
    assert!(doc_ids_tx(&mut t, "kayaks").is_empty());
    t.batch_execute("DELETE FROM public.posts WHERE id = 3").unwrap();
    assert_eq!(doc_ids_tx(&mut t, "fjords"), ["native:1"]);
    t.rollback().unwrap();
    assert_eq!(doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('fjords', 10, 'fts')"), ["native:1", "posts:3"]);
    assert!(doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('zeppelins', 10, 'fts')").is_empty());

    // An update that changes no mapped value, or changes a column nothing
    // maps, writes nothing.
    let version = "SELECT string_agg(d.xmin::text || '/' || c.xmin::text, ',' ORDER BY c.id)
                   FROM rag_search.documents AS d JOIN rag_search.chunks AS c ON c.document_id = d.id
                   WHERE d.doc_id LIKE 'posts:%'";
    let before: String = c.query_one(version, &[]).unwrap().get(0);
    c.batch_execute("UPDATE public.posts SET body = body, title = title; UPDATE public.posts SET views = views + 1").unwrap();
    let after: String = c.query_one(version, &[]).unwrap().get(0);
    assert_eq!(before, after, "unchanged rows rewrote their projection");
    // A changed title rewrites the document only.
    c.batch_execute("UPDATE public.posts SET title = 'Trip to Norway' WHERE id = 3").unwrap();
    assert_eq!(doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('trip to norway', 3, 'lexical')")[0], "posts:3");

    // Documents of a source follow its rows only.
    let e = c.batch_execute("SELECT * FROM rag_upsert_document('posts:9', 't', 'c')").unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INVALID_PARAMETER_VALUE), "{e}");
    let e = c.batch_execute("SELECT * FROM rag_delete_document('posts:1')").unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INVALID_PARAMETER_VALUE), "{e}");
    let e = c.batch_execute("SELECT * FROM rag_hybrid_search('x', 3, 'fts', options => '{\"source\": \"public.nope\"}')").unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INVALID_PARAMETER_VALUE), "{e}");
    assert_bookkeeping_matches_recount(&mut c);

    // Dropping the table detaches it.
    c.batch_execute("DROP TABLE public.posts").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.attached_sources"), 0);
    assert_eq!(doc_ids(&mut c, "SELECT doc_id FROM rag_search.documents"), ["native:1"]);
    assert_bookkeeping_matches_recount(&mut c);
}

fn doc_ids_tx(t: &mut postgres::Transaction<'_>, word: &str) -> Vec<String> {
    let mut ids: Vec<String> = t
        .query("SELECT doc_id FROM rag_hybrid_search($1, 10, 'fts')", &[&word])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn pg_dump_table(dsn: &str, tables: &[&str]) -> Vec<u8> {
    // A fixed \restrict key: pg_dump draws a random one per dump otherwise.
    let mut args = vec!["-Fp", "--no-comments", "--restrict-key=attachtest", "-d", dsn];
    for t in tables {
        args.push("--table");
        args.push(t);
    }
    run(&bindir(), "pg_dump", &args, None)
}

#[test]
fn attach_then_detach_leaves_the_source_exactly_as_it_was() {
    let (mut c, _fixture) = setup("it_attach_detach");
    create_wiki(&mut c);
    c.batch_execute(
        "CREATE TABLE public.notes (id text PRIMARY KEY, body text NOT NULL);
         INSERT INTO public.notes VALUES ('a', 'First note about sailing'), ('b', 'Second note about knots');",
    )
    .unwrap();
    let dsn = shared_cluster().dsn("it_attach_detach");
    let tables = ["public.wiki_pages", "public.wiki_chunks", "public.notes"];
    let before = pg_dump_table(&dsn, &tables);
    attach_wiki(&mut c);
    c.batch_execute("SELECT * FROM rag_attach('public.notes', title => NULL, content => 'body')").unwrap();
    assert!(count(&mut c, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.notes'::regclass AND NOT tgisinternal") > 0);
    assert_ne!(pg_dump_table(&dsn, &tables), before, "the triggers show in the dump while attached");
    let r = c.query_one("SELECT source, documents, chunks FROM rag_detach('public.wiki_pages')", &[]).unwrap();
    assert_eq!((r.get::<_, String>(0), r.get::<_, i64>(1), r.get::<_, i64>(2)), ("public.wiki_chunks".into(), 20, 60));
    let r = c.query_one("SELECT documents FROM rag_detach('public.notes')", &[]).unwrap();
    assert_eq!(r.get::<_, i64>(0), 2);
    let after = pg_dump_table(&dsn, &tables);
    assert_eq!(String::from_utf8_lossy(&after), String::from_utf8_lossy(&before), "pg_dump --table differs after detach");
    for t in tables {
        let on_it = count(
            &mut c,
            &format!(
                "SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = '{t}'::regclass AND NOT tgisinternal)
                      + (SELECT count(*) FROM pg_index WHERE indrelid = '{t}'::regclass AND NOT indisprimary)"
            ),
        );
        assert_eq!(on_it, 0, "extension objects left on {t}");
    }
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.documents"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.attached_sources"), 0);
    // Detaching what is not attached says so.
    let e = c.batch_execute("SELECT * FROM rag_detach('public.notes')").unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::UNDEFINED_OBJECT), "{e}");
    assert_bookkeeping_matches_recount(&mut c);
}

#[test]
fn attach_survives_a_dump_and_restore_and_keeps_following_the_source() {
    let (mut c, _fixture) = setup("it_attach_dump");
    create_wiki(&mut c);
    attach_wiki(&mut c);
    let cluster = shared_cluster();
    let rows = dumped_rows(&mut c);
    for (label, format) in [("custom", DumpFormat::Custom), ("plain", DumpFormat::Plain)] {
        let copy = format!("it_attach_dump_{label}");
        let dump = pg_dump(&cluster.dsn("it_attach_dump"), format);
        cluster.empty_database(&copy);
        restore(&cluster.dsn(&copy), format, &dump);
        let mut d = cluster.connect(&copy);
        assert_same_rows(label, &rows, &dumped_rows(&mut d));
        let r = d.query_one("SELECT source, state, documents, chunks FROM rag_source_status() WHERE kind = 'pages'", &[]).unwrap();
        assert_eq!(
            (r.get::<_, String>(0), r.get::<_, Option<String>>(1), r.get::<_, i64>(2), r.get::<_, i64>(3)),
            ("public.wiki_chunks".into(), Some("attached".into()), 20, 60),
            "{label}"
        );
        // The restored triggers keep the copy's projection current.
        d.batch_execute("INSERT INTO public.wiki_chunks VALUES (998, 2, 3, 'Page 2 adds quokka care', NULL)").unwrap();
        assert_eq!(doc_ids(&mut d, "SELECT doc_id FROM rag_hybrid_search('quokka', 3, 'fts')"), ["wiki_pages:2"], "{label}");
        assert_eq!(d.query_one("SELECT chunks FROM rag_detach('public.wiki_chunks')", &[]).unwrap().get::<_, i64>(0), 61);
        assert_bookkeeping_matches_recount(&mut d);
    }
}

fn refused(c: &mut Client, sql: &str, code: SqlState) -> String {
    let e = c.batch_execute(sql).expect_err(sql);
    let db: &DbError = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
    assert_eq!(db.code(), &code, "{sql}: {}", db.message());
    let hint = db.hint().unwrap_or_default().to_string();
    assert!(!hint.is_empty(), "{sql}: no hint for {}", db.message());
    db.message().to_string()
}

/// Nothing of a refused attach is left: no registration, trigger or row.
fn assert_nothing_attached(c: &mut Client, tables: &[&str]) {
    assert_eq!(count(c, "SELECT count(*) FROM rag_search.attached_sources"), 0);
    assert_eq!(count(c, "SELECT count(*) FROM rag_search.documents WHERE attached_source IS NOT NULL"), 0);
    for t in tables {
        assert_eq!(count(c, &format!("SELECT count(*) FROM pg_trigger WHERE tgrelid = '{t}'::regclass AND NOT tgisinternal")), 0, "{t}");
    }
}

#[test]
fn attach_every_bad_input_is_refused_with_its_sqlstate_and_a_hint_and_leaves_nothing() {
    let (mut c, _fixture) = setup("it_attach_bad");
    create_wiki(&mut c);
    c.batch_execute(&format!(
        "CREATE TABLE public.posts (id integer PRIMARY KEY, title text, body text, views integer);
         INSERT INTO public.posts VALUES (1, 'a', 'b', 1);
         CREATE TABLE public.loose (title text, content text);
         CREATE TABLE public.pair_key (a integer, b integer, title text, content text, PRIMARY KEY (a, b));
         CREATE TABLE public.small_chunks (id bigint PRIMARY KEY, page_id bigint, chunk_index integer, content text,
                                           embedding vector({}));
         CREATE VIEW public.posts_view AS SELECT * FROM public.posts;",
        TEST_DIM / 2
    ))
    .unwrap();
    let all = ["public.posts", "public.loose", "public.pair_key", "public.small_chunks", "public.wiki_chunks", "public.wiki_pages"];
    let msg = refused(&mut c, "SELECT * FROM rag_attach('public.posts', content => 'nope')", SqlState::UNDEFINED_COLUMN);
    assert!(msg.contains("nope"), "{msg}");
    refused(&mut c, "SELECT * FROM rag_attach('public.posts', title => 'missing_title', content => 'body')", SqlState::UNDEFINED_COLUMN);
    refused(&mut c, "SELECT * FROM rag_attach('public.posts', content => 'body', metadata => '{gone}')", SqlState::UNDEFINED_COLUMN);
    refused(&mut c, "SELECT * FROM rag_attach('public.wiki_chunks', pages => 'public.wiki_pages', ordinal => 'nope')", SqlState::UNDEFINED_COLUMN);
    refused(&mut c, "SELECT * FROM rag_attach('public.posts', content => 'views')", SqlState::DATATYPE_MISMATCH);
    refused(&mut c, "SELECT * FROM rag_attach('public.wiki_chunks', pages => 'public.wiki_pages', ordinal => 'content')", SqlState::DATATYPE_MISMATCH);
    refused(
        &mut c,
        "SELECT * FROM rag_attach('public.wiki_chunks', pages => 'public.wiki_pages', embedding => 'content')",
        SqlState::DATATYPE_MISMATCH,
    );
    let msg = refused(
        &mut c,
        "SELECT * FROM rag_attach('public.small_chunks', pages => 'public.wiki_pages', embedding => 'embedding')",
        SqlState::INVALID_PARAMETER_VALUE,
    );
    assert!(msg.contains("dimensions"), "{msg}");
    refused(
        &mut c,
        "SELECT * FROM rag_attach('public.wiki_chunks', pages => 'public.wiki_pages', embedding => 'embedding', embedding_model => 'other-model')",
        SqlState::INVALID_PARAMETER_VALUE,
    );
    refused(&mut c, "SELECT * FROM rag_attach('public.loose')", SqlState::INVALID_COLUMN_REFERENCE);
    refused(&mut c, "SELECT * FROM rag_attach('public.pair_key')", SqlState::INVALID_COLUMN_REFERENCE);
    refused(&mut c, "SELECT * FROM rag_attach('public.posts_view', content => 'body')", SqlState::WRONG_OBJECT_TYPE);
    refused(&mut c, "SELECT * FROM rag_attach('public.posts', content => 'body', doc_id_prefix => 'a:b')", SqlState::INVALID_PARAMETER_VALUE);
    refused(&mut c, "SELECT * FROM rag_attach('public.posts', content => 'body', max_rows => -1)", SqlState::INVALID_PARAMETER_VALUE);
    refused(&mut c, "SELECT * FROM rag_attach(NULL)", SqlState::NULL_VALUE_NOT_ALLOWED);
    assert_nothing_attached(&mut c, &all);

    // Attached twice, directly or through the other table of a pair, or
    // under a prefix another source uses.
    c.batch_execute("SELECT * FROM rag_attach('public.posts', content => 'body')").unwrap();
    attach_wiki(&mut c);
    let msg = refused(&mut c, "SELECT * FROM rag_attach('public.posts', content => 'body')", SqlState::DUPLICATE_OBJECT);
    assert!(msg.contains("already attached"), "{msg}");
    refused(&mut c, "SELECT * FROM rag_attach('public.wiki_pages', content => 'title')", SqlState::DUPLICATE_OBJECT);
    refused(
        &mut c,
        "SELECT * FROM rag_attach('public.small_chunks', pages => 'public.wiki_pages')",
        SqlState::DUPLICATE_OBJECT,
    );
    c.batch_execute("CREATE TABLE public.posts2 (id integer PRIMARY KEY, title text, content text)").unwrap();
    refused(&mut c, "SELECT * FROM rag_attach('public.posts2', doc_id_prefix => 'posts')", SqlState::DUPLICATE_OBJECT);
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.attached_sources"), 2);
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.posts2'::regclass AND NOT tgisinternal"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.small_chunks'::regclass AND NOT tgisinternal"), 0);
}

const BIG_DB: &str = "attach_big";
const BIG_ROWS: i64 = 100_000;
const STEP_ROWS: i32 = 20_000;
const PAUSE_LOCK: i64 = 4_242_013;

#[test]
fn attach_a_large_table_runs_in_steps_and_resumes_after_its_backend_is_killed() {
    let mut cluster = Cluster::start("attach_big", ClusterOptions::new());
    let mut c = cluster.new_database(BIG_DB);
    c.batch_execute(&format!(
        "CREATE TABLE public.big (id bigint PRIMARY KEY, title text NOT NULL, body text NOT NULL);
         INSERT INTO public.big SELECT i, 'Row ' || i, 'Body of row ' || i || ' mentions lexeme' || (i % 97)
         FROM generate_series(1, {BIG_ROWS}) AS i;"
    ))
    .unwrap();
    // Registering projects nothing yet; the status shows the work ahead.
    let r = c.query_one("SELECT state, rows_done, rows_total FROM rag_attach('public.big', content => 'body', max_rows => 0)", &[]).unwrap();
    assert_eq!((r.get::<_, String>(0), r.get::<_, i64>(1), r.get::<_, i64>(2)), ("attaching".into(), 0, BIG_ROWS));
    let step = format!("SELECT rows_projected, rows_done FROM rag_attach_step('public.big', {STEP_ROWS})");
    let r = c.query_one(&step, &[]).unwrap();
    assert_eq!((r.get::<_, i32>(0), r.get::<_, i64>(1)), (STEP_ROWS, i64::from(STEP_ROWS)));
    let r = c
        .query_one("SELECT state, progress_pct::float8, rows_per_sec, eta IS NOT NULL FROM rag_source_status() WHERE source = 'public.big'", &[])
        .unwrap();
    assert_eq!(r.get::<_, Option<String>>(0).as_deref(), Some("attaching"));
    assert_eq!(r.get::<_, Option<f64>>(1), Some(20.0));
    assert!(r.get::<_, Option<f64>>(2).unwrap_or(0.0) > 0.0 && r.get::<_, bool>(3), "rate and ETA while attaching");

    // The next step is held after projecting its rows, before committing,
    // and its backend is killed.
    c.batch_execute(&format!(
        "CREATE FUNCTION public.pause_step() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_advisory_xact_lock_shared({PAUSE_LOCK}); RETURN NULL; END $$;
         CREATE TRIGGER zz_pause_step AFTER INSERT ON rag_search.chunks
             FOR EACH STATEMENT EXECUTE FUNCTION public.pause_step();"
    ))
    .unwrap();
    c.execute("SELECT pg_advisory_lock($1)", &[&PAUSE_LOCK]).unwrap();
    let dsn = cluster.dsn(BIG_DB);
    let held = step.clone();
    let stepper = std::thread::spawn(move || connect_dsn(&dsn).query_one(&held, &[]).map(|_| ()));
    // The step has projected its rows but not committed.
    let pid = backend_waiting_for_advisory_lock(&mut c, BIG_DB, "rag_attach_step", Duration::from_secs(300));
    // SAFETY: sends SIGKILL to the PostgreSQL backend found above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill -9 {pid}");
    assert!(stepper.join().expect("stepper thread").is_err(), "the killed step returned");
    drop(c);

    let mut c = connect_dsn(&cluster.dsn(BIG_DB));
    let log = cluster.server_log();
    assert!(log.contains(&format!("(PID {pid}) was terminated by signal 9")), "no crash in the log:\n{log}");
    c.batch_execute("DROP TRIGGER zz_pause_step ON rag_search.chunks").unwrap();
    // The killed step left nothing; the attach stands where the last
    // committed step ended.
    assert_eq!(count(&mut c, "SELECT rows_done FROM rag_search.attached_sources"), i64::from(STEP_ROWS));
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.documents"), i64::from(STEP_ROWS));
    // Rows written meanwhile are projected by their trigger, whichever
    // side of the cursor they fall.
    c.batch_execute(&format!(
        "INSERT INTO public.big VALUES ({}, 'Late', 'A late row about zeppelins');
         UPDATE public.big SET body = 'Early row rewritten about quokkas' WHERE id = 5;
         DELETE FROM public.big WHERE id = 6;",
        BIG_ROWS + 1
    ))
    .unwrap();
    let mut steps = 0;
    loop {
        let state: String = c.query_one("SELECT state FROM rag_attach_step('public.big', 20000)", &[]).unwrap().get(0);
        steps += 1;
        if state == "attached" || steps > 20 {
            break;
        }
    }
    assert_eq!(steps, 5, "80,001 rows after the cursor: four steps of 20,000 and one of 1");
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.documents"), BIG_ROWS);
    assert_eq!(count(&mut c, "SELECT count(*) FROM rag_search.chunks"), BIG_ROWS);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM public.big AS b
             FULL JOIN rag_search.documents AS d ON d.doc_id = 'big:' || b.id
             WHERE b.id IS NULL OR d.id IS NULL"
        ),
        0,
        "every row projected once"
    );
    assert_eq!(doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('quokkas', 3, 'fts')"), ["big:5"]);
    assert_eq!(doc_ids(&mut c, "SELECT doc_id FROM rag_hybrid_search('zeppelins', 3, 'fts')"), [format!("big:{}", BIG_ROWS + 1)]);
    let r = c.query_one("SELECT state, progress_pct::float8 FROM rag_source_status() WHERE source = 'public.big'", &[]).unwrap();
    assert_eq!((r.get::<_, Option<String>>(0).as_deref(), r.get::<_, Option<f64>>(1)), (Some("attached"), Some(100.0)));
    // Nothing left to step.
    assert!(c.query("SELECT * FROM rag_attach_step()", &[]).unwrap().is_empty());
    assert_bookkeeping_matches_recount(&mut c);
    cluster.stop();
}
