//! The S3 destination against a real S3-compatible server on loopback (moto, installed and
//! started by `make test` through scripts/s3-server.sh):
//!
//! * `export` — the export of the local-disk tests' scenario read back object by object, and a
//!   unit uploaded in several multipart parts;
//! * `preflight` — destinations refused before any API request: a missing bucket, an unreachable
//!   endpoint, wrong credentials;
//! * `outage` — the server dying in the middle of a run, then a rerun.
//!
//! Gated by `POSTPRESS_S3_TESTS`: without it each test prints why it skipped and passes.
//! `make test` sets it together with the server's `AWS_*` variables. Every test creates its own
//! bucket; the tests that need a server of their own (credential checks, a dying server) start a
//! private moto on a free port (`moto`), the dying one behind a proxy that can cut it off
//! (`proxy`). This module holds the helpers every S3 test of the binary shares.

mod export;
mod moto;
mod outage;
mod preflight;
mod proxy;

pub(crate) use moto::Moto;
pub(crate) use proxy::Proxy;

use crate::util::*;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// paths, so the local-disk readers of tests/util/read.rs read what S3 holds.
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
