//! The S3 destination against a real S3-compatible server on loopback (moto, installed and
//! started by `make test` through scripts/s3-server.sh): the export of the local-disk tests'
//! scenario read back object by object, a unit uploaded in several multipart parts, destinations
//! refused before any API request, and the server dying in the middle of a run.
//!
//! Gated by `POSTPRESS_S3_TESTS`: without it each test prints why it skipped and passes.
//! `make test` sets it together with the server's `AWS_*` variables. Every test creates its own
//! bucket; the tests that need a server of their own (credential checks, a dying server) start a
//! private moto on a free port.

use crate::util::*;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The variable that turns the S3 tests on.
pub(crate) const GATE: &str = "POSTPRESS_S3_TESTS";

/// The credentials the shared test server is given by scripts/s3-server.sh.
pub(crate) const KEY_ID: &str = "test";
pub(crate) const SECRET: &str = "test";

/// The shared server's endpoint, or `None` after printing why the test skips.
pub(crate) fn s3_endpoint(test: &str) -> Option<String> {
    match std::env::var(GATE) {
        Ok(v) if !v.is_empty() && v != "0" => {}
        _ => {
            eprintln!(
                "skipping {test}: {GATE} is not set; `make test` starts the S3-compatible server and sets it \
                 (or: bash scripts/s3-server.sh start && eval \"$(bash scripts/s3-server.sh env)\" && {GATE}=1 cargo test)"
            );
            return None;
        }
    }
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(ep) if !ep.is_empty() => Some(ep),
        _ => panic!(
            "{GATE} is set but AWS_ENDPOINT_URL is not: eval \"$(bash scripts/s3-server.sh env)\" first"
        ),
    }
}

/// A bucket name no other test or run uses: `pp-{tag}-{pid}-{nanos}-{n}`, lowercase, ≤ 63 chars.
pub(crate) fn unique_bucket(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("pp-{tag}-{}-{nanos}-{n}", std::process::id())
}

