//! Exclusive leases (SPEC §10): the one lease primitive of the output — take, renew, take over
//! once stale, release, and wait while another holds it — for staging areas, a run's (job, date,
//! shard), a finalize's date and the output's lifecycle alike.
//!
//! Every write of a lease is conditional, so two processes can never both believe they hold it,
//! even when both read the same stale lease at once:
//!
//! * **S3**: taking is a create-if-absent PUT (`If-None-Match: *`, [`PutMode::Create`]);
//!   renewing, taking over and releasing are PUTs conditional on the ETag last read
//!   (`If-Match`, [`PutMode::Update`]).
//! * **A local disk**: taking is a hard link of a fresh file (object_store's [`PutMode::Create`]
//!   on `LocalFileSystem`). `LocalFileSystem` has no conditional update, so the lease carries a
//!   `generation`, and a write from generation `g` first creates the claim `{lease}.g{g+1}` by
//!   a hard link (create-if-absent): exactly one of two racers creates it. The winner reads the
//!   lease again (still `g`: no one got there first through a claim since removed), then renames
//!   its lease into place and removes the claim two generations back. A claim left by a process
//!   that died between the two steps is stepped over once it is older than [`LIVE_FOR`].
//! * **Advisory** (a store without conditional writes, where the job opted out with
//!   `output.exclusive_leases = false`): plain PUTs, as before this module.
//!
//! A PUT whose answer was lost and that object_store sent again can come back "precondition
//! failed" although it was applied: each lease carries a random `token`, and a write that seems
//! refused is checked by reading the lease back.
//!
//! Knows leases and object stores; knows nothing about runs, units or dates.

use super::lease::{LIVE_FOR, Lease, timestamp};
use super::{Cause, SinkError, retry_io, store};
use chrono::Utc;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a store's leases are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// S3: create-if-absent and `If-Match` PUTs.
    ETag,
    /// A local disk: create-if-absent and generation claims by hard link.
    Generation,
    /// Plain PUTs: the store cannot write conditionally and the job opted out.
    Advisory,
}

/// A lease failure.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// A storage call failed.
    #[error(transparent)]
    Store(#[from] SinkError),
    /// Another process took the lease: this one no longer holds it.
    #[error("the lease {path} was taken by {by}")]
    Lost {
        /// The lease.
        path: String,
        /// Who holds it now.
        by: String,
    },
    /// Still held by a live process when the wait ended.
    #[error("the lease {path} is still held by {holder} after waiting {waited_s} s")]
    TimedOut {
        /// The lease.
        path: String,
        /// Who holds it.
        holder: String,
        /// How long this process waited.
        waited_s: u64,
    },
    /// The process is stopping.
    #[error("stopped while waiting for the lease {path}")]
    Cancelled {
        /// The lease.
        path: String,
    },
}

/// Result alias of this module.
pub type Result<T, E = LeaseError> = std::result::Result<T, E>;

/// What a lease's last read or write was: what the next conditional write is conditional on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    ETag(UpdateVersion),
    Generation(u64),
    None,
}

/// A lease this process holds.
#[derive(Debug, Clone)]
pub struct Held {
    /// Where it is.
    pub path: Path,
    /// What it says (as last written).
    pub lease: Lease,
    version: Version,
}

/// What taking a lease found.
#[derive(Debug, Clone)]
pub enum Taken {
    /// This process holds it now.
    Held(Held),
    /// A live process holds it.
    Live(Lease),
}

/// How long and how often [`Leases::take_waiting`] waits.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// At most this long.
    pub bound: Duration,
    /// Reads the lease this often.
    pub poll: Duration,
    /// Logs whom it waits for this often.
    pub log_every: Duration,
}

/// How long a run or finalize waits for a lease another holds (SPEC §10: up to 1 hour).
pub const WRITER_WAIT: Duration = Duration::from_secs(3600);

impl Wait {
    /// How a run, finalize or lifecycle command waits for a lease held by another: at most
    /// `bound`, reading it every 2 s and logging whom it waits for every 30 s.
    pub fn up_to(bound: Duration) -> Wait {
        Wait {
            bound,
            poll: Duration::from_secs(2),
            log_every: Duration::from_secs(30),
        }
    }
}

