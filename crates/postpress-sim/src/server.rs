//! The HTTP side of the simulator: routes, checks, faults on the wire, responses.
//!
//! Owns the hyper service (HTTP/1.1 with keep-alive, one task per connection), the order of the
//! checks (route, API key, key-wide rate, account_id, account, account rate, limit bounds,
//! cursor, then latency and faults), the error envelope, and the response bodies, truncated
//! ones included. It must not know how items are generated or how cursors are encoded beyond
//! calling `data`, `page` and `cursor`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::api_errors::{
    ERROR_TYPES, INVALID_CREDENTIALS, INVALID_REQUEST, MISSING_CREDENTIALS, RESOURCE_NOT_FOUND,
    TOO_MANY_REQUESTS,
};
use super::cache::{CachedPage, PageCache, PageKey};
use super::config::{AccountConfig, SimConfig};
use super::cursor::{CursorKey, Position};
use super::data::{Dataset, ListKey, Provider, max_limit};
use super::fault::{ArmedRule, Fault, RandomInjector, scripted};
use super::json::{ObjectWriter, write_u64};
use super::limit::{AccountGate, KeyGate, retry_after_secs};
use super::page;
use super::stats::{AccountCounters, Route, Stats, Violation};

/// One linked account at run time.
struct Account {
    config: AccountConfig,
    /// Per dataset: followers, following.
    lists: [ListKey; 2],
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
    cursor_key: CursorKey,
    injector: RandomInjector,
    request_ids: AtomicU64,
}

fn list_index(dataset: Dataset) -> usize {
    match dataset {
        Dataset::Followers => 0,
        Dataset::Following => 1,
    }
}

