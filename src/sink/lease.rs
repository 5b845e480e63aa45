//! Staging area leases (SPEC §10): a small JSON file at the top of an area naming the job,
//! snapshot date and shard the area belongs to, and the process writing into it (host, process
//! id, time). The holder renews it every [`RENEW_EVERY`]; it is live while renewed less than
//! [`LIVE_FOR`] ago, unless it names this host and a process that no longer exists, and a run
//! marks it released on every exit it controls.
//!
//! Leases are exclusive: every write of one is conditional (`exclusive`), so two runs that read
//! the same stale lease at once cannot both take it over.
//!
//! Knows the lease file's form and how to tell whether its holder lives; knows nothing about
//! units, checkpoints or the API.

use chrono::{DateTime, SecondsFormat, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How often the holder rewrites its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(30);
/// A lease not renewed for this long is stale: its holder is gone (three missed renewals).
pub const LIVE_FOR: Duration = Duration::from_secs(90);

/// The lease file of a staging area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The job the area belongs to.
    pub job: String,
    /// Its snapshot date, `YYYY-MM-DD`.
    pub snapshot_date: String,
    /// Its shard, `I/N`; `None` for an unsharded run.
    pub shard: Option<String>,
    /// The area: the id of the run that created it.
    pub area: String,
    /// The run holding the lease now (the creator, or a later run that took the area over).
    pub holder: String,
    /// The holder's host name.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// When the holder took the lease, RFC 3339.
    pub acquired_at: String,
    /// When the holder last renewed it, RFC 3339.
    pub renewed_at: String,
    /// When the holder let it go, RFC 3339; a released lease is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    /// Random, new with each take: tells this holder's writes from anyone else's (a write whose
    /// answer was lost is recognised by it, see `exclusive`).
    #[serde(default)]
    pub token: String,
    /// How many times the lease was written over since it was created (local disks' conditional
    /// writes, see `exclusive`).
    #[serde(default)]
    pub generation: u64,
}

/// Whether a lease's holder may still be writing, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Renewed less than [`LIVE_FOR`] ago by a process that may exist.
    Live,
    /// Let go by its holder.
    Released,
    /// Not renewed for [`LIVE_FOR`] or more.
    Expired,
    /// It names this host and a process that no longer exists (or this very process, under an
    /// earlier run: a container restarted in the same pod gets the same host and pid).
    HolderGone,
}

impl Liveness {
    /// True only for [`Liveness::Live`].
    pub fn is_live(self) -> bool {
        self == Liveness::Live
    }
}

/// This process, as a lease names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The host name (in Kubernetes, the pod's name).
    pub host: String,
    /// The process id.
    pub pid: u32,
}

impl Process {
    /// The running process.
    pub fn current() -> Process {
        Process {
            host: host_name(),
            pid: std::process::id(),
        }
    }
}

