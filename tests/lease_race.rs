//! Exclusive leases under a race (SPEC §10): two racers, each with a store instance of its own
//! (one of them slowed like an S3 PUT), read the same stale lease and take it over at once,
//! 1,000 times on a local disk and on the S3 test server: exactly one holds it each time.
//! And a store that ignores conditional writes is refused by the preflight.

use crate::s3::{create_bucket, s3_endpoint, s3_store, unique_bucket};
use crate::util::*;
use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use postpress_etl::sink::exclusive::{Leases, Mode, Taken};
use postpress_etl::sink::lease::{Lease, timestamp};
use std::sync::Arc;
use std::time::Duration;

/// How many races per store.
const RACES: usize = 1000;

/// A store whose every call first waits `delay` (about an S3 PUT's latency when slowed), and
/// which can be told to ignore conditional PUTs, as some S3-compatible stores do.
#[derive(Debug)]
struct Slowed {
    inner: Arc<dyn ObjectStore>,
    delay: Duration,
    ignore_conditions: bool,
}

impl std::fmt::Display for Slowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slowed({})", self.inner)
    }
}

impl Slowed {
    async fn pause(&self) {
        if !self.delay.is_zero() {
            // A jittered delay, so the racers interleave differently each time.
            let d = self.delay.mul_f64(2.0 * fastrand::f64());
            tokio::time::sleep(d).await;
        }
    }
}

#[async_trait]
impl ObjectStore for Slowed {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        mut opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.pause().await;
        if self.ignore_conditions {
            opts.mode = PutMode::Overwrite;
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.pause().await;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.pause().await;
        self.inner.copy_opts(from, to, options).await
    }
}

/// A lease of run `run` on another host, renewed 10 minutes ago: stale to everyone.
fn stale(run: &str) -> Lease {
    let mut l = Lease::new("daily", "2026-11-26", None, run, run, chrono::Utc::now());
    l.host = "a-host-that-is-gone".into();
    l.renewed_at = timestamp(chrono::Utc::now() - chrono::Duration::minutes(10));
    l
}

/// A racer's fresh lease. Both racers live in this process, so each names a host of its own:
/// to the other it is a live process elsewhere, not this one under another run.
fn racer(run: &str) -> Lease {
    let mut l = Lease::new("daily", "2026-11-26", None, run, run, chrono::Utc::now());
    l.host = format!("host-{run}");
    l
}