impl State {
    pub(crate) fn new(config: SimConfig) -> Self {
        let seed = config.seed;
        let accounts: Vec<Account> = config
            .accounts
            .into_iter()
            .map(|a| Account {
                lists: [Dataset::Followers, Dataset::Following]
                    .map(|d| ListKey::new(seed, a.provider, d, &a.id)),
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
            cursor_key: CursorKey::from_seed(seed),
            injector: RandomInjector::new(config.faults, seed),
            request_ids: AtomicU64::new(1),
        }
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

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose")]
pub(crate) struct Dropped;

/// The body error that aborts a truncated response.
#[derive(Debug, thiserror::Error)]
#[error("response body truncated on purpose")]
pub(crate) struct Truncated;

/// A response body: whole, or cut short on purpose.
pub(crate) enum SimBody {
    Full(Option<Bytes>),
    Truncated {
        part: Option<Bytes>,
        total: u64,
        /// A short pause after the part, so it is flushed before the connection is aborted.
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl SimBody {
    fn full(body: impl Into<Bytes>) -> Self {
        SimBody::Full(Some(body.into()))
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Truncated;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Truncated>>> {
        match self.get_mut() {
            SimBody::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Truncated { part, pause, .. } => {
                if let Some(b) = part.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                let sleep = pause
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(20))));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Truncated))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SimBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            SimBody::Full(None) => SizeHint::with_exact(0),
            SimBody::Truncated { total, .. } => SizeHint::with_exact(*total),
        }
    }
}

type Reply = Result<Response<SimBody>, Dropped>;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<SimBody> {
    let mut resp = Response::new(SimBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, JSON);
    resp
}

/// The API's error envelope: `{"title","detail","instance","type","status"}`.
fn envelope(
    status: u16,
    kind: &str,
    title: &str,
    detail: &str,
    request_id: u64,
) -> Response<SimBody> {
    let mut out = Vec::with_capacity(256);
    let mut o = ObjectWriter::open(&mut out);
    o.str("title", title);
    o.str("detail", detail);
    o.fmt("instance", format_args!("req_{request_id:09}"));
    o.str("type", kind);
    o.int("status", i64::from(status));
    o.close();
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        out,
    )
}

fn documented(index: usize, request_id: u64) -> Response<SimBody> {
    let t = &ERROR_TYPES[index];
    envelope(t.status, t.kind, t.title, t.detail, request_id)
}

fn bad_request(detail: &str, request_id: u64) -> Response<SimBody> {
    envelope(400, INVALID_REQUEST, "Invalid request", detail, request_id)
}

fn too_many(wait: Duration, detail: &str, request_id: u64) -> Response<SimBody> {
    let mut resp = envelope(
        429,
        TOO_MANY_REQUESTS,
        "Too many requests",
        detail,
        request_id,
    );
    let mut secs = Vec::with_capacity(4);
    write_u64(&mut secs, retry_after_secs(wait));
    if let Ok(value) = HeaderValue::from_bytes(&secs) {
        resp.headers_mut().insert(RETRY_AFTER, value);
    }
    resp
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Reply {
    let route = match (req.method(), req.uri().path()) {
        (&Method::GET, "/_sim/stats") => {
            let doc = state.stats.to_json(
                state
                    .accounts
                    .iter()
                    .map(|a| (a.config.id.as_str(), &a.counters)),
            );
            return Ok(json_response(StatusCode::OK, doc.to_string()));
        }
        (&Method::POST, "/_sim/reset") => {
            state
                .stats
                .reset(state.accounts.iter().map(|a| &a.counters));
            return Ok(json_response(StatusCode::OK, r#"{"reset":true}"#));
        }
        (&Method::GET, "/api/v1/users/followers") => Route::Followers,
        (&Method::GET, "/api/v1/users/following") => Route::Following,
        _ => Route::Other,
    };
    state.stats.request(route);
    let request_id = state.request_ids.fetch_add(1, Ordering::Relaxed);
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

/// The query parameters the API knows; others are ignored.
#[derive(Default)]
struct Query<'a> {
    account_id: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    limit: Option<Cow<'a, str>>,
    cursor: Option<Cow<'a, str>>,
}

fn parse_query(query: &str) -> Query<'_> {
    let mut q = Query::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "account_id" => &mut q.account_id,
            "user_id" => &mut q.user_id,
            "limit" => &mut q.limit,
            "cursor" => &mut q.cursor,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(percent_decode(value));
        }
    }
    q
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

async fn data(state: &State, req: &Request<Incoming>, dataset: Dataset, request_id: u64) -> Reply {
    let stats = &state.stats;
    match req.headers().get("x-api-key") {
        None => return Ok(documented(MISSING_CREDENTIALS, request_id)),
        Some(key) if key.as_bytes() != state.api_key.as_slice() => {
            return Ok(documented(INVALID_CREDENTIALS, request_id));
        }
        Some(_) => {}
    }
    let query = parse_query(req.uri().query().unwrap_or(""));
    if query.user_id.is_some() {
        stats.user_id();
    }
    // `user_id` names whose list to read; without `account_id` it is the account looked up.
    let account_id = query
        .account_id
        .as_deref()
        .filter(|a| !a.is_empty())
        .or(query.user_id.as_deref().filter(|u| !u.is_empty()));
    let found = account_id.and_then(|id| state.by_id.get(id).copied());
    let counters = found.map(|i| &state.accounts[i as usize].counters);
    if let Some(c) = counters {
        c.requests.fetch_add(1, Ordering::Relaxed);
    }

    // The key-wide limit meters every authenticated data request, whatever comes next.
    let now = Instant::now();
    if let Some(gate) = &state.key_gate
        && let Err(wait) = gate.check(now)
    {
        stats.violation(Violation::KeyRate, counters);
        return Ok(too_many(
            wait,
            "Requests per second of this API key exceeded.",
            request_id,
        ));
    }
    let Some(account_id) = account_id else {
        return Ok(bad_request(
            "Query parameter account_id is required when user_id is not provided.",
            request_id,
        ));
    };
    let Some(index) = found else {
        return Ok(documented(RESOURCE_NOT_FOUND, request_id));
    };
    let account = &state.accounts[index as usize];
    if let Some(gate) = &account.gate
        && let Err(wait) = gate.check(now)
    {
        stats.violation(Violation::AccountRate, Some(&account.counters));
        return Ok(too_many(
            wait,
            "Requests per minute of this account exceeded.",
            request_id,
        ));
    }

    let provider = account.config.provider;
    let max = max_limit(provider, dataset);
    let limit = match query.limit.as_deref() {
        None => 100.min(max),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                stats.violation(Violation::Limit, Some(&account.counters));
                let detail = format!(
                    "Query parameter limit must be an integer between 1 and {max} for {} {}.",
                    provider.as_str(),
                    dataset.as_str()
                );
                return Ok(bad_request(&detail, request_id));
            }
        },
    };
    let len = account.config.len(dataset);
    let pos = match query.cursor.as_deref() {
        None => Position {
            offset: 0,
            page_no: 0,
        },
        Some("") => {
            return Ok(bad_request(
                "Query parameter cursor must be at least 1 character long.",
                request_id,
            ));
        }
        Some(cursor) => match state.cursor_key.decode(&account.config.id, dataset, cursor) {
            Some(pos) if pos.offset <= len => pos,
            _ => return Ok(bad_request("invalid cursor", request_id)),
        },
    };

    if !account.latency.is_zero() {
        sleep_precisely(now + account.latency).await;
    }

