//! Where each unit starts (SPEC §10): at page 1, from an earlier run's checkpoint, by finishing
//! a publish that was cut short, after a live run's lease goes stale, or not at all
//! (`--skip-published`). Decided once before the first unit, from one listing of `_staging`
//! (and of the date's published partitions when needed); staging areas nobody will resume are
//! removed on the way.
//!
//! Knows checkpoints, leases and the published layout; knows nothing about pages or HTTP.

use super::areas::Areas;
use super::checkpoint::{Checkpoint, MAX_AGE, State};
use super::output::RunOutput;
use super::plan::Unit;
use super::unit_staging::{self, UnitStaging};
use crate::error_chain as chain;
use crate::model::{Dataset, Provider};
use crate::sink::lease::{LIVE_FOR, Lease, RENEW_EVERY};
use crate::sink::staging::{self, AreaListing};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectMeta;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Staging areas without a lease or checkpoint older than this are garbage (a crashed run of an
/// earlier version, or one killed before its lease was written).
const ABANDONED_STAGING_AGE: chrono::Duration = chrono::Duration::hours(24);

/// How long a unit whose checkpoint is under a live lease waits for it to go stale: a holder
/// that died has then missed renewals for [`LIVE_FOR`]; one still renewing is alive.
pub(crate) const LEASE_WAIT: Duration = LIVE_FOR.saturating_add(RENEW_EVERY);

/// How often a waiting unit reads the lease again.
const LEASE_POLL: Duration = Duration::from_secs(1);

/// What deciding and settling units' starts needs: the run's place in the output, the areas
/// it holds (to take one over), its halt token (to stop waiting) and `--skip-published`.
pub(crate) struct Resumer<'a> {
    pub(crate) out: &'a RunOutput,
    pub(crate) areas: &'a Areas,
    pub(crate) halt: &'a CancellationToken,
    pub(crate) skip_published: bool,
}

/// A unit's checkpoint as found in an earlier run's staging area.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The checkpoint.
    pub(crate) cp: Checkpoint,
    /// Its object (its time is the store's).
    pub(crate) meta: ObjectMeta,
    /// The area's lease.
    pub(crate) lease: Lease,
}

/// Where a unit starts.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// From page 1, staging into the run's own area.
    Fresh,
    /// From an earlier run's checkpoint, in that run's area (taken over).
    Resume(Box<Found>),
    /// Every page was fetched by an earlier run, whose publish was cut short: finish it.
    Finish(Box<Found>),
    /// Its checkpoint is under a live lease: left for last, resumed once the lease is stale.
    Deferred(Box<Found>),
    /// `--skip-published`, and the unit is published for the date already.
    Published,
}

impl Start {
    /// Whether the unit asks the API for pages, and so waits at the breakers' gate (SPEC §3).
    pub(crate) fn gated(&self) -> bool {
        matches!(self, Start::Fresh | Start::Resume(_))
    }
}

type UnitId = (Dataset, Provider, String);

fn unit_id(u: &Unit) -> UnitId {
    (u.dataset, u.account.provider, u.account.account_id.clone())
}

/// Decides every unit's start and returns the units in the order to run them, each with its
/// index in the plan: publishes to finish first, then resumed units (the long ones), then the
/// rest in plan order, and units under a live lease last.
pub(crate) async fn prepare(r: &Resumer<'_>, units: Vec<Unit>) -> Vec<(usize, Unit, Start)> {
    let skip_published = r.skip_published;
    let wanted: BTreeSet<UnitId> = units.iter().map(unit_id).collect();
    let mut found = HashMap::new();
    match staging::list_areas(r.out.dest.store.as_ref(), &r.out.layout, &r.out.run_id).await {
        Ok(areas) => {
            for area in areas {
                sort_area(r, area, &wanted, &mut found).await;
            }
        }
        Err(e) => {
            warn!(error = %chain(&e), "The staging areas could not be listed; no unit resumes.")
        }
    }
    let published = if skip_published || !found.is_empty() {
        published_units(r, &units).await
    } else {
        HashMap::new()
    };
    let mut out: Vec<(usize, Unit, Start)> = Vec::with_capacity(units.len());
    for (i, unit) in units.into_iter().enumerate() {
        let id = unit_id(&unit);
        let mut start = decide(
            r,
            &unit,
            found.remove(&id),
            published.get(&id),
            skip_published,
        )
        .await;
        if let Start::Resume(f) | Start::Finish(f) = &start
            && !r.areas.take_over(r.out, &f.lease).await
        {
            // Another process took the area first: its unit waits for that lease.
            let mut f = f.clone();
            let path = r.out.layout.lease(&f.lease.area);
            if let Ok(Some(now)) = r.out.leases.read(&path).await {
                f.lease = now;
            }
            start = Start::Deferred(f);
        }
        out.push((i, unit, start));
    }
    let rank = |s: &Start| match s {
        Start::Finish(_) => 0,
        Start::Resume(_) => 1,
        Start::Fresh | Start::Published => 2,
        Start::Deferred(_) => 3,
    };
    out.sort_by_key(|(i, _, s)| (rank(s), *i));
    out
}

