//! The breakers' rules as a table (SPEC §3, issue 12), their messages, and the gate.

use super::*;
use crate::report::{FailureKind, UnitFailure, UnitStatus};
use tokio_util::sync::CancellationToken;

/// One unit's end in a table row.
#[derive(Clone, Copy)]
enum End {
    Ok,
    /// Failed at the API with this status and type.
    Http(u16, &'static str),
    /// Failed with a connection error of this cause.
    Conn(&'static str),
    /// Failed for a storage error.
    Storage,
    /// Failed with an invalid page.
    Invalid,
    /// Abandoned: the run stopping.
    Skipped,
}

/// The signature the unit's typed error gives the breaker.
fn signature(e: End) -> Option<Signature> {
    match e {
        End::Http(status, ty) => Some(Signature {
            status: Some(status),
            error_type: ty.to_owned(),
            cause: None,
        }),
        End::Conn(cause) => Some(Signature {
            status: None,
            error_type: "connection".to_owned(),
            cause: Some(cause.to_owned()),
        }),
        _ => None,
    }
}

fn failure(e: End) -> (UnitStatus, Option<UnitFailure>) {
    let mut f = match e {
        End::Ok => return (UnitStatus::Ok, None),
        End::Skipped => return (UnitStatus::Skipped, None),
        End::Http(..) | End::Conn(_) => UnitFailure::new(FailureKind::Api, "x"),
        End::Storage => UnitFailure::new(FailureKind::Storage, "put failed"),
        End::Invalid => UnitFailure::new(FailureKind::InvalidPage, "x"),
    };
    match e {
        End::Http(status, ty) => {
            f.status = Some(status);
            f.error_type = Some(ty.to_owned());
        }
        End::Conn(_) => {
            f.error_type = Some("connection".to_owned());
        }
        _ => {}
    }
    (UnitStatus::Failed, Some(f))
}

/// What happens in a row of the table.
#[derive(Clone, Copy)]
enum Step {
    /// A unit asks to start; the gate answers this.
    Start(Gate),
    /// A page is received.
    Page,
    /// A unit ends; `true` when that end trips a breaker.
    End(End, bool),
}

const INVALID_KEY: End = End::Http(401, "errors/invalid_credentials");
const REFUSED: End = End::Conn("Connection refused (os error 111)");

fn starts(n: usize) -> Vec<Step> {
    vec![Step::Start(Gate::Start); n]
}
fn ends(e: End, n: usize) -> Vec<Step> {
    vec![Step::End(e, false); n]
}

fn run(what: &str, units: usize, steps: &[Step]) -> Option<Trip> {
    let mut b = Breaker::new(units, "127.0.0.1:9");
    let mut tripped = None;
    for (i, step) in steps.iter().enumerate() {
        match *step {
            Step::Start(want) => assert_eq!(b.try_start(), want, "{what}: step {i}"),
            Step::Page => b.page_received(),
            Step::End(e, trips) => {
                let (status, f) = failure(e);
                let t = b.unit_ended(status, f.as_ref(), signature(e));
                assert_eq!(t.is_some(), trips, "{what}: step {i}: {t:?}");
                tripped = tripped.or(t);
            }
        }
    }
    tripped
}

fn cat(parts: &[Vec<Step>]) -> Vec<Step> {
    parts.concat()
}

/// When the run-level breaker trips, row by row: (what the row proves, units planned, steps).
#[test]
fn run_level_trips() {
    let t = Step::End(INVALID_KEY, true);
    let table: Vec<(&str, usize, Vec<Step>)> = vec![
        (
            "10 units rejected the same way, no page: trips on the 10th end",
            120,
            cat(&[
                starts(10),
                vec![Step::Start(Gate::Wait)],
                ends(INVALID_KEY, 9),
                vec![t],
            ]),
        ),
        (
            "after a trip nothing starts",
            120,
            cat(&[
                starts(10),
                ends(INVALID_KEY, 9),
                vec![t, Step::Start(Gate::Stop)],
            ]),
        ),
        (
            "fewer than 10 units: all of them judge",
            3,
            cat(&[starts(3), ends(INVALID_KEY, 2), vec![t]]),
        ),
        (
            "the same connection error trips",
            50,
            cat(&[starts(10), ends(REFUSED, 9), vec![Step::End(REFUSED, true)]]),
        ),
    ];
    for (what, units, steps) in table {
        run(what, units, &steps);
    }
}

/// When the run-level breaker holds, row by row: (what the row proves, units planned, steps).
#[test]
fn run_level_holds() {
    let table: Vec<(&str, usize, Vec<Step>)> = vec![
        (
            "a page received anywhere: never trips, the gate opens",
            120,
            cat(&[
                starts(10),
                vec![Step::Start(Gate::Wait), Step::Page],
                starts(5),
                ends(INVALID_KEY, 15),
            ]),
        ),
        (
            "the first ends differ: no trip, the gate opens, later ends are not judged",
            120,
            cat(&[
                starts(10),
                ends(INVALID_KEY, 9),
                vec![Step::End(
                    End::Http(403, "errors/account_restricted"),
                    false,
                )],
                starts(3),
                ends(INVALID_KEY, 12),
            ]),
        ),
        (
            "same type, another status: not the same failure",
            10,
            cat(&[
                starts(10),
                ends(INVALID_KEY, 9),
                vec![Step::End(
                    End::Http(403, "errors/invalid_credentials"),
                    false,
                )],
            ]),
        ),
        (
            "another connection error: not the same failure",
            10,
            cat(&[
                starts(10),
                ends(REFUSED, 9),
                vec![Step::End(End::Conn("timed out"), false)],
            ]),
        ),
        (
            "failures that are not the API's do not trip the run-level breaker",
            10,
            cat(&[starts(10), ends(End::Invalid, 10)]),
        ),
        (
            "skipped units are not judged",
            10,
            cat(&[starts(10), ends(End::Skipped, 5), ends(INVALID_KEY, 5)]),
        ),
    ];
    for (what, units, steps) in table {
        run(what, units, &steps);
    }
}

/// The destination breaker's rules, row by row: (what the row proves, units planned, steps).
#[test]
fn destination_rules() {
    let table: Vec<(&str, usize, Vec<Step>)> = vec![
        (
            "3 storage failures in a row trip the destination breaker",
            100,
            cat(&[
                starts(10),
                vec![Step::Page],
                ends(End::Storage, 2),
                vec![Step::End(End::Storage, true), Step::Start(Gate::Stop)],
            ]),
        ),
        (
            "a published unit resets the storage count; API failures leave it",
            100,
            cat(&[
                starts(10),
                vec![Step::Page],
                ends(End::Storage, 2),
                ends(End::Ok, 1),
                ends(End::Storage, 1),
                ends(INVALID_KEY, 1),
                ends(End::Storage, 1),
                vec![Step::End(End::Storage, true)],
            ]),
        ),
    ];
    for (what, units, steps) in table {
        run(what, units, &steps);
    }
}

/// The trip's message names what every account got and what to check.
#[test]
fn messages() {
    let trip = |e: End| cat(&[starts(10), ends(e, 9), vec![Step::End(e, true)]]);
    let cases: [(End, &str); 4] = [
        (
            INVALID_KEY,
            "every account tried got HTTP 401 errors/invalid_credentials (the first 10 units, no page received): check the API key (POSTPRESS_API_KEY or api.api_key_file); no other unit was started",
        ),
        (
            End::Http(404, "http_404"),
            "every account tried got HTTP 404 http_404 (the first 10 units, no page received): check base_url: 127.0.0.1:9 does not serve the API's paths there, or knows none of the accounts; no other unit was started",
        ),
        (
            REFUSED,
            "every account tried got a connection error (Connection refused (os error 111)) (the first 10 units, no page received): check base_url and the network: nothing usable answered at 127.0.0.1:9; no other unit was started",
        ),
        (
            End::Http(503, "errors/service_unavailable"),
            "every account tried got HTTP 503 errors/service_unavailable (the first 10 units, no page received): the API is failing for every account; check its status, then rerun; no other unit was started",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(
            run(want, 20, &trip(e)).map(|t| t.to_string()).as_deref(),
            Some(want)
        );
    }
    let storage = cat(&[
        vec![Step::Page],
        ends(End::Storage, 2),
        vec![Step::End(End::Storage, true)],
    ]);
    assert_eq!(
        run("storage", 20, &storage)
            .map(|t| t.to_string())
            .as_deref(),
        Some(
            "3 units in a row could not be written to the destination; check it, then rerun (no further fetching: it would be thrown away); the last error: put failed"
        )
    );
    assert_eq!(
        host_port("https://api.postpress.ai/api/v1"),
        "api.postpress.ai:443"
    );
    assert_eq!(host_port("http://127.0.0.1:8080/api/v1"), "127.0.0.1:8080");
}

/// Units waiting at the gate start when a page arrives, and give up when the run stops.
#[tokio::test]
async fn waiting_units_are_released() {
    let b = std::sync::Arc::new(Breakers::new(50, "h:1"));
    let halt = CancellationToken::new();
    for _ in 0..PROBE_UNITS {
        assert!(b.admit(&halt).await);
    }
    let waiter = tokio::spawn({
        let (b, halt) = (b.clone(), halt.clone());
        async move { b.admit(&halt).await }
    });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    b.page_received();
    assert!(waiter.await.expect("join"));

    let b = std::sync::Arc::new(Breakers::new(50, "h:1"));
    for _ in 0..PROBE_UNITS {
        assert!(b.admit(&halt).await);
    }
    let waiter = tokio::spawn({
        let (b, halt) = (b.clone(), halt.clone());
        async move { b.admit(&halt).await }
    });
    halt.cancel();
    assert!(!waiter.await.expect("join"));
}
