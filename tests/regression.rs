//! Regression tests named after their issue: what a new user tripped on (issue 12).

use crate::util::*;
use serde_json::Value;
use std::process::{Command, Stdio};

/// Issue 12: `--progress on` with stderr not a terminal showed nothing at all (the bars hid
/// themselves and the periodic lines were skipped). Now, with stderr going to a file, progress
/// lines are there, and the last one counts every unit and every record of the run.
#[test]
fn issue_12_progress_on_shows_progress_off_a_terminal() {
    let t = TestDir::new();
    let sim = Sim::start(&[
        "--accounts",
        "6",
        "--followers",
        "250",
        "--following",
        "30",
        "--provider",
        "linkedin",
    ]);
    let ids: Vec<String> = (0..6).map(|i| format!("acc_linkedin_{i:04}")).collect();
    let pairs: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "linkedin")).collect();
    let job = t.job(&sim, "", &accounts_toml(&pairs));
    let log = t.path().join("stderr.log");
    let status = Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
        .args(["run", job.to_str().expect("utf-8"), "--snapshot-date", DATE])
        .args(["--progress", "on", "--log-format", "json"])
        .env("POSTPRESS_API_KEY", KEY)
        .env_remove("POSTPRESS_BASE_URL")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .status()
        .expect("postpress-etl runs");
    let text = std::fs::read_to_string(&log).expect("read the log");
    assert_eq!(status.code(), Some(0), "{text}");
    let progress: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Progress: "))
        })
        .collect();
    let last = progress
        .last()
        .unwrap_or_else(|| panic!("no progress in\n{text}"));
    assert_eq!(last["units_done"], 12, "{last}");
    assert_eq!(last["units_total"], 12, "{last}");
    assert_eq!(last["records"], 6 * (250 + 30), "{last}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Progress: 12/12 units, 1680 records, ")),
        "{last}"
    );
}

/// A test dir with a simulator serving one account and a valid job for it, whose text the
/// tests change one thing at a time.
struct Fixture {
    t: TestDir,
    sim: Sim,
    good: String,
}

impl Fixture {
    fn new() -> Fixture {
        let t = TestDir::new();
        let sim = Sim::start(&[
            "--accounts",
            "1",
            "--followers",
            "5",
            "--provider",
            "linkedin",
        ]);
        let job = t.job(
            &sim,
            "",
            &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
        );
        let good = std::fs::read_to_string(job).expect("job");
        Fixture { t, sim, good }
    }

    /// The job with `from` replaced by `to`, written as `name`.
    fn job(&self, name: &str, from: &str, to: &str) -> String {
        let p = self.t.write(name, &self.good.replace(from, to));
        p.to_str().expect("utf-8").to_owned()
    }

    fn nothing_sent(&self) {
        assert_eq!(self.sim.stats()["requests"], 0, "nothing was sent");
    }
}

/// The environment without `POSTPRESS_API_KEY`.
const NO_ENV_KEY: [(&str, &str); 1] = [("POSTPRESS_API_KEY", "")];

/// Issue 12: `validate` passed what `run` rejects: `api_key_file = "/nonexistent/key"` was
/// "valid". Now `validate` checks the key as `run` does before its first request — present,
/// readable, sendable in a header, never printed — and says the same as `run`.
#[test]
fn issue_12_validate_checks_the_key_as_run_does() {
    let f = Fixture::new();
    let missing = f.job(
        "missing.toml",
        "[api]\n",
        "[api]\napi_key_file = \"/nonexistent/key\"\n",
    );
    let want = format!(
        "postpress-etl: error: job file {missing}: api.api_key_file = \"/nonexistent/key\" cannot be used: No such file or directory (os error 2)\n"
    );
    for cmd in ["validate", "run"] {
        let o = etl(&[cmd, &missing], &NO_ENV_KEY);
        assert_eq!(o.code, Some(2), "{cmd}: {}", o.stderr);
        assert_eq!(o.stderr, want, "{cmd}");
    }

    let keyless = f.job("keyless.toml", "", "");
    let o = etl(&["validate", &keyless], &NO_ENV_KEY);
    assert_eq!(o.code, Some(2));
    assert_eq!(
        o.stderr,
        format!(
            "postpress-etl: error: job file {keyless}: no API key; set the environment variable POSTPRESS_API_KEY or api.api_key_file (the key is never read from the job file or a flag)\n"
        )
    );

    let key = f.t.write("key", "pp_line_one\npp_line_two\n");
    let key_line = format!("[api]\napi_key_file = \"{}\"\n", key.display());
    let two_lines = f.job("two-lines.toml", "[api]\n", &key_line);
    let o = etl(&["validate", &two_lines], &NO_ENV_KEY);
    assert_eq!(o.code, Some(2));
    assert_eq!(
        o.stderr,
        format!(
            "postpress-etl: error: the API key from file {} cannot be sent: it holds a line break or another control character; put the key alone on one line\n",
            key.display()
        )
    );
    assert!(!o.stderr.contains("pp_line"), "the key is never printed");
    f.nothing_sent();
}