/// One unit's start, from its checkpoint (if any) and the time its partition was last
/// published (if ever).
async fn decide(
    r: &Resumer<'_>,
    unit: &Unit,
    found: Option<Found>,
    published: Option<&DateTime<Utc>>,
    skip_published: bool,
) -> Start {
    let live = |f: &Found| f.lease.liveness_now(&r.out.run_id).is_live();
    match found {
        Some(f) if f.cp.state == State::Complete && !live(&f) => Start::Finish(Box::new(f)),
        _ if skip_published && published.is_some() => Start::Published,
        Some(f) if live(&f) => Start::Deferred(Box::new(f)),
        Some(f) if published.is_some_and(|t| *t > f.meta.last_modified) => {
            info!(account_id = %unit.account.account_id, dataset = %unit.dataset, checkpoint_of = %f.cp.run_id,
                "The unit was published after its checkpoint was written; the checkpoint is discarded.");
            r.out.staging(unit, &f.cp.area).discard().await;
            Start::Fresh
        }
        Some(f) => Start::Resume(Box::new(f)),
        None => Start::Fresh,
    }
}

/// Sorts one staging area: removed when nobody will resume it, its checkpoints gathered when
/// it belongs to this job, date and shard.
async fn sort_area(
    r: &Resumer<'_>,
    area: AreaListing,
    wanted: &BTreeSet<UnitId>,
    found: &mut HashMap<UnitId, Found>,
) {
    let ours = area
        .lease
        .as_ref()
        .filter(|l| l.belongs_to(&r.out.job, &r.out.snapshot_date, r.out.shard.as_deref()));
    let live = area
        .lease
        .as_ref()
        .is_some_and(|l| l.liveness_now(&r.out.run_id).is_live());
    let age = area
        .newest()
        .map_or(chrono::Duration::zero(), |t| Utc::now() - t);
    let has_checkpoints = area.checkpoints().next().is_some();
    let remove = !live
        && (age > MAX_AGE
            || (!has_checkpoints && (area.lease.is_some() || age > ABANDONED_STAGING_AGE)));
    if remove {
        info!(staging = %area.root, days = age.num_days(), checkpoints = has_checkpoints,
            "Removing a staging area no run will resume.");
        if let Err(e) = staging::delete_staging(&r.out.dest, &area.root).await {
            warn!(error = %chain(&e), "Could not remove a staging area.");
        }
        return;
    }
    let Some(lease) = ours.cloned() else {
        return;
    };
    let discarded = gather(r, &area, &lease, wanted, found).await;
    if !live && discarded == area.checkpoints().count() {
        // Every checkpoint was too old: nothing left to resume here.
        if let Err(e) = staging::delete_staging(&r.out.dest, &area.root).await {
            warn!(error = %chain(&e), "Could not remove a staging area.");
        }
    }
}