    let rules = if account.rules.is_empty() {
        None
    } else {
        scripted(&account.rules, dataset, pos.page_no)
    };
    let fault = state.injector.decide((index, dataset, pos.offset), rules);
    if let Some(fault) = fault {
        stats.fault(fault);
        tracing::debug!(
            account_id,
            dataset = dataset.as_str(),
            fault = fault.name(),
            "Injecting a fault."
        );
    }
    let key = PageKey {
        account: index,
        dataset,
        offset: pos.offset,
        limit,
        page_no: pos.page_no,
    };
    let resp = match fault {
        None => ok_page(state, account, page(state, account, key)),
        Some(Fault::Latency) => {
            let extra = if account.latency.is_zero() {
                Duration::from_secs(1)
            } else {
                account.latency.saturating_mul(10)
            };
            tokio::time::sleep(extra).await;
            ok_page(state, account, page(state, account, key))
        }
        Some(Fault::Api(t)) => envelope(t.status, t.kind, t.title, t.detail, request_id),
        Some(Fault::TooManyRequests) => too_many(
            state.injector.retry_after(),
            "Too many requests to the provider. Retry later.",
            request_id,
        ),
        Some(Fault::Drop) => return Err(Dropped),
        Some(Fault::Truncate) => {
            let body = page(state, account, key).body;
            let mut resp = Response::new(SimBody::Truncated {
                part: Some(body.slice(..body.len() / 2)),
                total: body.len() as u64,
                pause: None,
            });
            resp.headers_mut().insert(CONTENT_TYPE, JSON);
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            resp
        }
        Some(Fault::EmptyPage) => {
            // Resumes at the same offset, one page later, so the cursor differs.
            let next = Position {
                offset: pos.offset,
                page_no: pos.page_no + 1,
            };
            let cursor = state.cursor_key.encode(&account.config.id, dataset, next);
            let mut out = Vec::with_capacity(96);
            page::render(
                &mut out,
                &account.lists[list_index(dataset)],
                dataset,
                0,
                0,
                Some(&cursor),
            );
            ok_page(
                state,
                account,
                CachedPage {
                    body: out.into(),
                    items: 0,
                },
            )
        }
        Some(Fault::Malformed(kind)) => {
            let body = page(state, account, key).body;
            json_response(
                StatusCode::OK,
                page::malform(&body, kind, provider, dataset),
            )
        }
    };
    Ok(resp)
}

/// Sleeps until `deadline`, to within a few tens of microseconds. tokio's timer rounds a
/// deadline up to the next millisecond and may wake a millisecond later still: a 50 ms latency
/// lasted about 51.7 ms. The last few milliseconds are slept on a blocking thread instead, where
/// a sleep is precise.
async fn sleep_precisely(deadline: Instant) {
    const COARSE_MARGIN: Duration = Duration::from_millis(3);
    if let Some(early) = deadline.checked_sub(COARSE_MARGIN) {
        tokio::time::sleep_until(early.into()).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if !rest.is_zero()
        && let Err(error) = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await
    {
        tracing::debug!(error = %error, "The end of a latency sleep was cut short.");
    }
}

thread_local! {
    /// Reused render buffer: pages are rendered here, then copied once into the cache.
    static RENDER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1 << 16));
}

/// The page at `key`, from the cache or rendered and cached.
fn page(state: &State, account: &Account, key: PageKey) -> CachedPage {
    if let Some(hit) = state.cache.get(&key) {
        return hit;
    }
    let dataset = key.dataset;
    let list = &account.lists[list_index(dataset)];
    let short = account.config.short_pages
        && account.config.provider == Provider::Instagram
        && dataset == Dataset::Followers;
    let pos = Position {
        offset: key.offset,
        page_no: key.page_no,
    };
    let plan = page::plan(list, account.config.len(dataset), pos, key.limit, short);
    let cursor = plan
        .next
        .map(|next| state.cursor_key.encode(&account.config.id, dataset, next));
    let body = RENDER.with(|buf| {
        let mut buf = buf.borrow_mut();
        page::render(
            &mut buf,
            list,
            dataset,
            plan.offset,
            plan.count,
            cursor.as_deref(),
        );
        Bytes::copy_from_slice(&buf)
    });
    let page = CachedPage {
        body,
        items: plan.count,
    };
    state.cache.insert(key, page.clone());
    page
}

fn ok_page(state: &State, account: &Account, page: CachedPage) -> Response<SimBody> {
    state.stats.page(page.items);
    let mut resp = json_response(StatusCode::OK, page.body);
    if state.ratelimit_headers {
        let (remaining, reset) = match &account.gate {
            Some(gate) => ("0", decimal_secs(gate.interval())),
            None => ("1", "0".to_owned()),
        };
        let headers = resp.headers_mut();
        headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from_static(remaining));
        if let Ok(value) = HeaderValue::from_str(&reset) {
            headers.insert(X_RATELIMIT_RESET, value);
        }
    }
    resp
}

/// Seconds as a short decimal: 0.5, 2, 0.125.
fn decimal_secs(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = parse_query("account_id=acc%5Fa&limit=10&cursor=ab-_&x=1&limit=20&user_id=a+b");
        assert_eq!(q.account_id.as_deref(), Some("acc_a"));
        assert_eq!(q.limit.as_deref(), Some("10"));
        assert_eq!(q.cursor.as_deref(), Some("ab-_"));
        assert_eq!(q.user_id.as_deref(), Some("a b"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal_secs(Duration::from_millis(500)), "0.5");
        assert_eq!(decimal_secs(Duration::from_secs(2)), "2");
        assert_eq!(decimal_secs(Duration::ZERO), "0");
        assert_eq!(decimal_secs(Duration::from_millis(125)), "0.125");
    }
}
