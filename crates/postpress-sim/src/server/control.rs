//! The control routes under `/_sim/`: what tests and benchmarks read and steer.
//!
//! * `GET /_sim/stats`: the counters (see `stats`), plus `day` and `cursor_generation`.
//! * `POST /_sim/reset`, `POST /_sim/stats/reset`: zero every counter and peak.
//! * `GET /_sim/day`: `{"day": N}`. `POST /_sim/day/N`: `{"day": N, "previous": M}`.
//! * `POST /_sim/expire-cursors`: `{"generation": G}`; every cursor issued before is refused.
//! * `GET /_sim/stats/ids` (or `/_sim/ids`) `?account_id=A&dataset=followers|following[&day=N]`:
//!   `{"account_id", "dataset", "day", "key", "count", "ids"}`, the keys of that day's list in
//!   served order (`key` names the field: `id`, or `member_id` for following).
//!
//! Bad parameters answer 400 `errors/invalid_request`, an unknown account 404
//! `errors/resource_not_found`, both with the API's envelope. Control requests are not counted
//! and need no API key. It must not know how a list is computed beyond asking the state.

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::super::api_errors::RESOURCE_NOT_FOUND;
use super::super::churn::MAX_DAY;
use super::super::data::Dataset;
use super::super::query::param;
use super::super::reply::{SimBody, bad_request, documented, json_response};
use super::State;

/// The response of a control route, or `None` when `req` is not one (unknown `/_sim/` paths
/// included: they are answered 404 like any unknown route).
pub(super) fn route(state: &State, req: &Request<Incoming>) -> Option<Response<SimBody>> {
    let path = req.uri().path().strip_prefix("/_sim/")?;
    let query = req.uri().query().unwrap_or("");
    let resp = match (req.method(), path) {
        (&Method::GET, "stats") => ok(stats(state)),
        (&Method::POST, "reset" | "stats/reset") => {
            state
                .stats
                .reset(state.accounts.iter().map(|a| &a.counters));
            json_response(StatusCode::OK, r#"{"reset":true}"#)
        }
        (&Method::GET, "day") => ok(json!({"day": state.day()})),
        (&Method::POST, p) if p.starts_with("day/") => set_day(state, &p["day/".len()..]),
        (&Method::POST, "expire-cursors") => ok(json!({"generation": state.expiry.expire_all()})),
        (&Method::GET, "ids" | "stats/ids") => ids(state, query),
        _ => return None,
    };
    Some(resp)
}

fn ok(doc: Value) -> Response<SimBody> {
    json_response(StatusCode::OK, doc.to_string())
}

fn stats(state: &State) -> Value {
    let accounts = state.accounts.iter();
    let mut doc = state
        .stats
        .to_json(accounts.map(|a| (a.config.id.as_str(), &a.counters)));
    if let Some(o) = doc.as_object_mut() {
        o.insert("day".to_owned(), json!(state.day()));
        o.insert(
            "cursor_generation".to_owned(),
            json!(state.expiry.generation()),
        );
    }
    doc
}

fn parse_day(text: &str) -> Option<u32> {
    text.parse().ok().filter(|d| *d <= MAX_DAY)
}

fn day_error(text: &str, request_id: u64) -> Response<SimBody> {
    let detail = format!("day must be an integer from 0 to {MAX_DAY}, not {text:?}.");
    bad_request(&detail, request_id)
}

fn set_day(state: &State, text: &str) -> Response<SimBody> {
    let Some(day) = parse_day(text) else {
        return day_error(text, state.next_request_id());
    };
    let previous = state.day.swap(day, std::sync::atomic::Ordering::AcqRel);
    ok(json!({"day": day, "previous": previous}))
}

fn ids(state: &State, query: &str) -> Response<SimBody> {
    let request_id = state.next_request_id();
    let Some(account_id) = param(query, "account_id").filter(|a| !a.is_empty()) else {
        return bad_request("Query parameter account_id is required.", request_id);
    };
    let dataset = match param(query, "dataset").as_deref() {
        Some("followers") => Dataset::Followers,
        Some("following") => Dataset::Following,
        _ => {
            let detail = "Query parameter dataset must be followers or following.";
            return bad_request(detail, request_id);
        }
    };
    let day = match param(query, "day") {
        None => state.day(),
        Some(text) => match parse_day(&text) {
            Some(day) => day,
            None => return day_error(&text, request_id),
        },
    };
    let Some(&index) = state.by_id.get(account_id.as_ref()) else {
        return documented(RESOURCE_NOT_FOUND, request_id);
    };
    let list = &state.accounts[index as usize].lists[dataset.index()].key;
    let members = state.members(index, dataset, day);
    let keys: Vec<String> = members.indices().map(|i| list.key(i)).collect();
    ok(json!({
        "account_id": account_id,
        "dataset": dataset.as_str(),
        "day": day,
        "key": dataset.key_field(),
        "count": keys.len(),
        "ids": keys,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        assert_eq!(parse_day("0"), Some(0));
        assert_eq!(parse_day("36500"), Some(MAX_DAY));
        assert_eq!(parse_day("36501"), None);
        assert_eq!(parse_day("-1"), None);
        assert_eq!(parse_day(""), None);
    }
}