/// Gathers the checkpoints of an area of this job, date and shard into `found` (the newest
/// per unit of the plan); removes those older than [`MAX_AGE`] (unless a live run holds the
/// area) and returns how many.
async fn gather(
    r: &Resumer<'_>,
    area: &AreaListing,
    lease: &Lease,
    wanted: &BTreeSet<UnitId>,
    found: &mut HashMap<UnitId, Found>,
) -> usize {
    let mut discarded = 0;
    for meta in area.checkpoints() {
        let cp = match unit_staging::load(r.out.dest.store.as_ref(), &meta.location).await {
            Ok(Some(cp)) => cp,
            Ok(None) => continue,
            Err(e) => {
                warn!(error = %chain(&e), "A checkpoint cannot be used; its unit starts from page 1.");
                continue;
            }
        };
        let Some((dataset, provider)) = cp.unit_key() else {
            continue;
        };
        let id = (dataset, provider, cp.account_id.clone());
        if !wanted.contains(&id) || cp.area != area.id {
            continue;
        }
        if cp.updated().is_none_or(|t| Utc::now() - t > MAX_AGE) {
            if lease.liveness_now(&r.out.run_id).is_live() {
                continue;
            }
            info!(account_id = %cp.account_id, dataset = %cp.dataset, updated_at = %cp.updated_at,
                "A checkpoint older than 7 days is not resumed; it is removed.");
            if let Some(staging) = UnitStaging::of_checkpoint(&r.out.dest, &r.out.layout, &cp) {
                staging.discard().await;
            }
            discarded += 1;
            continue;
        }
        let newer = found
            .get(&id)
            .is_none_or(|f: &Found| f.cp.updated_at < cp.updated_at);
        if newer {
            let f = Found {
                cp,
                meta: meta.clone(),
                lease: lease.clone(),
            };
            found.insert(id, f);
        }
    }
    discarded
}

/// When each unit of the plan was last published for the date: the newest part in its
/// partition. One listing per dataset and provider of the plan.
async fn published_units(r: &Resumer<'_>, units: &[Unit]) -> HashMap<UnitId, DateTime<Utc>> {
    let pairs: BTreeSet<(Dataset, Provider)> = units
        .iter()
        .map(|u| (u.dataset, u.account.provider))
        .collect();
    let mut out: HashMap<UnitId, DateTime<Utc>> = HashMap::new();
    for (dataset, provider) in pairs {
        let dir = r
            .out
            .layout
            .published_date(dataset, provider, &r.out.snapshot_date);
        let listed: Result<Vec<ObjectMeta>, _> =
            r.out.dest.store.list(Some(&dir)).try_collect().await;
        let objects = match listed {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %crate::sink::Cause(e), partition = %dir,
                    "Published units could not be listed; they count as not published.");
                continue;
            }
        };
        for m in objects {
            if let Some(account) = r.out.layout.published_part_account(&dir, &m.location) {
                let t = out
                    .entry((dataset, provider, account))
                    .or_insert(m.last_modified);
                *t = (*t).max(m.last_modified);
            }
        }
    }
    out
}

/// Whether the unit's partition holds a published part (a failed listing says no).
async fn is_published(r: &Resumer<'_>, unit: &Unit) -> bool {
    let staging = r.out.staging(unit, &r.out.run_id);
    let dir = r
        .out
        .layout
        .partition(crate::sink::layout::Area::Final, &staging.key());
    let listed: Result<Vec<ObjectMeta>, _> = r.out.dest.store.list(Some(&dir)).try_collect().await;
    listed.is_ok_and(|l| {
        l.iter().any(|m| {
            m.location
                .filename()
                .is_some_and(crate::sink::layout::is_part_file)
        })
    })
}

/// How waiting for a lease ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The lease is stale (or gone): its area can be taken over.
    Stale,
    /// Still live after the bound: the holder is alive.
    StillLive(Box<Lease>),
    /// The run is stopping.
    Cancelled,
}

/// Reads a lease with `read` every `poll` until it is stale or gone, for at most `bound`.
pub(crate) async fn await_stale<F, Fut>(
    mut read: F,
    my_run: &str,
    bound: Duration,
    poll: Duration,
    halt: &tokio_util::sync::CancellationToken,
) -> Waited
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Lease>>,
{
    let until = tokio::time::Instant::now() + bound;
    loop {
        let Some(lease) = read().await else {
            return Waited::Stale;
        };
        if !lease.liveness_now(my_run).is_live() {
            return Waited::Stale;
        }
        if tokio::time::Instant::now() >= until {
            return Waited::StillLive(Box::new(lease));
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = halt.cancelled() => return Waited::Cancelled,
        }
    }
}

