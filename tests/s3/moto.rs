//! A private moto server on a free port, for the tests that need a server of their own: one that
//! checks signatures, one that logs every request, one that can die.

use crate::util::wait_until;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free loopback port (nothing listens on it once this returns).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private moto server on a free port, killed on drop.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Moto {
    /// Starts `.venv/bin/moto_server` with extra environment variables and waits until it
    /// accepts connections. (Readiness is a bare TCP connect: an HTTP request would count as one
    /// of the actions `INITIAL_NO_AUTH_ACTION_COUNT` lets through.)
    pub(crate) fn start(envs: &[(&str, &str)]) -> Moto {
        Moto::start_logged(envs, None)
    }

    /// As [`Moto::start`], with the server's request log (one line per request) written to `log`.
    pub(crate) fn start_logged(envs: &[(&str, &str)], log: Option<&Path>) -> Moto {
        let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/moto_server");
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: run bash scripts/venv.sh"
        );
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(match log {
                Some(p) => Stdio::from(std::fs::File::create(p).expect("moto log file")),
                None => Stdio::null(),
            })
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let up = wait_until(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "moto_server did not listen on {endpoint} within 30 s");
        Moto { child, endpoint }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
