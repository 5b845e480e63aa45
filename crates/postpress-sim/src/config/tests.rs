//! Scenario and flag validation: every key, its errors, flags over the file.

use super::*;
use crate::fault::Fault;
use clap::Parser;

fn scenario(text: &str) -> Result<SimConfig> {
    SimConfig::from_scenario(toml::from_str(text).unwrap(), "s.toml", "k".into())
}

#[test]
fn full_scenario() {
    let c = scenario(
        r#"
        seed = 7
        latency = "5ms"
        account_rpm = 120.0
        key_rps = 50.0
        ratelimit_headers = true
        [faults]
        rate = 0.3
        kinds = ["429", "drop", "errors/no_channel", "malformed:wrong_type"]
        max_consecutive = 2
        retry_after = "0s"
        [[accounts]]
        id = "acc_linkedin_0000"
        provider = "linkedin"
        followers = 2501
        following = 10
        [[accounts]]
        id = "acc_instagram_0001"
        provider = "instagram"
        latency = "50ms"
        short_pages = true
        [[accounts.faults]]
        dataset = "followers"
        page = 0
        fault = "errors/account_restricted"
        times = 2
        "#,
    )
    .unwrap();
    assert_eq!(c.seed, 7);
    assert_eq!(c.account_rpm, Some(120.0));
    assert_eq!(c.faults.kinds.len(), 4);
    assert_eq!(c.faults.retry_after, Duration::ZERO);
    assert_eq!(c.latency, Duration::from_millis(5));
    assert_eq!(c.accounts[0].latency, None);
    assert_eq!(c.accounts[1].latency, Some(Duration::from_millis(50)));
    assert!(c.accounts[1].short_pages);
    assert_eq!(c.accounts[1].faults[0].times, Some(2));
}

#[test]
fn errors_name_the_key() {
    let e = scenario(
        "[[accounts]]\nid = \"a\"\nprovider = \"linkedin\"\n[[accounts.faults]]\nfault = \"boom\"",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("s.toml: accounts[0].faults[0].fault = \"boom\" is not allowed; expected one of errors/missing_credentials"), "{e}");
    let e = scenario("[faults]\nrate = 1.5").unwrap_err().to_string();
    assert_eq!(
        e,
        "s.toml: faults.rate = 1.5 is not allowed; expected a probability from 0 to 1"
    );
    let e = scenario("[[accounts]]\nid = \"a\"\nprovider = \"linkedin\"\n[[accounts]]\nid = \"a\"\nprovider = \"instagram\"")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "s.toml: account a is defined twice");
    assert!(toml::from_str::<ScenarioFile>("nope = 1").is_err());
    assert!(toml::from_str::<ScenarioFile>("[[accounts]]\nid=\"a\"\nprovider=\"x\"").is_err());
}

#[test]
fn flags_generate_and_override() {
    let args = SimArgs::parse_from([
        "postpress-sim",
        "--accounts",
        "3",
        "--followers",
        "5",
        "--latency",
        "2ms",
        "--fault-kinds",
        "drop,429",
        "--short-pages",
    ]);
    let c = SimConfig::from_args(&args).unwrap();
    let ids: Vec<_> = c.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "acc_linkedin_0000",
            "acc_instagram_0001",
            "acc_linkedin_0002"
        ]
    );
    assert!(c.accounts.iter().all(|a| a.followers == 5 && a.short_pages));
    assert_eq!(c.latency, Duration::from_millis(2));
    assert_eq!(c.faults.kinds, [Fault::Drop, Fault::TooManyRequests]);
    let args = SimArgs::parse_from(["postpress-sim", "--fault-kinds", "drop,nope"]);
    assert!(SimConfig::from_args(&args).is_err());
}

#[test]
fn days_churn_and_cursor_ttl() {
    let c = scenario(
        r#"
        day = 12
        churn = 0.05
        cursor_ttl = "10s"
        [[accounts]]
        id = "a"
        provider = "linkedin"
        [[accounts]]
        id = "b"
        provider = "instagram"
        churn = 0.0
        "#,
    )
    .unwrap();
    assert_eq!((c.day, c.churn), (12, 0.05));
    assert_eq!(c.cursor_ttl, Some(Duration::from_secs(10)));
    assert_eq!(
        (c.accounts[0].churn, c.accounts[1].churn),
        (None, Some(0.0))
    );
    let defaults = scenario("").unwrap();
    assert_eq!(
        (defaults.day, defaults.churn, defaults.cursor_ttl),
        (0, 0.0, None)
    );

    let bad = [
        (
            "day = 36501",
            "day = 36501 is not allowed; expected a day from 0 to 36500",
        ),
        (
            "churn = -0.5",
            "churn = -0.5 is not allowed; expected a fraction from 0 (included) to 1 (excluded)",
        ),
        (
            "cursor_ttl = \"0ms\"",
            "cursor_ttl = \"0ms\" is not allowed; expected a duration above 0 such as \"10s\"",
        ),
        (
            "[[accounts]]\nid = \"a\"\nprovider = \"linkedin\"\nchurn = 1.5",
            "accounts[0].churn = 1.5 is not allowed",
        ),
    ];
    for (text, message) in bad {
        let e = scenario(text).unwrap_err().to_string();
        assert!(e.starts_with(&format!("s.toml: {message}")), "{e}");
    }
}

#[test]
fn day_churn_and_ttl_flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, "day = 3\nchurn = 0.1\ncursor_ttl = \"1m\"\n").unwrap();
    let args = SimArgs::parse_from([
        "postpress-sim",
        "--scenario",
        path.to_str().unwrap(),
        "--day",
        "5",
        "--churn",
        "0.02",
        "--cursor-ttl",
        "30s",
    ]);
    let c = SimConfig::from_args(&args).unwrap();
    assert_eq!((c.day, c.churn), (5, 0.02));
    assert_eq!(c.cursor_ttl, Some(Duration::from_secs(30)));
    for bad in [["--day", "99999"], ["--churn", "1"], ["--cursor-ttl", "0s"]] {
        let args = SimArgs::parse_from(["postpress-sim", bad[0], bad[1]]);
        let e = SimConfig::from_args(&args).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("command line: {} = ", bad[0])),
            "{e}"
        );
    }
}