/// One HTTP/1.1 request to `endpoint` (`http://host:port`); returns (status, body).
/// moto does not verify signatures until told to, so a SigV4-shaped header with any signature is
/// enough for it to treat the request as signed (and, by its credential scope, route it to S3 or
/// IAM); an unsigned request would be anonymous.
fn raw_request(
    endpoint: &str,
    method: &str,
    path: &str,
    service: &str,
    body: &str,
) -> (u16, String) {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s =
        TcpStream::connect(hostport).unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let content_type = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/x-www-form-urlencoded\r\n".to_owned()
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential={KEY_ID}/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         {content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Creates a bucket (object_store cannot): `PUT /{bucket}`.
pub(crate) fn create_bucket(endpoint: &str, bucket: &str) {
    let (status, body) = raw_request(endpoint, "PUT", &format!("/{bucket}"), "s3", "");
    assert_eq!(status, 200, "create bucket {bucket} at {endpoint}: {body}");
}

/// An S3 store on `bucket` at `endpoint` with the given keys.
pub(crate) fn s3_store_with(
    endpoint: &str,
    bucket: &str,
    key_id: &str,
    secret: &str,
) -> Arc<dyn ObjectStore> {
    postpress_etl::tls::install_crypto_provider();
    let store = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(key_id)
        .with_secret_access_key(secret)
        .with_bucket_name(bucket)
        .build()
        .expect("S3 store for the test server");
    Arc::new(store)
}

/// An S3 store on `bucket` of the shared test server.
pub(crate) fn s3_store(endpoint: &str, bucket: &str) -> Arc<dyn ObjectStore> {
    s3_store_with(endpoint, bucket, KEY_ID, SECRET)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every key below `prefix`, sorted.
pub(crate) fn keys(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let prefix = ObjPath::from(prefix);
    let mut keys: Vec<String> = runtime()
        .block_on(
            store
                .list(Some(&prefix))
                .map_ok(|m| m.location.to_string())
                .try_collect::<Vec<_>>(),
        )
        .expect("list the bucket");
    keys.sort();
    keys
}

/// Downloads every object below `prefix` into `dir`, keys relative to the prefix becoming file
/// paths, so the local-disk readers of tests/util.rs read what S3 holds.
pub(crate) fn download(store: &Arc<dyn ObjectStore>, prefix: &str, dir: &Path) -> Vec<String> {
    let keys = keys(store, prefix);
    let rt = runtime();
    for k in &keys {
        let rel = k.strip_prefix(prefix).unwrap_or(k).trim_start_matches('/');
        let bytes = rt
            .block_on(async { store.get(&ObjPath::from(k.as_str())).await?.bytes().await })
            .unwrap_or_else(|e| panic!("download {k}: {e}"));
        let to = dir.join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::write(&to, &bytes).expect("write download");
    }
    keys
}

/// The key of a unit's part.
fn part_key(prefix: &str, dataset: &str, provider: &str, account: &str, n: usize) -> String {
    format!(
        "{prefix}/{dataset}/provider={provider}/snapshot_date={DATE}/account_id={account}/part-{n:05}.parquet"
    )
}

/// The total number of API requests the simulator received.
fn sim_requests(sim: &Sim) -> u64 {
    sim.stats()["requests"].as_u64().unwrap_or(u64::MAX)
}

/// A free loopback port (nothing listens on it once this returns).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private moto server on a free port, killed on drop.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Moto {
    /// Starts `.venv/bin/moto_server` with extra environment variables and waits until it
    /// accepts connections. (Readiness is a bare TCP connect: an HTTP request would count as one
    /// of the actions `INITIAL_NO_AUTH_ACTION_COUNT` lets through.)
    pub(crate) fn start(envs: &[(&str, &str)]) -> Moto {
        Moto::start_logged(envs, None)
    }

    /// As [`Moto::start`], with the server's request log (one line per request) written to `log`.
    pub(crate) fn start_logged(envs: &[(&str, &str)], log: Option<&Path>) -> Moto {
        let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/moto_server");
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: run bash scripts/venv.sh"
        );
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(match log {
                Some(p) => Stdio::from(std::fs::File::create(p).expect("moto log file")),
                None => Stdio::null(),
            })
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let up = wait_until(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "moto_server did not listen on {endpoint} within 30 s");
        Moto { child, endpoint }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The environment pointing `postpress-etl` at `endpoint` with the given keys.
pub(crate) fn aws_env<'a>(
    endpoint: &'a str,
    key_id: &'a str,
    secret: &'a str,
) -> [(&'static str, &'a str); 5] {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", key_id),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ]
}

/// The SIZES scenario of tests/run.rs (0, 1, a page, a page + 1 and 2,501 records, both
/// providers and datasets), exported to `s3://bucket/exports/pp`: every object is under its key
/// and nothing else is left (no staging), and every record read back from S3 with the Rust
/// Parquet reader is exactly what the simulator served; the footer and the manifest are right.
#[test]
fn s3_export_lands_every_record_under_its_key() {
    let Some(ep) = s3_endpoint("s3_export_lands_every_record_under_its_key") else {
        return;
    };
    let bucket = unique_bucket("export");
    create_bucket(&ep, &bucket);
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, crate::run::SIZES, &[]);
    let prefix = "exports/pp";
    // Without the reader tables, which tests/tables.rs checks on S3.
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/{prefix}\"\ntables = false"),
        &crate::run::size_accounts(),
    );
    let o = run_job(&job, &[]);
    o.expect_code(0, &t.out());
    assert!(!t.out().exists(), "nothing is written locally");

    let store = s3_store(&ep, &bucket);
    let dl = t.path().join("download");
    let got = download(&store, prefix, &dl);
    let m = manifests(&dl);
    assert_eq!(m.len(), 1, "one manifest: {got:#?}");
    let run_id = m[0]["run_id"].as_str().expect("run_id").to_owned();
    let mut want: Vec<String> = crate::run::SIZE_ACCOUNTS
        .iter()
        .flat_map(|(a, p, _, _)| ["followers", "following"].map(|d| part_key(prefix, d, p, a, 0)))
        .collect();
    want.push(format!("{prefix}/_runs/snapshot_date={DATE}/{run_id}.json"));
    want.push(format!(
        "{prefix}/_leases/run/test-job/snapshot_date={DATE}/shard=all.json"
    ));
    want.sort();
    assert_eq!(
        got, want,
        "exactly the partition objects, the manifest and the run's released lease, nothing staged"
    );

    crate::run::assert_all_sizes_exact(&dl);
    let f = footer(&partition(&dl, "following", "instagram", "ig_big").join("part-00000.parquet"));
    assert_eq!(f["account_id"], "ig_big");
    assert_eq!(f["run_id"], run_id.as_str());
    assert_eq!(m[0]["status"], "ok");
    assert_eq!(m[0]["destination"], format!("s3://{bucket}/{prefix}"));
    assert_eq!(m[0]["units"].as_array().map(Vec::len), Some(20));
}

