//! A temp dir per test and the job files written into it: fast limits and backoff against a
//! simulator, with `[fetch]` and `[output]` keys replaced or added per test.

use super::Sim;
use std::path::{Path, PathBuf};

/// A temp dir per test.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// A fresh dir.
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::Builder::new()
                .prefix("pp-etl-test")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The default output dir.
    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// Writes a file, returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, contents).expect("write test file");
        p
    }

    /// Writes a fast job against `sim` (high limits, millisecond backoff); `fetch_extra` lines
    /// (`key = value`) replace or add `[fetch]` keys; `accounts` are `[[accounts]]` tables.
    pub fn job(&self, sim: &Sim, fetch_extra: &str, accounts: &str) -> PathBuf {
        self.job_with(sim, fetch_extra, "", accounts)
    }

    /// A job as [`TestDir::job`] writes, but asking the API at `base_url` (a closed port, a
    /// misbehaving server) instead of a simulator, written as `name`.
    pub fn job_at(&self, base_url: &str, name: &str, accounts: &str) -> PathBuf {
        self.write(name, &self.job_text(base_url, "", "", accounts))
    }

    /// As [`TestDir::job`], with `[output]` lines too.
    pub fn job_with(
        &self,
        sim: &Sim,
        fetch_extra: &str,
        output_extra: &str,
        accounts: &str,
    ) -> PathBuf {
        let text = self.job_text(&sim.base_url(), fetch_extra, output_extra, accounts);
        self.write("job.toml", &text)
    }

    /// The text of a fast job asking the API at `base_url`.
    fn job_text(
        &self,
        base_url: &str,
        fetch_extra: &str,
        output_extra: &str,
        accounts: &str,
    ) -> String {
        format!(
            "name = \"test-job\"\n\n[api]\nbase_url = \"{base_url}\"\ntimeout = \"5s\"\n\n[fetch]\n{}\n[output]\n{}\n{accounts}\n",
            merge(
                "concurrency = 4\nrequests_per_second = 5000.0\naccount_requests_per_minute = 600000.0\nbackoff_initial = \"1ms\"\nbackoff_max = \"20ms\"\n",
                fetch_extra
            ),
            merge(
                &format!("url = \"{}\"\n", self.out().display()),
                output_extra
            ),
        )
    }
}

/// `key = value` lines of `base`, with those of `extra` replacing or adding keys.
fn merge(base: &str, extra: &str) -> String {
    let key = |l: &str| l.split('=').next().unwrap_or_default().trim().to_owned();
    let extra_keys: Vec<String> = extra.lines().filter(|l| l.contains('=')).map(key).collect();
    let mut out: String = base
        .lines()
        .filter(|l| !extra_keys.contains(&key(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    for l in extra.lines() {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// `[[accounts]]` tables for (id, provider) pairs.
pub fn accounts_toml(accounts: &[(&str, &str)]) -> String {
    accounts
        .iter()
        .map(|(id, p)| format!("[[accounts]]\naccount_id = \"{id}\"\nprovider = \"{p}\"\n\n"))
        .collect()
}
