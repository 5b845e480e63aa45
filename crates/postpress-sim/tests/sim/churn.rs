//! Days and churn over HTTP: lists change from day to day as the library's ground truth says,
//! cursors keep their day, and `/_sim/stats/ids` gives the exact keys of any day.

use std::collections::HashMap;

use postpress_sim::{expected_keys, expected_list};

use super::*;

const SCENARIO: &str = r#"
seed = 17
churn = 0.05
[[accounts]]
id = "acc_li"
provider = "linkedin"
followers = 2000
following = 1500
[[accounts]]
id = "acc_still"
provider = "instagram"
followers = 300
churn = 0.0
"#;

/// Day 0 with churn serves the plain list, item `i` at position `i`, and the ids endpoint
/// gives its keys in the same order.
#[tokio::test]
async fn day_zero_with_churn_is_the_plain_list() {
    let sim = SimProcess::start(&["--accounts", "1", "--followers", "450", "--churn", "0.3"]);
    let walk = sim.walk("followers", "acc_linkedin_0000", 100).await;
    let items = walk.items();
    assert_eq!(items.len(), 450);
    for (i, item) in items.iter().enumerate() {
        let expected = expected_item(
            42,
            Provider::Linkedin,
            Dataset::Followers,
            "acc_linkedin_0000",
            i as u64,
        );
        assert_eq!(**item, expected, "item {i}");
    }
    let ids = sim.ids("followers", "acc_linkedin_0000", None).await;
    assert_eq!(ids, walk.keys());
}

/// Each day serves exactly `expected_list`; sizes stay near the configured size; about the
/// churn leaves and about as much arrives; an item has the same content on every day it is
/// there; some items come back after leaving.
#[tokio::test]
async fn lists_change_by_about_the_churn_every_day() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::with_scenario(dir.path(), SCENARIO, &[]);
    let cases = [
        ("followers", Dataset::Followers, 2000u64, 100),
        ("following", Dataset::Following, 1500, 1000),
    ];
    for (route, dataset, size, limit) in cases {
        let mut seen: HashMap<String, Value> = HashMap::new();
        let mut days: Vec<Vec<String>> = Vec::new();
        for day in 0..=6u32 {
            sim.set_day(day).await;
            let walk = sim.walk(route, "acc_li", limit).await;
            let expected =
                expected_list(17, Provider::Linkedin, dataset, "acc_li", size, 0.05, day);
            let served: Vec<Value> = walk.items().into_iter().cloned().collect();
            assert!(
                served == expected,
                "{route} day {day} differs from expected_list"
            );
            let keys = walk.keys();
            assert_eq!(walk.assert_distinct(keys.len()).len(), keys.len());
            assert_eq!(sim.ids(route, "acc_li", None).await, keys);
            for (key, item) in keys.iter().zip(&served) {
                let first = seen.entry(key.clone()).or_insert_with(|| item.clone());
                assert_eq!(first, item, "{key} changed between days");
            }
            let n = keys.len() as f64;
            assert!(
                (n - size as f64).abs() < 0.06 * size as f64,
                "day {day}: {n} items"
            );
            if let Some(yesterday) = days.last() {
                let (lost, gained) = changes(yesterday, &keys);
                let about = 0.05 * size as f64;
                for (what, count) in [("lost", lost), ("gained", gained)] {
                    let count = count as f64;
                    assert!(
                        count > 0.5 * about && count < 1.6 * about,
                        "{route} day {day}: {what} {count}, expected about {about}"
                    );
                }
            }
            days.push(keys);
        }
        assert!(returns(&days) > 0, "{route}: no item came back");
    }
}

/// How many keys left and arrived from one day to the next.
fn changes(before: &[String], after: &[String]) -> (usize, usize) {
    let b: HashSet<&String> = before.iter().collect();
    let a: HashSet<&String> = after.iter().collect();
    (b.difference(&a).count(), a.difference(&b).count())
}

/// Items present on some day, absent the next day, present again later.
fn returns(days: &[Vec<String>]) -> usize {
    let sets: Vec<HashSet<&String>> = days.iter().map(|d| d.iter().collect()).collect();
    (2..sets.len())
        .map(|d| {
            sets[d]
                .iter()
                .filter(|k| {
                    !sets[d - 1].contains(*k) && sets[..d - 1].iter().any(|s| s.contains(*k))
                })
                .count()
        })
        .sum()
}

