//! What `/_sim/stats` reports, and the throughput benchmark.

use super::*;

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
        "cursors": {"invalid": 0, "expired": 0},
        "peak_requests": {"1s": 4, "10s": 4},
        "in_flight": 0,
        "peak_in_flight": 1,
        "day": 0,
        "cursor_generation": 0,
        "accounts": {
            "acc_linkedin_0000": {
                "requests": 2,
                "violations": 0,
                "peak_requests": {"1s": 2, "60s": 2},
                "followers": {"requests": 2, "pages": 2, "items": 150},
                "following": {"requests": 0, "pages": 0, "items": 0},
            },
            "acc_instagram_0001": {
                "requests": 1,
                "violations": 0,
                "peak_requests": {"1s": 1, "60s": 1},
                "followers": {"requests": 0, "pages": 0, "items": 0},
                "following": {"requests": 1, "pages": 1, "items": 7},
            },
        },
    });
    assert_eq!(stats, expected);
    sim.reset().await;
    let stats = sim.stats().await;
    assert_eq!(stats["requests"], 0);
    assert_eq!(stats["peak_in_flight"], 0);
    assert_eq!(stats["by_status"], serde_json::json!({}));
    assert_eq!(stats["accounts"], serde_json::json!({}));
}

/// Per list of each account: requests, pages and items (what a rerun fetched); peak request
/// counts in sliding windows, key-wide and per account; `POST /_sim/stats/reset` zeroes them.
#[tokio::test]
async fn per_list_counts_and_peak_rates() {
    let sim = SimProcess::start(&["--accounts", "2", "--followers", "250", "--following", "30"]);
    sim.walk("followers", "acc_linkedin_0000", 100).await;
    sim.walk("following", "acc_linkedin_0000", 20).await;
    sim.get("following", "account_id=acc_linkedin_0000&limit=0")
        .await
        .assert_error(400, "errors/invalid_request");
    let stats = sim.stats().await;
    let account = &stats["accounts"]["acc_linkedin_0000"];
    assert_eq!(
        account["followers"],
        serde_json::json!({"requests": 3, "pages": 3, "items": 250})
    );
    assert_eq!(
        account["following"],
        serde_json::json!({"requests": 3, "pages": 2, "items": 30})
    );
    assert_eq!(account["requests"], 6);

    let reset = sim.post("/_sim/stats/reset").await;
    assert_eq!(reset.status, 200);
    let stats = sim.stats().await;
    assert_eq!(
        stats["peak_requests"],
        serde_json::json!({"1s": 0, "10s": 0})
    );
    assert_eq!(stats["accounts"], serde_json::json!({}));

    // Paced at 2.5 requests/s: at most 3 in any second (fewer if the machine is slow).
    let q = "account_id=acc_instagram_0001&limit=1";
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        assert_eq!(sim.get("followers", q).await.status, 200);
    }
    let stats = sim.stats().await;
    let peak = stats["peak_requests"]["1s"].as_u64().unwrap();
    assert!((2..=3).contains(&peak), "{peak}");
    assert_eq!(stats["peak_requests"]["10s"], 3);
    assert_eq!(
        stats["accounts"]["acc_instagram_0001"]["peak_requests"]["60s"],
        3
    );
    // A burst, one request for no known account included: every data request counts key-wide.
    for _ in 0..5 {
        sim.get("following", "account_id=acc_linkedin_0000&limit=1")
            .await;
    }
    sim.get("following", "account_id=acc_nobody").await;
    let stats = sim.stats().await;
    assert!(
        stats["peak_requests"]["1s"].as_u64().unwrap() >= 6,
        "{stats}"
    );
    assert_eq!(stats["peak_requests"]["10s"], 9);
    let burst = &stats["accounts"]["acc_linkedin_0000"]["peak_requests"];
    assert_eq!(burst["60s"], 5);
    assert!(burst["1s"].as_u64().unwrap() >= 4, "{burst}");
}

/// Pages per second over keep-alive connections, for the report (not a timed assertion):
/// `cargo test -p postpress-sim --release --test sim throughput -- --ignored --nocapture`
/// (`SIM_BENCH_SECS`, `SIM_BENCH_CONNS`, `SIM_BENCH_CACHE_MIB`, `SIM_BENCH_FOLLOWERS`,
/// `SIM_BENCH_CHURN` and `SIM_BENCH_DAY` tune it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn throughput() {
    let accounts = 8;
    // SIM_BENCH_CACHE_MIB=0 measures rendering every page (the cold first run).
    let cache = std::env::var("SIM_BENCH_CACHE_MIB").unwrap_or_else(|_| "256".to_owned());
    // SIM_BENCH_CHURN=0.02 SIM_BENCH_DAY=30 SIM_BENCH_FOLLOWERS=1000000: a churned day of big
    // lists, whose memberships are computed on the first page of each account.
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let (followers, churn, day) = (
        env("SIM_BENCH_FOLLOWERS", "20000"),
        env("SIM_BENCH_CHURN", "0"),
        env("SIM_BENCH_DAY", "0"),
    );
    let sim = SimProcess::start(&[
        "--accounts",
        "8",
        "--followers",
        &followers,
        "--provider",
        "linkedin",
        "--cache-mib",
        &cache,
        "--churn",
        &churn,
        "--day",
        &day,
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
    // The first page of each account computes its day's membership (with churn): timed apart,
    // so the pages/s below are the steady state.
    let warm = Instant::now();
    for a in 0..accounts {
        let q = format!("account_id=acc_linkedin_{a:04}&limit=100");
        assert_eq!(sim.get("followers", &q).await.status, 200);
    }
    println!(
        "first page of {accounts} accounts of {followers} followers (churn {churn}, day {day}): \
         {:.0} ms",
        warm.elapsed().as_secs_f64() * 1000.0
    );
    sim.reset().await;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let account = format!("acc_linkedin_{:04}", c % accounts);
            tokio::spawn(bench_connection(addr.clone(), account, deadline))
        })
        .collect();
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

/// Pages through `account`'s followers until `deadline`, over one keep-alive connection, with
/// a minimal HTTP/1.1 client (as little client CPU as possible on a shared 2-core machine).
/// Returns the pages and bytes received.
async fn bench_connection(addr: String, account: String, deadline: Instant) -> (u64, u64) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};

    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (read, mut write) = stream.into_split();
    let mut read = AsyncBufReader::with_capacity(1 << 16, read);
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
        write.write_all(req.as_bytes()).await.expect("send");
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            read.read_line(&mut line).await.expect("a header line");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("a content-length");
            }
        }
        body.resize(len, 0);
        read.read_exact(&mut body).await.expect("the body");
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
}
