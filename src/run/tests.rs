//! The run's concurrency, against the simulator served in process over loopback HTTP and a
//! destination whose publish step waits for the test: nothing here depends on timing.

use super::*;
use crate::job::LoadOptions;
use arrow_array::cast::AsArray;
use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use postpress_sim::{AccountConfig, Sim, SimConfig};
use serde_json::Value;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "pp_test_run_concurrency";
const SEED: u64 = 42;
const FOLLOWERS: u64 = 30;

/// An in-memory store whose copies, the step that publishes a part, wait until the test opens
/// the gate; it counts the copies waiting.
#[derive(Debug)]
struct GatedStore {
    inner: InMemory,
    gate: Semaphore,
    waiting: AtomicUsize,
}

impl std::fmt::Display for GatedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GatedStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for GatedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.waiting.fetch_add(1, Relaxed);
        let permit = self.gate.acquire().await;
        self.waiting.fetch_sub(1, Relaxed);
        drop(permit);
        self.inner.copy_opts(from, to, options).await
    }
}

/// The simulator with `n` LinkedIn accounts of one page of followers each, served until the
/// returned sender is dropped.
async fn start_sim(n: usize) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut config = SimConfig::new(KEY);
    config.seed = SEED;
    config.accounts = (0..n)
        .map(|i| AccountConfig {
            id: account(i),
            provider: postpress_sim::Provider::Linkedin,
            followers: FOLLOWERS,
            following: 0,
            latency: None,
            short_pages: false,
            churn: None,
            faults: Vec::new(),
        })
        .collect();
    let sim = Sim::bind(config).await.expect("the simulator binds");
    let url = format!("http://{}", sim.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sim.serve(async {
        stopped.await.ok();
    }));
    (url, stop)
}

fn account(i: usize) -> String {
    format!("acc_linkedin_{i:04}")
}

/// `GET /_sim/stats`.
async fn sim_stats(url: &str) -> Value {
    let host = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
    s.write_all(format!("GET /_sim/stats HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.expect("read");
    let (_, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    serde_json::from_str(body).expect("stats are JSON")
}

/// A job over accounts `0..n`, followers only.
fn job(url: &str, out: &std::path::Path, n: usize, concurrency: usize) -> Job {
    let mut text = format!(
        "name = \"gated\"\n[api]\nbase_url = \"{url}/api/v1\"\n[fetch]\nconcurrency = \
         {concurrency}\nrequests_per_second = 1000.0\naccount_requests_per_minute = 60000.0\n\
         [output]\nurl = \"{}\"\n",
        out.display()
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[accounts]]\naccount_id = \"{}\"\nprovider = \"linkedin\"\ndatasets = [\"followers\"]\n",
            account(i)
        ));
    }
    let opts = LoadOptions {
        api_key_env: Some(KEY.to_owned()),
        require_api_key: true,
        ..LoadOptions::default()
    };
    Job::from_toml(std::path::Path::new("job.toml"), &text, &opts).expect("a valid job")
}

/// Waits until `cond` holds, up to a minute.
async fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..6000 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// The follower ids of a published unit, in position order, read back from the store.
async fn published_ids(store: &InMemory, ctx: &RunCtx, account_id: &str) -> Vec<String> {
    let key = crate::sink::layout::PartitionKey {
        dataset: crate::model::Dataset::Followers,
        provider: crate::model::Provider::Linkedin,
        snapshot_date: &ctx.out.snapshot_date,
        account_id,
    };
    let path = ctx
        .out
        .layout
        .part(crate::sink::layout::Area::Final, &key, 0);
    let bytes = store
        .get(&path)
        .await
        .expect("published")
        .bytes()
        .await
        .expect("read");
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("Parquet")
        .build()
        .expect("reader");
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let col = batch.column_by_name("id").expect("an id column");
        ids.extend(
            col.as_string::<i32>()
                .iter()
                .map(|v| v.expect("id").to_owned()),
        );
    }
    ids
}

/// Issue 14: a unit waiting for its files to be published does not hold a fetch slot. With
/// every publish held, units past the `concurrency` fetching ones still fetch, up to the
/// publish backlog and no further; once the publishes go through, every unit is published
/// with exactly the simulator's list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_publishing_does_not_hold_a_fetch_slot() {
    let (units_n, concurrency) = (6, 2);
    let (url, _sim) = start_sim(units_n).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job(&url, dir.path(), units_n, concurrency);
    let opts = RunOptions {
        snapshot_date: "2026-11-26"
            .parse::<crate::model::SnapshotDate>()
            .expect("date")
            .date(),
        shard: None,
        concurrency: None,
        progress: ProgressMode::Off,
        skip_published: false,
        before_tables: None,
    };
    let mut ctx = setup(&job, &opts, &Stop::new(), concurrency, units_n)
        .await
        .expect("setup");
    let gated = Arc::new(GatedStore {
        inner: InMemory::new(),
        gate: Semaphore::new(0),
        waiting: AtomicUsize::new(0),
    });
    ctx.out.dest.store = gated.clone();
    let ctx = Arc::new(ctx);
    let run = tokio::spawn({
        let ctx = ctx.clone();
        let units = plan(&job, None)
            .into_iter()
            .enumerate()
            .map(|(i, u)| (i, u, super::resume::Start::Fresh))
            .collect();
        async move { run_units(&ctx, units, concurrency).await }
    });

    let at_once = units_at_once(concurrency);
    assert_eq!(at_once, 4);
    let all_waiting = wait_for(|| gated.waiting.load(Relaxed) == at_once).await;
    assert!(
        all_waiting,
        "{} units wait to publish, not {at_once}: waiting units hold their fetch slots",
        gated.waiting.load(Relaxed)
    );
    // Every unit that exists waits to publish, so none can fetch: the simulator saw exactly
    // their pages, the first units of the plan.
    let stats = sim_stats(&url).await;
    assert_eq!(stats["pages"], at_once as u64, "{stats:#}");
    let fetched: Vec<&String> = stats["accounts"]
        .as_object()
        .expect("accounts")
        .keys()
        .collect();
    let first: Vec<String> = (0..at_once).map(account).collect();
    assert_eq!(fetched, first.iter().collect::<Vec<_>>());

    gated.gate.add_permits(units_n);
    let reports = run.await.expect("the run's task");
    assert_eq!(reports.len(), units_n);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.account_id, account(i));
        assert_eq!(r.status, UnitStatus::Ok, "{r:?}");
        assert_eq!(r.records, FOLLOWERS);
        let expected = postpress_sim::expected_keys(
            SEED,
            postpress_sim::Provider::Linkedin,
            postpress_sim::Dataset::Followers,
            &account(i),
            FOLLOWERS,
            0.0,
            0,
        );
        assert_eq!(
            published_ids(&gated.inner, &ctx, &account(i)).await,
            expected
        );
    }
    assert_eq!(sim_stats(&url).await["pages"], units_n as u64);
}
