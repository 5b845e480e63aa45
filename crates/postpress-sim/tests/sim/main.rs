//! `postpress-sim` over real loopback HTTP: the contract the ETL and its tests rely on.
//!
//! Every test starts the real binary on port 0, reads its address from the first stdout line,
//! and kills it when the guard drops. This file is the harness; the tests are in the modules beside it.

mod api;
mod churn;
mod expiry;
mod faults;
mod shared;
mod stats;

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
        self.walk_from(dataset, account, limit, None).await
    }

    /// Pages through a list from `cursor` (the start when `None`) to its end.
    async fn walk_from(
        &self,
        dataset: &str,
        account: &str,
        limit: u32,
        mut cursor: Option<String>,
    ) -> Walk {
        let mut walk = Walk::default();
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

    /// `POST` to a control route.
    async fn post(&self, path: &str) -> Reply {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .send()
            .await
            .expect("POST to the simulator");
        Reply::read(resp).await
    }

    /// `GET` of a control route.
    async fn get_path(&self, path: &str) -> Reply {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET from the simulator");
        Reply::read(resp).await
    }

    /// Moves the current day.
    async fn set_day(&self, day: u32) {
        let reply = self.post(&format!("/_sim/day/{day}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["day"], day);
    }

    /// The keys of a list on `day` (the current day when `None`), from `/_sim/stats/ids`.
    async fn ids(&self, dataset: &str, account: &str, day: Option<u32>) -> Vec<String> {
        let mut path = format!("/_sim/stats/ids?account_id={account}&dataset={dataset}");
        if let Some(day) = day {
            path.push_str(&format!("&day={day}"));
        }
        let reply = self.get_path(&path).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let doc = reply.json();
        let ids: Vec<String> = doc["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_str().expect("a string id").to_owned())
            .collect();
        assert_eq!(doc["count"], ids.len());
        ids
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
    install_tls_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// reqwest builds a TLS config even for plain HTTP. Built on its own, this package's reqwest
/// brings its default provider; in a workspace build its features are unified with the
/// product's, which chooses ring and installs it itself: do the same here.
fn install_tls_provider() {
    let _already = rustls::crypto::ring::default_provider().install_default();
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

    /// The keys (`id`, or `member_id` for relations) of every item, in served order.
    fn keys(&self) -> Vec<String> {
        self.items()
            .iter()
            .map(|i| {
                i.get("id")
                    .or_else(|| i.get("member_id"))
                    .and_then(Value::as_str)
                    .expect("an id")
                    .to_owned()
            })
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