/// Issue 12: `--output` pointing at a regular file said `File exists (os error 17)`; now `run`
/// says it is a file, not a directory (also when the file is a directory above the path), and
/// `validate` refuses an `output.url` that is a file the same way, writing nothing.
#[test]
fn issue_12_output_that_is_a_file_says_so() {
    let f = Fixture::new();
    let job = f.job("ok.toml", "", "");
    let file = f.t.write("a-file", "");
    let o = etl(
        &["run", &job, "--output", file.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert_eq!(
        o.stderr,
        format!(
            "postpress-etl: error: the run could not start; nothing was fetched: destination: output directory {0} cannot be used: {0} is a file, not a directory\n",
            file.display()
        )
    );
    let below = file.join("out");
    let o = etl(
        &["run", &job, "--output", below.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    let want = format!(
        "output directory {} cannot be used: {} is a file, not a directory\n",
        below.display(),
        file.display()
    );
    assert!(o.stderr.ends_with(&want), "{}", o.stderr);

    let out_line = format!("url = \"{}\"", f.t.out().display());
    let to_file = f.job(
        "to-file.toml",
        &out_line,
        &format!("url = \"{}\"", file.display()),
    );
    let o = etl(&["validate", &to_file], &[]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(
        o.stderr,
        format!(
            "postpress-etl: error: output directory {0} cannot be used: {0} is a file, not a directory\n",
            file.display()
        )
    );
    f.nothing_sent();
}

/// Issue 12: the accounts CSV was called "job file" with "line 3.provider"; `--output ftp://x/y`
/// was blamed on the job file. Now each message names its own source.
#[test]
fn issue_12_messages_name_the_right_source() {
    let f = Fixture::new();
    let csv = f.t.write(
        "accts.csv",
        "account_id,provider\nacc_a,linkedin\nacc_b,myspace\n",
    );
    let csv_job = f.t.write(
        "csv.toml",
        "name = \"csv\"\naccounts_file = \"accts.csv\"\n",
    );
    let o = etl(&["validate", csv_job.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2));
    assert_eq!(
        o.stderr,
        format!(
            "postpress-etl: error: accounts file {}, line 3, column provider: \"myspace\" is not allowed; use \"linkedin\" or \"instagram\"\n",
            csv.display()
        )
    );

    let job = f.job("ok.toml", "", "");
    let o = etl(&["run", &job, "--output", "ftp://x/y"], &[]);
    assert_eq!(o.code, Some(2));
    assert_eq!(
        o.stderr,
        "postpress-etl: error: --output \"ftp://x/y\" is not allowed; use a path, file:///abs/path or s3://bucket/prefix\n"
    );
    f.nothing_sent();
}

/// Issue 12: TOML errors were folded onto one line, their caret snippet run together with `|`.
/// Now the snippet keeps its lines and points at the key.
#[test]
fn issue_12_toml_errors_keep_their_snippet() {
    let f = Fixture::new();
    let bad = f.job("bad.toml", "[fetch]\n", "[fetch]\nconcurency = 3\n");
    let o = etl(&["validate", &bad], &[]);
    assert_eq!(o.code, Some(2));
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(
        lines[..4],
        [
            format!(
                "postpress-etl: error: job file {bad} is not valid: TOML parse error at line 8, column 1"
            )
            .as_str(),
            "  |",
            "8 | concurency = 3",
            "  | ^^^^^^^^^^",
        ],
        "{}",
        o.stderr
    );
    assert!(
        lines[4].starts_with("unknown field `concurency`, expected one of"),
        "{}",
        o.stderr
    );
    f.nothing_sent();
}
