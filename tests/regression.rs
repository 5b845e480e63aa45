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

/// Issue 12: `validate` passed what `run` rejects: `api_key_file = "/nonexistent/key"` was
/// "valid". Now `validate` checks what `run` checks before its first request, the key's
/// presence and readability included, and says the same; an output path that is a file fails
/// both, saying it is a file.
#[test]
fn issue_12_validate_checks_what_run_checks() {
    let t = TestDir::new();
    let sim = Sim::start(&[
        "--accounts",
        "1",
        "--followers",
        "5",
        "--provider",
        "linkedin",
    ]);
    let good = std::fs::read_to_string(t.job(
        &sim,
        "",
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    ))
    .expect("job");
    let no_env_key = [("POSTPRESS_API_KEY", "")];

    let missing = t.write(
        "missing.toml",
        &good.replace("[api]\n", "[api]\napi_key_file = \"/nonexistent/key\"\n"),
    );
    let want = format!(
        "postpress-etl: error: job file {}: api.api_key_file = \"/nonexistent/key\" cannot be used: No such file or directory (os error 2)\n",
        missing.display()
    );
    for cmd in ["validate", "run"] {
        let o = etl(&[cmd, missing.to_str().expect("utf-8")], &no_env_key);
        assert_eq!(o.code, Some(2), "{cmd}: {}", o.stderr);
        assert_eq!(o.stderr, want, "{cmd}");
    }

    let keyless = t.write("keyless.toml", &good);
    let o = etl(&["validate", keyless.to_str().expect("utf-8")], &no_env_key);
    assert_eq!(o.code, Some(2));
    assert_eq!(
        o.stderr,
        format!(
            "postpress-etl: error: job file {}: no API key; set the environment variable POSTPRESS_API_KEY or api.api_key_file (the key is never read from the job file or a flag)\n",
            keyless.display()
        )
    );

    let key = t.write("key", "pp_line_one\npp_line_two\n");
    let two_lines = t.write(
        "two-lines.toml",
        &good.replace(
            "[api]\n",
            &format!("[api]\napi_key_file = \"{}\"\n", key.display()),
        ),
    );
    let o = etl(
        &["validate", two_lines.to_str().expect("utf-8")],
        &no_env_key,
    );
    assert_eq!(o.code, Some(2));
    assert_eq!(
        o.stderr,
        format!(
            "postpress-etl: error: the API key from file {} cannot be sent: it holds a line break or another control character; put the key alone on one line\n",
            key.display()
        )
    );
    assert!(!o.stderr.contains("pp_line"), "the key is never printed");

    let file = t.write("not-a-dir", "");
    let to_file = t.write(
        "to-file.toml",
        &good.replace(
            &format!("url = \"{}\"", t.out().display()),
            &format!("url = \"{}\"", file.display()),
        ),
    );
    let o = etl(&["validate", to_file.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(
        o.stderr,
        format!(
            "postpress-etl: error: output directory {0} cannot be used: {0} is a file, not a directory\n",
            file.display()
        )
    );
    assert_eq!(sim.stats()["requests"], 0, "nothing was sent");
}

/// Issue 12: messages blamed the wrong source. The accounts CSV was called "job file" with
/// "line 3.provider"; `--output ftp://x/y` was blamed on the job file; `--output` naming a
/// regular file said "File exists (os error 17)"; TOML errors lost their caret snippet, folded
/// onto one line.
#[test]
fn issue_12_messages_name_the_right_source() {
    let t = TestDir::new();
    let sim = Sim::start(&[
        "--accounts",
        "1",
        "--followers",
        "5",
        "--provider",
        "linkedin",
    ]);
    let good = std::fs::read_to_string(t.job(
        &sim,
        "",
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    ))
    .expect("job");
    let job = t.write("ok.toml", &good);
    let job = job.to_str().expect("utf-8");

    let csv = t.write(
        "accts.csv",
        "account_id,provider\nacc_a,linkedin\nacc_b,myspace\n",
    );
    let csv_job = t.write(
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

    let o = etl(&["run", job, "--output", "ftp://x/y"], &[]);
    assert_eq!(o.code, Some(2));
    assert_eq!(
        o.stderr,
        "postpress-etl: error: --output \"ftp://x/y\" is not allowed; use a path, file:///abs/path or s3://bucket/prefix\n"
    );

    let file = t.write("a-file", "");
    let o = etl(
        &[
            "run",
            job,
            "--output",
            file.to_str().expect("utf-8"),
            "--progress",
            "off",
        ],
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
        &[
            "run",
            job,
            "--output",
            below.to_str().expect("utf-8"),
            "--progress",
            "off",
        ],
        &[],
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.ends_with(&format!(
            "output directory {} cannot be used: {} is a file, not a directory\n",
            below.display(),
            file.display()
        )),
        "{}",
        o.stderr
    );

    let bad = t.write(
        "bad.toml",
        &good.replace("[fetch]\n", "[fetch]\nconcurency = 3\n"),
    );
    let o = etl(&["validate", bad.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2));
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "postpress-etl: error: job file {} is not valid: TOML parse error at line 8, column 1",
            bad.display()
        ),
        "{}",
        o.stderr
    );
    assert_eq!(lines[1], "  |");
    assert_eq!(lines[2], "8 | concurency = 3");
    assert_eq!(lines[3], "  | ^^^^^^^^^^");
    assert!(
        lines[4].starts_with("unknown field `concurency`, expected one of"),
        "{}",
        o.stderr
    );
    assert_eq!(sim.stats()["requests"], 0, "nothing was sent");
}
