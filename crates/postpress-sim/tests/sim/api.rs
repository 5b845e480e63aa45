//! The API surface: keys, query checks, pagination to the end, cursors, determinism, the
//! command line.

use super::*;

/// Missing and wrong keys get the documented 401 types; the key comes from the flag, else the
/// environment, else the default.
#[tokio::test]
async fn auth_missing_and_wrong_key() {
    let sim = SimProcess::start(&["--accounts", "1", "--followers", "3"]);
    let q = "account_id=acc_linkedin_0000";
    let v = sim
        .get_with_key("followers", q, None)
        .await
        .assert_error(401, "errors/missing_credentials");
    assert_eq!(
        v["detail"],
        "Some credentials are necessary to perform the request."
    );
    sim.get_with_key("followers", q, Some("pp_live_wrong"))
        .await
        .assert_error(401, "errors/invalid_credentials");
    sim.get_with_key("following", q, Some(""))
        .await
        .assert_error(401, "errors/invalid_credentials");
    assert_eq!(sim.get("followers", q).await.status, 200);

    let custom =
        SimProcess::start_with_env(&["--accounts", "1"], &[("POSTPRESS_API_KEY", "k_env")]);
    assert_eq!(
        custom
            .get_with_key("followers", q, Some("k_env"))
            .await
            .status,
        200
    );
    assert_eq!(custom.get("followers", q).await.status, 401);
    let flag = SimProcess::start(&["--accounts", "1", "--api-key", "k_flag"]);
    assert_eq!(
        flag.get_with_key("following", q, Some("k_flag"))
            .await
            .status,
        200
    );
}

/// `limit` bounds per provider and list; bad values are 400 and counted as violations; the
/// other query checks (missing account, unknown account, empty cursor).
#[tokio::test]
async fn query_validation_and_limit_bounds() {
    let sim = SimProcess::start(&[
        "--accounts",
        "2",
        "--followers",
        "1200",
        "--following",
        "1200",
    ]);
    let cases = [
        ("followers", "acc_linkedin_0000", 100),
        ("followers", "acc_instagram_0001", 200),
        ("following", "acc_linkedin_0000", 1000),
        ("following", "acc_instagram_0001", 1000),
    ];
    let mut violations = 0;
    for (dataset, account, max) in cases {
        violations += check_limits(&sim, dataset, account, max).await;
    }
    // Default limit is 100.
    let reply = sim.get("following", "account_id=acc_linkedin_0000").await;
    assert_eq!(reply.json()["items"].as_array().unwrap().len(), 100);

    let v = sim
        .get("followers", "limit=10")
        .await
        .assert_error(400, "errors/invalid_request");
    assert!(v["detail"].as_str().unwrap().contains("account_id"));
    sim.get("followers", "account_id=acc_nobody")
        .await
        .assert_error(404, "errors/resource_not_found");
    sim.get("followers", "account_id=acc_linkedin_0000&cursor=")
        .await
        .assert_error(400, "errors/invalid_request");
    // user_id is accepted and ignored when account_id is given.
    let reply = sim
        .get(
            "followers",
            "account_id=acc_linkedin_0000&user_id=jordan-walke&limit=5",
        )
        .await;
    assert_eq!(reply.status, 200);
    let unknown_route = sim
        .http
        .get(format!("{}/api/v1/users/nope", sim.url))
        .send()
        .await
        .unwrap();
    Reply::read(unknown_route)
        .await
        .assert_error(404, "errors/resource_not_found");

    let stats = sim.stats().await;
    assert_eq!(stats["violations"]["limit"], violations);
    assert_eq!(stats["violations"]["account_rate"], 0);
    assert_eq!(stats["user_id"], 1);
    assert_eq!(stats["by_route"]["other"], 1);
    assert_eq!(stats["by_status"]["400"], violations + 2);
}