/// The leases of one destination.
#[derive(Clone)]
pub struct Leases {
    store: Arc<dyn ObjectStore>,
    mode: Mode,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

fn store_error(op: &'static str, path: &Path, e: object_store::Error) -> LeaseError {
    LeaseError::Store(SinkError::Store {
        op,
        path: path.to_string(),
        source: Cause(e),
    })
}

/// The claim of generation `g` of the lease at `path`.
fn claim(path: &Path, g: u64) -> Path {
    Path::from(format!("{path}.g{g}"))
}

/// Whether an object is a lease's generation claim (`….json.g{N}`).
pub fn is_claim(name: &str) -> bool {
    name.rsplit_once(".g")
        .is_some_and(|(head, n)| head.ends_with(".json") && n.parse::<u64>().is_ok())
}

fn encode(lease: &Lease) -> PutPayload {
    let mut bytes = serde_json::to_vec_pretty(lease).unwrap_or_default();
    bytes.push(b'\n');
    PutPayload::from(bytes)
}

impl Leases {
    /// The leases of `dest`, written the way its store can: conditional unless `exclusive` is
    /// false (the job's `output.exclusive_leases`).
    pub fn new(dest: &store::Destination, exclusive: bool) -> Leases {
        let mode = match (&dest.target, exclusive) {
            (_, false) => Mode::Advisory,
            (store::Target::S3 { .. }, true) => Mode::ETag,
            (store::Target::Local { .. }, true) => Mode::Generation,
        };
        Leases::with_mode(dest.store.clone(), mode)
    }

    /// The leases of `store`, written in `mode`.
    pub fn with_mode(store: Arc<dyn ObjectStore>, mode: Mode) -> Leases {
        Leases { store, mode }
    }

