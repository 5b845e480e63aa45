//! The integration harness: a temp dir per test, the real `postpress-sim` on `127.0.0.1:0`, the
//! real `postpress-etl` binary, and readers that turn the Parquet it wrote back into rows to
//! compare with what the simulator served.

#![allow(dead_code)]

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use postpress_sim::{self as sim, expected_item};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key the simulator accepts in tests.
pub const KEY: &str = "pp_test_8c1f0d9a2b7e4c3f";
/// The simulator's seed in tests.
pub const SEED: u64 = 42;
/// The snapshot date tests run with.
pub const DATE: &str = "2026-11-26";

/// The simulator's binary: a sibling of the product's in the same target directory. It belongs
/// to the workspace's other package: `cargo test --workspace` (what `make test` runs) builds
/// it; after a lone `cargo test -p postpress-etl` it may be missing or older than its sources,
/// and is then built here once.
pub fn sim_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let etl = Path::new(env!("CARGO_BIN_EXE_postpress-etl"));
    let sim = etl.with_file_name("postpress-sim");
    BUILT.call_once(|| {
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/postpress-sim/src");
        if !sim.exists() || newest_mtime(&sources) > newest_mtime(&sim) {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", "postpress-sim", "--bin", "postpress-sim"]);
            if etl.parent().is_some_and(|d| d.ends_with("release")) {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("cargo runs to build postpress-sim");
            assert!(status.success(), "cargo build -p postpress-sim failed");
        }
    });
    sim
}

/// The latest modification time of a file, or of any file below a directory.
fn newest_mtime(path: &Path) -> std::time::SystemTime {
    let own = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH);
    let children = std::fs::read_dir(path).into_iter().flatten().flatten();
    children
        .map(|e| newest_mtime(&e.path()))
        .fold(own, std::cmp::max)
}

/// A running simulator, killed on drop.
pub struct Sim {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Sim {
    /// Starts `postpress-sim` with extra arguments.
    pub fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(sim_bin())
            .args(["--port", "0", "--api-key", KEY, "--seed", &SEED.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("postpress-sim starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the simulator prints its address");
        let url = line.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected first line {url:?}"
        );
        Sim { child, url }
    }

