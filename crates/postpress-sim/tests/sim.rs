//! `postpress-sim` over real loopback HTTP: the contract the ETL and its tests rely on.
//!
//! Every test starts the real binary on port 0, reads its address from the first stdout line,
//! and kills it when the guard drops.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postpress_sim::{Dataset, ERROR_TYPES, Provider, expected_item};
use serde_json::Value;

const KEY: &str = "pp_test_key";

/// A running simulator; killed on drop.
struct SimProcess {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl SimProcess {
    fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postpress-sim"));
        cmd.args(["--port", "0"])
            .args(args)
            .env_remove("POSTPRESS_API_KEY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn postpress-sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the first stdout line");
        let url = line.trim().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "first line: {url:?}");
        Self {
            child,
            url,
            http: client(),
        }
    }

    fn with_scenario(dir: &Path, scenario: &str, args: &[&str]) -> Self {
        let path = dir.join("scenario.toml");
        std::fs::write(&path, scenario).expect("write the scenario");
        let mut all = vec!["--scenario", path.to_str().expect("UTF-8 temp path")];
        all.extend_from_slice(args);
        Self::start(&all)
    }

    fn list_url(&self, dataset: &str, query: &str) -> String {
        format!("{}/api/v1/users/{dataset}?{query}", self.url)
    }

    async fn get(&self, dataset: &str, query: &str) -> Reply {
        self.get_with_key(dataset, query, Some(KEY)).await
    }

    async fn get_with_key(&self, dataset: &str, query: &str, key: Option<&str>) -> Reply {
        let mut req = self.http.get(self.list_url(dataset, query));
        if let Some(key) = key {
            req = req.header("X-API-KEY", key);
        }
        let resp = req.send().await.expect("request to the simulator");
        Reply::read(resp).await
    }

    async fn stats(&self) -> Value {
        let resp = self
            .http
            .get(format!("{}/_sim/stats", self.url))
            .send()
            .await
            .expect("stats");
        serde_json::from_slice(&resp.bytes().await.expect("stats body")).expect("stats JSON")
    }

    async fn reset(&self) {
        let resp = self
            .http
            .post(format!("{}/_sim/reset", self.url))
            .send()
            .await
            .expect("reset");
        assert_eq!(resp.status(), 200);
    }

    /// Pages through a whole list, retrying nothing; panics on any non-200.
    async fn walk(&self, dataset: &str, account: &str, limit: u32) -> Walk {
        let mut walk = Walk::default();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = format!("account_id={account}&limit={limit}");
            if let Some(c) = &cursor {
                query.push_str("&cursor=");
                query.push_str(c);
            }
            let reply = self.get(dataset, &query).await;
            assert_eq!(
                reply.status,
                200,
                "{account} page {}: {}",
                walk.pages.len(),
                reply.body
            );
            let page = reply.json();
            let next = page["cursor"].as_str().map(str::to_owned);
            walk.pages.push(page);
            match next {
                Some(c) => {
                    assert_ne!(cursor.as_deref(), Some(c.as_str()), "same cursor twice");
                    cursor = Some(c);
                }
                None => {
                    assert!(walk.pages.last().is_some_and(|p| p["cursor"].is_null()));
                    return walk;
                }
            }
            assert!(walk.pages.len() < 10_000, "endless list");
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        // Already gone is fine: the test may have stopped it itself.
        if self.child.kill().is_ok() {
            self.child.wait().ok();
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// A response read whole.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("whole body");
        let body = String::from_utf8(body.to_vec()).expect("UTF-8 body");
        Self {
            status,
            headers,
            body,
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error envelope with this status and type; returns it.
    fn assert_error(&self, status: u16, kind: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let v = self.json();
        let o = v.as_object().expect("an object");
        let mut keys: Vec<_> = o.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["detail", "instance", "status", "title", "type"]);
        assert_eq!(v["type"], kind);
        assert_eq!(v["status"], status);
        let instance = v["instance"].as_str().expect("instance");
        assert!(
            instance.len() == 13 && instance.starts_with("req_"),
            "instance {instance}"
        );
        assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()));
        v
    }
}

