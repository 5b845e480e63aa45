//! The API key stays with the API: never in a log line, a report or an output file, and never
//! sent where a redirect points.

use crate::util::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// The API key appears in no log line at trace level, no summary, no manifest, no output file.
#[test]
fn api_key_never_leaks() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(
        &t,
        "[[accounts]]\nid = \"acc_k\"\nprovider = \"instagram\"\nfollowers = 300\nfollowing = 10\n[[accounts.faults]]\ndataset = \"following\"\nfault = \"errors/account_restricted\"\n[[accounts.faults]]\ndataset = \"followers\"\npage = 0\nfault = \"429\"\ntimes = 1\n",
        &[],
    );
    let job = t.job(&sim, "", &accounts_toml(&[("acc_k", "instagram")]));
    let o = run_job_env(&job, &[], &[("RUST_LOG", "trace")]);
    o.expect_code(3, &t.out());
    assert!(o.stderr.len() > 1000, "trace logging was on");
    assert!(
        !o.stderr.contains(KEY) && !o.stdout.contains(KEY),
        "key in logs"
    );
    let o = run_job_env(&job, &["--log-format", "json"], &[("RUST_LOG", "trace")]);
    assert!(!o.stderr.contains(KEY), "key in JSON logs");
    for f in files_below(&t.out()) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "key found in {}",
            f.display()
        );
    }
}

/// A redirect is not followed: the key would go to wherever it points (reqwest strips only the
/// standard credential headers, not `X-API-KEY`). Every unit fails with the 3xx's status, and
/// the redirect's target never gets a connection.
#[test]
fn redirects_are_not_followed() {
    let t = TestDir::new();
    let target = TcpListener::bind("127.0.0.1:0").expect("bind the target");
    target.set_nonblocking(true).expect("non-blocking");
    let target_port = target.local_addr().expect("addr").port();
    let redirector = TcpListener::bind("127.0.0.1:0").expect("bind the redirector");
    let redirector_port = redirector.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in redirector.incoming().flatten() {
            // Read the request head, then answer every request with a redirect.
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let reply = format!(
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{target_port}/api/v1/users/followers\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            stream.write_all(reply.as_bytes()).ok();
        }
    });
    let base_url = format!("http://127.0.0.1:{redirector_port}/api/v1");
    let accounts = accounts_toml(&[("acc_linkedin_0000", "linkedin")]);
    let job = t.job_at(&base_url, "job-redirect.toml", &accounts);
    let o = run_job(&job, &[]);
    assert_ne!(o.code, Some(0), "{}", o.stderr);
    let m = &manifests(&t.out())[0];
    let units = m["units"].as_array().expect("units");
    assert!(!units.is_empty(), "{m}");
    for u in units {
        assert_eq!(u["status"], "failed", "{u}");
        assert_eq!(u["error"]["status"], 302, "{u}");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        target.accept().is_err(),
        "the redirect's target was connected to"
    );
}