/// Races `a` and `b` for one stale lease `RACES` times (a fresh lease path each time, first
/// written stale through `a`'s store); returns how many races each won. Panics when both or
/// neither hold it.
async fn race(a: Leases, b: Leases, writer: Arc<dyn ObjectStore>, prefix: &str) -> (usize, usize) {
    let mut wins = (0, 0);
    for i in 0..RACES {
        let path = ObjPath::from(format!("{prefix}/race-{i}/_lease.json"));
        let mut dead = stale("dead");
        // Every other race, the stale lease has been written over a few times already.
        dead.generation = (i % 2 * 3) as u64;
        let mut body = serde_json::to_vec(&dead).expect("JSON");
        body.push(b'\n');
        writer.put(&path, body.into()).await.expect("seed lease");
        let (la, lb) = (racer("r-a"), racer("r-b"));
        let (ra, rb) = tokio::join!(a.try_take(&path, la, "r-a"), b.try_take(&path, lb, "r-b"));
        let (ra, rb) = (ra.expect("racer a"), rb.expect("racer b"));
        match (&ra, &rb) {
            (Taken::Held(h), Taken::Live(l)) => {
                assert_eq!((h.lease.holder.as_str(), l.holder.as_str()), ("r-a", "r-a"));
                wins.0 += 1;
            }
            (Taken::Live(l), Taken::Held(h)) => {
                assert_eq!((h.lease.holder.as_str(), l.holder.as_str()), ("r-b", "r-b"));
                wins.1 += 1;
            }
            _ => panic!("race {i}: both or neither hold the lease: {ra:?} / {rb:?}"),
        }
        let stored = a.read(&path).await.expect("read").expect("lease");
        let winner = if matches!(ra, Taken::Held(_)) {
            "r-a"
        } else {
            "r-b"
        };
        assert_eq!(
            stored.holder, winner,
            "race {i}: the stored lease names the winner"
        );
    }
    (wins.0, wins.1)
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// On a local disk: two `LocalFileSystem` instances on one directory, each slowed by 0–2 ms a
/// call, race for a stale lease 1,000 times; exactly one holds it every time, both win some.
#[test]
fn local_leases_are_exclusive_under_a_race() {
    let t = TestDir::new();
    let dir = t.out();
    std::fs::create_dir_all(&dir).expect("mkdir");
    let fs = || -> Arc<dyn ObjectStore> {
        Arc::new(LocalFileSystem::new_with_prefix(&dir).expect("local store"))
    };
    let slowed = || -> Arc<dyn ObjectStore> {
        Arc::new(Slowed {
            inner: fs(),
            delay: Duration::from_millis(1),
            ignore_conditions: false,
        })
    };
    let a = Leases::with_mode(slowed(), Mode::Generation);
    let b = Leases::with_mode(slowed(), Mode::Generation);
    let (wa, wb) = multi_thread().block_on(race(a, b, fs(), "leases"));
    eprintln!("local disk: {RACES} races for one stale lease, won {wa} / {wb}, never both");
    assert_eq!(wa + wb, RACES);
    assert!(wa > 0 && wb > 0, "both racers win some races: {wa} / {wb}");
}

/// On the S3 test server: two S3 clients, each slowed by 0–10 ms a call, race 1,000 times.
#[test]
fn s3_leases_are_exclusive_under_a_race() {
    let Some(endpoint) = s3_endpoint("s3_leases_are_exclusive_under_a_race") else {
        return;
    };
    let bucket = unique_bucket("race");
    create_bucket(&endpoint, &bucket);
    let slowed = || -> Arc<dyn ObjectStore> {
        Arc::new(Slowed {
            inner: s3_store(&endpoint, &bucket),
            delay: Duration::from_millis(5),
            ignore_conditions: false,
        })
    };
    let a = Leases::with_mode(slowed(), Mode::ETag);
    let b = Leases::with_mode(slowed(), Mode::ETag);
    let writer = s3_store(&endpoint, &bucket);
    let (wa, wb) = multi_thread().block_on(race(a, b, writer, "leases"));
    eprintln!("S3 test server: {RACES} races for one stale lease, won {wa} / {wb}, never both");
    assert_eq!(wa + wb, RACES);
    assert!(wa > 0 && wb > 0, "both racers win some races: {wa} / {wb}");
}

/// The race can fail: on a store that ignores conditional writes (every PUT overwrites), two
/// racers do both believe they hold the lease within a few races, and the preflight's check
/// says the store cannot do exclusive leases.
#[test]
fn without_conditional_writes_both_racers_take_the_lease() {
    let t = TestDir::new();
    let dir = t.out();
    std::fs::create_dir_all(&dir).expect("mkdir");
    let ignoring = || -> Arc<dyn ObjectStore> {
        Arc::new(Slowed {
            inner: Arc::new(LocalFileSystem::new_with_prefix(&dir).expect("local store")),
            delay: Duration::from_millis(1),
            ignore_conditions: true,
        })
    };
    let a = Leases::with_mode(ignoring(), Mode::Generation);
    let b = Leases::with_mode(ignoring(), Mode::Generation);
    let both = multi_thread().block_on(async {
        for i in 0..200 {
            let path = ObjPath::from(format!("ignored/race-{i}/_lease.json"));
            let body = serde_json::to_vec(&stale("dead")).expect("JSON");
            ignoring()
                .put(&path, body.into())
                .await
                .expect("seed lease");
            let (ra, rb) = tokio::join!(
                a.try_take(&path, racer("r-a"), "r-a"),
                b.try_take(&path, racer("r-b"), "r-b")
            );
            if matches!((ra, rb), (Ok(Taken::Held(_)), Ok(Taken::Held(_)))) {
                return true;
            }
        }
        false
    });
    assert!(
        both,
        "with conditions ignored, two racers both took the lease at least once"
    );
    let checked = multi_thread().block_on(postpress_etl::sink::exclusive::conditional_writes_work(
        &a,
        &ObjPath::from("ignored/check"),
    ));
    assert!(
        !checked.expect("the check runs"),
        "the check finds the conditions ignored"
    );
    let honoured = Leases::with_mode(
        Arc::new(LocalFileSystem::new_with_prefix(&dir).expect("local store")),
        Mode::Generation,
    );
    let checked = multi_thread().block_on(postpress_etl::sink::exclusive::conditional_writes_work(
        &honoured,
        &ObjPath::from("honoured/check"),
    ));
    assert!(
        checked.expect("the check runs"),
        "a local disk honours them"
    );
}
