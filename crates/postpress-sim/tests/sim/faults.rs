//! Injected faults and enforced rates: every documented error, transport faults, empty and
//! malformed pages, random faults, 429s.

use super::*;

/// Every documented error type, scripted on its own account, comes back with its status,
/// type, title and the docs' detail.
#[tokio::test]
async fn every_documented_error_type_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = String::new();
    for (i, t) in ERROR_TYPES.iter().enumerate() {
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"acc_err_{i:02}\"\nprovider = \"linkedin\"\nfollowers = 5\n\
             [[accounts.faults]]\nfault = \"{}\"\n",
            t.kind
        ));
    }
    let sim = SimProcess::with_scenario(dir.path(), &scenario, &[]);
    let mut instances = HashSet::new();
    for (i, t) in ERROR_TYPES.iter().enumerate() {
        let dataset = if i % 2 == 0 { "followers" } else { "following" };
        let v = sim
            .get(dataset, &format!("account_id=acc_err_{i:02}"))
            .await
            .assert_error(t.status, t.kind);
        assert_eq!(v["title"], t.title);
        assert_eq!(v["detail"], t.detail);
        assert!(instances.insert(v["instance"].as_str().unwrap().to_owned()));
    }
    assert_eq!(ERROR_TYPES.len(), 34);
    let stats = sim.stats().await;
    for t in &ERROR_TYPES {
        assert_eq!(stats["faults"][t.kind], 1, "{}", t.kind);
    }
}

/// 429 carries Retry-After; a dropped connection and a truncated body are client errors; the
/// rules fire only `times` times, then the list completes with the exact count.
#[tokio::test]
async fn transport_faults() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::with_scenario(
        dir.path(),
        r#"
        [faults]
        retry_after = "3s"
        [[accounts]]
        id = "acc_f"
        provider = "linkedin"
        followers = 250
        [[accounts.faults]]
        dataset = "followers"
        page = 0
        fault = "429"
        times = 1
        [[accounts.faults]]
        dataset = "followers"
        page = 1
        fault = "drop"
        times = 1
        [[accounts.faults]]
        dataset = "followers"
        page = 2
        fault = "truncate"
        times = 1
        "#,
        &[],
    );
    let base = "account_id=acc_f&limit=100";
    let reply = sim.get("followers", base).await;
    reply.assert_error(429, "errors/too_many_requests");
    assert_eq!(reply.header("retry-after"), Some("3"));
    let page0 = sim.get("followers", base).await.json();
    let c1 = page0["cursor"].as_str().unwrap();

    // Fresh connections, so the client cannot quietly retry on another pooled one.
    install_tls_provider();
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url1 = sim.list_url("followers", &format!("{base}&cursor={c1}"));
    let dropped = fresh.get(&url1).header("X-API-KEY", KEY).send().await;
    assert!(dropped.is_err(), "drop gave {dropped:?}");
    let page1 = fresh_get(&fresh, &url1).await;
    let c2 = page1["cursor"].as_str().unwrap();

    let url2 = sim.list_url("followers", &format!("{base}&cursor={c2}"));
    let truncated = fresh
        .get(&url2)
        .header("X-API-KEY", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(truncated.status(), 200);
    let declared: usize = truncated.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(declared > 1000);
    assert!(
        truncated.bytes().await.is_err(),
        "truncated body read whole"
    );
    let page2 = fresh_get(&fresh, &url2).await;
    assert!(page2["cursor"].is_null());
    assert_eq!(page2["items"].as_array().unwrap().len(), 50);

    let stats = sim.stats().await;
    assert_eq!(stats["faults"]["429"], 1);
    assert_eq!(stats["faults"]["drop"], 1);
    assert_eq!(stats["faults"]["truncate"], 1);
    assert_eq!(stats["pages"], 3);
    assert_eq!(stats["items"], 250);
}

/// A page fetched with `client`, as JSON.
async fn fresh_get(client: &reqwest::Client, url: &str) -> Value {
    let resp = client.get(url).header("X-API-KEY", KEY).send().await;
    Reply::read(resp.expect("a response")).await.json()
}