    /// Starts it with a scenario file written into `dir`.
    pub fn with_scenario(dir: &TestDir, scenario: &str, args: &[&str]) -> Sim {
        let path = dir.write("scenario.toml", scenario);
        let mut all = vec!["--scenario", path.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        Sim::start(&all)
    }

    /// The base URL a job uses.
    pub fn base_url(&self) -> String {
        format!("{}/api/v1", self.url)
    }

    /// `GET /_sim/stats`.
    pub fn stats(&self) -> Value {
        let body = http_get(&self.url, "/_sim/stats");
        serde_json::from_str(&body).expect("stats are JSON")
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A minimal blocking HTTP/1.0 GET, so tests need no async runtime for the stats.
pub fn http_get(base: &str, path: &str) -> String {
    let hostport = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).expect("connect to the simulator");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// A minimal blocking HTTP/1.0 POST with an empty body (the simulator's control routes).
pub fn http_post(base: &str, path: &str) -> String {
    let hostport = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).expect("connect to the simulator");
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {hostport}\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// A temp dir per test.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// A fresh dir.
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::Builder::new()
                .prefix("pp-etl-test")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The default output dir.
    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// Writes a file, returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, contents).expect("write test file");
        p
    }

    /// Writes a fast job against `sim` (high limits, millisecond backoff); `fetch_extra` lines
    /// (`key = value`) replace or add `[fetch]` keys; `accounts` are `[[accounts]]` tables.
    pub fn job(&self, sim: &Sim, fetch_extra: &str, accounts: &str) -> PathBuf {
        self.job_with(sim, fetch_extra, "", accounts)
    }

    /// A job as [`TestDir::job`] writes, but asking the API at `base_url` (a closed port, a
    /// misbehaving server) instead of a simulator, written as `name`.
    pub fn job_at(&self, base_url: &str, name: &str, accounts: &str) -> PathBuf {
        self.write(name, &self.job_text(base_url, "", "", accounts))
    }

    /// As [`TestDir::job`], with `[output]` lines too.
    pub fn job_with(
        &self,
        sim: &Sim,
        fetch_extra: &str,
        output_extra: &str,
        accounts: &str,
    ) -> PathBuf {
        let text = self.job_text(&sim.base_url(), fetch_extra, output_extra, accounts);
        self.write("job.toml", &text)
    }

    /// The text of a fast job asking the API at `base_url`.
    fn job_text(
        &self,
        base_url: &str,
        fetch_extra: &str,
        output_extra: &str,
        accounts: &str,
    ) -> String {
        format!(
            "name = \"test-job\"\n\n[api]\nbase_url = \"{base_url}\"\ntimeout = \"5s\"\n\n[fetch]\n{}\n[output]\n{}\n{accounts}\n",
            merge(
                "concurrency = 4\nrequests_per_second = 5000.0\naccount_requests_per_minute = 600000.0\nbackoff_initial = \"1ms\"\nbackoff_max = \"20ms\"\n",
                fetch_extra
            ),
            merge(
                &format!("url = \"{}\"\n", self.out().display()),
                output_extra
            ),
        )
    }
}

/// `key = value` lines of `base`, with those of `extra` replacing or adding keys.
fn merge(base: &str, extra: &str) -> String {
    let key = |l: &str| l.split('=').next().unwrap_or_default().trim().to_owned();
    let extra_keys: Vec<String> = extra.lines().filter(|l| l.contains('=')).map(key).collect();
    let mut out: String = base
        .lines()
        .filter(|l| !extra_keys.contains(&key(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    for l in extra.lines() {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// What a finished command did.
pub struct Output {
    /// The command line, for failure messages.
    pub cmd: String,
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Output {
    /// Asserts the exit code, printing everything when it differs.
    pub fn expect_code(&self, code: i32, out_dir: &Path) -> &Output {
        if self.code != Some(code) {
            panic!(
                "{}\nexpected exit {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- output tree\n{}",
                self.cmd,
                self.code,
                self.stdout,
                self.stderr,
                tree(out_dir)
            );
        }
        self
    }
}

/// Runs `postpress-etl` with `POSTPRESS_API_KEY` set to [`KEY`] (unless `envs` overrides it).
pub fn etl(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postpress-etl"));
    cmd.args(args)
        .env("POSTPRESS_API_KEY", KEY)
        .env_remove("POSTPRESS_BASE_URL")
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().expect("postpress-etl runs");
    Output {
        cmd: format!("postpress-etl {}", args.join(" ")),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `postpress-etl run JOB --snapshot-date DATE --progress off`.
pub fn run_job(job: &Path, extra: &[&str]) -> Output {
    run_job_env(job, extra, &[])
}

/// [`run_job`] with extra environment (an empty value removes the variable).
pub fn run_job_env(job: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    etl(&run_args(job, extra), envs)
}

fn run_args<'a>(job: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        job.to_str().expect("utf-8"),
        "--snapshot-date",
        DATE,
        "--progress",
        "off",
    ];
    args.extend_from_slice(extra);
    args
}

/// Starts `postpress-etl run JOB` in the background (stdout discarded, stderr piped), for
/// tests that signal or kill it.
pub fn spawn_run(job: &Path, extra: &[&str]) -> Child {
    spawn_run_env(job, extra, std::iter::empty::<(&str, &str)>())
}

/// [`spawn_run`] with extra environment.
pub fn spawn_run_env<K, V>(
    job: &Path,
    extra: &[&str],
    envs: impl IntoIterator<Item = (K, V)>,
) -> Child
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
        .args(run_args(job, extra))
        .env("POSTPRESS_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .envs(envs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn postpress-etl")
}

/// Every file below `dir`, one per line, for failure messages.
pub fn tree(dir: &Path) -> String {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file below `dir`.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The partition directory of a unit.
pub fn partition(out: &Path, dataset: &str, provider: &str, account: &str) -> PathBuf {
    out.join(dataset)
        .join(format!("provider={provider}"))
        .join(format!("snapshot_date={DATE}"))
        .join(format!("account_id={account}"))
}

/// Reads one Parquet file into its schema and batches.
pub fn read_file(path: &Path) -> (SchemaRef, Vec<RecordBatch>) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap_or_else(|e| panic!("{} is not readable Parquet: {e}", path.display()));
    let schema = b.schema().clone();
    let batches = b
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{} cannot be decoded: {e}", path.display()));
    (schema, batches)
}

/// The footer key-value metadata of a file.
pub fn footer(path: &Path) -> Map<String, Value> {
    let f = std::fs::File::open(path).expect("open");
    let b = ParquetRecordBatchReaderBuilder::try_new(f).expect("parquet");
    let mut m = Map::new();
    for kv in b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
    {
        m.insert(
            kv.key.clone(),
            Value::from(kv.value.clone().unwrap_or_default()),
        );
    }
    m
}

/// Rows of a batch as JSON objects: strings, booleans, integers (timestamps as ms, dates as days).
pub fn rows(batch: &RecordBatch) -> Vec<Map<String, Value>> {
    let schema = batch.schema();
    let mut out = vec![Map::new(); batch.num_rows()];
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        for (i, row) in out.iter_mut().enumerate() {
            let v = if col.is_null(i) {
                Value::Null
            } else {
                match f.data_type() {
                    DataType::Utf8 => Value::from(col.as_string::<i32>().value(i)),
                    DataType::Boolean => Value::from(col.as_boolean().value(i)),
                    DataType::Int64 => Value::from(col.as_primitive::<Int64Type>().value(i)),
                    DataType::Timestamp(_, _) => {
                        Value::from(col.as_primitive::<TimestampMillisecondType>().value(i))
                    }
                    DataType::Date32 => Value::from(col.as_primitive::<Date32Type>().value(i)),
                    other => panic!("unexpected column type {other}"),
                }
            };
            row.insert(f.name().clone(), v);
        }
    }
    out
}

/// The rows of one file as a hive-partitioned reader sees them: the file's columns plus the
/// `key=value` directories of its path (`snapshot_date` as days, like a date column). Asserts
/// that no partition column is repeated inside the file (SPEC §4: in the path only).
pub fn read_hive_rows(path: &Path) -> Vec<Map<String, Value>> {
    let (schema, batches) = read_file(path);
    let partitions: Vec<(String, Value)> = path
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .filter_map(|c| c.split_once('='))
        .map(|(k, v)| {
            let value = if k.ends_with("snapshot_date") {
                Value::from(days(v))
            } else {
                Value::from(v)
            };
            (k.to_owned(), value)
        })
        .collect();
    for (k, _) in &partitions {
        assert!(
            schema.field_with_name(k).is_err(),
            "{}: partition column {k:?} is repeated inside the file",
            path.display()
        );
    }
    let mut out = Vec::new();
    for b in batches {
        for mut row in rows(&b) {
            for (k, v) in &partitions {
                row.insert(k.clone(), v.clone());
            }
            out.push(row);
        }
    }
    out
}

/// All rows of a unit's partition, part files in name order, with the path's partition columns.
pub fn read_unit(
    out: &Path,
    dataset: &str,
    provider: &str,
    account: &str,
) -> Vec<Map<String, Value>> {
    let dir = partition(out, dataset, provider, account);
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("partition {} missing: {e}\n{}", dir.display(), tree(out)))
        .flatten()
        .map(|e| e.path())
        .collect();
    parts.sort();
    assert!(!parts.is_empty(), "no part files in {}", dir.display());
    let mut all = Vec::new();
    for p in parts {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            name.starts_with("part-") && name.ends_with(".parquet"),
            "stray file {}",
            p.display()
        );
        all.extend(read_hive_rows(&p));
    }
    all
}

fn sim_provider(p: &str) -> sim::Provider {
    match p {
        "linkedin" => sim::Provider::Linkedin,
        _ => sim::Provider::Instagram,
    }
}

fn sim_dataset(d: &str) -> sim::Dataset {
    match d {
        "followers" => sim::Dataset::Followers,
        _ => sim::Dataset::Following,
    }
}

fn days(date: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
}

/// Asserts a unit's published rows equal exactly the `n` items the simulator serves for it:
/// every API column (absent and null alike read back as null), the metadata columns, the order.
pub fn assert_unit_exact(
    out: &Path,
    dataset: &str,
    provider: &str,
    account: &str,
    n: u64,
) -> Vec<Map<String, Value>> {
    let got = read_unit(out, dataset, provider, account);
    assert_eq!(
        got.len() as u64,
        n,
        "{dataset}/{provider}/{account}: row count"
    );
    for (i, row) in got.iter().enumerate() {
        let want = expected_item(
            SEED,
            sim_provider(provider),
            sim_dataset(dataset),
            account,
            i as u64,
        );
        let want = want.as_object().expect("item is an object");
        for (col, v) in row {
            let expected = match col.as_str() {
                "account_id" => Value::from(account),
                "provider" => Value::from(provider),
                "snapshot_date" => Value::from(days(DATE)),
                "position" => Value::from(i as i64),
                "fetched_at" | "run_id" => continue,
                api => want.get(api).cloned().unwrap_or(Value::Null),
            };
            assert_eq!(
                v, &expected,
                "{dataset}/{provider}/{account} row {i} column {col:?}\nrow: {row:?}\nserved: {want:?}"
            );
        }
        for k in want.keys() {
            assert!(
                k == "object" || row.contains_key(k) || !is_documented(k),
                "{dataset}/{provider}/{account} row {i}: documented field {k:?} has no column"
            );
        }
    }
    got
}

fn is_documented(field: &str) -> bool {
    const DOC: [&str; 20] = [
        "id",
        "urn",
        "name",
        "headline",
        "profile_url",
        "profile_picture_url",
        "profile_picture_url_large",
        "messaging_id",
        "username",
        "is_private",
        "is_verified",
        "first_name",
        "last_name",
        "public_identifier",
        "public_profile_url",
        "created_at",
        "member_id",
        "member_urn",
        "connection_urn",
        "object",
    ];
    DOC.contains(&field)
}

/// The run manifests written under `out/_runs`, oldest first (finalize's are apart:
/// [`finalize_manifests`]).
pub fn manifests(out: &Path) -> Vec<Value> {
    read_manifests(out, false)
}

/// The finalize manifests (`_runs/snapshot_date=D/finalize-*.json`), oldest first.
pub fn finalize_manifests(out: &Path) -> Vec<Value> {
    read_manifests(out, true)
}

fn read_manifests(out: &Path, finalize: bool) -> Vec<Value> {
    let mut files = files_below(&out.join("_runs"));
    files.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.starts_with("finalize-") == finalize
    });
    files.sort();
    files
        .iter()
        .map(|p| {
            serde_json::from_slice(&std::fs::read(p).expect("read manifest"))
                .expect("manifest is JSON")
        })
        .collect()
}

/// Waits until `cond` holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// `[[accounts]]` tables for (id, provider) pairs.
pub fn accounts_toml(accounts: &[(&str, &str)]) -> String {
    accounts
        .iter()
        .map(|(id, p)| format!("[[accounts]]\naccount_id = \"{id}\"\nprovider = \"{p}\"\n\n"))
        .collect()
}
