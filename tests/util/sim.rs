//! The simulator: its binary (built on demand), a running instance killed on drop, and the
//! blocking HTTP calls tests make to its stats and control routes.

use super::{KEY, SEED, TestDir};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The simulator's binary: a sibling of the product's in the same target directory. It belongs
/// to the workspace's other package: `cargo test --workspace` (what `make test` runs) builds
/// it; after a lone `cargo test -p postpress-etl` it may be missing or older than its sources,
/// and is then built here once.
pub fn sim_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let etl = Path::new(env!("CARGO_BIN_EXE_postpress-etl"));
    let sim = etl.with_file_name("postpress-sim");
    BUILT.call_once(|| {
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/postpress-sim/src");
        if !sim.exists() || newest_mtime(&sources) > newest_mtime(&sim) {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", "postpress-sim", "--bin", "postpress-sim"]);
            if etl.parent().is_some_and(|d| d.ends_with("release")) {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("cargo runs to build postpress-sim");
            assert!(status.success(), "cargo build -p postpress-sim failed");
        }
    });
    sim
}

/// The latest modification time of a file, or of any file below a directory.
fn newest_mtime(path: &Path) -> std::time::SystemTime {
    let own = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH);
    let children = std::fs::read_dir(path).into_iter().flatten().flatten();
    children
        .map(|e| newest_mtime(&e.path()))
        .fold(own, std::cmp::max)
}

/// A running simulator, killed on drop.
pub struct Sim {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Sim {
    /// Starts `postpress-sim` with extra arguments.
    pub fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(sim_bin())
            .args(["--port", "0", "--api-key", KEY, "--seed", &SEED.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("postpress-sim starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the simulator prints its address");
        let url = line.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected first line {url:?}"
        );
        Sim { child, url }
    }

    /// Starts it with a scenario file written into `dir`.
    pub fn with_scenario(dir: &TestDir, scenario: &str, args: &[&str]) -> Sim {
        let path = dir.write("scenario.toml", scenario);
        let mut all = vec!["--scenario", path.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        Sim::start(&all)
    }

    /// The base URL a job uses.
    pub fn base_url(&self) -> String {
        format!("{}/api/v1", self.url)
    }

    /// `GET /_sim/stats`.
    pub fn stats(&self) -> Value {
        let body = http_get(&self.url, "/_sim/stats");
        serde_json::from_str(&body).expect("stats are JSON")
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A minimal blocking HTTP/1.0 GET, so tests need no async runtime for the stats.
pub fn http_get(base: &str, path: &str) -> String {
    let hostport = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).expect("connect to the simulator");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// A minimal blocking HTTP/1.0 POST with an empty body (the simulator's control routes).
pub fn http_post(base: &str, path: &str) -> String {
    let hostport = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).expect("connect to the simulator");
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {hostport}\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}