    /// How leases are written here.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Reads a lease and the version a conditional write needs. `None` when there is none; a
    /// lease that is not valid JSON is logged and counts as an expired one.
    async fn read_versioned(&self, path: &Path) -> Result<Option<(Lease, Version)>> {
        let got = retry_io(&CancellationToken::new(), || async {
            match self.store.get(path).await {
                Ok(r) => {
                    let meta = r.meta.clone();
                    r.bytes().await.map(|b| Some((b, meta)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| store_error("get", path, e))?;
        let Some((bytes, meta)) = got else {
            return Ok(None);
        };
        let lease: Lease = match serde_json::from_slice(&bytes) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(lease = %path, error = %e, "A lease is not valid JSON; it counts as expired.");
                let mut l = Lease::new("", "", None, "", "unreadable", Utc::now());
                l.renewed_at = String::new();
                l.host = String::new();
                l
            }
        };
        let version = match self.mode {
            Mode::ETag => Version::ETag(UpdateVersion {
                e_tag: meta.e_tag,
                version: meta.version,
            }),
            Mode::Generation => Version::Generation(lease.generation),
            Mode::Advisory => Version::None,
        };
        Ok(Some((lease, version)))
    }

    /// Checks that leases can be exclusive here (SPEC §10): the store refuses a second
    /// create-if-absent and, on S3, a write conditional on a wrong ETag. Nothing to check when
    /// the job opted out (advisory leases).
    pub async fn preflight(
        &self,
        dest: &store::Destination,
        marker: &Path,
    ) -> std::result::Result<(), store::PreflightError> {
        if self.mode() == Mode::Advisory {
            return Ok(());
        }
        let source = match conditional_writes_work(self, marker).await {
            Ok(true) => return Ok(()),
            Ok(false) => super::SinkError::NoConditionalWrites {
                path: marker.to_string(),
            },
            Err(LeaseError::Store(e)) => e,
            Err(e) => super::SinkError::Store {
                op: "put",
                path: marker.to_string(),
                source: super::Cause(object_store::Error::Generic {
                    store: "lease check",
                    source: Box::new(e),
                }),
            },
        };
        let cause = match (&source, &dest.target) {
            (super::SinkError::NoConditionalWrites { .. }, store::Target::Local { dir }) => {
                store::PreflightCause::NoConditionalWrites {
                    target: format!("output directory {dir}"),
                }
            }
            _ => dest.diagnose(&source),
        };
        Err(store::PreflightError { cause, source })
    }

    /// Reads a lease (without its version). `None` when there is none.
    pub async fn read(&self, path: &Path) -> Result<Option<Lease>> {
        Ok(self.read_versioned(path).await?.map(|(l, _)| l))
    }

    /// Takes the lease at `path` for `fresh` (its holder run `my_run`): creates it when there is
    /// none, takes it over when it is stale, and reports it live otherwise. Exactly one of two
    /// processes taking one lease at once gets [`Taken::Held`].
    pub async fn try_take(&self, path: &Path, fresh: Lease, my_run: &str) -> Result<Taken> {
        // A few rounds: a lease removed between a failed create and the read is created again.
        for _ in 0..4 {
            if let Some(held) = self.create(path, fresh.clone()).await? {
                return Ok(Taken::Held(held));
            }
            let Some((current, version)) = self.read_versioned(path).await? else {
                continue;
            };
            if current.liveness_now(my_run).is_live() {
                return Ok(Taken::Live(current));
            }
            let mut next = fresh.clone();
            next.acquired_at = timestamp(Utc::now());
            next.renewed_at = next.acquired_at.clone();
            return match self.write_from(path, &version, next).await? {
                Ok(held) => Ok(Taken::Held(held)),
                Err(now) => Ok(Taken::Live(now)),
            };
        }
        Err(LeaseError::Lost {
            path: path.to_string(),
            by: "a process that keeps removing and creating it".to_owned(),
        })
    }

    /// Creates the lease where there is none. `None` when one exists.
    async fn create(&self, path: &Path, mut lease: Lease) -> Result<Option<Held>> {
        lease.generation = 0;
        let mode = match self.mode {
            Mode::Advisory => {
                if self.read_versioned(path).await?.is_some() {
                    return Ok(None);
                }
                PutMode::Overwrite
            }
            Mode::ETag | Mode::Generation => PutMode::Create,
        };
        let payload = encode(&lease);
        let put = retry_io(&CancellationToken::new(), || {
            self.store
                .put_opts(path, payload.clone(), PutOptions::from(mode.clone()))
        })
        .await;
        match put {
            Ok(r) => Ok(Some(self.held(path, lease, r))),
            Err(object_store::Error::AlreadyExists { .. }) => {
                // A create sent again after its answer was lost finds itself.
                Ok(self.mine(path, &lease).await?)
            }
            Err(e) => Err(store_error("put", path, e)),
        }
    }

    fn held(&self, path: &Path, lease: Lease, r: object_store::PutResult) -> Held {
        let version = match self.mode {
            Mode::ETag => Version::ETag(UpdateVersion::from(r)),
            Mode::Generation => Version::Generation(lease.generation),
            Mode::Advisory => Version::None,
        };
        Held {
            path: path.clone(),
            lease,
            version,
        }
    }

    /// The lease as held, when what is stored is exactly `lease` (same token, same renewal).
    async fn mine(&self, path: &Path, lease: &Lease) -> Result<Option<Held>> {
        Ok(match self.read_versioned(path).await? {
            Some((l, version))
                if l.token == lease.token
                    && l.renewed_at == lease.renewed_at
                    && l.released_at == lease.released_at =>
            {
                Some(Held {
                    path: path.clone(),
                    lease: l,
                    version,
                })
            }
            _ => None,
        })
    }

    /// Writes `next` over the version `from` of the lease at `path`. `Ok(Err(current))` when
    /// another process wrote it since.
    async fn write_from(
        &self,
        path: &Path,
        from: &Version,
        mut next: Lease,
    ) -> Result<std::result::Result<Held, Lease>> {
        match (self.mode, from) {
            (Mode::ETag, Version::ETag(v)) => {
                let payload = encode(&next);
                let opts = PutOptions::from(PutMode::Update(v.clone()));
                let put = retry_io(&CancellationToken::new(), || {
                    self.store.put_opts(path, payload.clone(), opts.clone())
                })
                .await;
                match put {
                    Ok(r) => Ok(Ok(self.held(path, next, r))),
                    Err(
                        object_store::Error::Precondition { .. }
                        | object_store::Error::NotFound { .. },
                    ) => self.refused(path, &next).await,
                    Err(e) => Err(store_error("put", path, e)),
                }
            }
            (Mode::Generation, Version::Generation(g)) => {
                next.generation = g + 1;
                if !self.claim_next(path, *g).await? {
                    return self.refused(path, &next).await;
                }
                // Still at g: no claim of g+1 removed since let another through.
                match self.read_versioned(path).await? {
                    Some((l, _)) if l.generation == *g => {}
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
                    super::delete_if_exists(self.store.as_ref(), &claim(path, old))
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
            _ => {
                let payload = encode(&next);
                retry_io(&CancellationToken::new(), || {
                    self.store.put(path, payload.clone())
                })
                .await
                .map_err(|e| store_error("put", path, e))?;
                Ok(Ok(Held {
                    path: path.clone(),
                    lease: next,
                    version: Version::None,
                }))
            }
        }
    }

    /// Claims generation `g+1` of the lease at `path` (create-if-absent). The claim names its
    /// writer (host and process id). A claim whose writer died between claiming and writing
    /// the lease — a process of this host that no longer exists, or any claim older than
    /// [`LIVE_FOR`] — while the lease is still at `g` is stepped over: the next generation is
    /// claimed instead (the lease then skips one).
    async fn claim_next(&self, path: &Path, g: u64) -> Result<bool> {
        let me = super::lease::Process::current();
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
    async fn claim_abandoned(&self, at: &Path, me: &super::lease::Process) -> bool {
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
            .is_some_and(|(pid, host)| {
                host == me.host && pid != me.pid && !super::lease::process_exists(pid)
            });
        old || gone
    }

    /// A conditional write was refused: another process wrote the lease, unless the write
    /// itself went through and only its answer was lost.
    async fn refused(&self, path: &Path, next: &Lease) -> Result<std::result::Result<Held, Lease>> {
        if let Some(held) = self.mine(path, next).await? {
            return Ok(Ok(held));
        }
        let mut current = self.read(path).await?;
        if self.mode == Mode::Generation {
            // The winner claimed the next generation and is writing it: for up to a second, read
            // until it is there, to report who won rather than the stale lease.
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
        }
        Ok(Err(current.unwrap_or_else(|| next.clone())))
    }

    /// Renews a held lease: a write conditional on the last one. [`LeaseError::Lost`] when
    /// another process took it meanwhile (this one looked stale).
    pub async fn renew(&self, held: &mut Held) -> Result<()> {
        let mut next = held.lease.clone();
        next.renewed_at = timestamp(Utc::now());
        self.replace(held, next).await
    }

    /// Releases a held lease: marks it released (a released lease is stale to everyone) with a
    /// write conditional on the last one.
    pub async fn release(&self, mut held: Held) -> Result<()> {
        let mut next = held.lease.clone();
        let now = timestamp(Utc::now());
        next.renewed_at = now.clone();
        next.released_at = Some(now);
        self.replace(&mut held, next).await
    }

    /// Rewrites a held lease with `next` (same token), conditional on the last write.
    pub async fn replace(&self, held: &mut Held, next: Lease) -> Result<()> {
        match self.write_from(&held.path, &held.version, next).await? {
            Ok(h) => {
                *held = h;
                Ok(())
            }
            Err(now) => Err(LeaseError::Lost {
                path: held.path.to_string(),
                by: now.describe(),
            }),
        }
    }

    /// Takes the lease at `path`, waiting while a live process holds it: reads it every
    /// `wait.poll`, logs whom it waits for every `wait.log_every`, and gives up after
    /// `wait.bound` ([`LeaseError::TimedOut`]) or when `halt` is cancelled.
    pub async fn take_waiting(
        &self,
        path: &Path,
        fresh: Lease,
        my_run: &str,
        what: &str,
        wait: Wait,
        halt: &CancellationToken,
    ) -> Result<Held> {
        let started = tokio::time::Instant::now();
        let mut logged: Option<tokio::time::Instant> = None;
        loop {
            let holder = match self.try_take(path, fresh.clone(), my_run).await? {
                Taken::Held(h) => {
                    if logged.is_some() {
                        tracing::info!(lease = %path, waited_s = started.elapsed().as_secs(),
                            "The {what} lease is free; going on.");
                    }
                    return Ok(h);
                }
                Taken::Live(l) => l,
            };
            let waited = started.elapsed();
            if waited >= wait.bound {
                return Err(LeaseError::TimedOut {
                    path: path.to_string(),
                    holder: holder.describe(),
                    waited_s: waited.as_secs(),
                });
            }
            if logged.is_none_or(|t| t.elapsed() >= wait.log_every) {
                logged = Some(tokio::time::Instant::now());
                tracing::warn!(lease = %path, holder = %holder.describe(), waited_s = waited.as_secs(),
                    bound_s = wait.bound.as_secs(),
                    "Another process holds the {what} lease; waiting for it to end.");
            }
            tokio::select! {
                () = tokio::time::sleep(wait.poll) => {}
                () = halt.cancelled() => return Err(LeaseError::Cancelled { path: path.to_string() }),
            }
        }
    }
}

/// A held lease renewed in the background until released: see [`Leases::keep`].
pub struct Kept {
    held: Arc<tokio::sync::Mutex<Held>>,
    leases: Leases,
    stop: CancellationToken,
    lost: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept").finish_non_exhaustive()
    }
}

impl Leases {
    /// Keeps `held`: renews it every `every` until [`Kept::release`]. A renewal that finds the
    /// lease taken by another process (this one looked stale) logs it and cancels
    /// [`Kept::lost`]; one that fails to reach the store is logged and tried again next time.
    pub fn keep(&self, held: Held, every: Duration) -> Kept {
        let held = Arc::new(tokio::sync::Mutex::new(held));
        let stop = CancellationToken::new();
        let lost = CancellationToken::new();
        let task = tokio::spawn({
            let (held, stop, lost, leases) =
                (held.clone(), stop.clone(), lost.clone(), self.clone());
            async move {
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        () = stop.cancelled() => return,
                    }
                    let mut h = held.lock().await;
                    match leases.renew(&mut h).await {
                        Ok(()) => tracing::debug!(lease = %h.path, "Lease renewed."),
                        Err(e @ LeaseError::Lost { .. }) => {
                            tracing::error!(error = %e, "A lease this process held was taken over.");
                            lost.cancel();
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(error = %crate::error_chain(&e), lease = %h.path,
                                "A lease could not be renewed; trying again at the next renewal.");
                        }
                    }
                }
            }
        });
        Kept {
            held,
            leases: self.clone(),
            stop,
            lost,
            task,
        }
    }
}

impl Kept {
    /// Cancelled when another process took the lease.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// The lease as last written.
    pub async fn lease(&self) -> Lease {
        self.held.lock().await.lease.clone()
    }

    /// Stops renewing and releases the lease (unless it was lost).
    pub async fn release(self) -> Result<()> {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "A lease renewal task ended abnormally.");
        }
        if self.lost.is_cancelled() {
            return Ok(());
        }
        let held = self.held.lock().await.clone();
        self.leases.release(held).await
    }
}

/// Whether the store behind `leases` writes conditionally, tried on `marker` (created, created
/// again, for S3 updated with a wrong ETag, then deleted). `Ok(false)` when a write that must be
/// refused was not: the store ignores the conditions, and leases on it cannot be exclusive.
pub async fn conditional_writes_work(leases: &Leases, marker: &Path) -> Result<bool> {
    let store = leases.store.as_ref();
    let create = || {
        store.put_opts(
            marker,
            PutPayload::from_static(b"postpress-etl lease check\n"),
            PutOptions::from(PutMode::Create),
        )
    };
    let mut works = match create().await {
        Ok(_) => true,
        Err(object_store::Error::AlreadyExists { .. }) => true,
        Err(
            object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. },
        ) => {
            return Ok(false);
        }
        Err(e) => return Err(store_error("put", marker, e)),
    };
    match create().await {
        Err(object_store::Error::AlreadyExists { .. }) => {}
        Ok(_) => works = false,
        Err(
            object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. },
        ) => works = false,
        Err(e) => return Err(store_error("put", marker, e)),
    }
    if works && leases.mode == Mode::ETag {
        let wrong = PutMode::Update(UpdateVersion {
            e_tag: Some("\"postpress-etl-no-such-etag\"".to_owned()),
            version: None,
        });
        match store
            .put_opts(
                marker,
                PutPayload::from_static(b"x\n"),
                PutOptions::from(wrong),
            )
            .await
        {
            Err(object_store::Error::Precondition { .. }) => {}
            Ok(_) => works = false,
            Err(
                object_store::Error::NotImplemented { .. }
                | object_store::Error::NotSupported { .. },
            ) => works = false,
            Err(e) => return Err(store_error("put", marker, e)),
        }
    }
    super::delete_if_exists(store, marker).await?;
    Ok(works)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn lease(run: &str, host: &str) -> Lease {
        let mut l = Lease::new("daily", "2026-11-26", None, "run", run, Utc::now());
        l.host = host.to_owned();
        l
    }