/// A cursor pages through the list of the day it was issued on, across `POST /_sim/day`;
/// a new walk gets the new day. The ids endpoint answers any day.
#[tokio::test]
async fn a_cursor_keeps_its_day() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::with_scenario(dir.path(), SCENARIO, &["--day", "2"]);
    let day = sim.get_path("/_sim/day").await.json();
    assert_eq!(day, serde_json::json!({"day": 2}));
    let first = sim
        .get("followers", "account_id=acc_li&limit=100")
        .await
        .json();
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    let moved = sim.post("/_sim/day/3").await.json();
    assert_eq!(moved, serde_json::json!({"day": 3, "previous": 2}));
    let rest = sim
        .walk_from("followers", "acc_li", 100, Some(cursor))
        .await;
    let mut keys = Walk { pages: vec![first] }.keys();
    keys.extend(rest.keys());
    let day2 = expected_keys(
        17,
        Provider::Linkedin,
        Dataset::Followers,
        "acc_li",
        2000,
        0.05,
        2,
    );
    let day3 = expected_keys(
        17,
        Provider::Linkedin,
        Dataset::Followers,
        "acc_li",
        2000,
        0.05,
        3,
    );
    assert_eq!(keys, day2);
    assert_ne!(day2, day3);
    assert_eq!(sim.walk("followers", "acc_li", 100).await.keys(), day3);
    assert_eq!(sim.ids("followers", "acc_li", Some(2)).await, day2);
    assert_eq!(sim.ids("followers", "acc_li", None).await, day3);
}

/// An account's own `churn = 0` keeps its list whatever the day; the stats report the day.
#[tokio::test]
async fn per_account_churn_and_the_day_in_stats() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::with_scenario(dir.path(), SCENARIO, &["--day", "9"]);
    let still = sim.walk("followers", "acc_still", 200).await;
    let plain = expected_keys(
        17,
        Provider::Instagram,
        Dataset::Followers,
        "acc_still",
        300,
        0.0,
        0,
    );
    assert_eq!(still.keys(), plain);
    let churned = sim.ids("following", "acc_li", None).await;
    let day9 = expected_keys(
        17,
        Provider::Linkedin,
        Dataset::Following,
        "acc_li",
        1500,
        0.05,
        9,
    );
    assert_eq!(churned, day9);
    let stats = sim.stats().await;
    assert_eq!(stats["day"], 9);
}

/// Bad days and ids queries answer the API's envelope; unknown control paths are 404s.
#[tokio::test]
async fn control_errors() {
    let sim = SimProcess::start(&["--accounts", "1"]);
    for bad in ["abc", "36501", "-1", ""] {
        let reply = sim.post(&format!("/_sim/day/{bad}")).await;
        let v = reply.assert_error(400, "errors/invalid_request");
        assert!(
            v["detail"].as_str().unwrap().contains("from 0 to 36500"),
            "{v}"
        );
    }
    assert_eq!(sim.get_path("/_sim/day").await.json()["day"], 0);
    let q = "/_sim/stats/ids?account_id=acc_linkedin_0000";
    sim.get_path(q)
        .await
        .assert_error(400, "errors/invalid_request");
    sim.get_path(&format!("{q}&dataset=followers&day=x"))
        .await
        .assert_error(400, "errors/invalid_request");
    sim.get_path("/_sim/ids?account_id=nobody&dataset=following")
        .await
        .assert_error(404, "errors/resource_not_found");
    let ids = sim.get_path(&format!("{q}&dataset=following")).await.json();
    assert_eq!(ids["key"], "member_id");
    assert_eq!(ids["count"], 100);
    sim.get_path("/_sim/nope")
        .await
        .assert_error(404, "errors/resource_not_found");
}

/// A churned day of a large list is computed once, then pages come from memory.
#[tokio::test]
async fn a_large_churned_list_pages_to_the_end() {
    let sim = SimProcess::start(&[
        "--accounts",
        "1",
        "--provider",
        "instagram",
        "--followers",
        "100000",
        "--churn",
        "0.02",
        "--day",
        "30",
    ]);
    let walk = sim.walk("followers", "acc_instagram_0000", 200).await;
    let keys = walk.keys();
    let expected = expected_keys(
        42,
        Provider::Instagram,
        Dataset::Followers,
        "acc_instagram_0000",
        100_000,
        0.02,
        30,
    );
    assert_eq!(keys.len(), expected.len());
    assert!(
        keys == expected,
        "the served list differs from expected_keys"
    );
    assert!(
        (keys.len() as i64 - 100_000).abs() < 2_000,
        "{}",
        keys.len()
    );
}
