//! The real `postpress-etl` binary: run to its end (exit code, stdout, stderr) or started in the
//! background for tests that signal or kill it.

use super::{DATE, KEY, tree};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// What a finished command did.
pub struct Output {
    /// The command line, for failure messages.
    pub cmd: String,
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Output {
    /// Asserts the exit code, printing everything when it differs.
    pub fn expect_code(&self, code: i32, out_dir: &Path) -> &Output {
        if self.code != Some(code) {
            panic!(
                "{}\nexpected exit {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- output tree\n{}",
                self.cmd,
                self.code,
                self.stdout,
                self.stderr,
                tree(out_dir)
            );
        }
        self
    }
}

/// Runs `postpress-etl` with `POSTPRESS_API_KEY` set to [`KEY`] (unless `envs` overrides it).
pub fn etl(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postpress-etl"));
    cmd.args(args)
        .env("POSTPRESS_API_KEY", KEY)
        .env_remove("POSTPRESS_BASE_URL")
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().expect("postpress-etl runs");
    Output {
        cmd: format!("postpress-etl {}", args.join(" ")),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `postpress-etl run JOB --snapshot-date DATE --progress off`.
pub fn run_job(job: &Path, extra: &[&str]) -> Output {
    run_job_env(job, extra, &[])
}

/// [`run_job`] with extra environment (an empty value removes the variable).
pub fn run_job_env(job: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    etl(&run_args(job, extra), envs)
}

fn run_args<'a>(job: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        job.to_str().expect("utf-8"),
        "--snapshot-date",
        DATE,
        "--progress",
        "off",
    ];
    args.extend_from_slice(extra);
    args
}

/// Starts `postpress-etl run JOB` in the background (stdout discarded, stderr piped), for
/// tests that signal or kill it.
pub fn spawn_run(job: &Path, extra: &[&str]) -> Child {
    spawn_run_env(job, extra, std::iter::empty::<(&str, &str)>())
}

/// [`spawn_run`] with extra environment.
pub fn spawn_run_env<K, V>(
    job: &Path,
    extra: &[&str],
    envs: impl IntoIterator<Item = (K, V)>,
) -> Child
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
        .args(run_args(job, extra))
        .env("POSTPRESS_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .envs(envs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn postpress-etl")
}
