//! [`Leases`] over any store: reading a lease with the version a conditional write needs,
//! taking (create-if-absent, or take-over of a stale one), renewing, releasing, and telling a
//! refused write from one whose answer was lost. Each conditional write goes to the way of the
//! store's [`Mode`] (`etag.rs`, `generation.rs`); an advisory write is a plain PUT, here.
//!
//! Knows nothing of how long to wait for a lease or how often to renew one (`wait.rs`, `keep.rs`).

use super::error::{LeaseError, Result, store_error};
use crate::sink::lease::{Lease, timestamp};
use crate::sink::{retry_io, store};
use chrono::Utc;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::sync::Arc;
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

/// What a lease's last read or write was: what the next conditional write is conditional on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Version {
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
    pub(super) version: Version,
}

/// What taking a lease found.
#[derive(Debug, Clone)]
pub enum Taken {
    /// This process holds it now.
    Held(Held),
    /// A live process holds it.
    Live(Lease),
}

/// The leases of one destination.
#[derive(Clone)]
pub struct Leases {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) mode: Mode,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

pub(super) fn encode(lease: &Lease) -> PutPayload {
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
    pub(super) async fn read_versioned(&self, path: &Path) -> Result<Option<(Lease, Version)>> {
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

    pub(super) fn held(&self, path: &Path, lease: Lease, r: object_store::PutResult) -> Held {
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
    pub(super) async fn write_from(
        &self,
        path: &Path,
        from: &Version,
        next: Lease,
    ) -> Result<std::result::Result<Held, Lease>> {
        match (self.mode, from) {
            (Mode::ETag, Version::ETag(v)) => self.write_etag(path, v, next).await,
            (Mode::Generation, Version::Generation(g)) => {
                self.write_generation(path, *g, next).await
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

    /// A conditional write was refused: another process wrote the lease, unless the write
    /// itself went through and only its answer was lost.
    pub(super) async fn refused(
        &self,
        path: &Path,
        next: &Lease,
    ) -> Result<std::result::Result<Held, Lease>> {
        if let Some(held) = self.mine(path, next).await? {
            return Ok(Ok(held));
        }
        let mut current = self.read(path).await?;
        if self.mode == Mode::Generation {
            current = self.winner(path, next, current).await?;
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
}