/// 1 and `max` serve that many items; six bad limits are 400s naming the bounds. Returns the
/// violations made.
async fn check_limits(sim: &SimProcess, dataset: &str, account: &str, max: usize) -> u64 {
    for limit in [1, max] {
        let reply = sim
            .get(dataset, &format!("account_id={account}&limit={limit}"))
            .await;
        assert_eq!(reply.status, 200, "{dataset} {account} {limit}");
        assert_eq!(
            reply.json()["items"].as_array().expect("items").len(),
            limit
        );
    }
    let bad = [
        "0".to_owned(),
        (max + 1).to_string(),
        "abc".to_owned(),
        "-1".to_owned(),
        "1.5".to_owned(),
        String::new(),
    ];
    for limit in &bad {
        let v = sim
            .get(dataset, &format!("account_id={account}&limit={limit}"))
            .await
            .assert_error(400, "errors/invalid_request");
        assert!(
            v["detail"]
                .as_str()
                .expect("a detail")
                .contains(&format!("between 1 and {max}"))
        );
    }
    bad.len() as u64
}

/// The "done when" counts: exact items, no duplicates, `cursor: null` only on the last page,
/// every item exactly `expected_item(..)`.
#[tokio::test]
async fn pagination_to_the_end_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::with_scenario(
        dir.path(),
        r#"
        seed = 9
        [[accounts]]
        id = "acc_li"
        provider = "linkedin"
        followers = 2501
        following = 2501
        [[accounts]]
        id = "acc_ig"
        provider = "instagram"
        followers = 2501
        [[accounts]]
        id = "acc_empty"
        provider = "instagram"
        "#,
        &[],
    );
    let cases = [
        (
            "followers",
            "acc_li",
            Provider::Linkedin,
            Dataset::Followers,
            100,
            26,
        ),
        (
            "followers",
            "acc_ig",
            Provider::Instagram,
            Dataset::Followers,
            200,
            13,
        ),
        (
            "following",
            "acc_li",
            Provider::Linkedin,
            Dataset::Following,
            1000,
            3,
        ),
    ];
    for (route, account, provider, dataset, limit, pages) in cases {
        let walk = sim.walk(route, account, limit).await;
        assert_eq!(walk.pages.len(), pages, "{account} {route}");
        walk.assert_distinct(2501);
        for (n, page) in walk.pages.iter().enumerate() {
            let expected_object = match dataset {
                Dataset::Followers => "UserFollowersList",
                Dataset::Following => "UserRelationsList",
            };
            assert_eq!(page["object"], expected_object);
            let len = page["items"].as_array().unwrap().len();
            if n + 1 < pages {
                assert_eq!(len, limit as usize);
                assert!(page["cursor"].as_str().is_some_and(|c| !c.is_empty()));
            }
        }
        for (i, item) in walk.items().into_iter().enumerate() {
            assert_eq!(
                *item,
                expected_item(9, provider, dataset, account, i as u64),
                "item {i}"
            );
        }
    }
    for route in ["followers", "following"] {
        let walk = sim.walk(route, "acc_empty", 50).await;
        assert_eq!(walk.pages.len(), 1);
        assert_eq!(walk.pages[0]["items"], serde_json::json!([]));
        assert!(walk.pages[0]["cursor"].is_null());
    }
}

/// Short Instagram pages (`short_pages`) still give the exact count, and only `null` ends.
#[tokio::test]
async fn short_instagram_pages_keep_exact_counts() {
    let sim = SimProcess::start(&[
        "--accounts",
        "2",
        "--followers",
        "2501",
        "--provider",
        "instagram",
        "--short-pages",
    ]);
    let walk = sim.walk("followers", "acc_instagram_0000", 200).await;
    walk.assert_distinct(2501);
    let lens: Vec<usize> = walk
        .pages
        .iter()
        .map(|p| p["items"].as_array().unwrap().len())
        .collect();
    let short_before_last = lens[..lens.len() - 1].iter().filter(|&&n| n < 200).count();
    assert!(short_before_last >= 2 && walk.pages.len() >= 13, "{lens:?}");
    for (i, item) in walk.items().into_iter().enumerate() {
        assert_eq!(
            *item,
            expected_item(
                42,
                Provider::Instagram,
                Dataset::Followers,
                "acc_instagram_0000",
                i as u64
            )
        );
    }
}

