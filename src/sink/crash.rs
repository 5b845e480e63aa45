//! Crash points, for tests only (the `crash-points` cargo feature, never in a release build or
//! the image): the destination's store is wrapped so that the process aborts just before or
//! just after its N-th write, rename, copy or delete. `POSTPRESS_CRASH_AT=N` picks the operation
//! (1-based), `POSTPRESS_CRASH_WHEN=before|after` (default before) the moment, and
//! `POSTPRESS_CRASH_LOG=FILE` appends one line per operation (`N op path`), so a test learns
//! how many a clean run has. The local clean-up that removes a staging directory tree directly
//! is one operation ([`point`]).
//!
//! Knows object stores; nothing about runs.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNT: AtomicU64 = AtomicU64::new(0);

fn chosen() -> (Option<u64>, bool) {
    let at = std::env::var("POSTPRESS_CRASH_AT")
        .ok()
        .and_then(|v| v.parse().ok());
    let after = std::env::var("POSTPRESS_CRASH_WHEN").is_ok_and(|w| w == "after");
    (at, after)
}

/// Counts one destination operation about to start, and aborts the process when it is the
/// chosen one and the moment is "before". Returns its number.
fn before(op: &str, path: &str) -> u64 {
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if let Ok(log) = std::env::var("POSTPRESS_CRASH_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
    {
        writeln!(f, "{n} {op} {path}").ok();
    }
    if chosen() == (Some(n), false) {
        eprintln!("crash point: aborting before operation {n} ({op} {path})");
        std::process::abort();
    }
    n
}

/// Operation `n` ended: aborts the process when it is the chosen one and the moment "after".
fn after(n: u64, op: &str, path: &str) {
    if chosen() == (Some(n), true) {
        eprintln!("crash point: aborting after operation {n} ({op} {path})");
        std::process::abort();
    }
}

/// A destination operation done outside the store (a local directory tree removed whole):
/// `f` is run between its two crash points.
pub fn point<T>(op: &str, path: &str, f: impl FnOnce() -> T) -> T {
    let n = before(op, path);
    let r = f();
    after(n, op, path);
    r
}

/// Wraps `store` when `POSTPRESS_CRASH_AT` or `POSTPRESS_CRASH_LOG` is set.
pub fn wrap(store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    if std::env::var_os("POSTPRESS_CRASH_AT").is_none()
        && std::env::var_os("POSTPRESS_CRASH_LOG").is_none()
    {
        return store;
    }
    Arc::new(Crashing { inner: store })
}

#[derive(Debug)]
struct Crashing {
    inner: Arc<dyn ObjectStore>,
}

impl std::fmt::Display for Crashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crashing({})", self.inner)
    }
}

#[derive(Debug)]
struct CrashingUpload {
    inner: Box<dyn MultipartUpload>,
    path: String,
}

#[async_trait]
impl MultipartUpload for CrashingUpload {
    fn put_part(&mut self, data: PutPayload) -> object_store::UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let n = before("put", &self.path);
        let r = self.inner.complete().await;
        after(n, "put", &self.path);
        r
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for Crashing {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let n = before("put", location.as_ref());
        let r = self.inner.put_opts(location, payload, opts).await;
        after(n, "put", location.as_ref());
        r
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CrashingUpload {
            inner,
            path: location.to_string(),
        }))
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
        // One path at a time, so each deletion is a crash point of its own.
        let inner = self.inner.clone();
        locations
            .then(move |p| {
                let inner = inner.clone();
                async move {
                    let p = p?;
                    let n = before("delete", p.as_ref());
                    let one = futures::stream::iter([Ok(p.clone())]).boxed();
                    let r = inner
                        .delete_stream(one)
                        .next()
                        .await
                        .unwrap_or(Ok(p.clone()));
                    after(n, "delete", p.as_ref());
                    r
                }
            })
            .boxed()
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
        let n = before("copy", to.as_ref());
        let r = self.inner.copy_opts(from, to, options).await;
        after(n, "copy", to.as_ref());
        r
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let n = before("rename", to.as_ref());
        let r = self.inner.rename_opts(from, to, options).await;
        after(n, "rename", to.as_ref());
        r
    }
}
