//! The local-disk way of writing a lease (`Mode::Generation`). `LocalFileSystem` has no
//! conditional update, so the lease carries a `generation`, and a write from generation `g` first
//! claims `{lease}.g{g+1}` by a hard link (create-if-absent): exactly one of two racers creates
//! it. The winner reads the lease again (still `g`: no one got there first through a claim since
//! removed), writes its lease, and removes the claim two generations back. A claim whose writer
//! died between the two steps is stepped over.
//!
//! Knows claims and `LocalFileSystem`'s create-if-absent; knows nothing of ETags.

use super::error::{Result, store_error};
use super::leases::{Held, Leases, Version, encode};
use crate::sink::lease::{LIVE_FOR, Lease, Process, process_exists};
use crate::sink::{delete_if_exists, retry_io};
use chrono::Utc;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The claim of generation `g` of the lease at `path`.
fn claim(path: &Path, g: u64) -> Path {
    Path::from(format!("{path}.g{g}"))
}

/// Whether an object is a lease's generation claim (`….json.g{N}`).
pub fn is_claim(name: &str) -> bool {
    name.rsplit_once(".g")
        .is_some_and(|(head, n)| head.ends_with(".json") && n.parse::<u64>().is_ok())
}

impl Leases {
    /// Writes `next` over generation `g` of the lease at `path`, through the claim of `g+1`.
    /// `Ok(Err(current))` when another process wrote it since.
    pub(super) async fn write_generation(
        &self,
        path: &Path,
        g: u64,
        mut next: Lease,
    ) -> Result<std::result::Result<Held, Lease>> {
        next.generation = g + 1;
        if !self.claim_next(path, g).await? {
            return self.refused(path, &next).await;
        }
        // Still at g: no claim of g+1 removed since let another through.
        match self.read_versioned(path).await? {
            Some((l, _)) if l.generation == g => {}
            _ => return self.refused(path, &next).await,
        }
        let payload = encode(&next);
        let put = retry_io(&CancellationToken::new(), || {
            self.store.put(path, payload.clone())
        })
        .await;
        if let Err(e) = put {
            return Err(store_error("put", path, e));
        }
        if let Some(old) = g.checked_sub(1) {
            // Two back: every writer that could still try it finds the lease moved on.
            delete_if_exists(self.store.as_ref(), &claim(path, old))
                .await
                .ok();
        }
        let version = Version::Generation(next.generation);
        Ok(Ok(Held {
            path: path.clone(),
            lease: next,
            version,
        }))
    }

    /// Claims generation `g+1` of the lease at `path` (create-if-absent). The claim names its
    /// writer (host and process id). A claim whose writer died between claiming and writing
    /// the lease — a process of this host that no longer exists, or any claim older than
    /// [`LIVE_FOR`] — while the lease is still at `g` is stepped over: the next generation is
    /// claimed instead (the lease then skips one).
    async fn claim_next(&self, path: &Path, g: u64) -> Result<bool> {
        let me = Process::current();
        let body = format!("{} {}\n", me.pid, me.host);
        for n in g + 1..g + 9 {
            let at = claim(path, n);
            let payload = PutPayload::from(body.clone().into_bytes());
            let put = retry_io(&CancellationToken::new(), || {
                self.store
                    .put_opts(&at, payload.clone(), PutOptions::from(PutMode::Create))
            })
            .await;
            match put {
                Ok(_) => return Ok(true),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(store_error("put", &at, e)),
            }
            if !self.claim_abandoned(&at, &me).await {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Whether the claim at `at` was left by a writer that died before writing the lease.
    async fn claim_abandoned(&self, at: &Path, me: &Process) -> bool {
        let Ok(got) = self.store.get(at).await else {
            return false;
        };
        let old = Utc::now() - got.meta.last_modified
            > chrono::Duration::from_std(LIVE_FOR).unwrap_or(chrono::Duration::MAX);
        let Ok(bytes) = got.bytes().await else {
            return old;
        };
        let text = String::from_utf8_lossy(&bytes);
        let gone = text
            .trim()
            .split_once(' ')
            .and_then(|(pid, host)| Some((pid.parse::<u32>().ok()?, host)))
            .is_some_and(|(pid, host)| host == me.host && pid != me.pid && !process_exists(pid));
        old || gone
    }

    /// The lease after a refused write from `current`: the winner claimed the next generation
    /// and is writing it, so for up to a second, read until it is there, to report who won rather
    /// than the stale lease.
    pub(super) async fn winner(
        &self,
        path: &Path,
        next: &Lease,
        mut current: Option<Lease>,
    ) -> Result<Option<Lease>> {
        for _ in 0..20 {
            if current
                .as_ref()
                .is_none_or(|l| l.generation >= next.generation)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            current = self.read(path).await?;
        }
        Ok(current)
    }
}