/// A changed character, another account's or list's cursor: all "invalid cursor".
#[tokio::test]
async fn tampered_and_foreign_cursors_are_refused() {
    let sim = SimProcess::start(&[
        "--accounts",
        "2",
        "--followers",
        "300",
        "--following",
        "300",
        "--provider",
        "linkedin",
    ]);
    let first = sim
        .get("followers", "account_id=acc_linkedin_0000&limit=100")
        .await
        .json();
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    assert!(
        cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let ok = sim
        .get(
            "followers",
            &format!("account_id=acc_linkedin_0000&limit=100&cursor={cursor}"),
        )
        .await;
    assert_eq!(ok.status, 200);

    let mut tampered = Vec::new();
    for i in [0, cursor.len() / 2, cursor.len() - 1] {
        let mut b = cursor.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        tampered.push(String::from_utf8(b).unwrap());
    }
    tampered.push(format!("{cursor}A"));
    tampered.push("eyJvIjoxMDB9".to_owned());
    for bad in &tampered {
        let v = sim
            .get(
                "followers",
                &format!("account_id=acc_linkedin_0000&cursor={bad}"),
            )
            .await
            .assert_error(400, "errors/invalid_request");
        assert_eq!(v["detail"], "invalid cursor");
    }
    let foreign_account = sim
        .get(
            "followers",
            &format!("account_id=acc_linkedin_0001&cursor={cursor}"),
        )
        .await;
    assert_eq!(
        foreign_account.assert_error(400, "errors/invalid_request")["detail"],
        "invalid cursor"
    );
    let foreign_list = sim
        .get(
            "following",
            &format!("account_id=acc_linkedin_0000&cursor={cursor}"),
        )
        .await;
    assert_eq!(
        foreign_list.assert_error(400, "errors/invalid_request")["detail"],
        "invalid cursor"
    );
}

/// The same seed gives byte-identical pages (cursors included) across restarts; another seed
/// does not.
#[tokio::test]
async fn deterministic_across_restarts() {
    let args = [
        "--accounts",
        "2",
        "--followers",
        "500",
        "--following",
        "500",
        "--seed",
        "1234",
    ];
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let sim = SimProcess::start(&args);
        let mut run = Vec::new();
        for (dataset, account) in [
            ("followers", "acc_linkedin_0000"),
            ("followers", "acc_instagram_0001"),
            ("following", "acc_instagram_0001"),
        ] {
            let first = sim
                .get(dataset, &format!("account_id={account}&limit=100"))
                .await;
            let cursor = first.json()["cursor"].as_str().unwrap().to_owned();
            let second = sim
                .get(
                    dataset,
                    &format!("account_id={account}&limit=100&cursor={cursor}"),
                )
                .await;
            run.push(first.body);
            run.push(second.body);
        }
        bodies.push(run);
    }
    assert_eq!(bodies[0], bodies[1]);
    let other = SimProcess::start(&["--accounts", "1", "--followers", "500", "--seed", "1235"]);
    let body = other
        .get("followers", "account_id=acc_linkedin_0000&limit=100")
        .await
        .body;
    assert_ne!(body, bodies[0][0]);
}

/// The demo scenario loads and serves every account, the empty one included.
#[tokio::test]
async fn demo_scenario_serves_every_account() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/demo.toml");
    let file: postpress_sim::ScenarioFile =
        toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ids: Vec<String> = file.accounts.iter().map(|a| a.id.clone()).collect();
    let sizes: Vec<u64> = file.accounts.iter().map(|a| a.followers).collect();
    assert!(
        sizes.contains(&0),
        "the demo needs an account without followers"
    );
    let sim = SimProcess::start(&["--scenario", path]);
    for (id, size) in ids.iter().zip(sizes) {
        let walk = sim.walk("followers", id, 100).await;
        assert_eq!(walk.items().len() as u64, size, "{id}");
    }
}

/// Bad scenarios exit 2 with one message naming the file and the key.
#[test]
fn bad_scenario_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[accounts]]\nid = \"a\"\nprovider = \"linkedin\"\nfolowers = 3\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postpress-sim"))
        .args(["--scenario", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("folowers"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    std::fs::write(&path, "[faults]\nkinds = [\"drop\", \"boom\"]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postpress-sim"))
        .args(["--scenario", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("faults.kinds[1] = \"boom\""), "{stderr}");
}

/// SIGTERM stops the simulator cleanly with exit code 0.
#[cfg(unix)]
#[test]
fn sigterm_exits_zero() {
    let mut sim = SimProcess::start(&["--accounts", "1"]);
    let pid = sim.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let t0 = Instant::now();
    loop {
        if let Some(status) = sim.child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