/// A deferred unit's start once its turn came: waits (at most [`LEASE_WAIT`]) for the live
/// lease to go stale, then takes the area over and continues the checkpoint as it is now.
/// `Err` when the lease stayed live (the unit is left to that run) or the run is stopping.
pub(crate) async fn settle(r: &Resumer<'_>, unit: &Unit, f: Found) -> Result<Start, Waited> {
    warn!(holder = %f.lease.describe(), wait_s = LEASE_WAIT.as_secs(),
        "The unit's checkpoint belongs to a run that is still alive; waiting for its lease to go stale.");
    let path = r.out.layout.lease(&f.lease.area);
    let store = r.out.dest.store.as_ref();
    let read = || crate::sink::lease::read(store, &path);
    match await_stale(read, &r.out.run_id, LEASE_WAIT, LEASE_POLL, r.halt).await {
        Waited::Stale => {}
        other => return Err(other),
    }
    if !r.areas.take_over(r.out, &f.lease).await {
        return Err(Waited::StillLive(Box::new(f.lease)));
    }
    match unit_staging::load(r.out.dest.store.as_ref(), &f.meta.location).await {
        Ok(Some(cp)) => {
            let f = Box::new(Found { cp, ..f });
            Ok(match f.cp.state {
                State::Complete => Start::Finish(f),
                State::Paging => Start::Resume(f),
            })
        }
        Ok(None) if r.skip_published && is_published(r, unit).await => {
            info!("The other run published the unit.");
            Ok(Start::Published)
        }
        Ok(None) => {
            info!("The other run finished the unit's checkpoint; fetching the unit from page 1.");
            Ok(Start::Fresh)
        }
        Err(e) => {
            warn!(error = %chain(&e), account_id = %unit.account.account_id, "The checkpoint cannot be used; fetching the unit from page 1.");
            Ok(Start::Fresh)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::lease::timestamp;
    use tokio_util::sync::CancellationToken;

    fn lease(host: &str) -> Lease {
        let mut l = Lease::new("daily", "2026-11-26", None, "r1", "r1", Utc::now());
        l.host = host.to_owned();
        l
    }

    /// A lease renewed by a live holder on another host is waited for exactly the bound, then
    /// reported still live (the unit is left to its holder); no real time passes.
    #[tokio::test(start_paused = true)]
    async fn a_live_lease_is_waited_for_at_most_the_bound() {
        let started = tokio::time::Instant::now();
        let mut reads = 0;
        let w = await_stale(
            || {
                reads += 1;
                let mut l = lease("another-host");
                l.renewed_at = timestamp(Utc::now());
                std::future::ready(Some(l))
            },
            "r2",
            LEASE_WAIT,
            LEASE_POLL,
            &CancellationToken::new(),
        )
        .await;
        assert!(matches!(w, Waited::StillLive(_)), "{w:?}");
        assert_eq!(started.elapsed(), LEASE_WAIT);
        assert_eq!(reads, 121);
    }

    /// A lease that goes stale (here: released) ends the wait at the next read; a removed lease
    /// at once; a stop cancels the wait.
    #[tokio::test(start_paused = true)]
    async fn a_stale_or_missing_lease_ends_the_wait() {
        let mut reads = 0;
        let w = await_stale(
            || {
                reads += 1;
                let mut l = lease("another-host");
                if reads == 3 {
                    l.released_at = Some(timestamp(Utc::now()));
                }
                std::future::ready(Some(l))
            },
            "r2",
            LEASE_WAIT,
            LEASE_POLL,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!((w, reads), (Waited::Stale, 3));
        let w = await_stale(
            || std::future::ready(None),
            "r2",
            LEASE_WAIT,
            LEASE_POLL,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(w, Waited::Stale);
        let halt = CancellationToken::new();
        halt.cancel();
        let w = await_stale(
            || std::future::ready(Some(lease("h"))),
            "r2",
            LEASE_WAIT,
            LEASE_POLL,
            &halt,
        )
        .await;
        assert_eq!(w, Waited::Cancelled);
    }
}
