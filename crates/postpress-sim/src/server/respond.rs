//! What an admitted data request is answered: its page, or the fault chosen for it.
//!
//! Owns the faults on the wire (documented errors, 429, dropped connections, truncated bodies,
//! empty pages, extra latency, malformed pages), pages from the cache or rendered into it, and
//! the rate-limit headers of a 200. It must not know the checks before it (`admit`) or how an
//! item or a cursor is made beyond calling `page` and `cursor`.

use std::cell::RefCell;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use super::super::cache::{CachedPage, PageKey};
use super::super::cursor::Position;
use super::super::data::{Dataset, Provider};
use super::super::fault::{Fault, scripted};
use super::super::page;
use super::super::reply::{Dropped, JSON, Reply, SimBody, envelope, json_response, too_many};
use super::State;
use super::admit::Ask;

const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The response to an admitted request.
pub(super) async fn respond(state: &State, ask: Ask<'_>) -> Reply {
    let account = ask.account;
    let dataset = ask.dataset;
    let rules = if account.rules.is_empty() {
        None
    } else {
        scripted(&account.rules, dataset, ask.pos.page_no)
    };
    let fault = state
        .injector
        .decide((ask.index, dataset, ask.pos.offset), rules);
    if let Some(fault) = fault {
        state.stats.fault(fault);
        tracing::debug!(
            account_id = account.config.id,
            dataset = dataset.as_str(),
            fault = fault.name(),
            "Injecting a fault."
        );
    }
    let request_id = ask.request_id;
    let resp = match fault {
        None => ok_page(state, &ask, page(state, &ask)),
        Some(Fault::Latency) => {
            let extra = if account.latency.is_zero() {
                Duration::from_secs(1)
            } else {
                account.latency.saturating_mul(10)
            };
            tokio::time::sleep(extra).await;
            ok_page(state, &ask, page(state, &ask))
        }
        Some(Fault::Api(t)) => envelope(t.status, t.kind, t.title, t.detail, request_id),
        Some(Fault::TooManyRequests) => too_many(
            state.injector.retry_after(),
            "Too many requests to the provider. Retry later.",
            request_id,
        ),
        Some(Fault::Drop) => return Err(Dropped),
        Some(Fault::Truncate) => truncated(page(state, &ask).body),
        Some(Fault::EmptyPage) => ok_page(state, &ask, empty_page(state, &ask)),
        Some(Fault::Malformed(kind)) => {
            let body = page(state, &ask).body;
            let provider = account.config.provider;
            json_response(
                StatusCode::OK,
                page::malform(&body, kind, provider, dataset),
            )
        }
    };
    Ok(resp)
}

/// Headers with the full `Content-Length`, then half the body, then the connection closes.
fn truncated(body: Bytes) -> Response<SimBody> {
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

/// `items: []` with a cursor that resumes at the same offset, one page later, so it differs.
fn empty_page(state: &State, ask: &Ask<'_>) -> CachedPage {
    let next = Position {
        offset: ask.pos.offset,
        page_no: ask.pos.page_no + 1,
    };
    let id = &ask.account.config.id;
    let cursor = state.cursor_key.encode(id, ask.dataset, next, ask.issue);
    let mut out = Vec::with_capacity(128);
    let list = &ask.account.lists[ask.dataset.index()].key;
    page::render(
        &mut out,
        list,
        ask.dataset,
        &ask.members,
        0,
        0,
        Some(&cursor),
    );
    CachedPage {
        body: out.into(),
        items: 0,
    }
}

thread_local! {
    /// Reused render buffer: pages are rendered here, then copied once into the cache.
    static RENDER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1 << 16));
}

/// The page asked for, from the cache or rendered and cached.
fn page(state: &State, ask: &Ask<'_>) -> CachedPage {
    let key = PageKey {
        account: ask.index,
        dataset: ask.dataset,
        offset: ask.pos.offset,
        limit: ask.limit,
        page_no: ask.pos.page_no,
        issue: ask.issue,
    };
    if let Some(hit) = state.cache.get(&key) {
        return hit;
    }
    let (account, dataset) = (ask.account, ask.dataset);
    let list = &account.lists[dataset.index()].key;
    let short = account.config.short_pages
        && account.config.provider == Provider::Instagram
        && dataset == Dataset::Followers;
    let plan = page::plan(list, ask.members.len(), ask.pos, ask.limit, short);
    let cursor = plan.next.map(|next| {
        state
            .cursor_key
            .encode(&account.config.id, dataset, next, ask.issue)
    });
    let body = RENDER.with(|buf| {
        let mut buf = buf.borrow_mut();
        page::render(
            &mut buf,
            list,
            dataset,
            &ask.members,
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

fn ok_page(state: &State, ask: &Ask<'_>, page: CachedPage) -> Response<SimBody> {
    let account = ask.account;
    state.stats.page(page.items, &account.counters, ask.dataset);
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
    fn decimals() {
        assert_eq!(decimal_secs(Duration::from_millis(500)), "0.5");
        assert_eq!(decimal_secs(Duration::from_secs(2)), "2");
        assert_eq!(decimal_secs(Duration::ZERO), "0");
        assert_eq!(decimal_secs(Duration::from_millis(125)), "0.125");
    }
}