/// An empty page has a fresh non-null cursor at the same offset; the list still ends exact.
/// A latency fault answers normally, late.
#[tokio::test]
async fn empty_page_and_latency_faults() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::with_scenario(
        dir.path(),
        r#"
        [[accounts]]
        id = "acc_e"
        provider = "instagram"
        followers = 450
        [[accounts.faults]]
        dataset = "followers"
        page = 1
        fault = "empty_page"
        times = 1
        [[accounts.faults]]
        dataset = "followers"
        page = 2
        fault = "empty_page"
        [[accounts]]
        id = "acc_slow"
        provider = "linkedin"
        followers = 10
        latency = "10ms"
        [[accounts.faults]]
        dataset = "following"
        fault = "latency"
        times = 1
        "#,
        &[],
    );
    let walk = sim.walk("followers", "acc_e", 200).await;
    walk.assert_distinct(450);
    let lens: Vec<usize> = walk
        .pages
        .iter()
        .map(|p| p["items"].as_array().unwrap().len())
        .collect();
    // Page 1 is empty once; its cursor resumes as page 2, which is empty forever; page 3 serves.
    assert_eq!(lens, [200, 0, 0, 200, 50]);
    assert!(walk.pages[1]["cursor"].is_string() && walk.pages[2]["cursor"].is_string());
    assert_ne!(walk.pages[0]["cursor"], walk.pages[1]["cursor"]);

    let t0 = Instant::now();
    assert_eq!(
        sim.get("following", "account_id=acc_slow").await.status,
        200
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(100),
        "latency fault took {:?}",
        t0.elapsed()
    );
    let t1 = Instant::now();
    assert_eq!(
        sim.get("following", "account_id=acc_slow").await.status,
        200
    );
    assert!(t1.elapsed() >= Duration::from_millis(10));
    let stats = sim.stats().await;
    assert_eq!(stats["faults"]["empty_page"], 2);
    assert_eq!(stats["faults"]["latency"], 1);
}

/// Each malformed kind breaks the page the way its name says, as a 200.
#[tokio::test]
async fn malformed_pages() {
    let dir = tempfile::tempdir().unwrap();
    let kinds = [
        "invalid_json",
        "wrong_object",
        "missing_field",
        "wrong_type",
        "null_required",
    ];
    let mut scenario = String::new();
    for kind in kinds {
        for provider in ["linkedin", "instagram"] {
            scenario.push_str(&format!(
                "[[accounts]]\nid = \"acc_{kind}_{provider}\"\nprovider = \"{provider}\"\n\
                 followers = 5\nfollowing = 5\n[[accounts.faults]]\nfault = \"malformed:{kind}\"\n"
            ));
        }
    }
    let sim = SimProcess::with_scenario(dir.path(), &scenario, &[]);
    for kind in kinds {
        for provider in ["linkedin", "instagram"] {
            for dataset in ["followers", "following"] {
                let reply = sim
                    .get(dataset, &format!("account_id=acc_{kind}_{provider}"))
                    .await;
                assert_eq!(reply.status, 200);
                let what = format!("{kind} {provider} {dataset}: {}", reply.body);
                if kind == "invalid_json" {
                    assert!(
                        serde_json::from_str::<Value>(&reply.body).is_err(),
                        "{what}"
                    );
                    continue;
                }
                let page = reply.json();
                if kind == "wrong_object" {
                    assert_eq!(page["object"], "UserList", "{what}");
                    continue;
                }
                let item = page["items"][0].as_object().unwrap();
                let fields = required_fields(dataset, provider);
                let missing = fields.iter().filter(|f| !item.contains_key(**f)).count();
                let nulls = fields
                    .iter()
                    .filter(|f| item.get(**f).is_some_and(Value::is_null))
                    .count();
                let wrong = fields
                    .iter()
                    .filter_map(|f| Some((*f, item.get(*f)?)))
                    .filter(|(f, v)| match *f {
                        _ if v.is_null() => false,
                        "is_private" | "is_verified" => !v.is_boolean(),
                        "created_at" => !v.is_i64(),
                        _ => !v.is_string(),
                    })
                    .count();
                let expected = match kind {
                    "missing_field" => (1, 0, 0),
                    "null_required" => (0, 1, 0),
                    _ => (0, 0, 1),
                };
                assert_eq!((missing, nulls, wrong), expected, "{what}");
            }
        }
    }
}