/// One file, one upload: no checkpoint closing a part early, and no reader table of this unit
/// (that would be a second multipart upload).
const ONE_FILE: &str =
    "compression = \"none\"\nrow_group_rows = 20000\ncheckpoint_rows = 1000000\ntables = false";

/// One unit big enough to need several multipart parts (about 50 MB uncompressed, parts of
/// 8 MiB): the server's request log shows the staged file going up as a multipart upload of
/// several parts, completed; the published file reads back exactly; a rerun with a smaller file
/// size replaces it with three files and no stale one. (The published object is a server-side
/// copy of the staged one, so its own ETag no longer shows the parts: the log does.)
#[test]
fn s3_large_unit_uploads_in_several_parts() {
    let Some(_) = s3_endpoint("s3_large_unit_uploads_in_several_parts") else {
        return;
    };
    let t = TestDir::new();
    let log = t.path().join("moto.log");
    let moto = Moto::start_logged(&[], Some(&log));
    let ep = moto.endpoint.as_str();
    let bucket = unique_bucket("multipart");
    create_bucket(ep, &bucket);
    const N: u64 = 120_000;
    let sim = Sim::with_scenario(
        &t,
        &format!(
            "[[accounts]]\nid = \"acc_big\"\nprovider = \"linkedin\"\nfollowers = 0\nfollowing = {N}\n"
        ),
        &[],
    );
    let accounts = "[[accounts]]\naccount_id = \"acc_big\"\nprovider = \"linkedin\"\ndatasets = [\"following\"]\n";
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/pp\"\n{ONE_FILE}"),
        accounts,
    );
    run_job_env(&job, &[], &aws_env(ep, KEY_ID, SECRET)).expect_code(0, &t.out());
    let store = s3_store(ep, &bucket);
    let key = part_key("pp", "following", "linkedin", "acc_big", 0);
    let meta = runtime()
        .block_on(store.head(&ObjPath::from(key.as_str())))
        .expect("head the part");
    let part_bytes = postpress_etl::sink::parquet::UPLOAD_BUFFER_BYTES as u64;
    assert!(
        meta.size > 3 * part_bytes,
        "the file outgrows three upload parts: {} bytes",
        meta.size
    );

    let requests = std::fs::read_to_string(&log).expect("moto log");
    let staged = format!("/{bucket}/pp/_staging/");
    let uploads: Vec<&str> = requests
        .lines()
        .filter(|l| {
            l.contains(&staged)
                && l.contains("\"PUT ")
                && l.contains("partNumber=")
                && l.contains("\" 200")
        })
        .collect();
    let completed = requests
        .lines()
        .filter(|l| {
            l.contains(&staged)
                && l.contains("\"POST ")
                && l.contains("uploadId=")
                && l.contains("\" 200")
        })
        .count();
    assert!(
        uploads.len() as u64 >= meta.size / part_bytes && completed == 1,
        "one multipart upload of several parts: {} parts, {completed} completed\n{requests}",
        uploads.len()
    );
    let dl = t.path().join("download");
    download(&store, "pp", &dl);
    assert_unit_exact(&dl, "following", "linkedin", "acc_big", N);

    // Rerun with 50,000 rows per file: three files replace the one.
    let text = std::fs::read_to_string(&job)
        .expect("job")
        .replace("[output]\n", "[output]\nmax_rows_per_file = 50000\n");
    let job2 = t.write("job2.toml", &text);
    run_job_env(&job2, &[], &aws_env(ep, KEY_ID, SECRET)).expect_code(0, &t.out());
    let dl2 = t.path().join("download2");
    let got = download(&store, "pp/following", &dl2.join("following"));
    assert_eq!(
        got,
        (0..3)
            .map(|n| part_key("pp", "following", "linkedin", "acc_big", n))
            .collect::<Vec<_>>()
    );
    let rows = assert_unit_exact(&dl2, "following", "linkedin", "acc_big", N);
    assert_ne!(rows[0]["run_id"], Value::Null);
}