#[derive(Default)]
struct Walk {
    pages: Vec<Value>,
}

impl Walk {
    fn items(&self) -> Vec<&Value> {
        self.pages
            .iter()
            .flat_map(|p| p["items"].as_array().expect("items"))
            .collect()
    }

    /// Asserts `n` distinct ids (`id`, or `member_id` for relations) and returns them.
    fn assert_distinct(&self, n: usize) -> HashSet<String> {
        let items = self.items();
        assert_eq!(items.len(), n);
        let ids: HashSet<String> = items
            .iter()
            .map(|i| {
                i.get("id")
                    .or_else(|| i.get("member_id"))
                    .and_then(Value::as_str)
                    .expect("an id")
                    .to_owned()
            })
            .collect();
        assert_eq!(ids.len(), n, "duplicate ids");
        ids
    }
}

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
        for limit in [1, max] {
            let reply = sim
                .get(dataset, &format!("account_id={account}&limit={limit}"))
                .await;
            assert_eq!(reply.status, 200, "{dataset} {account} {limit}");
            assert_eq!(reply.json()["items"].as_array().unwrap().len(), limit);
        }
        let bad = [
            "0".to_owned(),
            (max + 1).to_string(),
            "abc".to_owned(),
            "-1".to_owned(),
            "1.5".to_owned(),
            String::new(),
        ];
        for limit in bad {
            let v = sim
                .get(dataset, &format!("account_id={account}&limit={limit}"))
                .await
                .assert_error(400, "errors/invalid_request");
            assert!(
                v["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("between 1 and {max}"))
            );
            violations += 1;
        }
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
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url1 = sim.list_url("followers", &format!("{base}&cursor={c1}"));
    let dropped = fresh.get(&url1).header("X-API-KEY", KEY).send().await;
    assert!(dropped.is_err(), "drop gave {dropped:?}");
    let page1 = Reply::read(
        fresh
            .get(&url1)
            .header("X-API-KEY", KEY)
            .send()
            .await
            .unwrap(),
    )
    .await
    .json();
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
    let page2 = Reply::read(
        fresh
            .get(&url2)
            .header("X-API-KEY", KEY)
            .send()
            .await
            .unwrap(),
    )
    .await
    .json();
    assert!(page2["cursor"].is_null());
    assert_eq!(page2["items"].as_array().unwrap().len(), 50);

    let stats = sim.stats().await;
    assert_eq!(stats["faults"]["429"], 1);
    assert_eq!(stats["faults"]["drop"], 1);
    assert_eq!(stats["faults"]["truncate"], 1);
    assert_eq!(stats["pages"], 3);
    assert_eq!(stats["items"], 250);
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
    let required = |dataset: &str, provider: &str| -> Vec<&'static str> {
        match (dataset, provider) {
            ("followers", "linkedin") => vec![
                "id",
                "urn",
                "name",
                "headline",
                "profile_url",
                "profile_picture_url",
                "profile_picture_url_large",
            ],
            ("followers", _) => vec![
                "id",
                "messaging_id",
                "username",
                "name",
                "is_private",
                "is_verified",
            ],
            _ => vec![
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
    };
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
                let fields = required(dataset, provider);
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

/// Stats count requests by status and route, pages, items and faults, ignore themselves, and
/// reset to zero.
#[tokio::test]
async fn stats_counters() {
    let sim = SimProcess::start(&["--accounts", "2", "--followers", "150", "--following", "7"]);
    sim.walk("followers", "acc_linkedin_0000", 100).await;
    sim.walk("following", "acc_instagram_0001", 100).await;
    sim.get_with_key("followers", "account_id=acc_linkedin_0000", None)
        .await;
    sim.stats().await;
    let stats = sim.stats().await;
    let expected = serde_json::json!({
        "requests": 4,
        "by_status": {"200": 3, "401": 1},
        "by_route": {"followers": 3, "following": 1, "other": 0},
        "pages": 3,
        "items": 157,
        "user_id": 0,
        "faults": {},
        "violations": {"account_rate": 0, "key_rate": 0, "limit": 0},
        "accounts": {
            "acc_linkedin_0000": {"requests": 2, "violations": 0},
            "acc_instagram_0001": {"requests": 1, "violations": 0},
        },
    });
    assert_eq!(stats, expected);
    sim.reset().await;
    let stats = sim.stats().await;
    assert_eq!(stats["requests"], 0);
    assert_eq!(stats["by_status"], serde_json::json!({}));
    assert_eq!(stats["accounts"], serde_json::json!({}));
}

/// The demo scenario loads and serves every account, the empty one included.
#[tokio::test]
async fn demo_scenario_serves_every_account() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/demo.toml");
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

/// Pages per second over keep-alive connections, for the report (not a timed assertion):
/// `cargo test --release --test integration sim::throughput -- --ignored --nocapture`
/// (`SIM_BENCH_SECS`, `SIM_BENCH_CONNS`, `SIM_BENCH_CACHE_MIB` tune it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn throughput() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};

    let accounts = 8;
    // SIM_BENCH_CACHE_MIB=0 measures rendering every page (the cold first run).
    let cache = std::env::var("SIM_BENCH_CACHE_MIB").unwrap_or_else(|_| "256".to_owned());
    let sim = SimProcess::start(&[
        "--accounts",
        "8",
        "--followers",
        "20000",
        "--provider",
        "linkedin",
        "--cache-mib",
        &cache,
    ]);
    let addr = sim.url.trim_start_matches("http://").to_owned();
    let seconds = std::env::var("SIM_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5u64);
    let connections = std::env::var("SIM_BENCH_CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16usize);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    // A minimal HTTP/1.1 client: as little client CPU as possible on a shared 2-core machine.
    let mut tasks = Vec::new();
    for c in 0..connections {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (read, mut write) = stream.into_split();
            let mut read = AsyncBufReader::with_capacity(1 << 16, read);
            let account = format!("acc_linkedin_{:04}", c % accounts);
            let (mut pages, mut bytes) = (0u64, 0u64);
            let mut cursor: Option<String> = None;
            let mut body = Vec::new();
            while Instant::now() < deadline {
                let query = match &cursor {
                    Some(cur) => format!("account_id={account}&limit=100&cursor={cur}"),
                    None => format!("account_id={account}&limit=100"),
                };
                let req = format!(
                    "GET /api/v1/users/followers?{query} HTTP/1.1\r\nHost: sim\r\nX-API-KEY: {KEY}\r\n\r\n"
                );
                write.write_all(req.as_bytes()).await.unwrap();
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    read.read_line(&mut line).await.unwrap();
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                body.resize(len, 0);
                read.read_exact(&mut body).await.unwrap();
                pages += 1;
                bytes += len as u64;
                // The cursor is the last field: `"cursor":"..."}` or `"cursor":null}`.
                let tail = &body[body.len().saturating_sub(64)..];
                let tail = std::str::from_utf8(tail).unwrap_or("");
                cursor = tail
                    .rsplit_once("\"cursor\":\"")
                    .map(|(_, c)| c.trim_end_matches("\"}").to_owned());
            }
            (pages, bytes)
        }));
    }
    let started = Instant::now();
    let (mut pages, mut bytes) = (0, 0);
    for t in tasks {
        let (p, b) = t.await.unwrap();
        pages += p;
        bytes += b;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{pages} pages of 100 LinkedIn followers in {secs:.1}s over {connections} connections: \
         {:.0} pages/s, {:.0} MB/s",
        pages as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    let stats = sim.stats().await;
    assert_eq!(stats["pages"], pages);
}