    /// A waiter facing a live lease logs and polls until its bound, then names the holder; no
    /// real time passes.
    #[tokio::test(start_paused = true)]
    async fn a_live_lease_is_waited_for_until_the_bound() {
        let leases = Leases::with_mode(Arc::new(InMemory::new()), Mode::ETag);
        let path = Path::from("_leases/run/daily.json");
        let Taken::Held(_first) = leases
            .try_take(&path, lease("r1", "host-1"), "r1")
            .await
            .expect("take")
        else {
            panic!("the first take holds it");
        };
        let wait = Wait {
            bound: Duration::from_secs(60),
            poll: Duration::from_secs(2),
            log_every: Duration::from_secs(30),
        };
        let started = tokio::time::Instant::now();
        let e = leases
            .take_waiting(
                &path,
                lease("r2", "host-2"),
                "r2",
                "run",
                wait,
                &CancellationToken::new(),
            )
            .await
            .expect_err("still held");
        assert!(
            matches!(&e, LeaseError::TimedOut { holder, .. } if holder.contains("run r1")),
            "{e}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    /// A kept lease taken over by another process (after it looked stale) is reported lost at
    /// the next renewal, and its release then leaves the new holder's lease alone.
    #[tokio::test(start_paused = true)]
    async fn a_kept_lease_taken_over_is_reported_lost() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let leases = Leases::with_mode(store.clone(), Mode::ETag);
        let path = Path::from("_leases/finalize/snapshot_date=2026-11-26.json");
        let Taken::Held(held) = leases
            .try_take(&path, lease("r1", "host-1"), "r1")
            .await
            .expect("take")
        else {
            panic!("the first take holds it");
        };
        let kept = leases.keep(held, Duration::from_secs(30));
        // Another process writes over it, as a take-over of a stale lease would.
        let other = Leases::with_mode(store, Mode::ETag);
        let (current, version) = other
            .read_versioned(&path)
            .await
            .expect("read")
            .expect("lease");
        let mut next = lease("r2", "host-2");
        next.acquired_at = current.acquired_at.clone();
        other
            .write_from(&path, &version, next)
            .await
            .expect("write")
            .expect("the conditional write wins");
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert!(kept.lost().is_cancelled(), "the renewal found it taken");
        kept.release().await.expect("release");
        let now = leases.read(&path).await.expect("read").expect("lease");
        assert_eq!((now.holder.as_str(), now.released_at), ("r2", None));
    }
}