/// The fields the docs mark required, per list and provider.
fn required_fields(dataset: &str, provider: &str) -> &'static [&'static str] {
    match (dataset, provider) {
        ("followers", "linkedin") => &[
            "id",
            "urn",
            "name",
            "headline",
            "profile_url",
            "profile_picture_url",
            "profile_picture_url_large",
        ],
        ("followers", _) => &[
            "id",
            "messaging_id",
            "username",
            "name",
            "is_private",
            "is_verified",
        ],
        _ => &[
            "first_name",
            "last_name",
            "headline",
            "public_identifier",
            "public_profile_url",
            "created_at",
            "member_id",
            "member_urn",
            "connection_urn",
        ],
    }
}

/// Random faults never hit the same page more than `max_consecutive` times in a row, and a
/// client that retries gets every item exactly once.
#[tokio::test]
async fn random_faults_are_bounded_and_recoverable() {
    let sim = SimProcess::start(&[
        "--accounts",
        "1",
        "--followers",
        "1000",
        "--fault-rate",
        "0.6",
        "--fault-max-consecutive",
        "2",
        "--fault-kinds",
        "errors/provider_error,429,empty_page,errors/network_down",
        "--retry-after",
        "0s",
    ]);
    let mut cursor: Option<String> = None;
    let mut ids = HashSet::new();
    let mut streak = 0;
    let mut faults = 0;
    loop {
        let mut q = "account_id=acc_linkedin_0000&limit=50".to_owned();
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let reply = sim.get("followers", &q).await;
        if reply.status != 200 {
            streak += 1;
            faults += 1;
            assert!(streak <= 2, "more than 2 faults in a row");
            continue;
        }
        let page = reply.json();
        let items = page["items"].as_array().unwrap();
        if items.is_empty() && page["cursor"].is_string() {
            streak += 1;
            faults += 1;
            assert!(streak <= 2, "more than 2 faults in a row");
        } else {
            streak = 0;
        }
        for item in items {
            assert!(ids.insert(item["id"].as_str().unwrap().to_owned()));
        }
        match page["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(ids.len(), 1000);
    assert!(faults > 5, "only {faults} faults at rate 0.6");
    let stats = sim.stats().await;
    let counted: u64 = stats["faults"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counted, faults);
}

/// Two quick requests against `account_rpm` make one 429 and one violation; spaced requests
/// none. `key_rps` likewise across accounts. Rate-limit headers when asked for.
#[tokio::test]
async fn rate_enforcement() {
    let sim = SimProcess::start(&[
        "--accounts",
        "2",
        "--account-rpm",
        "600",
        "--ratelimit-headers",
    ]);
    let q = "account_id=acc_linkedin_0000&limit=1";
    let first = sim.get("followers", q).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(first.header("x-ratelimit-reset"), Some("0.1"));
    // Both lists share the account's budget.
    let second = sim.get("following", q).await;
    second.assert_error(429, "errors/too_many_requests");
    let retry_after: u64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after <= 1);
    // Another account is not affected.
    assert_eq!(
        sim.get("followers", "account_id=acc_instagram_0001")
            .await
            .status,
        200
    );
    let stats = sim.stats().await;
    assert_eq!(stats["violations"]["account_rate"], 1);
    assert_eq!(stats["accounts"]["acc_linkedin_0000"]["violations"], 1);
    assert_eq!(stats["accounts"]["acc_linkedin_0000"]["requests"], 2);

    sim.reset().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(sim.get("followers", q).await.status, 200);
    }
    let stats = sim.stats().await;
    assert_eq!(stats["violations"]["account_rate"], 0);
    assert_eq!(stats["requests"], 3);

    let keyed = SimProcess::start(&["--accounts", "2", "--key-rps", "5"]);
    assert_eq!(
        keyed
            .get("followers", "account_id=acc_linkedin_0000")
            .await
            .status,
        200
    );
    keyed
        .get("followers", "account_id=acc_instagram_0001")
        .await
        .assert_error(429, "errors/too_many_requests");
    tokio::time::sleep(Duration::from_millis(220)).await;
    assert_eq!(
        keyed
            .get("followers", "account_id=acc_instagram_0001")
            .await
            .status,
        200
    );
    // The key-wide limit meters every authenticated request, even one for no known account.
    keyed
        .get("followers", "account_id=acc_nobody")
        .await
        .assert_error(429, "errors/too_many_requests");
    let stats = keyed.stats().await;
    assert_eq!(stats["violations"]["key_rate"], 2);
    assert_eq!(stats["accounts"]["acc_instagram_0001"]["violations"], 1);
}