/// A bucket that does not exist: exit 1 before any API request (the simulator saw none), a
/// message naming the bucket and the cause, no secret printed, nothing created.
#[test]
fn s3_missing_bucket_fails_before_any_request() {
    let Some(ep) = s3_endpoint("s3_missing_bucket_fails_before_any_request") else {
        return;
    };
    let bucket = unique_bucket("missing");
    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "2"]);
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/pp\""),
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );
    let secret = "pp-secret-Zq81vLx0aB3kR7";
    let o = run_job_env(&job, &[], &aws_env(&ep, "AKIAPPTESTMISSING01", secret));
    o.expect_code(1, &t.out());
    assert_eq!(
        sim_requests(&sim),
        0,
        "no API request before the destination check"
    );
    let want = format!("bucket \"{bucket}\" does not exist (NoSuchBucket)");
    assert!(o.stderr.contains(&want), "{}", o.stderr);
    assert!(
        o.stderr.contains("checked before any API request"),
        "{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains(secret) && !o.stdout.contains(secret),
        "secret printed"
    );
    assert!(
        o.stdout.is_empty(),
        "no summary for a run that never started: {}",
        o.stdout
    );
    let (status, _) = raw_request(&ep, "HEAD", &format!("/{bucket}"), "s3", "");
    assert_eq!(status, 404, "the bucket was not created");
}

/// An endpoint nothing listens on (no network): exit 1 before any API request, within the
/// retry budget, naming the bucket, the endpoint and the refused connection.
#[test]
fn s3_unreachable_endpoint_fails_before_any_request() {
    let Some(_) = s3_endpoint("s3_unreachable_endpoint_fails_before_any_request") else {
        return;
    };
    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "1"]);
    let job = t.job_with(
        &sim,
        "",
        "url = \"s3://pp-nowhere/pp\"",
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );
    let dead = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let o = run_job_env(
        &job,
        &[],
        &aws_env(&dead, KEY_ID, "pp-secret-unreachable-9Hq"),
    );
    o.expect_code(1, &t.out());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "gave up within the retry budget"
    );
    assert_eq!(sim_requests(&sim), 0);
    let want = format!("the S3 endpoint {dead} of bucket \"pp-nowhere\" cannot be reached");
    assert!(o.stderr.contains(&want), "{}", o.stderr);
    assert!(
        o.stderr.contains("Connection refused"),
        "the root cause is shown: {}",
        o.stderr
    );
    assert!(!o.stderr.contains("pp-secret-unreachable-9Hq"));
}

