//! Cursor expiry for resume tests (SPEC section 10): on demand and by TTL, a refused cursor is a
//! 400 `errors/invalid_request` whose detail starts with "expired cursor".

use super::*;

/// `POST /_sim/expire-cursors` refuses every cursor issued before it, not those issued after;
/// a walk restarted from page 1 gets the whole list.
#[tokio::test]
async fn expire_cursors_on_demand() {
    let sim = SimProcess::start(&["--accounts", "1", "--followers", "350"]);
    let q = "account_id=acc_linkedin_0000&limit=100";
    let first = sim.get("followers", q).await.json();
    let old = first["cursor"].as_str().unwrap().to_owned();
    let second = sim.get("followers", &format!("{q}&cursor={old}")).await;
    assert_eq!(second.status, 200);

    let expired = sim.post("/_sim/expire-cursors").await;
    assert_eq!(expired.json(), serde_json::json!({"generation": 1}));
    let v = sim
        .get("followers", &format!("{q}&cursor={old}"))
        .await
        .assert_error(400, "errors/invalid_request");
    assert_eq!(v["detail"], "expired cursor");
    assert_eq!(v["title"], "Invalid request");

    // Pages served from now on carry cursors of the new generation.
    let restarted = sim.walk("followers", "acc_linkedin_0000", 100).await;
    restarted.assert_distinct(350);
    let fresh = restarted.pages[0]["cursor"].as_str().unwrap();
    assert_ne!(fresh, old);
    let stats = sim.stats().await;
    assert_eq!(
        stats["cursors"],
        serde_json::json!({"invalid": 0, "expired": 1})
    );
    assert_eq!(stats["cursor_generation"], 1);
    assert_eq!(
        sim.post("/_sim/expire-cursors").await.json()["generation"],
        2
    );
    sim.get("followers", &format!("{q}&cursor={fresh}"))
        .await
        .assert_error(400, "errors/invalid_request");
}

/// With `--cursor-ttl`, a cursor works while young and is refused once older than the TTL.
#[tokio::test]
async fn cursor_ttl() {
    let sim = SimProcess::start(&[
        "--accounts",
        "1",
        "--followers",
        "250",
        "--cursor-ttl",
        "400ms",
    ]);
    let q = "account_id=acc_linkedin_0000&limit=100";
    let cursor = sim.get("followers", q).await.json()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let young = sim.get("followers", &format!("{q}&cursor={cursor}")).await;
    assert_eq!(young.status, 200, "{}", young.body);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let v = sim
        .get("followers", &format!("{q}&cursor={cursor}"))
        .await
        .assert_error(400, "errors/invalid_request");
    assert_eq!(
        v["detail"],
        "expired cursor: older than the cursor TTL of 400ms"
    );
    // A client fast enough still pages to the end.
    sim.walk("followers", "acc_linkedin_0000", 100)
        .await
        .assert_distinct(250);
    assert_eq!(sim.stats().await["cursors"]["expired"], 1);
}

/// The scenario's `cursor_ttl` and `churn` are checked like every key.
#[test]
fn bad_expiry_and_churn_settings_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    let cases = [
        (
            "cursor_ttl = \"0s\"\n",
            "cursor_ttl = \"0s\" is not allowed",
        ),
        (
            "cursor_ttl = \"soon\"\n",
            "cursor_ttl = \"soon\" is not allowed",
        ),
        ("churn = 1.0\n", "churn = 1 is not allowed"),
        ("day = 40000\n", "day = 40000 is not allowed"),
    ];
    for (text, message) in cases {
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_postpress-sim"))
            .args(["--scenario", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{text}: {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_postpress-sim"))
        .args(["--churn=-0.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--churn = -0.1 is not allowed"));
}
