//! The HTTP side of the simulator: shared state, connections and routing.
//!
//! Owns the hyper service (HTTP/1.1 with keep-alive, one task per connection), the state every
//! connection shares (accounts, gates, caches, the current day, the expiry generation), and
//! the routing between the data routes and the control routes under `/_sim/`. The checks of a
//! data request live in `admit`, what it is answered in `respond`, the control routes in
//! `control`. It must not know how items are generated, how cursors are encoded or how churn
//! is drawn beyond calling `data`, `cursor` and `churn`.

mod admit;
mod clock;
mod control;
mod respond;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::api_errors::{ERROR_TYPES, RESOURCE_NOT_FOUND};
use super::cache::PageCache;
use super::churn::{self, Members};
use super::config::{AccountConfig, SimConfig};
use super::cursor::CursorKey;
use super::data::{Dataset, ListKey, Shared};
use super::expiry::Expiry;
use super::fault::{ArmedRule, RandomInjector};
use super::limit::{AccountGate, KeyGate};
use super::reply::{Reply, envelope};
use super::roster::Roster;
use super::stats::{AccountCounters, Route, Stats};

/// Bytes of list memberships kept (4 MB per million members of a churned day).
const ROSTER_BYTES: usize = 256 << 20;

/// One list of an account.
struct List {
    key: ListKey,
    /// Its size on day 0.
    size: u64,
    /// Its members on day 0, or on every day without churn.
    identity: Arc<Members>,
}

/// One linked account at run time.
struct Account {
    config: AccountConfig,
    /// Per dataset: followers, following.
    lists: [List; 2],
    /// Daily churn of both lists.
    churn: f64,
    latency: Duration,
    gate: Option<AccountGate>,
    rules: Vec<ArmedRule>,
    counters: AccountCounters,
}

/// Everything the connections share.
pub(crate) struct State {
    api_key: Vec<u8>,
    ratelimit_headers: bool,
    accounts: Vec<Account>,
    by_id: HashMap<String, u32>,
    key_gate: Option<KeyGate>,
    stats: Stats,
    cache: PageCache,
    roster: Roster,
    cursor_key: CursorKey,
    expiry: Expiry,
    injector: RandomInjector,
    request_ids: AtomicU64,
    /// The day a request without a cursor gets the list of.
    day: AtomicU32,
}

impl State {
    pub(crate) fn new(config: SimConfig) -> Self {
        let seed = config.seed;
        let shared = Shared::new(seed, config.shared_followers);
        let accounts: Vec<Account> = config
            .accounts
            .into_iter()
            .map(|a| Account {
                lists: [Dataset::Followers, Dataset::Following].map(|d| List {
                    key: ListKey::new(seed, a.provider, d, &a.id).with_shared(shared),
                    size: a.len(d),
                    identity: Arc::new(Members::Identity(a.len(d))),
                }),
                churn: a.churn.unwrap_or(config.churn),
                latency: a.latency.unwrap_or(config.latency),
                gate: config.account_rpm.map(AccountGate::new),
                rules: a.faults.iter().cloned().map(ArmedRule::new).collect(),
                counters: AccountCounters::default(),
                config: a,
            })
            .collect();
        let by_id = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.config.id.clone(), i as u32))
            .collect();
        Self {
            api_key: config.api_key.into_bytes(),
            ratelimit_headers: config.ratelimit_headers,
            accounts,
            by_id,
            key_gate: config.key_rps.map(KeyGate::new),
            stats: Stats::new(),
            cache: PageCache::new(config.cache_bytes),
            roster: Roster::new(ROSTER_BYTES),
            cursor_key: CursorKey::from_seed(seed),
            expiry: Expiry::new(config.cursor_ttl),
            injector: RandomInjector::new(config.faults, seed),
            request_ids: AtomicU64::new(1),
            day: AtomicU32::new(config.day),
        }
    }

    /// The current day.
    fn day(&self) -> u32 {
        self.day.load(Ordering::Acquire)
    }

    fn next_request_id(&self) -> u64 {
        self.request_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The members of an account's list on `day`: computed once per (account, list, day) and
    /// cached, never per request; no computation at all without churn or on day 0.
    fn members(&self, index: u32, dataset: Dataset, day: u32) -> Arc<Members> {
        let account = &self.accounts[index as usize];
        let list = &account.lists[dataset.index()];
        if account.churn == 0.0 || day == 0 {
            return Arc::clone(&list.identity);
        }
        self.roster.get_or_compute((index, dataset, day), || {
            churn::members(list.key.churn_seed(), list.size, account.churn, day)
        })
    }
}

/// Accepts connections until `shutdown` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, most likely: back off instead of spinning.
                tracing::warn!(error = %error, "Accept failed.");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(error = %error, "Cannot set TCP_NODELAY.");
        }
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&state), req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = conn.await {
                tracing::debug!(error = %error, "Connection ended with an error.");
            }
        });
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Reply {
    // Control routes are not counted: tests read and steer through them.
    if let Some(resp) = control::route(&state, &req) {
        return Ok(resp);
    }
    let route = match (req.method(), req.uri().path()) {
        (&Method::GET, "/api/v1/users/followers") => Route::Followers,
        (&Method::GET, "/api/v1/users/following") => Route::Following,
        _ => Route::Other,
    };
    state.stats.request(route);
    let request_id = state.next_request_id();
    let reply = match route {
        Route::Followers => data(&state, &req, Dataset::Followers, request_id).await,
        Route::Following => data(&state, &req, Dataset::Following, request_id).await,
        Route::Other => {
            let t = &ERROR_TYPES[RESOURCE_NOT_FOUND];
            let detail = format!("No route for {} {}.", req.method(), req.uri().path());
            Ok(envelope(t.status, t.kind, t.title, &detail, request_id))
        }
    };
    if let Ok(resp) = &reply {
        state.stats.status(resp.status().as_u16());
    }
    reply
}

/// A data request: the checks, the account's latency, then the page or a fault.
async fn data(state: &State, req: &Request<Incoming>, dataset: Dataset, request_id: u64) -> Reply {
    // The peak rates count every request the client sent, whatever it is answered.
    state.stats.data_request(Instant::now());
    let _in_flight = state.stats.in_flight();
    let ask = match admit::admit(state, req, dataset, request_id) {
        Ok(ask) => ask,
        Err(refusal) => return Ok(refusal),
    };
    if !ask.account.latency.is_zero() {
        clock::sleep_until(ask.arrived + ask.account.latency).await;
    }
    respond::respond(state, ask).await
}