/// Wrong credentials. The shared server does not check signatures, so this starts a private moto
/// with `INITIAL_NO_AUTH_ACTION_COUNT`: after the setup requests (an IAM user with an S3 policy
/// and its access key, a bucket) it verifies every signature as AWS does. The right key exports
/// (so the check is real), a wrong secret (SignatureDoesNotMatch) and an unknown key id
/// (InvalidAccessKeyId) exit 1 before any API request, naming the bucket and the cause, and
/// print no secret.
#[test]
fn s3_bad_credentials_fail_before_any_request() {
    let Some(_) = s3_endpoint("s3_bad_credentials_fail_before_any_request") else {
        return;
    };
    // CreateUser, PutUserPolicy, CreateAccessKey, CreateBucket go through unchecked.
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let ep = moto.endpoint.as_str();
    let iam = |body: &str| {
        let (status, resp) = raw_request(ep, "POST", "/", "iam", body);
        assert_eq!(status, 200, "IAM {body}: {resp}");
        resp
    };
    iam("Action=CreateUser&UserName=etl&Version=2010-05-08");
    let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
    iam(&format!(
        "Action=PutUserPolicy&UserName=etl&PolicyName=s3&PolicyDocument={policy}&Version=2010-05-08"
    ));
    let created = iam("Action=CreateAccessKey&UserName=etl&Version=2010-05-08");
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = created
            .find(&open)
            .map(|i| i + open.len())
            .expect("tag in CreateAccessKey");
        let end = created[start..].find('<').expect("closing tag") + start;
        created[start..end].to_owned()
    };
    let (key_id, secret) = (tag("AccessKeyId"), tag("SecretAccessKey"));
    let bucket = unique_bucket("auth");
    create_bucket(ep, &bucket);

    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "1", "--followers", "30", "--following", "3"]);
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/pp\""),
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );

    // The right key: the run exports, so moto really checks object_store's signatures.
    run_job_env(&job, &[], &aws_env(ep, &key_id, &secret)).expect_code(0, &t.out());
    let requests = sim_requests(&sim);
    assert!(requests > 0);
    let got = keys(
        &s3_store_with(ep, &bucket, &key_id, &secret),
        "pp/followers",
    );
    assert_eq!(
        got,
        vec![part_key(
            "pp",
            "followers",
            "linkedin",
            "acc_linkedin_0000",
            0
        )]
    );

    let wrong_secret = "pp-wrong-secret-Xv93kQ0tZ";
    for (id, sec, code) in [
        (key_id.as_str(), wrong_secret, "SignatureDoesNotMatch"),
        ("AKIAPPUNKNOWNKEY0001", wrong_secret, "InvalidAccessKeyId"),
    ] {
        let o = run_job_env(&job, &[], &aws_env(ep, id, sec));
        o.expect_code(1, &t.out());
        assert_eq!(
            sim_requests(&sim),
            requests,
            "{code}: no API request before the destination check"
        );
        let want = format!("bucket \"{bucket}\" rejected the credentials ({code})");
        assert!(o.stderr.contains(&want), "{}", o.stderr);
        for s in [sec, secret.as_str()] {
            assert!(
                !o.stderr.contains(s) && !o.stdout.contains(s),
                "{code}: a secret was printed"
            );
        }
    }
}

/// A TCP proxy in front of a server that can be cut off: `down` closes the listener and every
/// open connection, exactly what a client sees when the server process dies; `up` listens again
/// on the same port. The server behind it keeps its state, so what the dying run left can be
/// inspected and a rerun can complete.
pub(crate) struct Proxy {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    pub(crate) fn start(upstream: &str) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream address");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let p = Proxy {
            rt,
            addr,
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        p.serve(listener);
        p
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (upstream, tasks) = (self.upstream, self.tasks.clone());
        let accept = self.rt.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                        tokio::io::copy_bidirectional(&mut inbound, &mut out)
                            .await
                            .ok();
                    }
                });
                tasks.lock().expect("lock").push(conn.abort_handle());
            }
        });
        self.tasks.lock().expect("lock").push(accept.abort_handle());
    }

    /// The server "dies": no listener, every connection dropped.
    pub(crate) fn down(&self) {
        for t in self.tasks.lock().expect("lock").drain(..) {
            t.abort();
        }
    }

    /// The server is back on the same address.
    fn up(&self) {
        let listener = self.rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match tokio::net::TcpListener::bind(self.addr).await {
                    Ok(l) => return l,
                    Err(e) if Instant::now() > deadline => panic!("rebind {}: {e}", self.addr),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        self.serve(listener);
    }
}