/// The host name: the kernel's, else `HOSTNAME`, else `unknown`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a process of this host exists. Where that cannot be told (no `/proc`), it is assumed
/// to, and only time makes its lease stale.
pub fn process_exists(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// An RFC 3339 timestamp with milliseconds, as every time in a lease or checkpoint is written.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a timestamp written by [`timestamp`].
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Lease {
    /// A fresh lease of `area`, held by run `holder` in this process.
    pub fn new(
        job: &str,
        snapshot_date: &str,
        shard: Option<&str>,
        area: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Lease {
        let me = Process::current();
        Lease {
            job: job.to_owned(),
            snapshot_date: snapshot_date.to_owned(),
            shard: shard.map(str::to_owned),
            area: area.to_owned(),
            holder: holder.to_owned(),
            host: me.host,
            pid: me.pid,
            acquired_at: timestamp(now),
            renewed_at: timestamp(now),
            released_at: None,
            token: format!("{:016x}", fastrand::u64(..)),
            generation: 0,
        }
    }

    /// Whether the area belongs to this job, date and shard.
    pub fn belongs_to(&self, job: &str, snapshot_date: &str, shard: Option<&str>) -> bool {
        self.job == job && self.snapshot_date == snapshot_date && self.shard.as_deref() == shard
    }

    /// This lease taken over by run `holder` of this process (the area and its owner kept).
    pub fn taken_over(&self, holder: &str, now: DateTime<Utc>) -> Lease {
        Lease::new(
            &self.job,
            &self.snapshot_date,
            self.shard.as_deref(),
            &self.area,
            holder,
            now,
        )
    }

    /// Whether the holder may still be writing, seen from process `me` (running run `my_run`)
    /// at `now`; `exists` tells whether a process id of this host exists.
    pub fn liveness(
        &self,
        now: DateTime<Utc>,
        me: &Process,
        my_run: &str,
        exists: impl Fn(u32) -> bool,
    ) -> Liveness {
        if self.released_at.is_some() {
            return Liveness::Released;
        }
        if self.host == me.host {
            let gone = if self.pid == me.pid {
                self.holder != my_run
            } else {
                !exists(self.pid)
            };
            if gone {
                return Liveness::HolderGone;
            }
        }
        let live_for = chrono::Duration::from_std(LIVE_FOR).unwrap_or(chrono::Duration::MAX);
        match parse_timestamp(&self.renewed_at) {
            Some(t) if now - t < live_for => Liveness::Live,
            _ => Liveness::Expired,
        }
    }

    /// [`Lease::liveness`] from this process, now.
    pub fn liveness_now(&self, my_run: &str) -> Liveness {
        self.liveness(Utc::now(), &Process::current(), my_run, process_exists)
    }

    /// Who holds it, for messages: `run R on host H (pid P), renewed at T`.
    pub fn describe(&self) -> String {
        format!(
            "run {} on host {} (pid {}), renewed at {}",
            self.holder, self.host, self.pid, self.renewed_at
        )
    }
}

/// Reads a lease. `None` when there is none, or when it cannot be read as one (logged: such an
/// area is treated as having no lease).
pub async fn read(store: &dyn ObjectStore, path: &Path) -> Option<Lease> {
    let bytes = match store.get(path).await {
        Ok(r) => r.bytes().await.ok()?,
        Err(object_store::Error::NotFound { .. }) => return None,
        Err(e) => {
            tracing::warn!(lease = %path, error = %super::Cause(e), "A staging lease could not be read.");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(lease = %path, error = %e, "A staging lease is not valid JSON; ignoring it.");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).expect("timestamp")
    }

    fn lease(host: &str, pid: u32, renewed: &str) -> Lease {
        Lease {
            job: "daily".into(),
            snapshot_date: "2026-11-26".into(),
            shard: Some("1/4".into()),
            area: "r1".into(),
            holder: "r1".into(),
            host: host.into(),
            pid,
            acquired_at: renewed.into(),
            renewed_at: renewed.into(),
            released_at: None,
            token: "t1".into(),
            generation: 0,
        }
    }

    /// Liveness: renewed < 90 s ago is live, unless released or its holder is a process of this
    /// host that is gone (or this very process under another run); another host's lease only
    /// goes stale with time.
    #[test]
    fn liveness_rules() {
        let me = Process {
            host: "pod-a".into(),
            pid: 1,
        };
        let now = at("2026-11-26T10:00:00.000Z");
        let alive: fn(u32) -> bool = |_| true;
        let dead: fn(u32) -> bool = |_| false;
        let cases = [
            (
                lease("pod-b", 7, "2026-11-26T09:58:31.000Z"),
                alive,
                Liveness::Live,
            ),
            (
                lease("pod-b", 7, "2026-11-26T09:58:30.000Z"),
                alive,
                Liveness::Expired,
            ),
            (
                lease("pod-b", 7, "2026-11-26T09:59:59.000Z"),
                dead,
                Liveness::Live,
            ),
            (
                lease("pod-a", 7, "2026-11-26T09:59:59.000Z"),
                alive,
                Liveness::Live,
            ),
            (
                lease("pod-a", 7, "2026-11-26T09:59:59.000Z"),
                dead,
                Liveness::HolderGone,
            ),
            (
                lease("pod-a", 1, "2026-11-26T09:59:59.000Z"),
                alive,
                Liveness::HolderGone,
            ),
            (lease("pod-b", 7, "not a time"), alive, Liveness::Expired),
        ];
        for (i, (l, exists, want)) in cases.into_iter().enumerate() {
            assert_eq!(l.liveness(now, &me, "r2", exists), want, "case {i}: {l:?}");
        }
        let mut mine = lease("pod-a", 1, "2026-11-26T09:59:59.000Z");
        mine.holder = "r2".into();
        assert_eq!(mine.liveness(now, &me, "r2", alive), Liveness::Live);
        mine.released_at = Some("2026-11-26T09:59:59.500Z".into());
        assert_eq!(mine.liveness(now, &me, "r2", alive), Liveness::Released);
        assert!(!Liveness::Expired.is_live());
    }

    /// The lease file's JSON keys are stable; a taken-over lease keeps its area and names the
    /// new holder; `belongs_to` matches job, date and shard exactly.
    #[test]
    fn lease_json_and_takeover() {
        let l = lease("pod-b", 7, "2026-11-26T09:00:00.000Z");
        let v: serde_json::Value = serde_json::to_value(&l).expect("json");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "acquired_at",
                "area",
                "generation",
                "holder",
                "host",
                "job",
                "pid",
                "renewed_at",
                "shard",
                "snapshot_date",
                "token"
            ]
        );
        let back: Lease = serde_json::from_value(v).expect("parse");
        assert_eq!(back, l);
        let t = l.taken_over("r9", at("2026-11-26T10:00:00.000Z"));
        assert_eq!((t.area.as_str(), t.holder.as_str()), ("r1", "r9"));
        assert_eq!(t.renewed_at, "2026-11-26T10:00:00.000Z");
        assert!(t.belongs_to("daily", "2026-11-26", Some("1/4")));
        assert!(!t.belongs_to("daily", "2026-11-26", None));
        assert!(!t.belongs_to("daily", "2026-11-27", Some("1/4")));
    }
}
