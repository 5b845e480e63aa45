//! The checks of a data request, in the API's order: API key, key-wide rate, account_id,
//! account, account rate, `limit` bounds, cursor (signature, expiry, the day's length).
//!
//! Owns turning a request into an [`Ask`] (what to serve) or the response that refuses it, and
//! counting what the checks see. It must not know what a page contains or which faults fire.

use std::sync::Arc;
use std::time::Instant;

use hyper::Response;
use hyper::body::Incoming;

use super::super::api_errors::{INVALID_CREDENTIALS, MISSING_CREDENTIALS, RESOURCE_NOT_FOUND};
use super::super::churn::Members;
use super::super::cursor::{Issue, Position};
use super::super::data::{Dataset, max_limit};
use super::super::expiry::now_ms;
use super::super::query::{Query, parse_query};
use super::super::reply::{SimBody, bad_request, documented, too_many};
use super::super::stats::{CursorRefusal, Violation};
use super::{Account, State};

/// A data request that passed every check: what to serve.
pub(super) struct Ask<'a> {
    pub(super) account: &'a Account,
    /// The account's position in the configuration.
    pub(super) index: u32,
    pub(super) dataset: Dataset,
    pub(super) limit: u32,
    pub(super) pos: Position,
    /// The members, in served order, of the day whose list is served: the cursor's day, else
    /// the current day (`issue.day`).
    pub(super) members: Arc<Members>,
    /// How cursors minted for this response are issued.
    pub(super) issue: Issue,
    pub(super) arrived: Instant,
    pub(super) request_id: u64,
}

type Refused = Response<SimBody>;

/// What to serve for `req`, or the response that refuses it.
pub(super) fn admit<'s>(
    state: &'s State,
    req: &hyper::Request<Incoming>,
    dataset: Dataset,
    request_id: u64,
) -> Result<Ask<'s>, Refused> {
    match req.headers().get("x-api-key") {
        None => return Err(documented(MISSING_CREDENTIALS, request_id)),
        Some(key) if key.as_bytes() != state.api_key.as_slice() => {
            return Err(documented(INVALID_CREDENTIALS, request_id));
        }
        Some(_) => {}
    }
    let query = parse_query(req.uri().query().unwrap_or(""));
    let arrived = Instant::now();
    let index = find_account(state, &query, dataset, arrived, request_id)?;
    let account = &state.accounts[index as usize];
    let limit = limit(state, account, dataset, query.limit.as_deref(), request_id)?;
    let (pos, day) = resume(state, account, dataset, query.cursor.as_deref(), request_id)?;
    let members = state.members(index, dataset, day);
    if pos.offset > members.len() {
        state.stats.cursor_refused(CursorRefusal::Invalid);
        return Err(bad_request("invalid cursor", request_id));
    }
    Ok(Ask {
        account,
        index,
        dataset,
        limit,
        pos,
        members,
        issue: state.expiry.issue(day, now_ms()),
        arrived,
        request_id,
    })
}

/// The account asked for, after the key-wide and the account's rate limits.
fn find_account(
    state: &State,
    query: &Query<'_>,
    dataset: Dataset,
    now: Instant,
    request_id: u64,
) -> Result<u32, Refused> {
    let stats = &state.stats;
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
        stats.account_request(c, dataset, now);
    }
    // The key-wide limit meters every authenticated data request, whatever comes next.
    if let Some(gate) = &state.key_gate
        && let Err(wait) = gate.check(now)
    {
        stats.violation(Violation::KeyRate, counters);
        let detail = "Requests per second of this API key exceeded.";
        return Err(too_many(wait, detail, request_id));
    }
    if account_id.is_none() {
        return Err(bad_request(
            "Query parameter account_id is required when user_id is not provided.",
            request_id,
        ));
    }
    let Some(index) = found else {
        return Err(documented(RESOURCE_NOT_FOUND, request_id));
    };
    let account = &state.accounts[index as usize];
    if let Some(gate) = &account.gate
        && let Err(wait) = gate.check(now)
    {
        stats.violation(Violation::AccountRate, Some(&account.counters));
        let detail = "Requests per minute of this account exceeded.";
        return Err(too_many(wait, detail, request_id));
    }
    Ok(index)
}

/// The page size asked for, within the provider's bounds.
fn limit(
    state: &State,
    account: &Account,
    dataset: Dataset,
    text: Option<&str>,
    request_id: u64,
) -> Result<u32, Refused> {
    let provider = account.config.provider;
    let max = max_limit(provider, dataset);
    let Some(text) = text else {
        return Ok(100.min(max));
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => {
            state
                .stats
                .violation(Violation::Limit, Some(&account.counters));
            let detail = format!(
                "Query parameter limit must be an integer between 1 and {max} for {} {}.",
                provider.as_str(),
                dataset.as_str()
            );
            Err(bad_request(&detail, request_id))
        }
    }
}

/// Where the page starts and which day's list it is of: the start of today's list without a
/// cursor, else what the cursor says, if it is genuine and not expired.
fn resume(
    state: &State,
    account: &Account,
    dataset: Dataset,
    cursor: Option<&str>,
    request_id: u64,
) -> Result<(Position, u32), Refused> {
    let Some(cursor) = cursor else {
        let start = Position {
            offset: 0,
            page_no: 0,
        };
        return Ok((start, state.day()));
    };
    if cursor.is_empty() {
        return Err(bad_request(
            "Query parameter cursor must be at least 1 character long.",
            request_id,
        ));
    }
    let Some((pos, issue)) = state.cursor_key.decode(&account.config.id, dataset, cursor) else {
        state.stats.cursor_refused(CursorRefusal::Invalid);
        return Err(bad_request("invalid cursor", request_id));
    };
    if let Some(refusal) = state.expiry.refusal(&issue, now_ms()) {
        state.stats.cursor_refused(CursorRefusal::Expired);
        return Err(bad_request(&refusal.detail(), request_id));
    }
    Ok((pos, issue.day))
}