/// The S3 server dies mid-run (seen from the job exactly as a killed process: connections cut,
/// then refused) and stays down until the job exits. The units published before stay complete
/// and exact; the units in flight, whose uploads finally failed after object_store's retries,
/// published nothing; the run exits 1 (no manifest could be written). With the server back, a
/// rerun completes every unit exactly.
#[test]
fn s3_server_dies_mid_run_then_rerun_completes() {
    let Some(_) = s3_endpoint("s3_server_dies_mid_run_then_rerun_completes") else {
        return;
    };
    let moto = Moto::start(&[]);
    let bucket = unique_bucket("dies");
    create_bucket(&moto.endpoint, &bucket);
    let proxy = Proxy::start(&moto.endpoint);
    let proxied = proxy.endpoint();

    let t = TestDir::new();
    let ids: Vec<String> = (0..6).map(|i| format!("acc_{i}")).collect();
    let sizes: Vec<u64> = (0..6).map(|i| 300 + i * 400).collect();
    let mut scenario = String::new();
    for (id, n) in ids.iter().zip(&sizes) {
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = {n}\nfollowing = 0\nlatency = \"40ms\"\n"
        ));
    }
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let pairs: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "linkedin")).collect();
    let accounts: String = accounts_toml(&pairs).replace(
        "provider = \"linkedin\"\n",
        "provider = \"linkedin\"\ndatasets = [\"followers\"]\n",
    );
    let job = t.job_with(
        &sim,
        "concurrency = 3",
        &format!("url = \"s3://{bucket}/pp\""),
        &accounts,
    );

    let mut child = spawn_run_env(&job, &[], aws_env(&proxied, KEY_ID, SECRET));
    // Drained as it comes, so a full pipe never blocks the job.
    let mut pipe = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        pipe.read_to_string(&mut s).ok();
        s
    });
    let direct = s3_store(&moto.endpoint, &bucket);
    let published = wait_until(Duration::from_secs(30), || {
        !keys(&direct, "pp/followers").is_empty()
    });
    assert!(published, "a unit was published before the server died");
    proxy.down();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the run ends once its uploads give up"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = reader.join().unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(1),
        "no manifest could be written: exit 1\n{stderr}"
    );

    let dl = t.path().join("after-kill");
    let visible = download(&direct, "pp/followers", &dl.join("followers"));
    let mut complete = 0;
    for (id, n) in ids.iter().zip(&sizes) {
        let dir = partition(&dl, "followers", "linkedin", id);
        if dir.exists() {
            assert_unit_exact(&dl, "followers", "linkedin", id, *n);
            complete += 1;
        }
    }
    assert!(
        complete >= 1 && complete < ids.len(),
        "published before the kill: complete; in flight: nothing. {complete} complete: {visible:#?}\n{stderr}"
    );
    assert!(
        stderr.contains("Unit failed; nothing published."),
        "{stderr}"
    );

    proxy.up();
    run_job_env(&job, &[], &aws_env(&proxied, KEY_ID, SECRET)).expect_code(0, &t.out());
    let dl2 = t.path().join("rerun");
    let got = download(&direct, "pp/followers", &dl2.join("followers"));
    assert_eq!(
        got.len(),
        ids.len(),
        "one part per unit, no leftovers: {got:#?}"
    );
    for (id, n) in ids.iter().zip(&sizes) {
        assert_unit_exact(&dl2, "followers", "linkedin", id, *n);
    }
}
